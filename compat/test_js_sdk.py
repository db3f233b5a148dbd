"""hookd driven by the official Svix JavaScript SDK (npm ``svix``, pinned in compat/js_sdk).

Each scenario is an exported ``async function`` of an area file ``compat/js_sdk/<area>.mjs``
and runs as its own test here against the session's hookd (``HOOKD_URL``, ``HOOKD_TOKEN``),
one after another, so a failure names the operation. They run in one node worker for the
session (``compat/js_sdk/worker.mjs``, the same runner as ``node compat/js_sdk/<area>.mjs
<scenario>``), because starting node and loading the SDK for each would cost most of the time. The scenarios assert with ``node:assert/strict`` and verify deliveries with the JS
SDK's own ``Webhook`` class. compat/js_sdk/README.md says how to add one.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

from conftest import Hookd

JS_SDK_DIR = Path(__file__).resolve().parent / "js_sdk"
SCENARIO_TIMEOUT_S = 60
# The files that are not areas: the shared helpers.
NOT_AREAS = {"lib.mjs", "worker.mjs"}
SCENARIO = re.compile(r"^export async function (\w+)\(", re.M)


def area_files() -> List[Path]:
    return sorted(p for p in JS_SDK_DIR.glob("*.mjs") if p.name not in NOT_AREAS)


def declared_scenarios() -> List[Tuple[str, str]]:
    """(area, scenario) for every ``export async function`` of every area file, in file order."""
    return [(path.stem, name) for path in area_files() for name in SCENARIO.findall(path.read_text())]


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on the PATH: install Node 20+", pytrace=False)
    if not (JS_SDK_DIR / "node_modules" / "svix").is_dir():
        pytest.fail(
            "the Svix JS SDK is missing: (cd compat/js_sdk && npm ci)",
            pytrace=False,
        )
    return node


def node_env(hookd: Hookd) -> dict:
    env = dict(os.environ)
    env["HOOKD_URL"] = hookd.url
    env["HOOKD_TOKEN"] = hookd.token
    env.setdefault("NO_COLOR", "1")
    return env


def run_node(hookd: Hookd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node_or_fail(), *args],
        cwd=str(JS_SDK_DIR),
        env=node_env(hookd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )


class Worker:
    """``node worker.mjs``: one scenario per JSON line in, one ``@@result`` line out. Anything
    else it prints (a scenario's own console output, node's warnings) is kept for the report."""

    def __init__(self, hookd: Hookd) -> None:
        self.process = subprocess.Popen(
            [node_or_fail(), "worker.mjs"],
            cwd=str(JS_SDK_DIR),
            env=node_env(hookd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, area: str, scenario: str) -> Tuple[Optional[dict], str]:
        """The scenario's result (None if the worker died or timed out) and other output."""
        self.process.stdin.write(json.dumps({"area": area, "scenario": scenario}) + "\n")
        self.process.stdin.flush()
        other = []
        while True:
            try:
                line = self.lines.get(timeout=SCENARIO_TIMEOUT_S)
            except queue.Empty:
                other.append(f"(no answer within {SCENARIO_TIMEOUT_S}s)")
                return None, "".join(other)
            if line is None:
                other.append(f"(the worker exited with {self.process.wait()})")
                return None, "".join(other)
            if line.startswith("@@result "):
                return json.loads(line[len("@@result "):]), "".join(other)
            other.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def worker(hookd: Hookd) -> Iterator[List[Worker]]:
    # A list, so a test can replace a worker that hung or died for the tests after it.
    workers = [Worker(hookd)]
    try:
        yield workers
    finally:
        workers[0].stop()


@pytest.mark.parametrize(("area", "scenario"), declared_scenarios(), ids=lambda v: v)
def test_js_sdk(hookd: Hookd, worker: List[Worker], area: str, scenario: str) -> None:
    result, other = worker[0].run(area, scenario)
    if result is None:
        worker[0].stop()
        worker[0] = Worker(hookd)
        pytest.fail(f"{area}.{scenario}: the node worker gave no result\n{other}", pytrace=False)
    assert result["ok"], f"{result['message']}\n--- other output ---\n{other}"
    assert result["message"].startswith(f"ok {area}.{scenario}"), result


def test_every_scenario_is_collected(hookd: Hookd) -> None:
    """The runner's own list of each area's scenarios (every exported function) is the one
    collected above, so a scenario written another way is not silently left out."""
    declared = declared_scenarios()
    assert declared, "no scenario found: is SCENARIO still the way scenarios are declared?"
    exported = []
    for path in area_files():
        result = run_node(hookd, path.name, "--list")
        assert result.returncode == 0, result.stderr
        exported.extend((path.stem, name) for name in json.loads(result.stdout))
    assert sorted(exported) == sorted(declared)
