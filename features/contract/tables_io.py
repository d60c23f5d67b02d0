"""Reading and writing the DATA.md tables as CSV or Parquet.

A user's export and the synthetic generator go through the same writer, so anything the generator
produces is something a real team could hand over, and the reader sees one shape from both.
Reading is deliberately type-agnostic (every value arrives as text): turning text into dates and
money is validation's job, because that is where a bad value must become a quarantine reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

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

    frames: Mapping[str, pd.DataFrame]  # a dict, or `LazyFrames` that read a table when asked for it
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


class TableWriter:
    """One table's file, written a frame at a time: parquet row groups or CSV rows after one header.

    A table too big to hold at once (a ten-million-claim synthetic history) is written in parts; one frame written
    and closed is `write_table`, byte for byte. Use as a context manager, or call `close`."""

    def __init__(self, *, table: str, data_dir: Path, fmt: Format = "parquet") -> None:
        self.spec = TABLES[table]
        self.fmt = fmt
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / f"{table}.{fmt}"
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        self._schema: pa.Schema | None = None

    def write(self, df: pd.DataFrame) -> None:
        arrow = _to_arrow(df, self.spec)
        if self._schema is None:
            self._schema = arrow.schema
        elif not arrow.schema.equals(self._schema):
            raise ValueError(f"{self.spec.name}: a part's columns differ from the first part's")
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, arrow.schema, compression="zstd")
            self._parquet.write_table(arrow, row_group_size=1 << 20)
            return
        if self._csv is None:
            self._csv = self.path.open("wb")
            # Arrow always quotes the header; contract column names never need it, and a plain header
            # is what spreadsheet exports look like.
            self._csv.write((",".join(arrow.column_names) + "\n").encode())
        pacsv.write_csv(arrow, self._csv, pacsv.WriteOptions(include_header=False, quoting_style="needed"))

    def close(self) -> Path:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
        return self.path

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_table(df: pd.DataFrame, *, table: str, data_dir: Path, fmt: Format = "parquet") -> Path:
    """Write one table in contract column order. Same frame in, same bytes out."""
    with TableWriter(table=table, data_dir=data_dir, fmt=fmt) as writer:
        writer.write(df)
    return writer.path


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
    data_dir: Path,
    *,
    required: tuple[str, ...] = REQUIRED_TABLES,
    only: Collection[str] | None = None,
    lazy: bool = False,
) -> RawTables:
    """Read every DATA.md table in `data_dir` as text. Fails with ContractError on shape problems.

    `only`: read just these tables. A command that needs fewer leaves the rest on disk (scoring pending claims
    never reads the five million adjustment rows of a million claims); validation's reference rules run from
    parent to child, so a child table left out never changes which rows of its parents are valid.

    `lazy`: check every table's columns now, but read a table's rows only when `frames[name]` is asked for, and
    again each time (`LazyFrames`). Validation takes one table at a time, so the text of ten million claims' five
    tables (10 GiB) is never held at once."""
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
    if lazy:
        for name, path in files.items():
            extra = _extra_columns(path, TABLES[name], _file_columns(path, TABLES[name]))
            if extra:
                raw.ignored_columns[name] = extra
            raw.formats[name] = path.suffix.lstrip(".")
        raw.frames = LazyFrames(files)
        return raw
    frames: dict[str, pd.DataFrame] = {}
    for name, path in files.items():
        df = _read_one(path, TABLES[name])
        extra = _extra_columns(path, TABLES[name], list(df.columns))
        if extra:
            raw.ignored_columns[name] = extra
        frames[name] = _conform(df, TABLES[name])
        raw.formats[name] = path.suffix.lstrip(".")
    raw.frames = frames
    return raw


class LazyFrames(Mapping[str, pd.DataFrame]):
    """Tables read from their files when asked for, every time, and never kept: what the caller drops is freed."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return _conform(_read_one(self.files[name], TABLES[name]), TABLES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _file_columns(path: Path, spec: Table) -> list[str]:
    """A file's column names, from the parquet footer or the CSV header, without reading its rows."""
    try:
        if path.suffix == ".parquet":
            return list(pq.read_schema(path).names)
        convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in spec.names}, strings_can_be_null=True)
        with pacsv.open_csv(path, convert_options=convert) as reader:
            return list(reader.schema.names)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise ContractError(
            explain_parquet(path, exc) if path.suffix == ".parquet" else explain_csv(path, exc)
        ) from None


def _extra_columns(path: Path, spec: Table, columns: list[str]) -> list[str]:
    """The columns not in DATA.md; a ContractError when a required one is missing."""
    missing = [c for c in spec.required if c not in columns]
    if missing:
        # A binary file can parse as one odd "column": name the real problem (error path only).
        binary = explain_binary_csv(path) if path.suffix == ".csv" else None
        if binary:
            raise ContractError(binary)
        raise ContractError(f"table {spec.name}: missing required column {', '.join(missing)}")
    return [c for c in columns if c not in spec.by_name]


def _conform(df: pd.DataFrame, spec: Table) -> pd.DataFrame:
    """The table's DATA.md columns in order: extra columns dropped, absent optional ones all null."""
    for col in spec.columns:
        if col.name not in df.columns:
            df[col.name] = pd.Series(pd.NA, index=df.index, dtype="string")
    return df[spec.names]
