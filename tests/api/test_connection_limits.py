"""The HTTP server's own connection rules (serving.api.connections), each on a real uvicorn server in this
process with a tiny ASGI app and raw sockets: the request-header deadline (absolute, whatever the drip), the
per-process cap (the longest-waiting connection makes room; a 503 only when every connection is inside a
request), the summary line, fitting the cap under the open-file limit, and the repeat filter of the log.

The flood itself (thousands of connections against `claimsight serve`'s configuration) is
tests/api/test_connection_flood.py.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from claimsight.commands.service import listening_socket
from serving.api.connections import (
    LOGGER_NAME,
    ConnectionGuard,
    ConnectionLimits,
    GuardedConfig,
    GuardedH11Protocol,
    fit_to_open_files,
    guard_of,
)
from serving.api.log_limits import RepeatFilter

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
Scope = dict[str, Any]


class TinyApp:
    """200 "ok"; `/hold` answers only once `release` is set, so a request can be kept in progress."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[..., Any]) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/hold":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def running(app: TinyApp, limits: ConnectionLimits) -> AsyncIterator[tuple[int, Callable[[], ConnectionGuard]]]:
    """(port, the server's guard) of a guarded uvicorn server on loopback. Logging is left as pytest set it."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = GuardedConfig(app, limits=limits, log_config=None, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)

    def guard() -> ConnectionGuard:
        found = guard_of(server.server_state)
        assert found is not None
        return found

    try:
        yield port, guard
    finally:
        server.should_exit = True
        await task
        sock.close()


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def response(reader: asyncio.StreamReader) -> bytes:
    """One response of TinyApp (its body is the 2 bytes "ok")."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await asyncio.wait_for(reader.readexactly(2), 5)


async def closed_after(reader: asyncio.StreamReader, *, within: float) -> tuple[float, bytes]:
    """(seconds until the server closed the connection, what it sent before)."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), within)
    return time.monotonic() - started, data


def run(coroutine: Awaitable[None]) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ header deadline


def test_a_dripped_request_is_closed_at_the_deadline_of_its_first_byte() -> None:
    async def main() -> None:
        async with running(TinyApp(), ConnectionLimits(header_timeout_seconds=0.6)) as (port, guard):
            reader, writer = await connect(port)
            started = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            closing = asyncio.create_task(reader.read())
            while not closing.done() and time.monotonic() - started < 3:  # one byte every 0.1 s: never enough
                writer.write(b"a")
                await asyncio.sleep(0.1)
            data = await asyncio.wait_for(closing, 1)
            assert 0.5 <= time.monotonic() - started < 1.2
            assert data.startswith(b"HTTP/1.1 408 ") and data.endswith(b"request headers not received in time")
            assert guard().stats()["timed_out"] == 1
            assert guard().stats()["open"] == 0
            writer.close()

    run(main())


def test_a_connection_that_sends_nothing_is_closed_without_a_word() -> None:
    async def main() -> None:
        async with running(TinyApp(), ConnectionLimits(header_timeout_seconds=0.4)) as (port, guard):
            reader, writer = await connect(port)
            seconds, data = await closed_after(reader, within=3)
            assert 0.3 <= seconds < 1.0 and data == b""
            writer.close()

    run(main())


def test_requests_in_time_are_served_and_the_next_request_gets_its_own_deadline() -> None:
    """Headers in pieces within the deadline are fine; keep-alive works; after a response the clock starts again
    at the next request's first byte, not at the connection's start."""

    async def main() -> None:
        async with running(TinyApp(), ConnectionLimits(header_timeout_seconds=0.5)) as (port, guard):
            reader, writer = await connect(port)
            for piece in (b"GET / HT", b"TP/1.1\r\nHost: te", b"st\r\n\r\n"):
                writer.write(piece)
                await asyncio.sleep(0.1)
            assert (await response(reader)).startswith(b"HTTP/1.1 200 ")
            await asyncio.sleep(0.4)  # idle between requests: not the header deadline (uvicorn's keep-alive is 5 s)
            for _ in range(3):
                writer.write(REQUEST)
                assert (await response(reader)).startswith(b"HTTP/1.1 200 ")
                await asyncio.sleep(0.3)
            started = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\n")  # the next request begins and stalls
            seconds, data = await closed_after(reader, within=3)
            assert 0.4 <= time.monotonic() - started < 1.1
            assert data.startswith(b"HTTP/1.1 408 ")
            assert guard().stats()["timed_out"] == 1
            writer.close()

    run(main())


# --------------------------------------------------------------------------------------- connection cap


def test_the_cap_closes_slow_senders_first_then_idle_connections_oldest_first() -> None:
    async def main() -> None:
        limits = ConnectionLimits(max_connections=3, header_timeout_seconds=30)
        async with running(TinyApp(), limits) as (port, guard):
            idle = await connect(port)  # sends nothing
            await asyncio.sleep(0.05)
            slow = []
            for _ in range(2):
                reader, writer = await connect(port)
                writer.write(b"GET / HTTP/1.1\r\n")  # begins a request and stalls
                slow.append((reader, writer))
                await asyncio.sleep(0.05)
            served = []
            for expected_closed in (slow[0], slow[1], idle):  # each newcomer makes room for itself
                reader, writer = await connect(port)
                writer.write(REQUEST)
                assert (await response(reader)).startswith(b"HTTP/1.1 200 ")
                served.append((reader, writer))
                _, data = await closed_after(expected_closed[0], within=2)
                assert data == b""
            for reader, _ in served:
                assert not reader.at_eof()
            stats = guard().stats()
            assert stats["evicted"] == 3 and stats["peak"] == 3 and stats["open"] == 3
            for _, w in [idle, *slow, *served]:
                w.close()

    run(main())


def test_with_every_connection_inside_a_request_a_newcomer_gets_503() -> None:
    async def main() -> None:
        app = TinyApp()
        async with running(app, ConnectionLimits(max_connections=2)) as (port, guard):
            busy = []
            for _ in range(2):
                reader, writer = await connect(port)
                writer.write(b"GET /hold HTTP/1.1\r\nHost: test\r\n\r\n")
                busy.append((reader, writer))
            await asyncio.sleep(0.2)
            reader, writer = await connect(port)
            _, data = await closed_after(reader, within=2)
            assert data.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in data
            app.release.set()
            for r, _ in busy:
                assert (await response(r)).startswith(b"HTTP/1.1 200 ")
            assert guard().stats()["refused"] == 1 and guard().stats()["peak"] == 2
            for _, w in [*busy, (reader, writer)]:
                w.close()

    run(main())


def test_closed_connections_are_reported_as_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        limits = ConnectionLimits(max_connections=20, header_timeout_seconds=0.3, report_seconds=0.8)
        async with running(TinyApp(), limits) as (port, guard):
            streams = [await connect(port) for _ in range(30)]  # 10 evicted on arrival, 20 time out
            for reader, _ in streams:
                await closed_after(reader, within=3)
            await asyncio.sleep(1.0)
            for _, writer in streams:
                writer.close()

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert len(lines) == 1, lines
    expected = "closed 30 connections without complete request headers (20 after the 0.3 s header timeout, 10 to"
    assert expected in lines[0]
    assert "127.0.0.1" not in lines[0]


# ------------------------------------------------------------------------------------ fitting and config


def test_the_cap_fits_under_the_open_file_limit() -> None:
    wanted = ConnectionLimits(max_connections=4096, header_timeout_seconds=7)
    assert fit_to_open_files(wanted, open_files=20_000) == (wanted, 2048)
    assert fit_to_open_files(wanted, open_files=None) == (wanted, 2048)
    small, backlog = fit_to_open_files(wanted, open_files=1024)
    assert (small.max_connections, backlog, small.header_timeout_seconds) == (480, 96, 7)
    assert small.max_connections + 3 * backlog + 256 <= 1024
    with pytest.raises(ValueError, match="open-file limit"):
        fit_to_open_files(wanted, open_files=300)


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource; from serving.api.connections import raise_open_file_limit; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1500)); print(raise_open_file_limit())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "1500"


def test_the_config_travels_to_worker_processes() -> None:
    """`--workers N` pickles the config into each spawned worker."""
    limits = ConnectionLimits(max_connections=99, header_timeout_seconds=3)
    config = GuardedConfig("claimsight.asgi:service_from_environment", limits=limits, factory=True, log_config=None)
    copy = pickle.loads(pickle.dumps(config))
    assert copy.connection_limits == limits and copy.http is GuardedH11Protocol and copy.ws == "none"


# ------------------------------------------------------------------------------------------- the log


def _record(msg: str, *args: object, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_repeats_beyond_the_burst_are_dropped_and_counted() -> None:
    now = [0.0]
    repeats = RepeatFilter(burst=3, interval=10, clock=lambda: now[0])
    passed = [r for i in range(50) if repeats.filter(r := _record("accept failed on fd %d\ndetails", i))]
    assert len(passed) == 3
    assert "repeats dropped for the next 10 s" in passed[-1].getMessage()
    assert repeats.filter(_record("something else"))  # another message has its own budget
    now[0] = 10.0
    after = _record("accept failed on fd %d\ndetails", 99)
    assert repeats.filter(after)
    assert after.getMessage() == "accept failed on fd 99\ndetails [47 more like this were dropped in the 10 s before]"


def test_the_filter_remembers_a_bounded_number_of_messages() -> None:
    repeats = RepeatFilter(burst=1, interval=60, clock=lambda: 0.0)
    for i in range(5000):
        assert repeats.filter(_record(f"distinct message {i}"))
    assert len(repeats._windows) <= 512


def test_the_server_log_bounds_repeats_everywhere_but_the_access_log() -> None:
    """In a process of its own: the configuration replaces the root logger's handlers."""
    code = """if True:
        import logging, logging.config
        from serving.api.log_limits import server_log_config
        logging.config.dictConfig(server_log_config(burst=3))
        for i in range(200):
            logging.getLogger("asyncio").error("socket.accept() out of system resource\\nsocket: fd=%d", i)
            logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
            logging.getLogger("serving.api.audit").error("audit write failed (%s) request_id=%s", "OSError", i)
            logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "client", "GET", "/livez", "1.1", 200)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stderr.count("socket.accept() out of system resource") == 3
    assert done.stderr.count("Invalid HTTP request received.") == 3
    assert done.stderr.count("audit write failed") == 3
    assert "repeats dropped for the next 60 s, then counted" in done.stderr
    assert done.stdout.count("/livez") == 200
    assert len(done.stderr) < 2_000
