"""A ColumnTable (the scoring API's request as arrays) reads exactly as the typed DataFrame of the same values.

The feature function takes either; features.columns' readers return a ColumnTable's arrays as they are, so
these tests hold the arrays to what the readers make of the DataFrame validation would give. The whole
feature matrix is compared on trained models in tests/api/test_parity.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.columns import ColumnTable, date_array, flag_array, line_columns, number_array, text_array

TEXT = ["P0016", None, "97110"]
DAYS = ["2024-03-04", None, "2024-02-29"]
MONEY = [180.0, None, 0.5]
FLAGS = [True, None, False]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": pd.array(TEXT, dtype=pd.StringDtype()),
            "day": pd.Series(np.array(DAYS, dtype="datetime64[D]").astype("datetime64[us]")),
            "money": np.array([np.nan if v is None else v for v in MONEY]),
            "count": pd.array([1, None, 3], dtype=pd.Int64Dtype()),
            "flag": pd.array(FLAGS, dtype=pd.BooleanDtype()),
        }
    )


def _table() -> ColumnTable:
    text = np.empty(3, dtype=object)
    text[:] = TEXT
    return ColumnTable(
        {
            "text": text,
            "day": np.array(DAYS, dtype="datetime64[D]").astype("datetime64[us]"),
            "money": np.array([np.nan if v is None else v for v in MONEY]),
            "count": np.array([1.0, np.nan, 3.0]),
            "flag": np.array([1.0, np.nan, 0.0]),
        }
    )


def test_each_reader_gives_a_column_tables_array_what_it_gives_the_typed_frame() -> None:
    frame, table = _frame(), _table()
    for read, name in (
        (text_array, "text"),
        (date_array, "day"),
        (number_array, "money"),
        (number_array, "count"),
        (flag_array, "flag"),
    ):
        from_frame, from_table = read(frame[name]), read(table[name])
        assert from_frame.dtype == from_table.dtype, name
        assert pd.Series(from_frame).equals(pd.Series(from_table)), name
        assert read(table[name]) is table[name]  # already in the readers' form: not copied


def test_an_array_not_in_the_readers_form_is_read_as_a_column_would_be() -> None:
    mixed = np.array(["A", 7, None], dtype=object)  # not all text: read as astype("string") reads it
    assert text_array(mixed).tolist() == ["A", "7", None]
    assert number_array(np.array([1, 2], dtype=np.int64)).tolist() == [1.0, 2.0]
    assert date_array(np.array(["2024-01-02"], dtype=object)).dtype.kind == "M"


def test_claim_and_line_columns_take_either(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, table = _frame(), _table()
    import features.columns as columns

    monkeypatch.setattr(columns, "LINE_TEXT", ("text",))
    monkeypatch.setattr(columns, "LINE_NUMBERS", ("money", "count"))
    rows = np.array([2, 0])
    for got, want in (
        (line_columns(table, rows), line_columns(frame, rows)),
        (line_columns(table), line_columns(frame)),
    ):
        assert got.keys() == want.keys()
        for name in got:
            assert pd.Series(got[name]).equals(pd.Series(want[name])), name


def test_columns_must_have_one_length() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        ColumnTable({"a": np.zeros(2), "b": np.zeros(3)})
    assert len(ColumnTable({})) == 0
    assert len(_table().take(np.array([1]))) == 1
