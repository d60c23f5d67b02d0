"""Small vectorised helpers that pandas does slowly on Arrow-backed strings.

pandas 3 answers `Series.isin(<million ids>)` on string columns by building Python objects for both
sides, seconds per call on a large history; Arrow's hash-based `is_in` does the same in a fraction of that.
Membership against large id sets goes through here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(values: pd.Series | pd.Index | np.ndarray) -> pa.Array:
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string()) if pa.types.is_string(arr.type) else arr


def member(values: pd.Series | pd.Index, pool: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Boolean array: is each value in `pool`? Nulls are never members."""
    arr = _arrow(values)
    pool_arr = _arrow(pool)
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    if len(pool_arr) == 0:
        return np.zeros(len(arr), dtype=bool)
    if pool_arr.type != arr.type:
        pool_arr = pool_arr.cast(arr.type)
    hit = pc.fill_null(pc.is_in(arr, value_set=pool_arr, skip_nulls=True), False)
    return hit.to_numpy(zero_copy_only=False)


def differs_from_owner(ids: pd.Series, keys: pd.Series, *, owner_keys: pd.Series, owners: pd.Series) -> np.ndarray:
    """Boolean array: does each row's `ids` differ from the owner its `keys` name (`owners`, by `owner_keys`, the
    first row of a repeated key)? False where either side is missing or the key is unknown.

    What `ids != keys.map(owners indexed by owner_keys)` asks, through Arrow's hash join: fifty million
    adjustments' remit ids are never turned into Python strings."""
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    pool, names = _arrow(owner_keys), _arrow(owners)
    if len(pool) == 0:
        return np.zeros(len(ids), dtype=bool)
    needles = _arrow(keys)
    if needles.type != pool.type:
        needles = needles.cast(pool.type)
    owner = pc.take(names, pc.index_in(needles, value_set=pool, skip_nulls=True))
    mine = _arrow(ids)
    if mine.type != owner.type:
        mine = mine.cast(owner.type)
    return pc.fill_null(pc.not_equal(owner, mine), False).to_numpy(zero_copy_only=False)
