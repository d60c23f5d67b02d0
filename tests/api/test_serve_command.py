"""`claimsight serve` wiring, without binding a public port or starting uvicorn: the server's `run` is replaced
by a stand-in that receives the app and the listening socket."""

from __future__ import annotations

import gc
import logging
import os
import pickle
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from api.support import bearer
from fastapi.testclient import TestClient

from claimsight.cli import main
from claimsight.worker_sockets import SpreadWorkers
from serving.api.connections import GuardedH11Protocol
from serving.api.security import hash_key

pytestmark = pytest.mark.slow  # starts `claimsight serve` processes on the session's trained models


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch, model_home: Path, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(model_home))
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "development")
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", "")  # none configured; restored after the test
    monkeypatch.setenv("CLAIMSIGHT_API_PORT", str(_free_port()))
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'audit.sqlite'}")
    monkeypatch.setenv("CLAIMSIGHT_MODEL_POLL_SECONDS", "0")
    monkeypatch.delenv("CLAIMSIGHT_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CLAIMSIGHT_SERVE_DATA", "")  # so that whatever `serve` sets is undone after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # recorded for undo, then unset: `serve` chooses
    monkeypatch.delenv("OMP_NUM_THREADS")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    gc.unfreeze()  # the service froze the heap after loading its models (serving.api.runtime.settle_heap)
    # `serve` configured logging for a server process (serving.api.log_limits): give pytest its root logger back
    for handler in [h for h in root.handlers if h not in handlers and not type(h).__module__.startswith("_pytest")]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_serve_prints_a_development_key_once_and_serves_with_its_hash(
    serve_env: None, small_world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        seen["app"], seen["sockets"] = self.config.app, sockets

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    assert main(["serve", "--data", str(small_world), "--log-level", "warning"]) == 0
    out = capsys.readouterr().out
    secret = next(word for word in out.split() if word.startswith("csk_"))
    assert out.count(secret) == 2  # the key line and the example curl, nothing else

    (sock,) = seen["sockets"]
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
    assert os.environ["OMP_NUM_THREADS"] == "1"  # one thread per request unless the operator says otherwise
    assert hash_key(secret) in os.environ["CLAIMSIGHT_API_KEYS"] and secret not in os.environ["CLAIMSIGHT_API_KEYS"]
    with TestClient(seen["app"]) as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 100_000  # loaded models live in the permanent generation
        models = client.get("/v1/models", headers=bearer(secret))
        assert models.status_code == 200
        assert client.post("/v1/admin/reload", headers=bearer(secret)).status_code == 200  # score + admin scopes
        assert client.get("/v1/models", headers=bearer(secret + "x")).status_code == 401


def test_serve_with_workers_gives_each_worker_its_own_nodelay_socket(
    serve_env: None, small_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(self: SpreadWorkers) -> None:
        seen["config"], seen["slots"] = self.config, self.slots

    monkeypatch.setattr(SpreadWorkers, "run", fake_run)
    monkeypatch.setenv("CLAIMSIGHT_API_MAX_CONNECTIONS", "600")
    monkeypatch.setenv("CLAIMSIGHT_API_HEADER_TIMEOUT_SECONDS", "2.5")
    assert main(["serve", "--workers", "2", "--data", str(small_world)]) == 0
    config, slots = seen["config"], seen["slots"]
    try:
        assert len(slots) == 2 and len({s.fileno() for s in slots}) == 2
        assert {s.getsockname() for s in slots} == {("127.0.0.1", int(os.environ["CLAIMSIGHT_API_PORT"]))}
        for sock in slots:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.get_inheritable()
    finally:
        for sock in slots:
            sock.close()
    assert (config.app, config.factory, config.workers) == ("claimsight.asgi:service_from_environment", True, 2)
    assert os.environ["CLAIMSIGHT_SERVE_DATA"] == str(small_world.resolve())
    # each worker gets the guarded protocol and the limits of the settings, by pickle
    limits = pickle.loads(pickle.dumps(config)).connection_limits
    assert config.http is GuardedH11Protocol
    assert (limits.max_connections, limits.header_timeout_seconds) == (600, 2.5)


def test_serve_refuses_an_open_file_limit_with_no_room_for_connections(
    serve_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("serving.api.connections.raise_open_file_limit", lambda: 200)
    monkeypatch.setattr(SpreadWorkers, "run", lambda self: pytest.fail("must not start"))
    assert main(["serve", "--workers", "2"]) == 2
    assert "open-file limit (200)" in capsys.readouterr().err


def test_serve_refuses_a_missing_rules_directory(serve_env: None, tmp_path: Path) -> None:
    assert main(["serve", "--data", str(tmp_path / "nowhere")]) == 2


def test_a_fatal_signal_in_the_service_leaves_a_traceback_in_its_log(tmp_path: Path) -> None:
    """SIGBUS (the probe's read-only -shm) killed the service without a line; now the log says where it died."""
    import signal
    import subprocess
    import sys

    script = (
        "import faulthandler, os, signal, sys\n"
        "from claimsight import asgi\n"
        "try:\n"
        "    asgi.service_app(asgi.Settings(), data=None)\n"
        "except BaseException:\n"
        "    pass\n"  # no models or keys needed: only that the service turned the handler on first
        "print('enabled', faulthandler.is_enabled(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGBUS)\n"
    )
    env = {**os.environ, "CLAIMSIGHT_HOME": str(tmp_path), "CLAIMSIGHT_ENVIRONMENT": "development"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGBUS
    assert "enabled True" in done.stdout
    assert "Fatal Python error: Bus error" in done.stderr
