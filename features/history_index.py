"""The searchable form of a history: keys and days as sorted integers, and where a query falls among them.

How it is fast (no Python loop over rows, no quadratic work)
- Each key column gets a vocabulary at fit time; a level's key tuple becomes one int (mixed radix of
  the column codes, densified if it would not fit). Composite = key * 2**21 + day.
- Per level, events are summed per (key, day) and stored as a sorted composite array plus exclusive
  cumulative sums of n and d per target (`LevelTable`). A count of events with key k and lo <= day < t
  is cum[searchsorted(k*2**21 + t)] - cum[searchsorted(k*2**21 + lo)] (`search_level`). Many queries are
  sorted by composite before searching: numpy searches sorted needles much faster than random ones.
- Freezing keeps a subsequence of those arrays (per key: the first entry, relabelled to the day before
  the window as one weighted pseudo-event, plus every entry inside or after the window), with the
  original cumulative values, so differences for any query at or after the snapshot are unchanged
  (`compact_table`).

The counting itself (shrinkage, threads, freeze, state) is `features.history`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.key_day_order import day_order, stably_by_key
from features.sorted_search import sorted_positions
from features.text_codes import text_codes

__all__ = [
    "DAY_SPAN",
    "SMALL_QUERIES",
    "SORT_QUERIES_ABOVE",
    "FROZEN_KEYS",
    "AnswerColumns",
    "KeyAnswers",
    "Keys",
    "Level",
    "LevelTable",
    "Positions",
    "as_days",
    "compact_table",
    "distinct_key_answers",
    "encode_column",
    "fit_column",
    "fit_combine",
    "key_answers",
    "answer_columns",
    "key_count",
    "search_level",
]

_DAY_BITS = 21
DAY_SPAN = 1 << _DAY_BITS  # days since 1970 must be in [0, 2**21): through the year 7711
_MAX_KEY_SPAN = 1 << (62 - _DAY_BITS)  # key * 2**21 + day stays well inside int64
# this many queries: sort them by (key, day) before searching any key level. A training chunk's 50,000 claims
# (100,000 claims a chunk on two threads) are above it: their claim-level searches, sorted, took 1.5-3.5 s less
# CPU over the 1M training matrix than searched one by one.
SORT_QUERIES_ABOVE = 16_384
# Up to this many queries (one claim's lines when scoring a single claim), per-call overhead is the whole
# cost: keys are looked up in a dict per value rather than hashed by a vectorised kernel, and the global
# level is searched directly rather than through a per-day table. Both routes give identical codes and
# positions (tests force each on the same inputs).
SMALL_QUERIES = 64
# A frozen snapshot asks every query as of one day, so each key's counts are fixed: a level with at most this many
# keys answers from a table of them (`key_answers`), one search of a few cached keys per query instead of sorting
# the queries and searching the history three times. Most claim-level keys (payer, provider, facility) and the
# coarse line levels (procedure, family, section) are this small; a patient's or a payer x procedure's are not.
FROZEN_KEYS = 1 << 16
_NULL_CODE = 0  # column code of a null key value; seen values are 1..V; unseen at fit time = -1
_UNSEEN = -1

Level = tuple[str, ...]


@dataclass
class LevelTable:
    """Stored history of one key level: sorted (key, day) composites and exclusive cumulative sums."""

    columns: Level
    dense: dict[int, np.ndarray]  # column position j -> sorted keys seen at fit, densified before column j
    comp: np.ndarray  # int64, sorted unique key * 2**21 + day
    # target -> len(comp) + 1 sums, cum_n[i] = sum of n over entries < i (`cumulative`: int32 or float64)
    cum_n: dict[str, np.ndarray]
    cum_d: dict[str, np.ndarray]


def cumulative(per_entry: np.ndarray) -> np.ndarray:
    """Exclusive cumulative sums of `per_entry` (a leading 0), as int32 when every sum is a whole number below
    2**31, else float64. Counts and 0/1 outcomes are whole: int32 holds them exactly in half the memory, and the
    line-level sums are the largest arrays a fitted history holds (0.8 GiB as float64 for a million claims)."""
    out = np.zeros(len(per_entry) + 1, dtype=np.float64)
    np.cumsum(per_entry, out=out[1:])
    small = not len(out) or float(np.abs(out).max()) < 2**31
    if small and bool(np.all(np.floor(per_entry) == per_entry)):
        return out.astype(np.int32)
    return out


class Positions(NamedTuple):
    order: np.ndarray | None  # queries sorted by (key, day), or None if the indices are in query order
    # [3, n]: first entry of the query's key; of the key with day >= t - window_days; of the key with day >= t
    idx: np.ndarray


def as_days(values: Any, *, what: str) -> np.ndarray:
    """Int days since 1970-01-01 from ints or datetimes (tz-aware -> its wall-clock date)."""
    if isinstance(values, pd.Index):
        values = pd.Series(values)
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_localize(None)
        if values.hasnans:
            raise ValueError(f"{what}: missing days")
        if pd.api.types.is_datetime64_dtype(values.dtype):
            arr = values.to_numpy(dtype="datetime64[ns]")
        else:
            arr = values.to_numpy()
    else:
        arr = np.asarray(values)
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            raise ValueError(f"{what}: missing days (NaT)")
        return arr.astype("datetime64[D]").astype(np.int64)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.floor(arr)).any():
            raise ValueError(f"{what}: days must be whole numbers")
        return arr.astype(np.int64)
    raise TypeError(f"{what}: expected int days since 1970-01-01 or datetime64, got {arr.dtype}")


def _as_str(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series
    return series.astype("str")


def fit_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, vocabulary): codes 0 = null, 1..V = index in the sorted vocabulary + 1.

    An object column that already holds only strings and nulls is factorized as it is (Python's string
    order is Arrow's code-point order): converting it to a string dtype first would cost as much again."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        found = _fit_categories(series)
        if found is not None:
            return found
    if series.dtype == object:
        values = series.to_numpy()
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            obj_codes, obj_uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
            vocab = np.asarray(obj_uniques, dtype=str) if len(obj_uniques) else np.array([], "U1")
            return obj_codes.astype(np.int64) + 1, vocab
    codes, uniques = pd.factorize(_as_str(series), sort=True, use_na_sentinel=True)
    vocab = np.asarray(uniques.to_numpy(dtype=object).astype(str), dtype=str) if len(uniques) else np.array([], "U1")
    return codes.astype(np.int64) + 1, vocab


def _fit_categories(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """`fit_column` of a categorical of strings from its codes (what an object column of the same strings
    gives), or None when its categories are not all strings."""
    names = series.cat.categories.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(names, skipna=True) not in ("string", "empty"):
        return None
    cat_codes = series.cat.codes.to_numpy()
    used = np.zeros(len(names), dtype=bool)
    used[cat_codes[cat_codes >= 0]] = True
    order = np.argsort(names, kind="stable")  # Python's string order, as factorize(sort=True) gives
    kept = order[used[order]]
    rank = np.zeros(len(names), dtype=np.int64)
    rank[kept] = np.arange(1, len(kept) + 1)
    codes = np.where(cat_codes >= 0, rank[np.maximum(cat_codes, 0)], 0).astype(np.int64)
    return codes, (np.asarray(names[kept], dtype=str) if len(kept) else np.array([], "U1"))


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _encode_objects(values: np.ndarray, lookup: Mapping[str, int]) -> np.ndarray | None:
    """Codes of an object array of strings and nulls through the vocabulary's dict (0 = null, -1 = unseen).

    Few values: one dict lookup each. Many: factorize first, look the distinct values up, gather. Returns
    None when a value is neither a string nor null: how it reads as a string is `_as_str`'s decision."""
    if len(values) <= SMALL_QUERIES:
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            if isinstance(value, str):
                out[i] = lookup.get(value, _UNSEEN)
            elif _is_null(value):
                out[i] = _NULL_CODE
            else:
                return None
        return out
    inverse, uniques = text_codes(values)  # every null -> -1
    if not all(isinstance(u, str) for u in uniques):
        return None
    per_unique = np.array([lookup.get(u, _UNSEEN) for u in uniques] + [_NULL_CODE], dtype=np.int64)
    return per_unique[inverse]


def encode_column(
    values: pd.Series | np.ndarray, vocab: np.ndarray, lookup: Mapping[str, int] | None = None
) -> np.ndarray:
    """Codes against a fitted vocabulary: 0 = null, 1..V = seen, -1 = unseen at fit time.

    With the vocabulary's dict (`lookup`), object arrays of strings skip pandas and Arrow entirely: a
    single claim's keys are a few dict lookups instead of a hash-table build over the whole vocabulary."""
    if lookup is not None:
        arr: np.ndarray | None = None
        if isinstance(values, np.ndarray):
            arr = values if values.dtype == object else None
        elif values.dtype == object or (isinstance(values.dtype, pd.StringDtype) and len(values) <= SMALL_QUERIES):
            arr = values.to_numpy(dtype=object)
        if arr is not None:
            codes = _encode_objects(arr, lookup)
            if codes is not None:
                return codes
    s = _as_str(values if isinstance(values, pd.Series) else pd.Series(values))
    missing = s.isna().to_numpy()
    if len(vocab) == 0:
        return np.where(missing, _NULL_CODE, _UNSEEN).astype(np.int64)
    arr_s = pa.array(s, from_pandas=True)
    value_set = pa.array(vocab.tolist(), type=arr_s.type)
    found = pc.fill_null(pc.index_in(arr_s, value_set=value_set), -1).to_numpy(zero_copy_only=False)
    codes = found.astype(np.int64) + 1
    codes[codes == 0] = _UNSEEN
    codes[missing] = _NULL_CODE
    return codes


def fit_combine(
    columns: Level, codes: Mapping[str, np.ndarray], sizes: Mapping[str, int], n_rows: int
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Key ints of one level at fit time: mixed radix over the column codes, densified (seen keys
    renumbered 0..K-1, the sorted table kept) before column j only if the span would overflow."""
    dense: dict[int, np.ndarray] = {}
    key = np.zeros(n_rows, dtype=np.int64)
    span = 1
    for j, col in enumerate(columns):
        radix = sizes[col] + 1
        if j > 0 and span * radix > _MAX_KEY_SPAN:
            key, span = _densify(key, dense, j)
        key = key * radix + codes[col]
        span *= radix
    if span > _MAX_KEY_SPAN:
        key, span = _densify(key, dense, len(columns))
    return key, dense


def _densify(key: np.ndarray, dense: dict[int, np.ndarray], j: int) -> tuple[np.ndarray, int]:
    """Renumber the keys seen at fit to 0..K-1 (K <= number of events), keeping the sorted table."""
    table, inverse = np.unique(key, return_inverse=True)
    dense[j] = table.astype(np.int64)
    return inverse.reshape(-1).astype(np.int64), max(len(table), 1)


class Keys(NamedTuple):
    """Query key codes per column, split once per transform for every level that combines them."""

    seen: Mapping[str, np.ndarray]  # bool: the value (or null) existed at fit time
    code: Mapping[str, np.ndarray]  # int64: the code where seen, else 0


def transform_combine(
    columns: Level, keys: Keys, sizes: Mapping[str, int], n_rows: int, dense: Mapping[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Key ints of one level for queries, the same way as at fit, and which rows have a key that can
    exist in the history (every column value seen at fit; densified prefixes seen at fit)."""
    key = np.zeros(n_rows, dtype=np.int64)
    valid = np.ones(n_rows, dtype=bool)
    for j, col in enumerate(columns):
        valid &= keys.seen[col]
        if j in dense:
            key = _lookup_dense(key, valid, dense[j])
        key = key * (sizes[col] + 1) + keys.code[col]
    if len(columns) in dense:
        key = _lookup_dense(key, valid, dense[len(columns)])
    return key, valid


def _lookup_dense(key: np.ndarray, valid: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Dense numbers of keys seen at fit; a key not in the table clears `valid` (in place)."""
    pos = np.searchsorted(table, key)
    hit = pos < len(table)
    hit[hit] = table[pos[hit]] == key[hit]
    valid &= hit
    return np.where(valid, pos, 0)


def search_level(
    table: LevelTable,
    keys: Keys,
    sizes: Mapping[str, int],
    offsets: np.ndarray,
    n_rows: int,
    by_day: np.ndarray | None = None,
) -> Positions:
    """Indices into the level's cumulative arrays: start of the query's key, its window start, its day.

    Many queries are sorted by (key, day) first and the indices stay in that order (`order` maps them
    back): sorted needles make the searches (`sorted_positions`) and the later gathers cache-friendly, which pays
    even on levels of a few thousand entries. `by_day`: the queries in day order (`day_order(offsets[2])`), shared
    by every level of one call; each level sorts it by key in radix passes."""
    comp = table.comp
    if not table.columns:  # global level: comp is the sorted event days
        if len(comp) == 0:
            return Positions(None, np.zeros((3, n_rows), dtype=np.int64))
        if n_rows <= SMALL_QUERIES:  # the per-day table below answers exactly this search
            idx = np.searchsorted(comp, offsets)
            idx[0] = 0
            return Positions(None, idx)
        # many queries: look days up in a dense per-day table instead of searching for each
        first, last = int(comp[0]), int(comp[-1])
        by_day = np.searchsorted(comp, np.arange(first, last + 2))
        idx = np.take(by_day, np.clip(offsets, first, last + 1) - first)
        idx[0] = 0
        return Positions(None, idx)
    key, valid = transform_combine(table.columns, keys, sizes, n_rows, table.dense)
    # a key never seen at fit time gets key -1: every search lands at 0, an empty range -> n = d = 0
    base = np.where(valid, key, -1) * DAY_SPAN
    if n_rows >= SORT_QUERIES_ABOVE:
        # by (key, day), a key without history (-1) first: key * DAY_SPAN + day ascends, and so do the window
        # starts, as the searches want (ties need no order: equal needles get equal answers)
        order = stably_by_key(day_order(offsets[2]) if by_day is None else by_day, np.where(valid, key + 1, 0))
        sorted_base = base[order]
        idx = np.empty((3, n_rows), dtype=np.int64)
        idx[0] = sorted_positions(comp, sorted_base)
        idx[1] = sorted_positions(comp, sorted_base + offsets[1][order])
        idx[2] = sorted_positions(comp, sorted_base + offsets[2][order])
        return Positions(order, idx)
    return Positions(None, np.searchsorted(comp, base + offsets))


class KeyAnswers(NamedTuple):
    """A frozen level's counts per key, as of its snapshot day (`key_answers`)."""

    keys: np.ndarray  # int64: the level's sorted distinct keys
    # target -> [2, K + 1] float64: (all history, last window_days) per key; column K (no key, no history) is zero
    n: dict[str, np.ndarray]
    d: dict[str, np.ndarray]
    # the keys hashed, for answers kept between calls (`answer_columns`): a hash lookup per query costs a tenth of
    # a binary search, and the table is built once
    hashed: pd.Index | None = None


class AnswerColumns(NamedTuple):
    """Queries of a frozen level answered per key: query i's counts are column `column[i]` of `answers`."""

    answers: KeyAnswers
    column: np.ndarray  # int64, one per query


def key_answers(
    table: LevelTable, *, lo: int, t: int, keys: np.ndarray | None = None, compacted_at_lo: bool = False
) -> KeyAnswers:
    """What `search_level` and the counts give any query of each key with window start lo and day t: the same
    three indices of each key and the same subtraction, done once per key instead of once per query.

    `keys`: these sorted keys (-1: a key the history cannot hold, answered zero as `search_level` answers it)
    instead of every key of the level. `compacted_at_lo`: the table was frozen with its cut at lo
    (`compact_table`), so each key holds at most one entry before the window, its first: whether that entry is
    there gives the window's start without a search."""
    every_key = keys is None
    if keys is None:
        keys = np.unique(table.comp >> _DAY_BITS)
    comp = table.comp
    base = keys * DAY_SPAN
    first = np.searchsorted(comp, base)
    if compacted_at_lo and len(comp):
        entry = comp[np.minimum(first, len(comp) - 1)]
        before = (first < len(comp)) & ((entry >> _DAY_BITS) == keys) & ((entry & (DAY_SPAN - 1)) < lo)
        window = first + before
    else:
        window = np.searchsorted(comp, base + lo)
    idx = np.stack([first, window, np.searchsorted(comp, base + t)])

    def per_key(cum: np.ndarray) -> np.ndarray:
        at = np.take(cum, idx)
        out = np.zeros((2, len(keys) + 1), dtype=np.float64)
        out[:, :-1] = at[2] - at[:2]  # whole counts subtract exactly in int32, as the per-query route does
        return out

    index = None
    if every_key:
        index = pd.Index(keys)
        index.get_indexer(keys[:1])  # pandas fills its hash table on first use: here, before threads share it
    return KeyAnswers(
        keys,
        {target: per_key(cum) for target, cum in table.cum_n.items()},
        {target: per_key(cum) for target, cum in table.cum_d.items()},
        index,
    )


def key_count(table: LevelTable) -> int:
    """How many distinct keys the level's history holds."""
    keys = table.comp >> _DAY_BITS
    return int(np.count_nonzero(keys[1:] != keys[:-1])) + 1 if len(keys) else 0


def distinct_key_answers(
    table: LevelTable, key: np.ndarray, valid: np.ndarray, *, lo: int, t: int, compacted_at_lo: bool = False
) -> AnswerColumns:
    """A frozen level's answers to many queries, computed once per distinct key among them.

    A frozen snapshot answers every query as of one day, so queries with the same key get the same counts: the
    keys are hashed (pandas' int64 table, no sort of the queries), only the distinct ones are sorted and searched,
    and each query takes its key's column. For a level with too many keys to keep every key's answers
    (`FROZEN_KEYS`), this costs a hash of the queries where sorting them cost three times as much."""
    codes, distinct = pd.factorize(np.where(valid, key, -1))
    order = np.argsort(distinct)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    answers = key_answers(table, lo=lo, t=t, keys=distinct[order], compacted_at_lo=compacted_at_lo)
    return AnswerColumns(answers, rank[codes])


def answer_columns(answers: KeyAnswers, key: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each query's column of `answers`: its key's, or the last (zero) one for a key without history."""
    n_keys = len(answers.keys)
    if not n_keys:
        return np.zeros(len(key), dtype=np.int64)
    if answers.hashed is not None and len(key) > SMALL_QUERIES:
        found = answers.hashed.get_indexer(pd.Index(key, copy=False))
        return np.where(valid & (found >= 0), found, n_keys)
    at = np.searchsorted(answers.keys, key)
    hit = valid & (at < n_keys)
    hit[hit] = answers.keys[at[hit]] == key[hit]
    return np.where(hit, at, n_keys)


def compact_table(table: LevelTable, cut: int) -> None:
    """Freeze one level in place: per key, the entries before `cut` collapse into one pseudo-entry on the
    day before it (carrying the original cumulative sums); entries on or after `cut` stay as they are."""
    comp = table.comp
    if len(comp) == 0:
        return
    keys = comp >> _DAY_BITS
    days = comp & (DAY_SPAN - 1)
    first = np.ones(len(comp), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keep = first | (days >= cut)
    pseudo = first & (days < cut)  # carries the sums of all the key's entries before the cut
    kept = np.flatnonzero(keep)
    new_comp = comp.copy()
    new_comp[pseudo] = keys[pseudo] * DAY_SPAN + (cut - 1)
    table.comp = new_comp[kept]
    idx = np.append(kept, len(comp))
    table.cum_n = {k: v[idx] for k, v in table.cum_n.items()}
    table.cum_d = {k: v[idx] for k, v in table.cum_d.items()}
