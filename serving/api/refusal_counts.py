"""Refused calls on record as counts, not one audit row each (issue 12, item 6).

A caller without a valid key, or past its budget, is refused before anything is read or scored, so nothing
was disclosed; but one row per refusal lets anyone grow the append-only audit log without limit (the probe
added 15,365 rows in 20 s of 401s). Here such refusals are counted per (key, client address, route, method,
status) and each group becomes one row with its count (`calls`) when its window closes, so a flood costs
one row per group and window however fast it comes, and the record still says who was refused, where, how
often and when.

Counts live in the process until written: a crash loses at most one window of refusal counts, never a
scoring call's row (those are written one by one before the response, as before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Tally:
    """One group's refusals in the current window."""

    first_at: datetime
    first_request_id: str
    calls: int = 0
    latency_ms_total: float = 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_total / self.calls if self.calls else 0.0


class RefusalCounts:
    """Counts per group; `add` hands back the groups whose window has closed, to be written now.

    A window opens with the first refusal after the last write and closes `window_seconds` later (checked on
    each `add`, and by `take_all` at shutdown). More than `max_groups` groups at once (many addresses) closes
    the window early, so memory stays bounded too.
    """

    def __init__(
        self, *, window_seconds: float = 60.0, max_groups: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if window_seconds <= 0 or max_groups < 1:
            raise ValueError("window_seconds must be positive and max_groups at least 1")
        self.window_seconds = window_seconds
        self.max_groups = max_groups
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[Hashable, Tally] = {}
        self._opened: float | None = None

    def add(self, group: Hashable, *, at: datetime, request_id: str, latency_ms: float) -> list[tuple[Hashable, Tally]]:
        with self._lock:
            now = self._clock()
            if self._opened is None:
                self._opened = now
            tally = self._groups.get(group)
            if tally is None:
                tally = self._groups[group] = Tally(first_at=at, first_request_id=request_id)
            tally.calls += 1
            tally.latency_ms_total += latency_ms
            if now - self._opened >= self.window_seconds or len(self._groups) >= self.max_groups:
                return self._take()
            return []

    def take_all(self) -> list[tuple[Hashable, Tally]]:
        with self._lock:
            return self._take()

    def _take(self) -> list[tuple[Hashable, Tally]]:
        groups, self._groups, self._opened = self._groups, {}, None
        return list(groups.items())


__all__ = ["RefusalCounts", "Tally"]
