"""The dashboard's data: every section of the report from the DATA.md tables, their labels and plain facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pandas as pd

from features.contract.codes import CodeTables
from serving.dashboard.health import ModelHealth, health_sections
from serving.dashboard.kpi_sections import kpi_sections
from serving.dashboard.sections import Report, Section, ordered, prevention_sections
from serving.dashboard.work_sections import work_sections

TITLE = "Denial management dashboard"


def build_report(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    health: ModelHealth | None = None,
    prevention: Sequence[Section] | None = None,
    facts: Mapping[str, str] | None = None,
) -> Report:
    """The report: `labels` from `compute_labels` on the same validated `tables`. `prevention` is the prevention
    report's sections (`prevention_sections(patterns, ...)`); None leaves its slot saying it is not there yet."""
    kpis, table = kpi_sections(labels, tables["claims"], codes=codes)
    work = work_sections(tables.get("followups"), labels)
    every = [*kpis, *work, *(prevention if prevention is not None else prevention_sections(None)),
             *health_sections(health)]  # fmt: skip
    all_row = table[table["dimension"] == "all"].iloc[0]
    months = table.loc[table["dimension"] == "month", "group"]
    covered = {
        "months": f"{months.min()} to {months.max()}" if len(months) else "none",
        "claims answered": f"{int(all_row['claims']):,}",
        "initial denial rate": f"{all_row['denial_rate']:.1%}" if pd.notna(all_row["denial_rate"]) else "-",
        "built": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return Report(title=TITLE, sections=ordered(every), facts={**covered, **(facts or {})})
