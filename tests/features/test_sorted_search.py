"""Galloping searches give `np.searchsorted`'s positions for needles in any order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.sorted_search import sorted_positions

values = st.lists(st.integers(-(2**62), 2**62) | st.integers(-3, 40), max_size=70)


@settings(max_examples=150, deadline=None)
@given(entries=values, needles=values, ascending=st.booleans())
def test_positions_are_searchsorted_left(entries: list[int], needles: list[int], ascending: bool) -> None:
    e = np.sort(np.array(entries, dtype=np.int64))
    n = np.array(sorted(needles) if ascending else needles, dtype=np.int64)
    np.testing.assert_array_equal(sorted_positions(e, n), np.searchsorted(e, n))


def test_long_runs_and_gallops_past_the_end() -> None:
    rng = np.random.default_rng(4)
    entries = np.sort(rng.integers(0, 1_000, 50_000))  # long runs of equal entries: the first of each is the answer
    needles = np.sort(np.r_[rng.integers(-10, 1_100, 5_000), 999, 999, 1_000, 5_000])
    np.testing.assert_array_equal(sorted_positions(entries, needles), np.searchsorted(entries, needles))
    np.testing.assert_array_equal(sorted_positions(entries, needles[::-1]), np.searchsorted(entries, needles[::-1]))
    assert sorted_positions(entries[:0], needles).tolist() == [0] * len(needles)
    assert sorted_positions(entries, needles[:0]).tolist() == []
