"""Text columns hashed once per array, whoever asks: `pd.factorize`'s answer remembered beside the array.

Why: a chunk's payer, plan and procedure columns are read by the payer rules, by four histories' key encodings
and by several per-value rules, and each asked pandas to hash the same Python strings again (a line's procedure
code was hashed eight times per chunk). The answer depends only on the array's contents, so an array the feature
build made (`remember`) keeps it for as long as the array lives, and is made read-only so its contents cannot
change under the remembered answer (an in-place write raises instead of going stale). A claim column spread to
its lines (`spread`) is factorized from the claim codes it was gathered from: a hash of integers, not strings.

`text_codes(values)` is `pd.factorize(values)` exactly (nulls -> -1, the distinct values in order of first
appearance) for any array; only remembered arrays skip the work.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["REMEMBER_ABOVE", "chosen", "remember", "remember_mapped", "spread", "text_codes"]

REMEMBER_ABOVE = 64  # a claim scored alone (features.columns.SMALL_INPUT): hashing its few values costs less


@dataclass
class _Entry:
    array: weakref.ref[np.ndarray]
    parent: tuple[np.ndarray, np.ndarray] | None = None  # (the array gathered from, the rows gathered)
    codes: tuple[np.ndarray, np.ndarray] | None = None  # the factorization, once asked


_known: dict[int, _Entry] = {}
_lock = threading.Lock()


def remember(
    values: np.ndarray,
    *,
    parent: tuple[np.ndarray, np.ndarray] | None = None,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Make `values` (an object array the caller just built) read-only and remember its factorization: `codes`
    when the caller has it (Arrow's dictionary encoding), else computed once asked. A short array is left as it
    is: one claim's columns cost more to remember than to hash."""
    if values.dtype != object or len(values) <= REMEMBER_ABOVE:
        return values
    known = _entry(values)
    if known is not None:  # remembered already (a rule that returned its input)
        if codes is not None and known.codes is None:
            known.codes = codes
        return values
    values.flags.writeable = False
    key = id(values)
    with _lock:
        _known[key] = _Entry(weakref.ref(values), parent, codes)
    weakref.finalize(values, _known.pop, key, None)
    return values


def spread(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows] (a claim column per line), remembered as gathered from `values` when that is remembered."""
    out = values[rows]
    if _entry(values) is not None:
        remember(out, parent=(values, rows))
    return out


def chosen(choices: np.ndarray, index: np.ndarray) -> np.ndarray:
    """choices[index] for an object array of distinct texts (None allowed), remembered with its factorization read
    off the integer index: a level made from a few fixed names (a status, a month) is never hashed as text."""
    out = choices[index]
    if len(out) > REMEMBER_ABOVE:
        remember(out, codes=_renumbered(np.asarray(index), choices))
    return out


def remember_mapped(out: np.ndarray, *, codes: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    """Remember `out` = mapped[codes] (a rule applied once per distinct value: `codes` the input's factorization,
    `mapped` the rule's output per distinct input value and a trailing None for a null input) with the
    factorization that follows: the rule's distinct outputs, in the order the input's distinct values first appear,
    are the output's in order of first appearance (a None output -> -1, as hashing the output gives)."""
    out_codes, distinct = pd.factorize(mapped[:-1])
    return remember(out, codes=(np.append(out_codes, -1)[codes], np.asarray(distinct, dtype=object)))


def _renumbered(index: np.ndarray, dictionary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(dictionary[index])` from the integer index (-1: null), for a dictionary of distinct values (or
    None): the index hashed as integers and renumbered in order of first appearance, nulls left out."""
    codes, seen = pd.factorize(index, use_na_sentinel=False)
    nulls = seen < 0
    if dictionary.dtype == object and len(dictionary):
        nulls |= pd.isna(dictionary[np.maximum(seen, 0)])
    if nulls.any():
        renumber = np.cumsum(~nulls) - 1
        renumber[nulls] = -1
        codes = renumber[codes]
        seen = seen[~nulls]
    return codes.astype(np.intp, copy=False), np.asarray(dictionary[seen], dtype=object)


def _entry(values: np.ndarray) -> _Entry | None:
    entry = _known.get(id(values))
    return entry if entry is not None and entry.array() is values else None


def text_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(values)`: (codes, distinct values), computed once for a remembered array."""
    entry = _entry(values)
    if entry is None:
        codes, uniques = pd.factorize(values)
        return codes, np.asarray(uniques, dtype=object)
    if entry.codes is None:
        if entry.parent is not None:
            source, rows = entry.parent
            parent_codes, parent_uniques = text_codes(source)
            # the parent's codes of these rows, renumbered in order of first appearance: what hashing the strings
            # gives, since equal strings have equal parent codes (a null keeps -1 and is not counted)
            entry.codes = _renumbered(parent_codes[rows], parent_uniques)
        else:
            codes, uniques = pd.factorize(values)
            entry.codes = (codes, np.asarray(uniques, dtype=object))
    return entry.codes
