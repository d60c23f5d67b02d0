"""A history level's (key, day) entries by radix passes are `np.unique`'s, whatever the keys' width."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.history_index import DAY_SPAN
from features.key_day_order import day_order, unique_entries


def _check(key: np.ndarray, days: np.ndarray) -> None:
    want_comp, want_inverse = np.unique(key * DAY_SPAN + days, return_inverse=True)
    comp, inverse = unique_entries(key, days, by_day=day_order(days), day_span=DAY_SPAN)
    np.testing.assert_array_equal(comp, want_comp)
    np.testing.assert_array_equal(inverse, want_inverse.reshape(-1))
    assert comp.dtype == np.int64


# key widths: one key (the global level), 16-bit, 32-bit (two radix passes), wider (a comparison sort)
@pytest.mark.parametrize("top", [0, 1, 3, 2**16 - 1, 2**16, 2**32 - 1, 2**32, 2**40])
@pytest.mark.parametrize("day_top", [30, 2**16 - 1, DAY_SPAN - 1])  # 16-bit days, and days past 2149
def test_entries_are_the_sorted_distinct_values_and_each_rows_index(top: int, day_top: int) -> None:
    rng = np.random.default_rng(top % 1000 + day_top % 7)
    n = 5_000
    key = rng.integers(0, top + 1, n, dtype=np.int64)
    key[:3] = [0, top, top]  # both ends of the range, a repeated key
    days = rng.integers(0, day_top + 1, n, dtype=np.int64)
    days[n // 2 :] = days[: n - n // 2]  # many repeated (key, day) pairs on the few-key levels
    _check(key, days)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from([0, 1, 7, 2**16 - 1, 2**16, 2**16 + 1, 2**31, 2**33]), st.integers(0, 70_000)),
        max_size=60,
    )
)
def test_any_rows(rows: list[tuple[int, int]]) -> None:
    key = np.array([k for k, _ in rows], dtype=np.int64)
    days = np.array([d for _, d in rows], dtype=np.int64)
    _check(key, days)


def test_days_in_order_keep_row_order_on_ties() -> None:
    days = np.array([5, 1, 5, 0, 1], dtype=np.int64)
    assert day_order(days).tolist() == [3, 1, 4, 0, 2]
    assert day_order(days + 70_000).tolist() == [3, 1, 4, 0, 2]  # past 16 bits: the comparison sort, also stable
    many = np.random.default_rng(3).integers(0, 4, 3_000)  # long runs of ties, where an unstable sort reorders
    for shift in (0, 70_000):
        assert day_order(many + shift).tolist() == sorted(range(len(many)), key=lambda i: (many[i], i))


def test_negative_keys_are_refused() -> None:
    days = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="keys must be >= 0"):
        unique_entries(np.array([0, -1]), days, by_day=day_order(days), day_span=DAY_SPAN)
