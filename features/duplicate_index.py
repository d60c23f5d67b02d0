"""Duplicate suspicion: how many earlier original claims share a line's patient, procedure and service date.

Two routes to the same counts, each checked against a line-by-line scan (tests/features/test_duplicate_index.py):
- `duplicate_counts` keys the question and the context together, once: the cheapest for one question (a claim
  scored over HTTP: about 75 us, where building an index costs about 500 us).
- `DuplicateIndex` keys the context once and answers many questions: scoring or training in chunks of claims
  asks the same history once per chunk, and re-keying millions of context lines each time would make the
  chunks cost as much as the whole. It holds the context's keys as integers beside each line's
  submission day, sorted, so a question is a few hash lookups and two binary searches per line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.claim_fields import day_number
from features.text_codes import text_codes

__all__ = ["KEY_COLUMNS", "DuplicateCounts", "DuplicateIndex", "duplicate_counts"]

KEY_COLUMNS = ("patient_id", "procedure_code", "service_from")
_DAY_BITS = np.int64(22)  # `duplicate_counts`: room for day numbers (to the year 13,000)
_KEY_BITS = 62  # `DuplicateIndex`: a key and its day share one int64 and stay below 2^62

# lines -> (count, days since the latest): `DuplicateIndex(context).counts`, or `duplicate_counts` with its context
DuplicateCounts = Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


class DuplicateIndex:
    """Original claims' lines (frequency code 1) by (patient, procedure, service date), with submission days.

    `context` holds patient_id, procedure_code, service_from, submitted_at and frequency_code per line.
    A missing key value matches only another missing value, as a factorised code would.

    Each line's key is its columns' codes in mixed radix, beside its submission day in the low bits of one int64,
    and the context's sorted. The day is counted from the context's first, so it needs the bits of the context's
    span only (eleven for three years), and the key the rest: a patient, code and date space up to 2^51 (ten
    million claims' is 2^44) is never renumbered. Where the space is wider, the key is renumbered densely
    (`np.unique`) before the column that would overflow it. At ten million claims, renumbering after every column
    and hashing the lines' text took 22-24 s; keyed from the claims' codes without renumbering, 4.5 s."""

    def __init__(self, context: Mapping[str, np.ndarray]) -> None:
        original = np.asarray(context["frequency_code"] == "1", dtype=bool)
        day = np.maximum(day_number(context["submitted_at"][original]), 0)
        self.first_day = int(day.min()) if len(day) else 0
        self.day_bits = np.int64(max(int(day.max()) - self.first_day + 1 if len(day) else 1, 1).bit_length())
        room = 2**_KEY_BITS >> int(self.day_bits)  # key values must stay below this
        self.levels: list[pd.Index] = []
        self.steps: list[np.ndarray | None] = []  # per key column: None, or the sorted distinct keys before it
        key = np.zeros(int(original.sum()), dtype=np.int64)
        bound = 1  # key values are below this
        for col in KEY_COLUMNS:
            codes, uniques = _codes(context[col], original)
            self.levels.append(pd.Index(uniques))
            radix = len(uniques) + 1
            step = None
            if bound * radix >= room:
                step, key = np.unique(key, return_inverse=True)
                bound = len(step)
            if bound * radix >= room:
                raise ValueError(f"duplicate suspicion: {len(key):,} context lines have more distinct keys than fit")
            self.steps.append(step)
            key = key * np.int64(radix) + (codes + 1)
            bound *= radix
        self.composite = np.sort(key.astype(np.int64) << self.day_bits | (day - self.first_day))

    def _keys(self, lines: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(the lines in key order, each line's context key in that order: -1 when no original context line
        shares it).

        The lines are sorted by their column codes first: the keys then come in sorted order, and numpy
        searches sorted needles in the context's millions of keys several times faster than random ones."""
        n = len(lines[KEY_COLUMNS[0]])
        found = np.ones(n, dtype=bool)
        digits: list[np.ndarray] = []  # per column: 0 = missing or unseen, else context code + 1
        for col, levels in zip(KEY_COLUMNS, self.levels, strict=True):
            values = lines[col]
            if values.dtype == object and (levels.dtype == object or isinstance(levels.dtype, pd.StringDtype)):
                # text: each distinct value looked up once
                value_codes, distinct = text_codes(values)
                missing = value_codes < 0
                codes = np.append(levels.get_indexer(pd.Index(distinct, dtype=levels.dtype)), -1)[value_codes]
            else:
                missing = np.asarray(pd.isna(values), dtype=bool)
                codes = levels.get_indexer(pd.Index(values, dtype=levels.dtype, copy=False))
            found &= (codes >= 0) | missing  # a value the context never had: nothing to match
            digits.append(np.where(missing, 0, codes + 1))
        radix = [len(levels) + 1 for levels in self.levels]
        if math.prod(radix) < 2**62:
            whole = np.zeros(n, dtype=np.int64)
            for digit, r in zip(digits, radix, strict=True):
                whole = whole * np.int64(r) + digit
            order = np.argsort(whole, kind="stable")
        else:
            order = np.lexsort(digits[::-1])
        key = np.zeros(n, dtype=np.int64)
        for digit, r, step in zip(digits, radix, self.steps, strict=True):
            if step is not None:  # the context renumbered its keys here: so must the question
                at = np.minimum(np.searchsorted(step, key), len(step) - 1)
                found[order] &= step[at] == key
                key = at.astype(np.int64)
            key = key * np.int64(r) + digit[order]
        return order, np.where(found[order], key, -1)

    def counts(self, lines: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per line: how many original context lines with its key were submitted strictly before its
        claim, and days since the latest of them (NaN if none)."""
        n = len(lines["procedure_code"])
        if not len(self.composite):
            return np.zeros(n, dtype=np.int64), np.full(n, np.nan)
        order, key = self._keys(lines)
        q_day = day_number(lines["submitted_at"])[order]
        # days before the context's first count nothing, days after its last count everything
        before = np.clip(np.maximum(q_day, 0) - self.first_day, 0, (1 << int(self.day_bits)) - 1)
        base = np.maximum(key, 0) << self.day_bits
        lo = np.searchsorted(self.composite, base, side="left")
        hi = np.searchsorted(self.composite, base | before, side="left")
        count = np.zeros(n, dtype=np.int64)
        count[order] = np.where(key >= 0, hi - lo, 0)
        last_day = self.first_day + (self.composite[np.maximum(hi - 1, 0)] & ((np.int64(1) << self.day_bits) - 1))
        since = np.empty(n, dtype=np.float64)
        since[order] = np.where(count[order] > 0, (q_day - last_day).astype("float64"), np.nan)
        return count, since


def _codes(values: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, Any]:
    """(codes of the original lines' values, the distinct values): text through `text_codes`, so a claim column
    spread to its lines is renumbered from its claims' codes instead of hashed again (its distinct values may then
    include some only other lines have, which no question finds in the keys)."""
    if values.dtype == object:
        codes, uniques = text_codes(values)
        return codes[original], uniques
    return pd.factorize(values[original])


def duplicate_counts(
    lines: Mapping[str, np.ndarray], context: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per line: how many OTHER original claims with the same patient, procedure and service date were
    submitted strictly before this line's claim, and days since the latest of them (NaN if none).

    `lines` and `context` hold patient_id, procedure_code, service_from, submitted_at (and for context
    frequency_code) per line; context holds every claim the team has sent. One question: both sides are
    keyed together (`DuplicateIndex` for many questions of one context)."""
    original = np.asarray(context["frequency_code"] == "1", dtype=bool)
    n = len(lines["procedure_code"])
    if not original.any():  # nothing sent before (e.g. a replacement claim scored alone): no duplicate suspicion
        return np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    n_ctx = int(original.sum())
    codes = np.zeros(n_ctx + n, dtype=np.int64)
    for col in KEY_COLUMNS:  # mixed-radix combination of per-column codes: one int64 key per row
        col_codes, uniques = pd.factorize(np.concatenate([np.asarray(context[col])[original], np.asarray(lines[col])]))
        codes = codes * (len(uniques) + 1) + (col_codes + 1)
    codes, _ = pd.factorize(codes)
    ctx_code, q_code = codes[:n_ctx].astype(np.int64), codes[n_ctx:].astype(np.int64)
    ctx_day = np.maximum(day_number(context["submitted_at"][original]), 0)
    q_day = day_number(lines["submitted_at"])
    comp = ctx_code << _DAY_BITS | ctx_day
    order = np.argsort(comp, kind="stable")
    composite, sorted_day = comp[order], ctx_day[order]
    lo = np.searchsorted(composite, q_code << _DAY_BITS, side="left")
    hi = np.searchsorted(composite, q_code << _DAY_BITS | np.maximum(q_day, 0), side="left")
    count = (hi - lo).astype(np.int64)
    last_day = np.where(count > 0, sorted_day[np.maximum(hi - 1, 0)], -1)
    since = np.where(count > 0, (q_day - last_day).astype("float64"), np.nan)
    return count, since
