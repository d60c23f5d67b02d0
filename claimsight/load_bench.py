"""`claimsight loadtest`: a bounded load benchmark of the scoring API on loopback.

1. A small synthetic world (synthetic) in a temporary directory; both models trained on it and
   registered as champions in a temporary MLflow home (training.denial_job / training.recovery_job).
2. `claimsight serve` started as a child process on a free loopback port, configured only through the
   environment (that home, a fresh API key, no champion polling, a body cap that fits the batch), so what is
   measured is the server `make serve` runs, audit log included.
3. With one keep-alive httpx connection, after 20 single and 1 batch warm-up requests: `single` sequential
   one-claim requests with reasons for every claim (`explain: all`), stopped after `max_seconds`, then
   `batches` sequential requests of `batch_size` claims (reasons for the claims flagged for review, as batch
   scoring does). Bodies are serialised before the clock starts; a request's time is from send to the last
   byte of the response. Anything but a 200 is an error (warm-up requests included).
4. With `concurrency` levels (e.g. 1, 4, 16, 32): at each level that many keep-alive connections, one thread
   each, send one-claim requests with reasons back to back for `level_seconds`; reported as throughput
   (completed requests / wall time) and latency percentiles. The client runs on the same machine as the
   server, so it takes some of its CPU: the figures are a floor, comparable between runs on one machine.
5. With several `workers` values the server is started once per value on the same models and bodies, so the
   table compares them side by side.

Nothing leaves the machine: the world is synthetic and the server listens on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

READY_TIMEOUT_SECONDS = 180.0
WARMUP_REQUESTS = 20


@dataclass
class LevelReport:
    """One concurrency level: `connections` clients sending back to back for `seconds`."""

    workers: int
    connections: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class LoadReport:
    single_ms: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)
    batch_size: int = 0
    workers: int = 1
    errors: Counter[str] = field(default_factory=Counter)
    startup_seconds: float = 0.0
    prepare_seconds: float = 0.0
    levels: list[LevelReport] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _prepare(workdir: Path, *, claims: int, months: int, seed: int) -> tuple[Path, Path, list[dict[str, Any]]]:
    """(data dir, MLflow home, claim bodies): the world, both models registered, and claims to send."""
    from features.contract.run_options import RunOptions
    from features.contract.validation import load_validated
    from models import catalog
    from serving.api.schemas import claim_bodies
    from synthetic import generate_world, write_world
    from training.jobs import job_for

    data, home = workdir / "data", workdir / "home"
    write_world(generate_world(claims=claims, months=months, seed=seed), out_dir=data, fmt="parquet")
    options = RunOptions(home=home, seed=seed)
    for kind in catalog.kinds():
        job_for(kind).train(data, options=options)
    tables = load_validated(data, max_reject_rate=0.05, quarantine_dir=workdir / "quarantine").tables
    originals = tables["claims"][tables["claims"]["frequency_code"].eq("1")]
    return data, home, claim_bodies(originals.tail(4000).reset_index(drop=True), tables["claim_lines"])


def _start_server(
    *, data: Path, home: Path, entry: str, port: int, workers: int, max_body: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLAIMSIGHT_ENVIRONMENT": "development",
        "CLAIMSIGHT_HOME": str(home),
        "CLAIMSIGHT_API_KEYS": entry,
        "CLAIMSIGHT_API_HOST": "127.0.0.1",
        "CLAIMSIGHT_API_PORT": str(port),
        "CLAIMSIGHT_MODEL_POLL_SECONDS": "0",
        "CLAIMSIGHT_API_MAX_BODY_BYTES": str(max_body),
        "CLAIMSIGHT_AUDIT_DATABASE_URL": f"sqlite:///{home / 'audit.sqlite'}",
    }
    env.pop("CLAIMSIGHT_MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "claimsight.cli", "serve", "--data", str(data), "--log-level", "warning"]
    command += ["--workers", str(workers)]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(client: Any, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before it was ready")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError("the server was not ready in time")


PROC_TCP = Path("/proc/net/tcp")


def listening_on_loopback(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port`, from Linux's /proc/net/tcp (state 0A = LISTEN)."""
    local = f"0100007F:{port:04X}"
    rows = [row.split() for row in PROC_TCP.read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")


def wait_all_listening(port: int, *, workers: int, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Wait until every worker listens on 127.0.0.1:`port` (each has its own socket, listening once the worker
    has started): `/readyz` answers from whichever worker is up, and connections opened before the others
    listen all go to it. Linux only (/proc/net/tcp); elsewhere it returns at once."""
    if workers <= 1 or not PROC_TCP.exists():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening_on_loopback(port) >= workers:
            return
        time.sleep(0.25)
    raise RuntimeError(f"not every one of the {workers} workers was listening in time")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(
    base_url: str,
    secret: str,
    bodies: list[dict[str, Any]],
    *,
    single: int,
    batches: int,
    batch_size: int,
    max_seconds: float,
) -> LoadReport:
    """Time the requests against a ready server at `base_url` (one keep-alive connection)."""
    import httpx

    report = LoadReport(batch_size=batch_size)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    one = [json.dumps({"claims": [b], "explain": "all"}).encode() for b in bodies]
    many = [
        json.dumps({"claims": [bodies[(k * batch_size + i) % len(bodies)] for i in range(batch_size)]}).encode()
        for k in range(batches)
    ]
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:

        def send(raw: bytes) -> float:
            started = time.perf_counter()
            try:
                response = client.post("/v1/claims/score", content=raw)
                response.read()
            except httpx.HTTPError as exc:
                report.errors[type(exc).__name__] += 1
                return (time.perf_counter() - started) * 1000.0
            elapsed = (time.perf_counter() - started) * 1000.0
            if response.status_code != 200:
                report.errors[f"HTTP {response.status_code}"] += 1
            return elapsed

        for i in range(WARMUP_REQUESTS):  # first calls fill caches (and the batch one sizes the buffers)
            send(one[i % len(one)])
        if many:
            send(many[-1])
        stop_at = time.monotonic() + max_seconds
        for i in range(single):
            if time.monotonic() > stop_at:
                break
            report.single_ms.append(send(one[i % len(one)]))
        for raw in many:
            report.batch_ms.append(send(raw))
    return report


def measure_concurrency(
    *,
    port: int,
    secret: str,
    bodies: list[dict[str, Any]],
    connections: int,
    seconds: float,
    workers: int,
    warmup: int = 3,
) -> LevelReport:
    """`connections` keep-alive clients, one thread each, sending one-claim requests with reasons for `seconds`.

    http.client rather than httpx: the client shares the machine's cores with the server, and the lighter it
    is the more of the time measured is the server's. Each connection's first `warmup` requests are not counted.
    """
    report = LevelReport(workers=workers, connections=connections, seconds=seconds)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    raws = [json.dumps({"claims": [b], "explain": "all"}).encode() for b in bodies]
    start = threading.Barrier(connections + 1)
    lock = threading.Lock()
    window: dict[str, float] = {}

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        errors: Counter[str] = Counter()

        def send(raw: bytes) -> float:
            nonlocal conn
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/claims/score", body=raw, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[f"HTTP {response.status}"] += 1
            except (OSError, http.client.HTTPException) as exc:
                errors[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            return (time.perf_counter() - started) * 1000.0

        try:
            for i in range(warmup):
                send(raws[(index + i) % len(raws)])
            start.wait()
            i = index
            while time.perf_counter() < window["stop"]:
                elapsed = send(raws[i % len(raws)])
                if time.perf_counter() <= window["stop"]:
                    mine.append(elapsed)
                i += connections
        finally:
            conn.close()
            with lock:
                report.latencies_ms.extend(mine)
                report.errors.update(errors)

    window["stop"] = float("inf")
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(connections)]
    for thread in threads:
        thread.start()
    start.wait()  # every client has warmed up; the clock starts for all of them at once
    window["stop"] = time.perf_counter() + seconds
    for thread in threads:
        thread.join()
    return report


def run_loadtest(
    console: Console,
    *,
    then: Callable[[str, str, list[dict[str, Any]]], None] | None = None,  # (base URL, key, bodies): more, after
    single: int = 2000,
    batches: int = 10,
    batch_size: int = 1000,
    claims: int = 20_000,
    months: int = 12,
    seed: int = 7,
    workers: Sequence[int] = (1,),
    max_seconds: float = 60.0,
    concurrency: Sequence[int] = (),
    level_seconds: float = 10.0,
) -> list[LoadReport]:
    """One report per value of `workers`, each from its own server on the same models and bodies."""
    from serving.api.security import new_key

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the figures
    reports: list[LoadReport] = []
    with tempfile.TemporaryDirectory(prefix="claimsight-loadtest-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        console.print(f"training both models on a synthetic world of {claims:,} claims, {months} months ...")
        data, home, bodies = _prepare(workdir, claims=claims, months=months, seed=seed)
        prepare_seconds = time.perf_counter() - started
        secret, entry = new_key(key_id="loadtest", scopes=("score",))
        batch_bytes = len(json.dumps({"claims": bodies[:batch_size]}).encode())
        max_body = min(100_000_000, max(1_000_000, 2 * batch_bytes))
        for count in workers:
            port = _free_port()
            log = workdir / f"server-{count}.log"
            started = time.perf_counter()
            server = _start_server(
                data=data, home=home, entry=entry, port=port, workers=count, max_body=max_body, log=log
            )
            try:
                import httpx

                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as probe:
                    _wait_ready(probe, server)
                wait_all_listening(port, workers=count)
                startup_seconds = time.perf_counter() - started
                levels = ", ".join(str(c) for c in concurrency)
                console.print(
                    f"server ready in {startup_seconds:.1f} s (pid {server.pid}, {count} worker(s), port {port}); "
                    f"{single:,} single-claim requests (at most {max_seconds:.0f} s), {batches} x "
                    f"{batch_size:,}-claim batches ({batch_bytes / 1e6:.2f} MB each)"
                    + (f"; then {level_seconds:.0f} s at each of {levels} connections" if concurrency else "")
                )
                report = measure(
                    f"http://127.0.0.1:{port}",
                    secret,
                    bodies,
                    single=single,
                    batches=batches,
                    batch_size=batch_size,
                    max_seconds=max_seconds,
                )
                for connections in concurrency:
                    console.print(f"  {count} worker(s), {connections} connection(s) ...")
                    report.levels.append(
                        measure_concurrency(
                            port=port,
                            secret=secret,
                            bodies=bodies,
                            connections=connections,
                            seconds=level_seconds,
                            workers=count,
                        )
                    )
                if then is not None:  # the server is still up
                    then(f"http://127.0.0.1:{port}", secret, bodies)
            except Exception:
                console.print(log.read_text(errors="replace")[-4000:])
                raise
            finally:
                _stop(server)
            report.workers = count
            report.prepare_seconds = prepare_seconds
            report.startup_seconds = startup_seconds
            reports.append(report)
    print_report(console, reports)
    return reports


def print_report(console: Console, reports: Sequence[LoadReport]) -> None:
    table = Table(title="Scoring API on loopback, sequential (ms per request, client side)")
    for column in ("workers", "requests", "n", "p50", "p90", "p99", "max", "mean"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    for report in reports:
        for name, values in (
            ("1 claim, reasons for every claim", report.single_ms),
            (f"{report.batch_size:,} claims, reasons for flagged", report.batch_ms),
        ):
            if values:
                table.add_row(
                    str(report.workers),
                    name,
                    f"{len(values):,}",
                    *(f"{_percentile(values, q):.1f}" for q in (50, 90, 99, 100)),
                    f"{float(np.mean(values)):.1f}",
                )
    console.print(table)
    levels = [level for report in reports for level in report.levels]
    if levels:
        table = Table(title="1 claim with reasons, concurrent keep-alive connections (ms per request, client side)")
        for column in ("workers", "connections", "req/s", "n", "p50", "p90", "p99", "max", "errors"):
            table.add_column(column, justify="right")
        for level in levels:
            values = level.latencies_ms
            table.add_row(
                str(level.workers),
                str(level.connections),
                f"{level.throughput:.0f}",
                f"{len(values):,}",
                *(f"{_percentile(values, q):.1f}" for q in (50, 90, 99, 100)),
                str(sum(level.errors.values())),
            )
        console.print(table)
    for report in reports:
        errors = dict(report.errors)
        for level in report.levels:
            for name, n in level.errors.items():
                errors[name] = errors.get(name, 0) + n
        described = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"
        console.print(
            f"{report.workers} worker(s): errors {sum(errors.values())} ({described}); setup "
            f"{report.prepare_seconds:.0f} s (world + training), server start {report.startup_seconds:.1f} s"
        )
