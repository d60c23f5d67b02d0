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

Nothing leaves the machine: the world is synthetic and the server listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

READY_TIMEOUT_SECONDS = 180.0
WARMUP_REQUESTS = 20


@dataclass
class LoadReport:
    single_ms: list[float] = field(default_factory=list)
    batch_ms: list[float] = field(default_factory=list)
    batch_size: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    startup_seconds: float = 0.0
    prepare_seconds: float = 0.0

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
    workers: int = 1,
    max_seconds: float = 60.0,
) -> LoadReport:
    from serving.api.security import new_key

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the figures
    with tempfile.TemporaryDirectory(prefix="claimsight-loadtest-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        console.print(f"training both models on a synthetic world of {claims:,} claims, {months} months ...")
        data, home, bodies = _prepare(workdir, claims=claims, months=months, seed=seed)
        prepare_seconds = time.perf_counter() - started

        secret, entry = new_key(key_id="loadtest", scopes=("score",))
        port = _free_port()
        batch_bytes = len(json.dumps({"claims": bodies[:batch_size]}).encode())
        max_body = min(100_000_000, max(1_000_000, 2 * batch_bytes))
        log = workdir / "server.log"
        started = time.perf_counter()
        server = _start_server(
            data=data, home=home, entry=entry, port=port, workers=workers, max_body=max_body, log=log
        )
        try:
            import httpx

            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as probe:
                _wait_ready(probe, server)
            startup_seconds = time.perf_counter() - started
            console.print(
                f"server ready in {startup_seconds:.1f} s (pid {server.pid}, {workers} worker(s), port {port}); "
                f"{single:,} single-claim requests (at most {max_seconds:.0f} s), {batches} x {batch_size:,}-claim "
                f"batches ({batch_bytes / 1e6:.2f} MB each)"
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
            if then is not None:  # the server is still up
                then(f"http://127.0.0.1:{port}", secret, bodies)
        except Exception:
            console.print(log.read_text(errors="replace")[-4000:])
            raise
        finally:
            _stop(server)
        report.prepare_seconds = prepare_seconds
        report.startup_seconds = startup_seconds
    print_report(console, report)
    return report


def print_report(console: Console, report: LoadReport) -> None:
    table = Table(title="Scoring API on loopback (ms per request, client side)")
    for column in ("requests", "n", "p50", "p90", "p99", "max", "mean"):
        table.add_column(column, justify="right" if column != "requests" else "left")
    for name, values in (
        ("1 claim, reasons for every claim", report.single_ms),
        (f"{report.batch_size:,} claims, reasons for flagged", report.batch_ms),
    ):
        if values:
            table.add_row(
                name,
                f"{len(values):,}",
                *(f"{_percentile(values, q):.1f}" for q in (50, 90, 99, 100)),
                f"{float(np.mean(values)):.1f}",
            )
    console.print(table)
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(report.errors.items())) or "none"
    console.print(
        f"errors: {report.error_count} ({errors}); setup {report.prepare_seconds:.0f} s (world + training), "
        f"server start {report.startup_seconds:.1f} s"
    )
