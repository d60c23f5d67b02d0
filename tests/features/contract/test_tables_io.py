"""The writer a user's export and the generator share, and the reader's round trip."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import History

from features.contract.tables_io import read_tables, write_tables
from features.contract.validation import validate_tables


def typed_tables() -> dict[str, pd.DataFrame]:
    h = History()
    h.claim("C1", charge=123.45, eligibility_verified=True, lines=2)
    r = h.remit("C1", date="2024-02-01", status="1", paid=100.1)
    h.adj("C1", r, "CO", "45", 23.35, line=1, remarks="N130|M15")
    h.followup("C1", action="appeal", date="2024-03-01", level=1)
    return h.validated().tables


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_preserves_values(tmp_path: Path, fmt: str) -> None:
    tables = typed_tables()
    write_tables(tables, data_dir=tmp_path, fmt=fmt)  # type: ignore[arg-type]
    again = validate_tables(read_tables(tmp_path)).tables
    for name, df in tables.items():
        pd.testing.assert_frame_equal(again[name], df, check_dtype=False)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_frames_same_bytes(tmp_path: Path, fmt: str) -> None:
    tables = typed_tables()
    a = write_tables(tables, data_dir=tmp_path / "a", fmt=fmt)  # type: ignore[arg-type]
    b = write_tables(tables, data_dir=tmp_path / "b", fmt=fmt)  # type: ignore[arg-type]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_csv_is_plain_contract_text(tmp_path: Path) -> None:
    write_tables(typed_tables(), data_dir=tmp_path, fmt="csv")
    claims = (tmp_path / "claims.csv").read_text().splitlines()
    header = claims[0].split(",")
    assert header[:3] == ["claim_id", "frequency_code", "original_claim_id"]
    row = dict(zip(header, claims[1].split(","), strict=True))
    assert row["submitted_at"] == "2024-01-10" and row["total_charge"] == "123.45"
    assert row["eligibility_verified"] == "true"
