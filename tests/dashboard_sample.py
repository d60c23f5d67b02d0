"""A small dashboard report written without any data or model: for the workspace's page and browser tests,
which test serving a report, not building one (tests/serving/dashboard does that)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from serving.dashboard import Chart, Report, Section, prevention_sections, write_report
from serving.dashboard.health import ModelHealth, health_sections

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]


def sample_report() -> Report:
    rate = pd.DataFrame({"month": MONTHS, "denial_rate": [0.10 + 0.005 * i for i in range(12)],
                         "denial_rate_dollars": [0.08 + 0.004 * i for i in range(12)]})  # fmt: skip
    payers = pd.DataFrame(
        {"payer_id": ["P0001", "P0002", "P0003"], "open_denial_dollars": [52_000.0, 31_000.0, 9_500.0]}
    )
    sections = [
        Section(key="denial-rate-by-month", title="Initial denial rate by month", data=rate,
                chart=Chart(kind="line", x="month", y=("denial_rate", "denial_rate_dollars"), fmt="percent"),
                note="Claims whose first answer was a denial."),
        Section(key="open-dollars-by-payer", title="Open denial dollars by payer", part="recovery", data=payers,
                chart=Chart(kind="barh", x="payer_id", y=("open_denial_dollars",), fmt="dollars")),
        Section(key="kpi-table", title="KPIs", part="recovery", data=rate.assign(claims=range(100, 112))),
        *prevention_sections(None),
        *health_sections(ModelHealth()),
    ]  # fmt: skip
    return Report(title="Denial management dashboard", sections=tuple(sections), facts={"months": "2025-01 to 2025-12"})


def write_sample_report(out: Path) -> Path:
    write_report(sample_report(), out)
    return out
