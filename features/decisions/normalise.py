"""How the decision rules read their inputs: codes, remark lists, routine pairs and dates.

Shared by the action and the deadline, and by the row and the frame version of each, so all of them see
the same values: a code upper-cased and stripped, a remark list as ``"N211|MA130"``, a missing value
(None, NA, NaT, NaN) as missing.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from features.contract.codes import CodeTables

__all__ = ["as_date", "is_missing", "norm_code", "norm_remarks", "routine_set"]


def is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def norm_code(value: object) -> str:
    return "" if is_missing(value) else str(value).strip().upper()


def norm_remarks(value: object) -> str | None:
    """``" n211| ma130 "`` -> ``"N211|MA130"``; empty or missing -> None."""
    if is_missing(value):
        return None
    parts = [p.strip().upper() for p in str(value).split("|") if p.strip()]
    return "|".join(parts) or None


def routine_set(codes: CodeTables, routine: frozenset[tuple[str, str]] | None) -> frozenset[tuple[str, str]]:
    pairs = codes.routine if routine is None else routine
    return frozenset((norm_code(g), norm_code(c)) for g, c in pairs)


def as_date(value: object) -> dt.date | None:
    if is_missing(value):
        return None
    if isinstance(value, dt.datetime):  # includes pd.Timestamp
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")
