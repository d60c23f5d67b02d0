"""A worker of `serve --workers N` ends when the process that started it ends, even one killed with kill -9:
an orphan worker would keep the port, so a restarted `serve` could not bind it (issue 12)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from claimsight.load_bench import listening_on_loopback

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")

# A parent that starts the child (the process under test) and then only waits, to be killed.
PARENT = """
import subprocess, sys, time
from pathlib import Path
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
Path(sys.argv[2], "child.pid").write_text(str(child.pid))
time.sleep(300)
"""
# The child watches its parent one way only: the kernel's signal, or its own polling thread.
CHILD = """
import os, sys, time
from pathlib import Path
from claimsight.asgi import exit_with_parent
kernel = sys.argv[2] == "kernel"
exit_with_parent(parent_pid=os.getppid(), poll_seconds=3600.0 if kernel else 0.2, kernel_signal=kernel)
Path(sys.argv[1], "watching").write_text("")
time.sleep(300)
"""


def state(pid: int) -> str | None:
    """The process's state letter (R, S, Z, ...), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    """Exists and is not a zombie (an orphan's zombie waits for whoever reaps orphans here; it holds no port)."""
    return state(pid) not in (None, "Z")


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def wait_until(condition: Callable[[], bool], *, seconds: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def test_nothing_is_watched_outside_a_worker() -> None:
    from claimsight.asgi import exit_with_parent

    assert exit_with_parent() is None  # the test process is no multiprocessing child


@pytest.mark.parametrize("way", ["kernel", "poll"])
def test_a_child_ends_when_its_parent_is_killed(way: str, tmp_path: Path) -> None:
    """Each way alone is enough: the kernel's parent-death signal (Linux), and the thread polling getppid()."""
    if way == "kernel" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(tmp_path), way])
    child = None
    try:
        assert wait_until(lambda: (tmp_path / "watching").exists() or parent.poll() is not None, seconds=60)
        assert (tmp_path / "watching").exists(), "the child did not start watching its parent"
        child = int((tmp_path / "child.pid").read_text())
        parent.kill()
        parent.wait(timeout=10)
        assert wait_until(lambda: not running(child), seconds=10), f"the child outlived its parent ({way})"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if child is not None and running(child):
            os.kill(child, signal.SIGKILL)


def _ready(port: int) -> bool:
    """GET /readyz on loopback (http.client: no proxy from the environment)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sockets_of(pid: int) -> int:
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:"))


def _both_workers_take_connections(port: int, pids: list[int]) -> None:
    """16 keep-alive connections opened at once are spread over both workers (each has its own SO_REUSEPORT
    socket; with one shared socket the first worker to wake often accepted them all, issue 12 item 4)."""
    before = {pid: _sockets_of(pid) for pid in pids}
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/livez")
        assert all(connection.getresponse().read() for connection in connections)
        taken = {pid: _sockets_of(pid) - before[pid] for pid in pids}
        assert sum(taken.values()) == 16 and min(taken.values()) >= 1, taken
    finally:
        for connection in connections:
            connection.close()


@pytest.mark.slow  # two workers load the session's trained models
def test_workers_end_and_free_the_port_when_serve_is_killed(model_home: Path, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "CLAIMSIGHT_HOME": str(model_home),
        "CLAIMSIGHT_ENVIRONMENT": "development",
        "CLAIMSIGHT_API_KEYS": "",
        "CLAIMSIGHT_API_PORT": str(port),
        "CLAIMSIGHT_AUDIT_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite'}",
        "CLAIMSIGHT_MODEL_POLL_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
    }
    for inherited in ("CLAIMSIGHT_MLFLOW_TRACKING_URI", "CLAIMSIGHT_SERVE_DATA"):
        env.pop(inherited, None)
    log_path = tmp_path / "serve.log"
    started: list[int] = []
    with log_path.open("w") as log:
        serve = subprocess.Popen([sys.executable, "-m", "claimsight.cli", "serve", "--workers", "2"],
                                 env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:

            def workers() -> list[int]:
                return [pid for pid in children(serve.pid) if "spawn_main" in cmdline(pid)]

            up = wait_until(
                lambda: (
                    serve.poll() is not None
                    or (len(workers()) == 2 and _ready(port) and listening_on_loopback(port) == 2)
                ),
                seconds=300,
            )
            assert up and serve.poll() is None, log_path.read_text()[-3000:]
            started = children(serve.pid)  # the two workers and multiprocessing's resource tracker
            assert len(workers()) == 2
            _both_workers_take_connections(port, workers())

            serve.send_signal(signal.SIGKILL)
            serve.wait(timeout=10)
            gone = wait_until(lambda: not any(running(pid) for pid in started), seconds=15, every=0.2)
            left = {pid: cmdline(pid)[:120] for pid in started if running(pid)}
            assert gone, f"still running 15 s after serve was killed: {left}\n{log_path.read_text()[-3000:]}"
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
                again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as `serve` binds it
                again.bind(("127.0.0.1", port))
                again.listen()
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait(timeout=10)
            for pid in started:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)
