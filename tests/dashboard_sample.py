"""A small dashboard report written without any data or model: for the workspace's page and browser tests,
which test serving a report, not building one (tests/serving/dashboard does that)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract.payer_rules import load_payer_rules
from features.prevention.edit_files import export_edits
from features.prevention.edits import EDIT_COLUMNS
from serving.dashboard import EDITS_FOLDER, Chart, Report, Section, edit_sections, prevention_sections, write_report
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


# ---- a report with learned edits and prevention patterns to decide on (the dashboard's decision forms)
KEY = "authorization:payer=P0025:plan=commercial:group=physical_medicine"
OTHER_KEY = "eligibility:payer=P0001:plan=medicare"
EDIT, EDIT_2 = "auth:P0025:97110", "auth:P0025:97112"


def learned() -> pd.DataFrame:
    rows = []
    for code in ("97110", "97112"):
        rows.append({"edit_id": f"auth:P0025:{code}", "kind": "auth", "payer_id": "P0025", "plan_type": "commercial",
                     "procedure_code": code, "detail": "", "field": "auth_required", "unit": "line", "seen": 40,
                     "denied": 30, "denial_rate": 0.75, "reference_seen": 900, "reference_rate": 0.02, "lift": 37.5,
                     "p_value": 1e-9, "q_value": 1e-8, "carcs": "CO-197 (30)", "first_seen": "2024-05-03",
                     "last_seen": "2024-12-20", "rule_in_force": "", "status": "new",
                     "as_of": "2024-12-31"})  # fmt: skip
    return pd.DataFrame(rows, columns=list(EDIT_COLUMNS))


def patterns() -> pd.DataFrame:
    return pd.DataFrame({"rank": [1, 2], "pattern": ["P0025 PT authorization", "P0001 eligibility"],
                         "pattern_key": [KEY, OTHER_KEY],
                         "projected_avoidable_dollars": [52_000.0, 9_000.0]})  # fmt: skip


def write_decision_report(out: Path, *, data_dir: Path) -> Path:
    """The sample report with two patterns and two learned edits (exported beside it, as `claimsight report
    --edits` does) that a manager can decide on against `data_dir`."""
    base = sample_report()
    sections = [s for s in base.sections if s.part != "prevention"]
    sections += [*prevention_sections(patterns(), value="projected_avoidable_dollars", label="pattern"),
                 *edit_sections(learned())]  # fmt: skip
    write_report(Report(title=base.title, sections=tuple(sections), facts=base.facts), out)
    export_edits(learned(), rules=load_payer_rules(data_dir=data_dir), out_dir=out / EDITS_FOLDER)
    return out
