"""Fixtures for the Svix SDK compatibility suite.

- ``hookd``: one real hookd process for the session, on a free loopback port, with its own data
  directory, a random admin token, private targets allowed and a short retry schedule (1s,1s).
- ``receiver``: a scripted HTTP receiver on loopback that records every request it gets.
- ``client``: the official ``svix.Svix`` client pointed at the hookd process.

The binary comes from ``HOOKD_BIN`` (default ``target/debug/hookd`` relative to the repo root).
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, Iterable, Iterator, List, Optional

import httpx
import pytest
import svix

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 10.0
RETRY_SCHEDULE = "1s,1s"


# --------------------------------------------------------------------------------------------
# hookd process
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _hookd_bin() -> Path:
    configured = os.environ.get("HOOKD_BIN", "target/debug/hookd")
    path = Path(configured)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


@dataclass
class Hookd:
    url: str
    token: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path

    def log_tail(self, max_bytes: int = 20_000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode("utf-8", errors="replace")

    def http(self, token: Optional[str] = None) -> httpx.Client:
        """A raw HTTP client for the few calls the SDK cannot express."""
        headers = {}
        token = self.token if token is None else token
        if token:
            headers["authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=15.0, follow_redirects=False)


_RUNNING: List[Hookd] = []


@pytest.fixture(scope="session")
def hookd(tmp_path_factory: pytest.TempPathFactory) -> Iterable[Hookd]:
    with running_hookd(tmp_path_factory.mktemp("hookd")) as server:
        yield server


@contextlib.contextmanager
def running_hookd(base: Path) -> Iterator[Hookd]:
    """A hookd process of its own in ``base``, for tests that must not share the session's."""
    binary = _hookd_bin()
    if not binary.is_file():
        pytest.fail(
            f"hookd binary not found at {binary}; build it with `cargo build -p hookd` "
            "or point HOOKD_BIN at it",
            pytrace=False,
        )

    data_dir = base / "data"
    log_path = base / "hookd.log"
    token = "compat_" + secrets.token_urlsafe(24)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["HOOKD_ADMIN_TOKEN"] = token
    env.setdefault("RUST_LOG", "info")
    env.setdefault("NO_COLOR", "1")
    # Keep the process's own configuration out of the way: flags below are the whole config.
    for var in ("HOOKD_LISTEN", "HOOKD_DATA_DIR", "HOOKD_RETRY_SCHEDULE", "HOOKD_NO_SVIX_HEADERS"):
        env.pop(var, None)

    log_file = open(log_path, "wb")
    process = subprocess.Popen(
        [
            str(binary),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(data_dir),
            "--allow-private-targets",
            "--retry-schedule",
            RETRY_SCHEDULE,
        ],
        cwd=str(base),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Hookd(url=url, token=token, process=process, data_dir=data_dir, log_path=log_path)

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error: Optional[str] = None
        while True:
            code = process.poll()
            if code is not None:
                pytest.fail(
                    f"hookd exited with status {code} before answering /api/v1/health:\n"
                    f"{server.log_tail()}",
                    pytrace=False,
                )
            try:
                response = httpx.get(f"{url}/api/v1/health", timeout=1.0)
                if response.is_success:
                    break
                last_error = f"HTTP {response.status_code}: {response.text[:500]}"
            except httpx.HTTPError as error:
                last_error = repr(error)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"hookd did not answer GET /api/v1/health within {STARTUP_TIMEOUT_S}s "
                    f"(last error: {last_error}):\n{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.1)

        _RUNNING.append(server)
        yield server
    finally:
        if server in _RUNNING:
            _RUNNING.remove(server)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        log_file.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of hookd's log to every failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING:
        report.sections.append(("hookd log (tail)", _RUNNING[-1].log_tail(8_000)))


@pytest.fixture
def client(hookd: Hookd) -> svix.Svix:
    return svix.Svix(hookd.token, svix.SvixOptions(server_url=hookd.url))


def unique(prefix: str) -> str:
    """A uid that no other test (or run against the same data dir) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------
# scripted receiver
# --------------------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    time: float  # time.time() when the request was fully read
    status: int  # the status the receiver answered with


@dataclass
class Receiver:
    """Records every request; answers from a per-path script of statuses, then ``default_status``.

    ``script(path, [500, 500, 200])`` makes the next three requests to ``path`` get those statuses.
    ``script(None, [...])`` applies to every path without a script of its own.
    """

    host: str
    port: int
    default_status: int = 200
    _requests: List[Received] = field(default_factory=list)
    _scripts: Dict[Optional[str], Deque[int]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoint_url(self, path: str) -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.url + path

    def script(self, path: Optional[str], statuses: Iterable[int]) -> None:
        with self._cond:
            self._scripts[path] = collections.deque(statuses)

    def _next_status(self, path: str) -> int:
        with self._cond:
            for key in (path, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
            return self.default_status

    def _record(self, request: Received) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def requests(self, path: Optional[str] = None) -> List[Received]:
        with self._cond:
            return [r for r in self._requests if path is None or r.path == path]

    def wait_for(self, n: int, timeout: float = 15.0, path: Optional[str] = None) -> List[Received]:
        """Waits until at least ``n`` requests (to ``path``, if given) arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests if path is None or r.path == path]
                if len(got) >= n:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver: expected {n} request(s) to {path or 'any path'} within "
                        f"{timeout}s, got {len(got)}: {[(r.method, r.path, r.status) for r in got]}"
                    )
                self._cond.wait(remaining)


def _make_handler(receiver: Receiver):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            status = receiver._next_status(path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver._record(Received(self.command, path, headers, body, time.time(), status))
            reply = b'{"ok":true}' if 200 <= status < 300 else b'{"ok":false}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = _handle
        do_PUT = _handle
        do_GET = _handle

        def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterable[Receiver]:
    rec = Receiver(host="127.0.0.1", port=0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(rec))
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
