"""`index_in`: each value's position in a pool of unique ids, the same whether the pool and the values come as
Arrow-backed columns, object arrays or Python strings, small or large."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.columns import SMALL_INPUT, index_in


def ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"C{v:07d}" for v in rng.choice(10 * n + 10, size=n, replace=False)], dtype=object)


@pytest.mark.parametrize("n", [5, SMALL_INPUT + 1, 5_000])
@pytest.mark.parametrize("seed", [1, 2])
def test_positions_are_a_dict_lookups_for_every_form_of_values_and_pool(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = ids(rng, n)
    values = np.concatenate([rng.choice(pool, size=n), ids(rng, 3), [None]]).astype(object)  # some absent, a null
    rng.shuffle(values)
    where = {v: i for i, v in enumerate(pool)}
    expected = np.array([-1 if v is None else where.get(v, -1) for v in values])
    forms = {
        "object array": lambda a: a,
        "arrow column": lambda a: pd.Series(a, dtype="string[pyarrow]"),
        "object column": lambda a: pd.Series(a, dtype=object),
    }
    for value_form in forms.values():
        for pool_form in forms.values():
            got = index_in(value_form(values), pool_form(pool))
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, expected)


def test_a_chunked_arrow_pool_is_read_whole() -> None:
    rng = np.random.default_rng(3)
    pool = ids(rng, 2_000)
    chunked = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pool[:700], pool[700:]])))
    np.testing.assert_array_equal(index_in(pool[::-1].copy(), chunked), np.arange(len(pool))[::-1])
