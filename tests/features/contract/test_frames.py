from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.contract.frames import (
    differs_from_owner,
    distinct_values,
    key_rows,
    member,
    month_text,
    one_chunk,
    positions_in,
)
from features.contract.validation import load_validated

ids = st.lists(st.one_of(st.none(), st.sampled_from(["A", "B", "C1", "c1", "", "Z-9"])), max_size=30)


@given(values=ids, pool=ids)
def test_member_equals_pandas_isin(values: list[str | None], pool: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    expected = s.isin([p for p in pool if p is not None]).fillna(False).to_numpy(dtype=bool) & s.notna().to_numpy()
    assert (member(s, pd.Series(pool, dtype="string")) == expected).all()
    assert (member(s, pd.Index(pool, dtype="string")) == expected).all()


@given(values=ids, pool=ids)
def test_positions_in_the_distinct_values_are_the_pandas_index_lookup(
    values: list[str | None], pool: list[str | None]
) -> None:
    distinct = distinct_values(pd.Series(pool, dtype="string"))
    names = distinct.to_pylist()
    assert sorted(names) == sorted({p for p in pool if p is not None})  # each value once, no null
    found = positions_in(pd.Series(values, dtype="string"), distinct)
    assert found.tolist() == [-1 if v is None else pd.Index(names, dtype=object).get_indexer([v])[0] for v in values]


@given(
    key=st.lists(st.sampled_from(["A", "B", "C1", "c1", "", "Z-9", "Q"]), unique=True),
    columns=st.lists(ids, max_size=4),
)
def test_key_rows_are_the_rows_a_dict_of_the_key_finds(key: list[str], columns: list[list[str | None]]) -> None:
    row = {k: i for i, k in enumerate(key)}
    as_series = [pd.Series(c, dtype="string") for c in columns]
    found = key_rows(pd.Series(key, dtype="string"), *as_series, pd.Index([v for v in key if v != "A"]))
    expected = [[-1 if v is None else row.get(v, -1) for v in c] for c in columns]
    expected.append([row[v] for v in key if v != "A"])
    assert [f.tolist() for f in found] == expected
    assert [f.tolist() for f in key_rows(distinct_values(pd.Series(key, dtype="string")), *as_series)] == expected[:-1]


@pytest.mark.parametrize("key", [["A", "B", "A"], ["A", None]])
def test_key_rows_refuse_a_key_with_a_repeated_or_missing_value(key: list[str | None]) -> None:
    with pytest.raises(ValueError, match="each value once and no missing value"):
        key_rows(pd.Series(key, dtype="string"), pd.Series(["A"], dtype="string"))


@given(days=st.lists(st.one_of(st.none(), st.integers(-800, 40_000)), max_size=40))
def test_month_text_is_strftime(days: list[int | None]) -> None:
    dates = pd.Series([pd.NaT if d is None else pd.Timestamp("1970-01-01") + pd.Timedelta(days=d) for d in days])
    dates = pd.to_datetime(dates)
    got = month_text(dates)
    want = dates.dt.strftime("%Y-%m")
    assert got.index.equals(dates.index)
    assert got.tolist() == [None if pd.isna(w) else w for w in want.tolist()]


@given(data=st.data(), n=st.integers(0, 30), n_owners=st.integers(0, 12))
def test_differs_from_owner_is_the_pandas_map_and_compare(data: st.DataObject, n: int, n_owners: int) -> None:
    """The validation rule "remit_id: belongs to another claim", as it was written with `map` (first owner wins)."""
    one = st.one_of(st.none(), st.sampled_from(["A", "B", "C1", "c1", "", "Z-9"]))
    rows = pd.DataFrame(
        {
            "claim_id": data.draw(st.lists(one, min_size=n, max_size=n)),
            "remit_id": data.draw(st.lists(one, min_size=n, max_size=n)),
        },
        dtype="string",
    )
    remits = pd.DataFrame(
        {
            "remit_id": data.draw(st.lists(one, min_size=n_owners, max_size=n_owners)),
            "claim_id": data.draw(st.lists(one, min_size=n_owners, max_size=n_owners)),
        },
        dtype="string",
    )
    first = remits.dropna(subset=["remit_id"]).drop_duplicates("remit_id")
    owner = rows["remit_id"].map(first.set_index("remit_id")["claim_id"])
    expected = (
        (owner.notna() & rows["claim_id"].notna() & (owner != rows["claim_id"])).fillna(False).to_numpy(dtype=bool)
    )
    got = differs_from_owner(rows["claim_id"], rows["remit_id"], owner_keys=first["remit_id"], owners=first["claim_id"])
    assert got.dtype == bool and (got == expected).all()


def _chunks(series: pd.Series) -> int:
    arrow = pa.array(series.array)
    return arrow.num_chunks if isinstance(arrow, pa.ChunkedArray) else 1


@given(parts=st.lists(ids, min_size=1, max_size=5))
def test_one_chunk_keeps_every_value_and_dtype(parts: list[list[str | None]]) -> None:
    """Text read from row groups, made one array per column: the same frame, now taken from in one piece."""
    chunked = pa.chunked_array([pa.array(p, type=pa.string()) for p in parts], type=pa.string())
    n = len(chunked)
    frame = pd.DataFrame(
        {
            "text": pd.Series(pd.StringDtype().__from_arrow__(chunked)),
            "arrow": pd.Series(pd.ArrowDtype(pa.string()).__from_arrow__(chunked)),
            "number": pd.Series(range(n), dtype="Int64"),
        }
    )
    before = frame.copy(deep=True)
    assert one_chunk(frame) is frame
    pd.testing.assert_frame_equal(frame, before)
    assert _chunks(frame["text"]) <= 1 and _chunks(frame["arrow"]) <= 1  # no rows: no chunk at all
    rows = list(range(n))[::-2]
    pd.testing.assert_frame_equal(frame.iloc[rows], before.iloc[rows])


def test_validated_tables_hold_their_text_in_one_piece(tmp_path: Path) -> None:
    """Parquet row groups (here two) do not reach the typed tables as chunks."""
    from synthetic import generate_world, write_world

    write_world(generate_world(claims=300, months=3, seed=2), out_dir=tmp_path, fmt="parquet")
    lines = pq.read_table(tmp_path / "claim_lines.parquet")
    pq.write_table(lines, tmp_path / "claim_lines.parquet", row_group_size=len(lines) // 2 + 1)
    assert pq.ParquetFile(tmp_path / "claim_lines.parquet").num_row_groups == 2
    tables = load_validated(tmp_path, max_reject_rate=0.0).tables
    assert _chunks(tables["claim_lines"]["procedure_code"]) == 1
    assert _chunks(tables["claims"]["claim_id"]) == 1
