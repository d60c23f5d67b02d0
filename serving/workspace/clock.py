"""The time a change happens at: now, unless a caller (a test, the demo's simulated month) says when.

Every function that stamps a row takes `now=None` and passes it through `moment`, so a test can move the
clock (lock-outs ending, sessions expiring) without sleeping, and the database only ever sees UTC.
"""

from __future__ import annotations

import datetime as dt


def moment(now: dt.datetime | None = None) -> dt.datetime:
    """`now` in UTC (it must carry a time zone: a naive time's zone would be a guess), or the current time."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("pass a timezone-aware time (e.g. datetime.now(UTC))")
    return now.astimezone(dt.UTC)
