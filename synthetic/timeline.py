"""Calendar arithmetic for the synthetic world, on integer day numbers.

Every date is an int64 count of days since 1970-01-01 until the very end, so date arithmetic stays
vectorised and exact; months, January effects and the history end are derived here once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


def day_number(value: dt.date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


@dataclass(frozen=True)
class Timeline:
    start: int  # first day of history
    end: int  # last day of history (inclusive)
    month_starts: np.ndarray  # int64, months + 1 entries (the last is end + 1)
    calendar_month: np.ndarray  # int64 1..12 per history month

    @property
    def months(self) -> int:
        return len(self.month_starts) - 1

    def month_index(self, days: np.ndarray) -> np.ndarray:
        """History month (0-based) of each day; clipped to the history range."""
        idx = np.searchsorted(self.month_starts, days, side="right") - 1
        return np.clip(idx, 0, self.months - 1)

    def calendar_month_of(self, days: np.ndarray) -> np.ndarray:
        months = np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return months % 12 + 1


def make_timeline(*, start: dt.date, months: int) -> Timeline:
    if months < 1:
        raise ValueError("months must be at least 1")
    first_month = np.datetime64(start, "M")
    bounds = (first_month + np.arange(months + 1)).astype("datetime64[D]").astype(np.int64)
    bounds[0] = day_number(start)
    cal = (first_month + np.arange(months)).astype(np.int64) % 12 + 1
    return Timeline(start=int(bounds[0]), end=int(bounds[-1] - 1), month_starts=bounds, calendar_month=cal)


def to_datetime(days: np.ndarray, *, mask: np.ndarray | None = None) -> pd.Series:
    """Day numbers as a datetime64 Series; NaT where ``mask`` is True."""
    values = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[s]")
    if mask is not None:
        values = values.copy()
        values[np.asarray(mask, dtype=bool)] = np.datetime64("NaT")
    return pd.Series(values)


def iso(day: int) -> str:
    return str(np.datetime64(day, "D"))
