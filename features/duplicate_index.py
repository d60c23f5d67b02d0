"""Duplicate suspicion's lookup: built once from every line the team has sent, asked once per batch of claims.

Scoring or training in chunks of claims asks the same history many times; re-keying millions of context
lines for every chunk would make the chunks cost as much as the whole. The index holds the context's
(patient, procedure, service date) keys as dense integers beside each line's submission day, sorted, so a
question is a few hash lookups and two binary searches per line.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.claim_fields import day_number

__all__ = ["KEY_COLUMNS", "DuplicateIndex", "duplicate_counts"]

KEY_COLUMNS = ("patient_id", "procedure_code", "service_from")
_DAY_BITS = np.int64(22)  # room for day numbers (to the year 13,000)


class DuplicateIndex:
    """Original claims' lines (frequency code 1) by (patient, procedure, service date), with submission days.

    `context` holds patient_id, procedure_code, service_from, submitted_at and frequency_code per line.
    A missing key value matches only another missing value, as a factorised code would."""

    def __init__(self, context: Mapping[str, np.ndarray]) -> None:
        original = np.asarray(context["frequency_code"] == "1", dtype=bool)
        self.levels: list[pd.Index] = []
        self.steps: list[np.ndarray] = []  # per key column: the sorted distinct combined keys so far
        key = np.zeros(int(original.sum()), dtype=np.int64)
        for col in KEY_COLUMNS:
            codes, uniques = pd.factorize(context[col][original])
            self.levels.append(pd.Index(uniques))
            key = key * np.int64(len(uniques) + 1) + (codes + 1)
            step, key = np.unique(key, return_inverse=True)
            self.steps.append(step)
        day = np.maximum(day_number(context["submitted_at"][original]), 0)
        self.composite = np.sort(key.astype(np.int64) << _DAY_BITS | day)

    def __len__(self) -> int:
        return len(self.composite)

    def _keys(self, lines: Mapping[str, np.ndarray]) -> np.ndarray:
        """Each line's dense context key, -1 when no original context line shares it (the index is not empty)."""
        n = len(lines[KEY_COLUMNS[0]])
        key = np.zeros(n, dtype=np.int64)
        found = np.ones(n, dtype=bool)
        for col, levels, step in zip(KEY_COLUMNS, self.levels, self.steps, strict=True):
            values = lines[col]
            missing = np.asarray(pd.isna(values), dtype=bool)
            codes = levels.get_indexer(pd.Index(values, dtype=levels.dtype, copy=False))
            found &= (codes >= 0) | missing  # a value the context never had: nothing to match
            key = key * np.int64(len(levels) + 1) + np.where(missing, 0, codes + 1)
            at = np.minimum(np.searchsorted(step, key), len(step) - 1)
            found &= step[at] == key
            key = at.astype(np.int64)
        return np.where(found, key, -1)

    def counts(self, lines: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per line: how many original context lines with its key were submitted strictly before its
        claim, and days since the latest of them (NaN if none)."""
        n = len(lines["procedure_code"])
        if not len(self.composite):
            return np.zeros(n, dtype=np.int64), np.full(n, np.nan)
        key = self._keys(lines)
        q_day = day_number(lines["submitted_at"])
        base = np.maximum(key, 0) << _DAY_BITS
        lo = np.searchsorted(self.composite, base, side="left")
        hi = np.searchsorted(self.composite, base | np.maximum(q_day, 0), side="left")
        count = np.where(key >= 0, hi - lo, 0).astype(np.int64)
        last_day = np.where(count > 0, self.composite[np.maximum(hi - 1, 0)] & ((np.int64(1) << _DAY_BITS) - 1), -1)
        since = np.where(count > 0, (q_day - last_day).astype("float64"), np.nan)
        return count, since


def duplicate_counts(
    lines: Mapping[str, np.ndarray], context: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per line: how many OTHER original claims with the same patient, procedure and service date were
    submitted strictly before this line's claim, and days since the latest of them (NaN if none).

    `lines` and `context` hold patient_id, procedure_code, service_from, submitted_at (and for context
    frequency_code) per line; context holds every claim the team has sent."""
    return DuplicateIndex(context).counts(lines)
