"""New rows of each DATA.md table, staged as Parquet parts while an ingest runs and joined to the table once.

Why: extending a Parquet table means writing the whole file again. Doing that for every chunk of a big
folder rewrote the 5M-row adjustments table thirty times on the 1M-claim world. Parts are written per chunk
(bounded memory), and ``finish`` streams the old table and the parts into a new file row group by row group
and moves it into place, so a run costs one rewrite per table whatever its size. A run that stops before
``finish`` leaves the tables as they were (its manifest is not written either: the next run reads the same
files again).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract.schema import TABLES
from features.contract.tables_io import read_tables, write_table

__all__ = ["StagedTables", "typed"]

_ROW_GROUP = 1 << 20


def typed(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Tables read back arrive as text; new rows as numbers: one type per column before writing."""
    out = frame.copy()
    for column in TABLES[table].columns:
        if column.kind in ("int", "money"):
            out[column.name] = pd.to_numeric(out[column.name], errors="coerce")
            if column.kind == "int":
                out[column.name] = out[column.name].astype("Int64")
        elif column.kind == "bool":
            out[column.name] = out[column.name].map({"true": True, "false": False, True: True, False: False})
    return out


class StagedTables:
    """Parts under ``staging``; ``finish`` joins them to the tables in ``out``."""

    def __init__(self, *, out: Path, staging: Path) -> None:
        self.out = out
        self.staging = staging
        self.parts: dict[str, list[Path]] = {}
        shutil.rmtree(staging, ignore_errors=True)  # parts of a run that stopped early: never joined

    def add(self, table: str, frame: pd.DataFrame) -> None:
        """Stage rows (in contract column order) for ``table``; an empty frame stages nothing."""
        if frame.empty:
            return
        parts = self.parts.setdefault(table, [])
        part_dir = self.staging / f"{table}-{len(parts):05d}"
        parts.append(write_table(typed(frame[TABLES[table].names], table), table=table, data_dir=part_dir))

    def finish(self, tables: tuple[str, ...]) -> None:
        """Join the staged parts to each of ``tables``; a table that does not exist yet is written (empty when
        nothing was staged for it, so a data directory always has every table a run touched)."""
        for table in tables:
            parquet, csv = self.out / f"{table}.parquet", self.out / f"{table}.csv"
            parts = self.parts.get(table, [])
            if csv.exists():
                if parts:
                    self._rewrite_csv(table, parts)
            elif parquet.exists():
                if parts:
                    self._extend_parquet(parquet, parts)
            elif parts:
                self._extend_parquet(parquet, parts)
            else:
                empty = pd.DataFrame({name: pd.Series(dtype="object") for name in TABLES[table].names})
                write_table(typed(empty, table), table=table, data_dir=self.out)
        shutil.rmtree(self.staging, ignore_errors=True)

    def _rewrite_csv(self, table: str, parts: list[Path]) -> None:
        """A team that keeps CSV tables gets CSV back (rewritten whole: CSV exports are small)."""
        old = read_tables(self.out, required=()).frames[table]
        new = [pq.read_table(p).to_pandas() for p in parts]
        whole = typed(pd.concat([old, *new], ignore_index=True), table)
        write_table(whole, table=table, data_dir=self.out, fmt="csv")

    def _extend_parquet(self, parquet: Path, parts: list[Path]) -> None:
        sources = ([parquet] if parquet.exists() else []) + parts
        schema = pq.ParquetFile(sources[0]).schema_arrow
        target = self.staging / f"{parquet.name}.joined"
        with pq.ParquetWriter(target, schema, compression="zstd") as writer:
            for source in sources:
                for batch in pq.ParquetFile(source).iter_batches(batch_size=_ROW_GROUP):
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema), row_group_size=_ROW_GROUP)
        target.replace(parquet)
