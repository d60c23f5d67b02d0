"""A file the reader cannot parse is named with its line (or byte) and what is wrong, never its contents."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from factories import three_paid_claims

from claimsight.cli import main
from features.contract.tables_io import ContractError, read_tables, write_tables

SECRET = "SECRETPATIENT"


def csv_dir(tmp_path: Path) -> Path:
    return three_paid_claims().write_csv(tmp_path / "data")


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def read_error(d: Path) -> str:
    with pytest.raises(ContractError) as info:
        read_tables(d)
    assert info.value.exit_code == 2
    return str(info.value)


@pytest.mark.parametrize(("extra", "found_delta"), [(2, 2), (-1, -1)])
def test_ragged_row_names_line_and_counts_not_values(tmp_path: Path, extra: int, found_delta: int) -> None:
    d = csv_dir(tmp_path)
    lines = lines_of(d / "claims.csv")
    width = len(lines[0].split(","))
    cells = lines[2].split(",")
    cells[0] = SECRET
    cells = [*cells, *[SECRET] * extra] if extra > 0 else cells[:extra]
    lines[2] = ",".join(cells)
    (d / "claims.csv").write_text("\n".join(lines) + "\n")
    msg = read_error(d)
    assert msg.startswith(f"claims.csv line 3: expected {width} fields, found {width + found_delta} (")
    assert SECRET not in msg


def test_ragged_line_counts_physical_lines_across_quoted_line_breaks(tmp_path: Path) -> None:
    d = csv_dir(tmp_path)
    df = pd.read_csv(d / "claims.csv", dtype=str)
    df.loc[0, "payer_id"] = "two\nlines"  # a quoted value spanning lines 2-3 is fine
    df.to_csv(d / "claims.csv", index=False)
    lines = lines_of(d / "claims.csv")
    lines[4] += ",x"  # the third claim, on physical line 5
    (d / "claims.csv").write_text("\n".join(lines) + "\n")
    assert read_error(d).startswith("claims.csv line 5: expected")


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    d = csv_dir(tmp_path)
    (d / "claims.csv").write_bytes(content)
    assert read_error(d) == "claims.csv is empty (no header line)"


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(400), "PNG image"),
        (bytes(range(256)) * 4 + os.urandom(1000), None),
        (b"PK\x03\x04" + os.urandom(400), "Excel workbook"),
    ],
)
def test_binary_file(tmp_path: Path, content: bytes, hint: str | None) -> None:
    d = csv_dir(tmp_path)
    (d / "claims.csv").write_bytes(content)
    msg = read_error(d)
    assert msg.startswith("claims.csv is not a text CSV file (binary content at byte 0")
    if hint:
        assert hint in msg


def test_truncated_and_foreign_parquet(tmp_path: Path) -> None:
    d = tmp_path / "data"
    paths = write_tables(three_paid_claims().validated().tables, data_dir=d, fmt="parquet")
    claims = next(p for p in paths if p.name == "claims.parquet")
    claims.write_bytes(claims.read_bytes()[:-40])
    msg = read_error(d)
    assert msg.startswith("claims.parquet is truncated or not a Parquet file")
    claims.write_bytes(f"claim_id\n{SECRET}\n".encode())
    msg = read_error(d)
    assert msg.startswith("claims.parquet is not a Parquet file") and SECRET not in msg
    claims.write_bytes(b"")
    assert read_error(d) == "claims.parquet is empty (0 bytes)"


def test_non_utf8_byte_names_line_and_byte(tmp_path: Path) -> None:
    d = csv_dir(tmp_path)
    raw = (d / "claims.csv").read_bytes()
    lines = raw.split(b"\n")
    header = lines[0].split(b",")
    cells = lines[3].split(b",")
    col = header.index(b"payer_id")
    cells[col] = b"caf\xe9"  # Latin-1, as a spreadsheet "CSV" save on Windows writes it
    lines[3] = b",".join(cells)
    (d / "claims.csv").write_bytes(b"\n".join(lines))
    offset = sum(len(x) + 1 for x in lines[:3]) + len(b",".join(cells[:col])) + (1 if col else 0) + 3
    msg = read_error(d)
    assert msg.startswith(f"claims.csv line 4 (byte {offset:,} of the file): not UTF-8 text")
    assert "caf" not in msg


def test_cli_exit_code_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = csv_dir(tmp_path)
    lines = lines_of(d / "claims.csv")
    lines[3] += f",{SECRET}"
    (d / "claims.csv").write_text("\n".join(lines) + "\n")
    assert main(["validate", "--data", str(d)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "claims.csv line 4: expected" in err and SECRET not in err


def test_binary_file_that_parses_is_still_called_binary(tmp_path: Path) -> None:
    d = csv_dir(tmp_path)
    # One "column" of junk with no comma or quote: Arrow reads it, the contract columns are missing.
    junk = bytes(b for b in os.urandom(2000) if b not in b',"\r\n' and b < 0x80)
    (d / "claims.csv").write_bytes(b"\x00\x01" + junk + b"\n" + junk + b"\n")
    assert read_error(d).startswith("claims.csv is not a text CSV file (binary content at byte 0")
