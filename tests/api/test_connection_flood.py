"""A flood of slow connections against `claimsight serve`'s server configuration (issue 12, item 1).

The server (tests/api/flood_server.py: `serve`'s settings, socket, uvicorn configuration and run, with fake
models) runs in its own process with an open-file limit of 2,048 (soft 1,024, which `serve` raises), a cap of
600 connections and a 2 s header deadline. 3,000 connections then send the start of a request's headers and
one more byte every 0.5 s (claimsight.flood_bench, in a process of its own). Before the guard, every one of
them stayed open and the process ran out of descriptors: new connections were never accepted.

Required: keyed requests, on a kept-alive connection and on new ones, all succeed and stay fast; every slow
connection is closed by the server within the header deadline (plus slack) however it drips; the server never
holds more than the cap (its own count) nor comes near the open-file limit (its descriptors, sampled from
/proc); and its log is a few lines.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from rich.console import Console

from claimsight.flood_bench import FRESH_REQUESTS, SlowConnections, flood_figures, print_flood_report
from serving.api.security import new_key

pytestmark = [
    pytest.mark.slow,  # a server process and 3,000 connections, about 15 s
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="samples the server's descriptors from /proc"),
]

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SLOW_CONNECTIONS = 3000
CAP = 600
HEADER_TIMEOUT = 2.0
OPEN_FILES = (1024, 2048)  # the server's soft and hard limits: `serve` raises the soft one
REPORT_SECONDS = 1.0
BODY = json.dumps({"claims": [{"claim_id": "C1", "lines": [{"code": "99213", "units": 1}]}]}).encode()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, OPEN_FILES)


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process, self.base_url, self.log = process, base_url, log
        self.most_fds = 0
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self._sampling:
            try:
                self.most_fds = max(self.most_fds, len(os.listdir(f"/proc/{self.process.pid}/fd")))
            except OSError:
                return
            time.sleep(0.01)

    def stop(self) -> str:
        self._sampling = False
        self._sampler.join(5)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    secret, entry = new_key(key_id="flood-test", scopes=("score",))
    port = _free_port()
    env = {
        **os.environ,
        # as pytest's pythonpath: the project first (tests/features must not shadow the features package)
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "CLAIMSIGHT_ENVIRONMENT": "development",
        "CLAIMSIGHT_HOME": str(tmp_path / "home"),
        "CLAIMSIGHT_API_KEYS": entry,
        "CLAIMSIGHT_API_HOST": "127.0.0.1",
        "CLAIMSIGHT_API_PORT": str(port),
        "CLAIMSIGHT_MODEL_POLL_SECONDS": "0",
        "CLAIMSIGHT_API_MAX_CONNECTIONS": str(CAP),
        "CLAIMSIGHT_API_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.flood_server", "warning", str(REPORT_SECONDS)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_open_files,
        )
    running = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the server was not ready in time"
            try:
                if httpx.get(f"{running.base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield running, secret
    finally:
        running.stop()


def _keyed(server: Server, secret: str, *, seconds: float, count: int) -> tuple[list[float], list[float], Counter[str]]:
    """(ms on one kept-alive connection, ms on a new connection each, errors): every fifth request on a new one."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    kept: list[float] = []
    fresh: list[float] = []
    errors: Counter[str] = Counter()
    stop_at = time.monotonic() + seconds
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=3.0) as client:
        i = 0
        while time.monotonic() < stop_at and i < count:
            new = i % 5 == 4
            started = time.perf_counter()
            try:
                if new:
                    url = f"{server.base_url}/v1/test/score"
                    response = httpx.post(url, content=BODY, headers=headers, timeout=3.0)
                else:
                    response = client.post("/v1/test/score", content=BODY)
                if response.status_code != 200:
                    errors[f"{'new' if new else 'kept'} HTTP {response.status_code}"] += 1
            except httpx.HTTPError as exc:
                errors[f"{'new' if new else 'kept'} {type(exc).__name__}"] += 1
            (fresh if new else kept).append((time.perf_counter() - started) * 1000.0)
            i += 1
    return kept, fresh, errors


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90)) if values else float("nan")


def test_a_slow_connection_flood_leaves_keyed_requests_served_and_the_log_small(
    server: tuple[Server, str],
) -> None:
    running, secret = server
    idle_kept, idle_fresh, idle_errors = _keyed(running, secret, seconds=10, count=250)
    assert idle_errors == Counter()

    port = int(running.base_url.rsplit(":", 1)[1])
    with SlowConnections(
        "127.0.0.1", port, connections=SLOW_CONNECTIONS, seconds=15, drip_seconds=0.5, reopen=False
    ) as flood:
        kept, fresh, errors = _keyed(running, secret, seconds=3.5, count=10_000)
        tally = flood.result(timeout=20)  # it ends once the server has closed every connection
    try:
        stats = httpx.get(f"{running.base_url}/test/connections", timeout=5).json()
    except httpx.HTTPError as exc:
        stats = {"unreachable": type(exc).__name__}
    time.sleep(REPORT_SECONDS + 0.5)  # the last summary line
    log = running.stop()

    figures = (
        f"idle p99 {_p99(idle_kept):.1f} ms (new connection {_p99(idle_fresh):.1f}); under the flood p99 "
        f"{_p99(kept):.1f} ms over {len(kept)} (new connection p99 {_p99(fresh):.1f}, p90 {_p90(fresh):.1f} over "
        f"{len(fresh)}); errors "
        f"{dict(errors)}; slow connections: {tally.summary()}; server {stats}, at most {running.most_fds} descriptors"
    )
    print(figures)
    # keyed requests: all answered, and quickly (generous bounds: a busy 2-core machine runs this)
    # a request on a kept-alive connection never fails; a new connection that arrives while the server is at its
    # cap can be closed before its request is read (the guard makes room among connections that sent no request
    # yet: a client retries), which CI saw once in 66 (a ReadError), so new connections may fail rarely
    assert not any(kind.startswith("kept") for kind in errors), figures
    assert sum(errors.values()) <= max(1, 0.05 * len(fresh)), figures
    assert len(kept) >= 50 and len(fresh) >= 10, figures
    assert _p99(kept) < max(300.0, 10 * _p99(idle_kept)), figures
    # new connections: 30-60 of them, so their p99 is their slowest, which one SYN retransmission (1 s on Linux)
    # decides on a busy machine; the 90th percentile still fails by seconds if the flood starves accepts
    assert _p90(fresh) < max(500.0, 10 * _p90(idle_fresh)), figures
    # the slow connections: every one closed by the server, none later than its header deadline (plus slack)
    assert tally.attempted == SLOW_CONNECTIONS and tally.connect_failures == 0, figures
    assert tally.closed_by_server == SLOW_CONNECTIONS and tally.open_at_end == 0, figures
    assert max(tally.lifetimes) < HEADER_TIMEOUT + 1.5, figures
    assert tally.endings["408"] > 0, figures  # those that waited out the deadline were told why
    # the server's own limits: never more than the cap, never near the open-file limit
    assert stats["cap"] == CAP and 0 < stats["peak"] <= CAP, figures
    assert running.most_fds < OPEN_FILES[1] - 100, figures
    # the log: a few lines, the closures summarised, no descriptor exhaustion
    assert len(log.encode()) < 8_000, log[-3000:]
    assert "Too many open files" not in log and "out of system resource" not in log, log[-3000:]
    reported = sum(int(n.replace(",", "")) for n in re.findall(r"closed ([\d,]+) connections without", log))
    # every closure is in a summary line (connections the kernel reset from its full listen queue never reach them)
    assert reported == stats["evicted"] + stats["timed_out"] >= CAP, log


def test_the_flood_benchmark_measures_and_reports(server: tuple[Server, str]) -> None:
    """`claimsight loadtest --flood N` on a small scale: the figures it prints come from real measurements."""
    running, secret = server
    bodies = [{"claim_id": f"C{i}", "lines": []} for i in range(10)]
    report = flood_figures(running.base_url, secret, bodies, connections=300, requests=60, drip_seconds=0.5)
    assert report.errors == Counter()
    assert len(report.unloaded_ms) == len(report.flood_ms) == 60
    assert len(report.unloaded_fresh_ms) == len(report.flood_fresh_ms) == FRESH_REQUESTS
    assert report.tally.attempted >= 300 and report.tally.most_open == 300
    console = Console(record=True, width=200)
    print_flood_report(console, report)
    text = console.export_text()
    assert "keep-alive, under the flood" in text and "keyed errors: 0 (none)" in text
    assert f"p99 under the flood / idle: {report.p99_ratio:.2f}x" in text
