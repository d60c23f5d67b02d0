"""A history level's distinct (key, day) entries by radix passes instead of a comparison sort.

Fitting a history sorts every outcome event by (key, day) once per level: 28 line levels over 2.3M events on the
1M-claim world, 11.5 s in `np.unique` (a quicksort of int64). The days fit in 16 bits and a level's keys in 32, and
numpy's stable sort of a 16-bit integer array is a radix sort, linear in the rows: the events sorted by day once
(shared by every level), then stably by the key's low and high 16 bits, are sorted by (key, day). Same answer as
`np.unique(key * DAY_SPAN + days, return_inverse=True)`, bit for bit, in 4.8 s for the 28 levels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["day_order", "stably_by_key", "unique_entries"]

_SHORT = 1 << 16


def day_order(days: np.ndarray) -> np.ndarray:
    """Positions of `days` (int64 days since 1970, >= 0) in day order, ties in row order."""
    if len(days) and int(days.max()) < _SHORT:
        return np.argsort(days.astype(np.uint16), kind="stable")
    return np.argsort(days, kind="stable")


def stably_by_key(order: np.ndarray, key: np.ndarray) -> np.ndarray:
    """`order` re-sorted stably by `key[order]` (key >= 0): by (key, day) when `order` is `day_order`."""
    k = key[order]
    top = int(k.max())
    if top < _SHORT:
        return order[np.argsort(k.astype(np.uint16), kind="stable")]
    if top < _SHORT * _SHORT:
        low = np.argsort((k & (_SHORT - 1)).astype(np.uint16), kind="stable")
        return order[low[np.argsort((k[low] >> 16).astype(np.uint16), kind="stable")]]
    return order[np.argsort(k, kind="stable")]


def unique_entries(
    key: np.ndarray, days: np.ndarray, *, by_day: np.ndarray, day_span: int
) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct key * day_span + days, each row's index among them): `np.unique(..., return_inverse=True)`.

    `key` >= 0 (int64), `days` in [0, day_span), `by_day` = `day_order(days)`."""
    entry = key * day_span + days
    n = len(entry)
    if n == 0:
        return entry[:0].copy(), np.zeros(0, dtype=np.intp)
    if int(key.min()) < 0:
        raise ValueError("keys must be >= 0")
    order = by_day if int(key.max()) == 0 else stably_by_key(by_day, key)
    ordered = entry[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse
