"""`report.json`: what a written report holds, read by the workspace to serve it without redrawing anything.

Why a manifest: the workspace page must render in well under a second, so it never touches the data or
matplotlib; it reads this small file (cached until the file changes) and links the SVGs and CSVs the report
command already wrote. The file names it lists are the only ones the workspace serves from the folder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from serving.dashboard.sections import PARTS, Report, Section, ValueFormat

MANIFEST_FILE = "report.json"
FORMAT_VERSION = 1
TABLE_ROWS = 40  # rows a page shows; the CSV has them all
FILE_NAME = re.compile(r"^(figures/[a-z0-9-]+\.svg|data/[a-z0-9-]+\.csv)$")


def column_format(name: str) -> ValueFormat:
    """How a table shows a column, from its name (the report's columns follow the KPI naming)."""
    if name in ("mean_p", "rate", "baseline_rate") or "rate" in name.split("_") or name.endswith("_share"):
        return "percent"
    if "dollars" in name or name in ("billed", "denied_amount"):
        return "dollars"
    if name.startswith("median_days") or name.endswith("_days"):
        return "days"
    return "number"


def cell(value: Any, fmt: ValueFormat) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if fmt == "percent":
            return f"{number:.1%}"
        if fmt == "dollars":
            return f"${number:,.0f}"
        if fmt == "days" or number.is_integer():
            return f"{number:,.0f}"
        return f"{number:,.4g}"
    return str(value)


def table_of(frame: pd.DataFrame, *, rows: int = TABLE_ROWS) -> dict[str, Any]:
    formats = [column_format(str(c)) for c in frame.columns]
    shown = frame.head(rows)
    body = [[cell(v.item() if hasattr(v, "item") else v, f) for v, f in zip(row, formats, strict=True)]
            for row in shown.itertuples(index=False, name=None)]  # fmt: skip
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    return {"columns": [str(c).replace("_", " ") for c in frame.columns], "numeric": numeric, "rows": body,
            "shown": len(shown), "total": len(frame)}  # fmt: skip


def figure_file(section: Section) -> str:
    return f"figures/{section.key}.svg"


def data_file(section: Section) -> str:
    return f"data/{section.key}.csv"


def manifest_of(report: Report) -> dict[str, Any]:
    parts = []
    for key, heading in PARTS:
        sections = []
        for s in report.part(key):
            sections.append(
                {
                    "key": s.key,
                    "title": s.title,
                    "note": s.note,
                    "text": s.text,
                    "svg": figure_file(s) if s.has_figure else None,
                    "csv": data_file(s) if s.available else None,
                    "table": table_of(s.data) if s.available and (s.chart is None or s.table) else None,
                }
            )
        parts.append({"key": key, "heading": heading, "sections": sections})
    return {"version": FORMAT_VERSION, "title": report.title, "facts": dict(report.facts), "parts": parts}


@dataclass(frozen=True)
class Manifest:
    """A written report as the workspace sees it."""

    folder: Path
    title: str
    facts: Mapping[str, str]
    parts: list[dict[str, Any]]
    files: frozenset[str]  # the relative file names it lists: the only ones served

    def path_of(self, name: str) -> Path | None:
        """The file `name` (e.g. figures/x.svg) if the report lists it and it exists, else None."""
        if name not in self.files or not FILE_NAME.match(name):
            return None
        path = self.folder / name
        return path if path.is_file() else None


def parse_manifest(folder: Path, raw: Mapping[str, Any]) -> Manifest:
    if raw.get("version") != FORMAT_VERSION:
        raise ValueError(f"{MANIFEST_FILE}: format version {raw.get('version')!r}, expected {FORMAT_VERSION}")
    parts = list(raw["parts"])
    files = {name for p in parts for s in p["sections"] for name in (s.get("svg"), s.get("csv")) if name}
    bad = sorted(f for f in files if not FILE_NAME.match(f))
    if bad:
        raise ValueError(f"{MANIFEST_FILE}: unexpected file names {bad}")
    return Manifest(folder=folder, title=str(raw["title"]), facts=dict(raw.get("facts", {})), parts=parts,
                    files=frozenset(files))  # fmt: skip


_cache: dict[Path, tuple[float, Manifest]] = {}


def load_manifest(folder: Path) -> Manifest | None:
    """The report written in `folder`, or None when there is none (yet). Read once per change of the file."""
    path = folder / MANIFEST_FILE
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    manifest = parse_manifest(folder, json.loads(path.read_text(encoding="utf-8")))
    _cache[path] = (mtime, manifest)
    return manifest
