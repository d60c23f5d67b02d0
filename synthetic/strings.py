"""Vectorised text building for the synthetic world.

A million claims need millions of ids and code strings; building them one Python string at a time would
dominate the run time, so every string column is made by Arrow compute kernels from integer arrays and
small vocabularies, and handed to pandas as Arrow-backed string columns without a copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def id_array(prefix: str, numbers: np.ndarray, *, width: int, mask: np.ndarray | None = None) -> pa.Array:
    """``prefix`` + zero-padded ``numbers``; null where ``mask`` is True."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width=width, padding="0")
    out = pc.binary_join_element_wise(prefix, digits, "")
    if mask is not None:
        out = pc.if_else(pa.array(np.asarray(mask, dtype=bool)), pa.scalar(None, pa.string()), out)
    return out


def take(vocab: Sequence[str], idx: np.ndarray) -> pa.Array:
    """``vocab[idx]`` as an Arrow string array; negative indices become null."""
    idx = np.asarray(idx, dtype=np.int64)
    missing = idx < 0
    indices = pa.array(np.where(missing, 0, idx), mask=missing)
    return pa.array(list(vocab), type=pa.string()).take(indices)


def join(parts: Sequence[pa.Array], sep: str = "|") -> pa.Array:
    """Element-wise ``sep``-join skipping nulls; all-null rows become null.

    Built pairwise because ``binary_join_element_wise(null_handling="skip")`` drops all-null rows in
    some pyarrow versions (the result comes back shorter than its inputs).
    """
    acc = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(acc, part, sep)
        acc = pc.if_else(pc.is_null(acc), part, pc.if_else(pc.is_null(part), acc, both))
    return acc


def series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow string array as a pandas string Series (no copy of the character data)."""
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow")))
