"""The HTTP server's own connection limits: a deadline for request headers and a cap on open connections.

uvicorn's HTTP/1.1 protocol (h11) times nothing out while a request's headers are incomplete, and its
`limit_concurrency` answers 503 only once headers have arrived, so it bounds nothing that never sends them.
A client that opens connections and trickles header bytes (slowloris) kept every one of 2,000 connections open
for as long as it liked, and at about 20,000 the process ran out of file descriptors: new connections failed,
legitimate requests timed out, and every failed accept was logged (issue 12). No API key is needed for any of
that, since authentication happens after the headers.

`GuardedH11Protocol` is uvicorn's protocol with two rules:

- **Header deadline.** A request's headers must be complete within `header_timeout_seconds` of its first byte
  (of the connection being made, for the first request). The deadline is absolute: dripping one byte every few
  seconds does not extend it. A new deadline starts with the first byte after a response (uvicorn's keep-alive
  timer covers a connection that sends nothing). On expiry the connection gets a 408 if a request had begun,
  and is closed. Bodies have their own deadline in the app (`ApiConfig.body_timeout_seconds`).
- **Connection cap.** At most `max_connections` open per process. A connection that would exceed it closes one
  still waiting for its request headers to make room: the oldest of those that have begun sending a request
  (a slow sender's), else the oldest idle one (nothing sent yet, or kept alive after a response); only when
  every connection is inside a request is the newcomer refused with a 503. The cap is fitted under the process's
  open-file limit (`fit_to_open_files`), so the server never reaches EMFILE however many connections arrive.

Closed and refused connections are counted and reported as one log line per `report_seconds`, never one line
per connection; nothing about a connection (its address included) is logged. `GuardedConfig` is a uvicorn
`Config` that installs the protocol and carries the limits, and is pickled as it is to `--workers N` processes.

This subclasses uvicorn's h11 protocol and reads its per-request state (`cycle`, `conn`): uvicorn is pinned in
constraints.txt, and tests/api/test_connection_limits.py exercises each rule on a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.config import LOG_LEVELS
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from serving import api_defaults

LOGGER_NAME = "serving.api.connections"
log = logging.getLogger(LOGGER_NAME)

REPORT_SECONDS = 60.0  # at most one summary line of closed connections per this many seconds
RESERVED_FDS = 256  # descriptors kept for the process's own files: models, audit and MLflow databases, pipes, the loop
DEFAULT_BACKLOG = 2048  # uvicorn's: the listen queue, and how many connections asyncio accepts in one turn
MIN_CONNECTIONS = 16

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 36\r\n"
    b"connection: close\r\n\r\nrequest headers not received in time"
)
_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 20\r\n"
    b"retry-after: 1\r\nconnection: close\r\n\r\ntoo many connections"
)


@dataclass(frozen=True, kw_only=True)
class ConnectionLimits:
    """`max_connections`: open connections per process; `header_timeout_seconds`: from a request's first byte to
    its last header; `report_seconds`: the summary interval of the connections closed for these rules."""

    max_connections: int = api_defaults.MAX_CONNECTIONS
    header_timeout_seconds: float = api_defaults.HEADER_TIMEOUT_SECONDS
    report_seconds: float = REPORT_SECONDS

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be positive")
        if self.header_timeout_seconds <= 0:
            raise ValueError("header_timeout_seconds must be positive")
        if self.report_seconds <= 0:
            raise ValueError("report_seconds must be positive")


def raise_open_file_limit() -> int | None:
    """Raise this process's soft open-file limit to its hard limit, as servers commonly do at start-up; the soft
    limit now in force (None where the platform has no such limit). Worker processes inherit it."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        # above what the kernel allows a process (e.g. macOS's OPEN_MAX): the soft limit stays
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fit_to_open_files(
    limits: ConnectionLimits, *, open_files: int | None, backlog: int = DEFAULT_BACKLOG
) -> tuple[ConnectionLimits, int]:
    """(limits, listen backlog) that keep the process under `open_files` descriptors.

    asyncio accepts up to `backlog` sockets in one turn of the loop; they reach the protocol (and so the cap) two
    turns later, and the connections closed to make room for them release their descriptors a turn after that.
    Under a flood, three backlogs are therefore in flight besides the cap (measured: 600 + 3 x 448 + the
    process's own), and are kept free besides `RESERVED_FDS`. A small limit shrinks the backlog first, then the
    cap. Raises ValueError when the limit leaves no room for `MIN_CONNECTIONS`.
    """
    if open_files is None:
        return limits, backlog
    usable = open_files - RESERVED_FDS
    backlog = max(MIN_CONNECTIONS, min(backlog, usable // 8))
    room = usable - 3 * backlog
    if room < MIN_CONNECTIONS:
        raise ValueError(
            f"the open-file limit ({open_files:,}) leaves no room for connections; raise it (ulimit -n) above "
            f"{RESERVED_FDS + 4 * MIN_CONNECTIONS:,}"
        )
    if room < limits.max_connections:
        limits = ConnectionLimits(
            max_connections=room,
            header_timeout_seconds=limits.header_timeout_seconds,
            report_seconds=limits.report_seconds,
        )
    return limits, backlog


class ConnectionGuard:
    """The connections of one server (one process): who is open, who waits for request headers, what was closed.

    Connections waiting for a request's headers are kept in two queues, each in the order they started waiting:
    `begun` (some bytes of the request have arrived: a slow sender, the flood's kind) and `idle` (nothing yet:
    just connected, or kept alive after a response). Room under the cap is made from the front of `begun`
    first, so a connection that has just been accepted and whose request is on its way is the last to go, as
    long as slow senders hold any connections. Counts since the last report are logged as one line per
    `limits.report_seconds`, scheduled by the first count after a quiet period.
    """

    def __init__(self, *, limits: ConnectionLimits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        self.open: set[GuardedH11Protocol] = set()
        self.begun: dict[GuardedH11Protocol, None] = {}
        self.idle: dict[GuardedH11Protocol, None] = {}
        self.peak = 0
        self.unreported: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self._report: asyncio.TimerHandle | None = None

    def admit(self, protocol: GuardedH11Protocol) -> bool:
        """Room for `protocol`, made by closing waiting connections if need be (above); False = refused."""
        while len(self.open) >= self.limits.max_connections:
            queue = self.begun or self.idle
            if not queue:
                self.count("refused")
                return False
            next(iter(queue)).drop("evicted")
        self.open.add(protocol)
        self.peak = max(self.peak, len(self.open))
        return True

    def wait(self, protocol: GuardedH11Protocol) -> None:
        """`protocol` now waits for a request, none of which has arrived (to the back of `idle`)."""
        self.served(protocol)
        if protocol in self.open:
            self.idle[protocol] = None

    def begin(self, protocol: GuardedH11Protocol) -> None:
        """The first bytes of `protocol`'s next request have arrived (to the back of `begun`)."""
        self.served(protocol)
        if protocol in self.open:
            self.begun[protocol] = None

    def served(self, protocol: GuardedH11Protocol) -> None:
        """`protocol` is inside a request (or closing): not waiting any more."""
        self.begun.pop(protocol, None)
        self.idle.pop(protocol, None)

    def forget(self, protocol: GuardedH11Protocol) -> None:
        self.served(protocol)
        self.open.discard(protocol)

    def count(self, reason: str) -> None:
        self.unreported[reason] += 1
        self.totals[reason] += 1
        if self._report is None:
            self._report = self.loop.call_later(self.limits.report_seconds, self.report)

    def report(self) -> None:
        """One line for everything closed or refused since the last one."""
        self._report = None
        counts, self.unreported = self.unreported, Counter()
        closed = counts["timed_out"] + counts["evicted"]
        if closed or counts["refused"]:
            log.warning(
                "in the last %.0f s: closed %s connections without complete request headers (%s after the %g s "
                "header timeout, %s to stay within %s connections) and refused %s at the cap; %s open now",
                self.limits.report_seconds,
                f"{closed:,}",
                f"{counts['timed_out']:,}",
                self.limits.header_timeout_seconds,
                f"{counts['evicted']:,}",
                f"{self.limits.max_connections:,}",
                f"{counts['refused']:,}",
                f"{len(self.open):,}",
            )

    def stats(self) -> dict[str, int]:
        """For tests and benchmarks: open now, the most ever open, and totals by reason."""
        return {"open": len(self.open), "peak": self.peak, "cap": self.limits.max_connections, **self.totals}


_GUARDS: weakref.WeakKeyDictionary[ServerState, ConnectionGuard] = weakref.WeakKeyDictionary()


def guard_for(
    server_state: ServerState, *, limits: ConnectionLimits, loop: asyncio.AbstractEventLoop
) -> ConnectionGuard:
    guard = _GUARDS.get(server_state)
    if guard is None:
        guard = _GUARDS[server_state] = ConnectionGuard(limits=limits, loop=loop)
    return guard


def guard_of(server_state: ServerState) -> ConnectionGuard | None:
    """The guard of one uvicorn server (None until its first connection)."""
    return _GUARDS.get(server_state)


def guards() -> list[ConnectionGuard]:
    """The guards of the servers running in this process."""
    return list(_GUARDS.values())


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-header deadline and the per-process connection cap (module docstring).

    "Between requests" means no request is being handled: before the first one, or after a response, while the
    next request's headers have not all arrived. Only then can the header deadline run and the connection be
    closed to make room.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = config.connection_limits if isinstance(config, GuardedConfig) else ConnectionLimits()
        self.guard = guard_for(server_state, limits=limits, loop=self.loop)
        self.header_deadline: asyncio.TimerHandle | None = None
        self.request_begun = False  # bytes of a request arrived since the last response (or the connection)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.guard.admit(self):
            self.transport = transport
            transport.write(_TOO_MANY)
            transport.close()
            return
        super().connection_made(transport)
        self.guard.wait(self)
        self._start_deadline()  # also for a connection that never sends a byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._between_requests() and not self.request_begun:  # the first bytes since the last response
            self.request_begun = True
            self.guard.begin(self)
            if self.header_deadline is None:  # after a response; a new connection's clock started when it did
                self._start_deadline()
        super().data_received(data)

    # uvicorn's H11Protocol

    def handle_events(self) -> None:
        super().handle_events()
        if not self._between_requests():  # h11 produced the Request: its headers are complete
            self._cancel_deadline()
            self.request_begun = False
            self.guard.served(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already handle a pipelined request (handle_events above)
        if not self.transport.is_closing() and self._between_requests() and not self.request_begun:
            self.guard.wait(self)

    # the rules

    def drop(self, reason: str) -> None:
        """Close this connection for `reason` (`timed_out`, `evicted`), counted for the summary line."""
        self._cancel_deadline()
        self.guard.forget(self)
        self.guard.count(reason)
        self.transport.abort()  # not close(): that would wait, with no limit, for a client that reads nothing

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _start_deadline(self) -> None:
        self._cancel_deadline()
        self.header_deadline = self.loop.call_later(self.guard.limits.header_timeout_seconds, self._headers_late)

    def _cancel_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_late(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        if self.request_begun and self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE:
            self.transport.write(_REQUEST_TIMEOUT)  # a request had begun and nothing has been answered yet
        self.drop("timed_out")


class GuardedConfig(uvicorn.Config):
    """uvicorn's `Config` with `GuardedH11Protocol` and its `ConnectionLimits`.

    WebSocket upgrades are off (`ws="none"`): the API has no WebSocket route, and an upgraded connection would
    leave the guard without telling it. The connections logger follows `log_level` like uvicorn's own loggers.
    """

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        self.connection_limits = limits
        super().__init__(app, http=GuardedH11Protocol, ws="none", **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        if self.log_level is not None:
            level = self.log_level if isinstance(self.log_level, int) else LOG_LEVELS[self.log_level.lower()]
            logging.getLogger(LOGGER_NAME).setLevel(level)


__all__ = [
    "ConnectionGuard",
    "ConnectionLimits",
    "GuardedConfig",
    "GuardedH11Protocol",
    "fit_to_open_files",
    "guard_of",
    "guards",
    "raise_open_file_limit",
]
