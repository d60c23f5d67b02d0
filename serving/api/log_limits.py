"""A log that a flood cannot grow without bound: repeats of one message beyond a few per interval are dropped
and counted.

When the process ran out of file descriptors under a connection flood (issue 12), the failure was logged once
per failed attempt: 'Too many open files' 514,047 times and 215 MB in under a minute, which fills a disk and
buries everything else. The connection rules (serving.api.connections) keep the server from getting there, and
report what they close as one summary line per interval; this filter is the backstop for whatever else a
flood makes the server or asyncio repeat ("socket.accept() out of system resource", "Invalid HTTP request
received.", "Unsupported upgrade request.", ...).

`RepeatFilter` lets `burst` records of one message through per `interval` seconds, then drops the rest and
says so: the last one let through carries a note, and the first one after the interval carries the count of
those dropped. Messages are told apart by logger, level and the first line of their template (so records
that differ only in their arguments count as repeats). `server_log_config` is uvicorn's logging configuration
with the filter on every handler but the access log's (one line per answered request, left alone).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REPEAT_BURST = 10
REPEAT_SECONDS = 60.0
MAX_TRACKED = 512  # distinct messages remembered at once; the oldest windows go first


@dataclass
class _Window:
    start: float
    passed: int = 1
    dropped: int = 0


class RepeatFilter(logging.Filter):
    """At most `burst` records of one message per `interval` seconds (module docstring)."""

    def __init__(
        self, burst: int = REPEAT_BURST, interval: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        if burst < 1 or interval <= 0:
            raise ValueError("burst must be positive and interval above 0")
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg).split("\n", 1)[0][:200])
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval:
                self._windows.pop(key, None)
                self._windows[key] = _Window(start=now)
                if len(self._windows) > MAX_TRACKED:
                    self._forget(now)
                if window is not None and window.dropped:
                    _note(record, f"{window.dropped:,} more like this were dropped in the {self.interval:g} s before")
                return True
            if window.passed >= self.burst:
                window.dropped += 1
                return False
            window.passed += 1
            if window.passed == self.burst:
                left = self.interval - (now - window.start)
                _note(record, f"repeats dropped for the next {left:.0f} s, then counted")
            return True

    def _forget(self, now: float) -> None:
        """Drop finished windows, then the oldest ones, until at most MAX_TRACKED remain."""
        for key in [k for k, w in self._windows.items() if now - w.start >= self.interval]:
            del self._windows[key]
        while len(self._windows) > MAX_TRACKED:
            del self._windows[next(iter(self._windows))]


def _note(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} [{note}]"
    record.args = ()


def server_log_config(*, burst: int = REPEAT_BURST, interval: float = REPEAT_SECONDS) -> dict[str, Any]:
    """uvicorn's logging configuration (for `uvicorn.Config(log_config=...)`), bounded by one `RepeatFilter`.

    The filter sits on uvicorn's error-log handler and on a root handler (stderr, in the command line's format)
    that everything else propagates to: asyncio, the connection summaries, the service's own records. The root
    handler replaces any the process had, so nothing is printed twice; in `--workers N` processes, which
    otherwise have none, it is where the service's records now go instead of Python's last-resort handler.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"repeats": {"()": f"{__name__}.RepeatFilter", "burst": burst, "interval": interval}}
    config["formatters"]["plain"] = {"format": "%(levelname)s %(name)s: %(message)s"}
    config["handlers"]["default"]["filters"] = ["repeats"]
    config["handlers"]["root"] = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "plain",
        "filters": ["repeats"],
    }
    config["root"] = {"handlers": ["root"], "level": "INFO"}
    return config


__all__ = ["RepeatFilter", "server_log_config"]
