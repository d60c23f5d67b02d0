"""Reading and writing the DATA.md tables as CSV or Parquet.

A user's export and the synthetic generator go through the same writer, so anything the generator
produces is something a real team could hand over, and the reader sees one shape from both.
Reading is deliberately type-agnostic (every value arrives as text): turning text into dates and
money is validation's job, because that is where a bad value must become a quarantine reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.contract.schema import REQUIRED_TABLES, TABLES, Table
from features.contract.unreadable import explain_binary_csv, explain_csv, explain_parquet

Format = Literal["parquet", "csv"]
SUFFIXES = (".csv", ".parquet")

_ARROW_TYPES = {
    "id": pa.string(),
    "text": pa.string(),
    "codes": pa.string(),
    "date": pa.date32(),
    "money": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
}


class ContractError(Exception):
    """The input does not have the shape DATA.md promises (exit code 2). Names table and column, never values."""

    exit_code = 2


@dataclass
class RawTables:
    """Tables as read: every column text, plus the columns that were present but not in DATA.md."""

    frames: dict[str, pd.DataFrame]
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


def _arrow_schema(table: Table, columns: list[str]) -> pa.Schema:
    return pa.schema([(c, _ARROW_TYPES[table.by_name[c].kind]) for c in columns])


def _to_arrow(df: pd.DataFrame, table: Table) -> pa.Table:
    present = [c for c in table.names if c in df.columns]
    out = {}
    for name in present:
        col = table.by_name[name]
        s = df[name]
        if col.kind == "date":
            s = pd.to_datetime(s).dt.date
        elif col.kind == "money":
            s = s.astype("float64").round(2)
        out[name] = pa.array(s, type=_ARROW_TYPES[col.kind], from_pandas=True)
    return pa.table(out, schema=_arrow_schema(table, present))


def write_table(df: pd.DataFrame, *, table: str, data_dir: Path, fmt: Format = "parquet") -> Path:
    """Write one table in contract column order. Same frame in, same bytes out."""
    spec = TABLES[table]
    data_dir.mkdir(parents=True, exist_ok=True)
    arrow = _to_arrow(df, spec)
    path = data_dir / f"{table}.{fmt}"
    if fmt == "parquet":
        pq.write_table(arrow, path, compression="zstd", row_group_size=1 << 20)
    else:
        # Arrow always quotes the header; contract column names never need it, and a plain header
        # is what spreadsheet exports look like.
        with path.open("wb") as fh:
            fh.write((",".join(arrow.column_names) + "\n").encode())
            pacsv.write_csv(arrow, fh, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return path


def write_tables(frames: Mapping[str, pd.DataFrame], *, data_dir: Path, fmt: Format = "parquet") -> list[Path]:
    return [write_table(df, table=name, data_dir=data_dir, fmt=fmt) for name, df in frames.items()]


def _find_table_files(data_dir: Path) -> dict[str, Path]:
    if not data_dir.is_dir():
        raise ContractError(f"data directory not found: {data_dir}")
    found: dict[str, Path] = {}
    for path in sorted(data_dir.iterdir()):
        if not path.is_file() or path.suffix not in SUFFIXES:
            continue
        name = path.stem
        if name not in TABLES:
            known = ", ".join(TABLES)
            raise ContractError(f"{path.name}: unknown table name '{name}' (expected one of: {known})")
        if name in found:
            raise ContractError(f"table {name}: both {found[name].name} and {path.name} exist; keep one")
        found[name] = path
    return found


def _read_one(path: Path, table: Table) -> pd.DataFrame:
    if path.suffix == ".parquet":
        try:
            arrow = pq.read_table(path)
            arrow = arrow.cast(pa.schema([(f.name, pa.string()) for f in arrow.schema]))
        except (pa.ArrowException, ValueError, OSError) as exc:
            # Arrow's message can quote a cell: the explanation is built from the file's bytes instead.
            raise ContractError(explain_parquet(path, exc)) from None
    else:
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in table.names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        try:
            arrow = pacsv.read_csv(path, convert_options=convert)
            arrow = arrow.cast(pa.schema([(f.name, pa.string()) for f in arrow.schema]))
        except (pa.ArrowException, ValueError, OSError) as exc:
            # Arrow's message quotes the offending row: only a second pass over the bytes, on this
            # failure path alone, says where and why without it.
            raise ContractError(explain_csv(path, exc)) from None
    return arrow.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


# (child, parent): validation checks a child's references against its parent's valid rows
_PARENTS = (
    ("claim_lines", "claims"),
    ("remits", "claims"),
    ("followups", "claims"),
    ("adjustments", "claims"),
    ("adjustments", "remits"),
)


def read_tables(
    data_dir: Path, *, required: tuple[str, ...] = REQUIRED_TABLES, only: Collection[str] | None = None
) -> RawTables:
    """Read every DATA.md table in `data_dir` as text. Fails with ContractError on shape problems.

    `only`: read just these tables. A command that needs fewer leaves the rest on disk (scoring pending claims
    never reads the five million adjustment rows of a million claims); validation's reference rules run from
    parent to child, so a child table left out never changes which rows of its parents are valid."""
    files = _find_table_files(data_dir)
    if only is not None:
        unknown = sorted(set(only) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown tables {unknown}")
        orphaned = [f"{child} without {parent}" for child, parent in _PARENTS if child in only and parent not in only]
        if "claims" not in only:
            orphaned.append("no claims")
        if orphaned:
            raise ValueError(f"a table's rows are checked against its parent's: {', '.join(orphaned)}")
        files = {name: path for name, path in files.items() if name in only}
        required = tuple(name for name in required if name in only)
    for name in required:
        if name not in files:
            raise ContractError(f"table {name}: no {name}.csv or {name}.parquet in {data_dir}")
    raw = RawTables(frames={})
    for name, path in files.items():
        spec = TABLES[name]
        df = _read_one(path, spec)
        missing = [c for c in spec.required if c not in df.columns]
        if missing:
            # A binary file can parse as one odd "column": name the real problem (error path only).
            binary = explain_binary_csv(path) if path.suffix == ".csv" else None
            if binary:
                raise ContractError(binary)
            raise ContractError(f"table {name}: missing required column {', '.join(missing)}")
        extra = [c for c in df.columns if c not in spec.by_name]
        if extra:
            raw.ignored_columns[name] = extra
            df = df.drop(columns=extra)
        for col in spec.columns:
            if col.name not in df.columns:
                df[col.name] = pd.Series(pd.NA, index=df.index, dtype="string")
        raw.frames[name] = df[spec.names]
        raw.formats[name] = path.suffix.lstrip(".")
    return raw
