"""`claimsight loadtest --flood N`: keyed request latency while N slow connections press on the server.

Issue 12 found that connections sending partial headers were never timed out and, by the thousand, exhausted
the process's file descriptors; the server now closes them (serving.api.connections). This measures what a
keyed client sees meanwhile, on loopback:

1. `hold_slow_connections` (run in a child process, `SlowConnections`, so the flood does not share the
   measuring process's interpreter lock) opens N connections that each send the start of a request's headers
   and then one more header byte every `drip_seconds`, never finishing them; like slowloris, it replaces the
   connections the server closes on each drip, so the pressure stays at N.
2. `flood_figures` times keyed one-claim requests (as `claimsight loadtest` does: `load_bench.measure`, one
   keep-alive connection, then a few on a new connection each) first on the idle server, then under the flood.
   Target: p99 under the flood <= 3x the unloaded p99, no errors.

The slow connections carry no data at all (a header name and filler bytes), and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

REQUEST_START = b"POST /v1/claims/score HTTP/1.1\r\nHost: flood\r\nX-Slow: "
FLOOD_READY_TIMEOUT_SECONDS = 60.0
FRESH_REQUESTS = 50  # keyed requests on a new connection each, per phase
TARGET_P99_RATIO = 3.0


@dataclass
class FloodTally:
    """What the slow connections saw. `attempted`: connections tried (`connect_failures` of them failed);
    `lifetimes`: seconds from connecting to the server's close, one per connection the server closed;
    `endings`: how they were closed (the status line's code, or "closed" without a word)."""

    attempted: int = 0
    connect_failures: int = 0
    lifetimes: list[float] = field(default_factory=list)
    endings: Counter[str] = field(default_factory=Counter)
    open_at_end: int = 0
    most_open: int = 0

    @property
    def closed_by_server(self) -> int:
        return len(self.lifetimes)

    def summary(self) -> str:
        endings = ", ".join(f"{k}: {v:,}" for k, v in sorted(self.endings.items())) or "none"
        lifetimes = np.asarray(self.lifetimes or [float("nan")])
        return (
            f"{self.attempted:,} attempted ({self.connect_failures:,} failed to connect), at most {self.most_open:,} "
            f"open at once; {self.closed_by_server:,} closed by the server ({endings}) after "
            f"{float(np.median(lifetimes)):.1f} s median, {float(np.max(lifetimes)):.1f} s max; "
            f"{self.open_at_end:,} still open at the end"
        )


@dataclass
class _Slow:
    sock: socket.socket
    connected_at: float | None = None  # when the connection was established (not when it was attempted: a full
    # listen queue drops connection attempts, which the client retries a second or more later)


def hold_slow_connections(
    host: str,
    port: int,
    *,
    connections: int,
    seconds: float,
    drip_seconds: float = 1.0,
    reopen: bool = True,
    control: Connection | None = None,
) -> FloodTally:
    """Keep up to `connections` slow connections to host:port for `seconds` (or until `control` says "stop").

    Each sends `REQUEST_START` once connected, then one byte every `drip_seconds`; the server's close (a 408, a
    503, no word, or a reset) is recorded with the connection's lifetime. With `reopen`, closed ones are replaced
    at the next drip; without, it ends when the server has closed them all. `control` (one end of a Pipe) is told
    "ready" once the first `connections` have been attempted.
    """
    from serving.api.connections import raise_open_file_limit

    raise_open_file_limit()  # this process holds the N sockets
    tally = FloodTally()
    selector = selectors.DefaultSelector()
    live: dict[int, _Slow] = {}

    def open_one() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            tally.connect_failures += 1
            return
        slow = _Slow(sock=sock)
        live[sock.fileno()] = slow
        selector.register(sock, selectors.EVENT_WRITE, slow)
        tally.attempted += 1

    def end(slow: _Slow, ending: str | None) -> None:
        live.pop(slow.sock.fileno(), None)
        selector.unregister(slow.sock)
        slow.sock.close()
        if ending is None or slow.connected_at is None:
            tally.connect_failures += 1
        else:
            tally.endings[ending] += 1
            tally.lifetimes.append(time.monotonic() - slow.connected_at)

    def on_event(slow: _Slow) -> None:
        if slow.connected_at is None:
            if slow.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                end(slow, None)
                return
            slow.connected_at = time.monotonic()
            selector.modify(slow.sock, selectors.EVENT_READ, slow)
            send(slow, REQUEST_START)
            return
        try:
            data = slow.sock.recv(512)
        except OSError:
            end(slow, "reset")
            return
        end(slow, data.split(b" ", 2)[1].decode("ascii", "replace") if data.startswith(b"HTTP/") else "closed")

    def send(slow: _Slow, data: bytes) -> None:
        try:
            slow.sock.send(data)
        except BlockingIOError:
            pass
        except OSError:
            end(slow, "reset")

    for _ in range(connections):
        open_one()
    if control is not None:
        control.send("ready")
    stop_at = time.monotonic() + seconds
    next_drip = time.monotonic() + drip_seconds
    while (now := time.monotonic()) < stop_at:
        if control is not None and control.poll():
            break
        for key, _ in selector.select(timeout=min(0.05, max(0.0, next_drip - now))):
            on_event(key.data)
        tally.most_open = max(tally.most_open, len(live))
        if time.monotonic() >= next_drip:
            next_drip += drip_seconds
            for slow in [s for s in live.values() if s.connected_at is not None]:
                send(slow, b"a")
            for _ in range(connections - len(live) if reopen else 0):
                open_one()
        if not live and not reopen:  # every connection closed: nothing left to hold
            break
    tally.open_at_end = len(live)
    for slow in list(live.values()):
        selector.unregister(slow.sock)
        slow.sock.close()
    selector.close()
    return tally


def _child(control: Connection, host: str, port: int, options: dict[str, Any]) -> None:
    control.send(hold_slow_connections(host, port, control=control, **options))


class SlowConnections:
    """`hold_slow_connections` in a child process: `with SlowConnections(...) as flood:` returns once the
    connections have been opened; `flood.stop()` ends it and returns its `FloodTally`."""

    def __init__(self, host: str, port: int, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(target=_child, args=(child_end, host, port, options), daemon=True)

    def __enter__(self) -> SlowConnections:
        self._process.start()
        if not self._control.poll(FLOOD_READY_TIMEOUT_SECONDS) or self._control.recv() != "ready":
            self._kill()
            raise RuntimeError("the slow connections were not opened in time")
        return self

    def stop(self, *, timeout: float = 30.0) -> FloodTally:
        """End the flood now; its tally."""
        with contextlib.suppress(OSError):  # it may have ended by itself
            self._control.send("stop")
        return self.result(timeout=timeout)

    def result(self, *, timeout: float) -> FloodTally:
        """The tally once the flood ends by itself (its `seconds` are up, or, without `reopen`, all closed)."""
        if not self._control.poll(timeout):
            self._kill()
            raise RuntimeError("the slow connections did not report")
        tally: FloodTally = self._control.recv()
        self._process.join(timeout)
        return tally

    def __exit__(self, *exc: object) -> None:
        self._kill()

    def _kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)


@dataclass
class FloodReport:
    connections: int
    unloaded_ms: list[float]
    flood_ms: list[float]
    unloaded_fresh_ms: list[float]
    flood_fresh_ms: list[float]
    errors: Counter[str]
    tally: FloodTally
    header_timeout_seconds: float | None = None

    @property
    def p99_ratio(self) -> float:
        return _percentile(self.flood_ms, 99) / _percentile(self.unloaded_ms, 99)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def fresh_requests(base_url: str, secret: str, raw: list[bytes], *, count: int, errors: Counter[str]) -> list[float]:
    """`count` keyed requests, each on a new connection (connect included in its time)."""
    import httpx

    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    times = []
    for i in range(count):
        started = time.perf_counter()
        try:
            with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
                status = client.post("/v1/claims/score", content=raw[i % len(raw)]).status_code
            if status != 200:
                errors[f"HTTP {status}"] += 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def flood_figures(
    base_url: str,
    secret: str,
    bodies: list[dict[str, Any]],
    *,
    connections: int = 5000,
    requests: int = 2000,
    drip_seconds: float = 1.0,
    max_seconds: float = 60.0,
) -> FloodReport:
    """Keyed one-claim latency on the idle server at `base_url`, then while `connections` slow connections
    press on it (module docstring)."""
    import json
    from urllib.parse import urlsplit

    from claimsight.load_bench import measure

    raw = [json.dumps({"claims": [b], "explain": "all"}).encode() for b in bodies]
    errors: Counter[str] = Counter()

    def keyed() -> tuple[list[float], list[float]]:
        report = measure(base_url, secret, bodies, single=requests, batches=0, batch_size=1, max_seconds=max_seconds)
        errors.update(report.errors)
        return report.single_ms, fresh_requests(base_url, secret, raw, count=FRESH_REQUESTS, errors=errors)

    unloaded, unloaded_fresh = keyed()
    where = urlsplit(base_url)
    with SlowConnections(
        where.hostname or "127.0.0.1",
        where.port or 80,
        connections=connections,
        seconds=10 * max_seconds + 60,
        drip_seconds=drip_seconds,
    ) as flood:
        loaded, loaded_fresh = keyed()
        tally = flood.stop()
    return FloodReport(
        connections=connections,
        unloaded_ms=unloaded,
        flood_ms=loaded,
        unloaded_fresh_ms=unloaded_fresh,
        flood_fresh_ms=loaded_fresh,
        errors=errors,
        tally=tally,
    )


def print_flood_report(console: Console, report: FloodReport) -> None:
    table = Table(title=f"Keyed one-claim requests, idle vs under {report.connections:,} slow connections (ms)")
    for column in ("requests", "n", "p50", "p90", "p99", "max"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    for name, values in (
        ("keep-alive, idle server", report.unloaded_ms),
        ("keep-alive, under the flood", report.flood_ms),
        ("new connection each, idle server", report.unloaded_fresh_ms),
        ("new connection each, under the flood", report.flood_fresh_ms),
    ):
        if values:
            table.add_row(name, f"{len(values):,}", *(f"{_percentile(values, q):.1f}" for q in (50, 90, 99, 100)))
    console.print(table)
    console.print(f"slow connections: {report.tally.summary()}")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(report.errors.items())) or "none"
    verdict = "met" if report.p99_ratio <= TARGET_P99_RATIO and not report.errors else "NOT met"
    console.print(
        f"keyed errors: {sum(report.errors.values())} ({errors}); p99 under the flood / idle: "
        f"{report.p99_ratio:.2f}x (target <= {TARGET_P99_RATIO:g}x: {verdict})"
    )
