"""`text_codes` is `pd.factorize` whatever route an array took: read through Arrow, spread from a claim column, or
remembered and asked again; a remembered array cannot change under its answer."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import text_codes as memo
from features.columns import per_distinct, per_distinct_text, text_array
from features.patient_keys import patient_keys
from features.text_codes import chosen, remember, spread, text_codes

VALUES = st.one_of(st.none(), st.sampled_from(["P1", "P2", "99213", "", "é", "J1234 "]))


def factorized(values: np.ndarray) -> tuple[list[int], list[object]]:
    codes, uniques = pd.factorize(values)
    return codes.tolist(), list(uniques)


def answer(values: np.ndarray) -> tuple[list[int], list[object]]:
    codes, uniques = text_codes(values)
    return codes.tolist(), list(uniques)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(VALUES, min_size=65, max_size=200),
    rows=st.lists(st.integers(0, 64), min_size=65, max_size=300),
    again=st.lists(st.integers(0, 64), min_size=65, max_size=120),
)
def test_every_route_gives_pandas_factorization(values: list[str | None], rows: list[int], again: list[int]) -> None:
    """Arrow's dictionary encoding, a spread (rows repeated, skipped and reordered, nulls among them) and a spread
    of a spread give the codes and distinct values, in order of first appearance, that hashing the strings gives."""
    column = pd.Series(values, dtype=pd.StringDtype("pyarrow"))
    read = text_array(column)
    plain = np.array(values, dtype=object)
    assert read.tolist() == plain.tolist()
    assert answer(read) == factorized(plain)
    assert answer(read) == factorized(plain)  # asked twice: the remembered answer
    at = np.array(rows, dtype=np.intp)
    lines = spread(read, at)
    assert lines.tolist() == plain[at].tolist()
    assert answer(lines) == factorized(plain[at])
    twice = spread(lines, np.array(again, dtype=np.intp))
    assert answer(twice) == factorized(plain[at][again])


def test_a_remembered_array_is_read_only_and_forgotten_with_it() -> None:
    values = remember(np.array(["a", "b", None] * 30, dtype=object))
    with pytest.raises(ValueError, match="read-only"):
        values[0] = "changed"
    assert answer(values) == factorized(np.array(["a", "b", None] * 30, dtype=object))
    key, alive = id(values), weakref.ref(values)
    assert key in memo._known
    del values
    gc.collect()
    assert alive() is None and key not in memo._known


def test_short_and_unremembered_arrays_are_hashed_each_time() -> None:
    """One claim's columns stay writable and unremembered; an array nobody remembered gets pandas' answer."""
    short = remember(np.array(["a", None], dtype=object))
    short[0] = "b"  # still writable
    assert answer(short) == ([0, -1], ["b"])
    other = np.array(["x", "y", "x"] * 30, dtype=object)
    assert answer(other) == factorized(other)
    other[0] = "z"  # not remembered: the next answer follows the new contents
    assert answer(other) == factorized(other)


def test_a_copy_with_the_same_contents_is_a_different_array() -> None:
    values = remember(np.array(["a", "b"] * 40, dtype=object))
    copy = values.copy()
    assert copy.flags.writeable
    copy[:] = "c"
    assert answer(copy) == ([0] * 80, ["c"])
    assert answer(values) == factorized(np.array(["a", "b"] * 40, dtype=object))


def _merging_rule(value: str) -> str | None:
    """Merges distinct values ('P1', 'P2' -> 'P'), keeps others, and gives None for one."""
    return None if value == "" else value[:1]


@settings(max_examples=150, deadline=None)
@given(values=st.lists(VALUES, min_size=65, max_size=200))
def test_a_rules_text_output_knows_its_factorization(values: list[str | None]) -> None:
    """`per_distinct_text` gives `per_distinct`'s values, and their codes are those hashing the output gives, when
    the rule merges distinct values and answers None for some."""
    read = text_array(pd.Series(values, dtype=pd.StringDtype("pyarrow")))
    out = per_distinct_text(read, _merging_rule)
    expected = per_distinct(np.array(values, dtype=object), _merging_rule)
    assert out.tolist() == expected.tolist()
    assert not out.flags.writeable
    assert answer(out) == factorized(expected)


@settings(max_examples=150, deadline=None)
@given(index=st.lists(st.integers(0, 4), min_size=65, max_size=200))
def test_a_level_chosen_from_fixed_names_knows_its_factorization(index: list[int]) -> None:
    """`chosen` (a status or a month as text, None among the names) answers as hashing its output would."""
    names = np.array([None, "1", "12", "verified", "unknown"], dtype=object)
    out = chosen(names, np.array(index, dtype=np.intp))
    assert out.tolist() == names[index].tolist()
    assert answer(out) == factorized(names[index])


def test_patient_keys_of_a_batch_know_their_factorization() -> None:
    """A batch's hashed patient keys, and a chunk's slice of them, answer as hashing the keys would."""
    ids = text_array(pd.Series([f"P{i % 7}" if i % 11 else None for i in range(300)], dtype=pd.StringDtype("pyarrow")))
    keys = patient_keys(ids)
    assert answer(keys) == factorized(keys.copy())
    part = spread(keys, np.arange(100, 220))
    assert answer(part) == factorized(keys[100:220].copy())
