"""The README's snippets, run as a reader would run them, so that they cannot rot.

Every fenced ``sh`` or ``python`` block in README.md says what it is after its language:

- ``server``: starts hookd (``cargo run --release --`` stands for the ``hookd`` under test);
- ``receiver``: the webhook receiver, left running while the rest run;
- ``run``: run in README order; it must exit 0;
- ``not-run: <why>``: not run here, and the reason says why.

The blocks are run as written, with three substitutions only: hookd's port 8071, the HTTPS
example's port 8443 and the receiver's port 9000 become free loopback ports, because other tests
share this machine. A ``hookd`` on the PATH is the binary under test (``HOOKD_BIN``).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List

import httpx
import pytest

from conftest import REPO_ROOT, _free_port, _hookd_bin

README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^```([a-z]*)(?:[ \t]+(.*?))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
ROLES = ("server", "receiver", "run")
RUN_TIMEOUT_S = 60.0
STARTUP_TIMEOUT_S = 20.0


@dataclass
class Block:
    language: str
    role: str
    code: str
    line: int


def readme_blocks() -> List[Block]:
    text = README.read_text()
    return [
        Block(
            language=match.group(1),
            role=(match.group(2) or "").strip(),
            code=match.group(3),
            line=text.count("\n", 0, match.start()) + 1,
        )
        for match in FENCE.finditer(text)
    ]


def test_every_snippet_says_whether_and_how_it_runs():
    blocks = readme_blocks()
    assert blocks, "README.md has no fenced blocks"
    for block in blocks:
        if block.language not in ("sh", "python"):
            continue
        runs = block.role in ROLES
        explained = block.role.startswith("not-run:") and len(block.role) > len("not-run: ")
        assert runs or explained, (
            f"README.md:{block.line}: a ```{block.language} block must be marked "
            f"{', '.join(ROLES)} or 'not-run: <why>', not {block.role!r}"
        )
    roles = [block.role for block in blocks]
    assert roles.count("server") == 1 and roles.count("receiver") == 1, roles
    assert roles.count("run") >= 2, roles


class Localizer:
    """Moves the README's fixed ports to free ones."""

    def __init__(self) -> None:
        self.hookd_port = _free_port()
        self.receiver_port = _free_port()
        self.https_port = _free_port()

    def __call__(self, code: str) -> str:
        code = re.sub(r"\b(localhost|127\.0\.0\.1):8071\b", f"127.0.0.1:{self.hookd_port}", code)
        code = re.sub(r"\b(127\.0\.0\.1)(:|\", )9000\b", rf"\g<1>\g<2>{self.receiver_port}", code)
        code = re.sub(r"\b(localhost|127\.0\.0\.1):8443\b", rf"\g<1>:{self.https_port}", code)
        return code


def command_for(block: Block, code: str) -> List[str]:
    if block.language == "python":
        return [sys.executable, "-c", code]
    return ["bash", "-euo", "pipefail", "-c", code]


def wait_until(what: str, ready, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if ready():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not start within {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def hookd_is_healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_readme_runs_as_written(tmp_path: Path):
    blocks = readme_blocks()
    localize = Localizer()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hookd").symlink_to(_hookd_bin())
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HOOKD_") and key not in ("RUST_LOG", "NO_COLOR")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        # What the README's reader has: the server's data in a fresh directory, and for the
        # operator commands the token the quickstart chose and the server's (moved) address.
        HOOKD_DATA_DIR=str(tmp_path / "hookd-data"),
        HOOKD_LISTEN=f"127.0.0.1:{localize.hookd_port}",
        HOOKD_ADMIN_TOKEN="dev-token",
        HOOKD_SERVER=f"http://127.0.0.1:{localize.hookd_port}",
    )
    server = next(block for block in blocks if block.role == "server")
    receiver = next(block for block in blocks if block.role == "receiver")
    started: List[subprocess.Popen] = []
    try:
        server_log = tmp_path / "server.log"
        server_code = localize(server.code).replace("cargo run --release --", "hookd")
        with server_log.open("wb") as log:
            started.append(
                subprocess.Popen(command_for(server, server_code), env=env, stdout=log, stderr=log)
            )
        wait_until("the README's server", lambda: hookd_is_healthy(localize.hookd_port),
                   started[-1], server_log)

        receiver_log = tmp_path / "receiver.log"
        with receiver_log.open("wb") as log:
            started.append(
                subprocess.Popen(command_for(receiver, localize(receiver.code)), env=env,
                                 stdout=log, stderr=log)
            )
        wait_until("the README's receiver", lambda: accepts_connections(localize.receiver_port),
                   started[-1], receiver_log)

        outputs = []
        for block in (block for block in blocks if block.role == "run"):
            finished = subprocess.run(command_for(block, localize(block.code)), env=env,
                                      capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            assert finished.returncode == 0, (
                f"README.md:{block.line} exited {finished.returncode}\n"
                f"stdout:\n{finished.stdout}\nstderr:\n{finished.stderr}\n"
                f"server:\n{server_log.read_text()}"
            )
            outputs.append((block, finished.stdout))

        curl, sdk = outputs[0][1], outputs[1][1]
        # What the README says each one shows.
        assert '"responseStatusCode":204' in curl, curl
        assert sdk.strip().splitlines()[-1] == "204", sdk
        server_says = server_log.read_text()
        assert "listening on" in server_says and "SSRF guard is off" in server_says, server_says
        received = receiver_log.read_text()
        assert re.search(r"^verified msg_\w+ \{'amount': 42\}$", received, re.M), received
        assert " 400 " not in received, f"a delivery did not verify:\n{received}"
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
