"""Rich tables for the terminal: counts, aggregates, claim ids and reasons; never a patient field."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from features.contract.kpis import top_groups
from features.contract.validation import ValidationResult
from models.catalog import DENIAL_RISK, RECOVERY, ModelKind

if TYPE_CHECKING:
    from training.denial_job import TrainReport
    from training.jobs import JobReport
    from training.recovery_job import RecoveryReport


def _money(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:,.1f}{unit}"
    return f"${x:,.0f}"


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _num(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def validation_report(console: Console, result: ValidationResult) -> None:
    table = Table(title="Validation", show_lines=False)
    for col in ("table", "rows in", "kept", "quarantined", "reject rate"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name, n in result.rows_in.items():
        q = len(result.quarantine[name])
        table.add_row(name, f"{n:,}", f"{n - q:,}", f"{q:,}", _pct(result.reject_rate(name)))
    console.print(table)
    if len(result.report):
        reasons = Table(title="Quarantine reasons")
        for col in ("table", "reason", "rows"):
            reasons.add_column(col, justify="right" if col == "rows" else "left")
        for row in result.report.itertuples(index=False):
            reasons.add_row(str(row.table), str(row.reason), f"{row.rows:,}")
        console.print(reasons)
    for name, cols in result.ignored_columns.items():
        console.print(f"[yellow]warning[/]: {name}: ignored columns not in the data contract: {', '.join(cols)}")


_KPI_VIEW = (
    ("claims", "claims", _num),
    ("denials", "denials", _num),
    ("denied", "denial_rate", _pct),
    ("denied $", "denied_dollars", _money),
    ("denied $%", "denial_rate_dollars", _pct),
    ("avoidable", "avoidable_share", _pct),
    ("recovered", "recovery_rate", _pct),
    ("recov. $", "recovered_dollars", _money),
    ("recov. $%", "recovery_rate_dollars", _pct),
    ("days", "median_days_to_resolution", _num),
    ("open $", "open_denial_dollars", _money),
)
KPI_LEGEND = (
    "denied: initial denial rate (claims); denied $%: denied $ / billed $; avoidable: share of denials the "
    "practice could have prevented; recovered: recovery rate over mature denials (claims; recov. $%: dollars); "
    "days: median days from denial to resolution; open $: denied dollars still unresolved. "
    "By category, rates are shares of the whole book."
)


def kpi_tables(console: Console, kpis: pd.DataFrame, *, dimensions: tuple[str, ...], limit: int) -> None:
    for dim in ("all", *dimensions):
        part = kpis[kpis["dimension"] == "all"] if dim == "all" else top_groups(kpis, dimension=dim, limit=limit)
        title = "Denial KPIs, all claims" if dim == "all" else f"Denial KPIs by {dim}"
        if dim not in ("all", "month") and (kpis["dimension"] == dim).sum() > limit:
            title += f" (top {limit} by denied $)"
        elif dim == "month" and (kpis["dimension"] == dim).sum() > limit:
            title += f" (last {limit} months)"
        table = Table(title=title)
        table.add_column(dim if dim != "all" else "", no_wrap=True)
        for header, _, _ in _KPI_VIEW:
            table.add_column(header, justify="right")
        for _, row in part.iterrows():
            table.add_row(str(row["group"]), *(fmt(row[col]) for _, col, fmt in _KPI_VIEW))
        console.print(table)
    console.print(KPI_LEGEND, style="dim")


PREVENTION_LEGEND = (
    "Patterns pass a one-sided Fisher exact test against every parent level with Benjamini-Hochberg FDR 5%, "
    "merged most specific first; figures are each pattern's own claims (first remit in the window). "
    "avoidable $: denied dollars of an avoidable category; trend: last 3 months vs the 12 before; projected $: "
    "the last 3 months x 4 when the trend changed, else the 12 months."
)


def prevention_table(console: Console, report: pd.DataFrame, *, limit: int) -> None:
    """The top patterns by projected avoidable dollars: who owns them and what they cost."""
    if report.empty:
        console.print("no denial pattern stands out from noise in the last 12 months")
        return
    title = (
        f"Denial patterns by projected avoidable $ (next 12 months if nothing changes), as of {report['as_of'].iloc[0]}"
    )
    if len(report) > limit:
        title += f" (top {limit} of {len(report)})"
    table = Table(title=title)
    for header in ("#", "pattern", "denials", "rate", "vs", "projected $", "12 mo $", "3 mo $", "trend",
                   "staff min", "unrecovered $", "owner"):  # fmt: skip
        table.add_column(header, justify="left" if header in ("pattern", "trend", "owner") else "right")
    for _, row in report.head(limit).iterrows():
        table.add_row(
            str(row["rank"]),
            str(row["pattern"]),
            _num(row["denials_12m"]),
            _pct(row["denial_rate_12m"]),
            _pct(row["reference_rate"]),
            _money(row["projected_avoidable_dollars"]),
            _money(row["avoidable_dollars_12m"]),
            _money(row["avoidable_dollars_3m"]),
            str(row["trend"]),
            _num(row["staff_minutes"]),
            _money(row["unrecovered_dollars"]),
            str(row["owner_team_label"]),
        )
    console.print(table)
    console.print(PREVENTION_LEGEND, style="dim")


EFFECTS_LEGEND = (
    "Before: the 6 months up to the day; after: the day to as of; a claim counts by its first remit. Rates with "
    "95% Wilson intervals, the change with a Newcombe interval: worked = the whole interval below 0; too early = "
    "fewer than 30 after. Lines for edits (claims for filing-limit edits and fixes)."
)


def _interval(rate: float, low: float, high: float) -> str:
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "-"
    return f"{rate:.1%} ({low:.1%}-{high:.1%})"


def effects_table(console: Console, effects: pd.DataFrame) -> None:
    """Did it work: each accepted edit and fix done, its denial rate and denied $ before and after the day."""
    if effects.empty:
        console.print(
            "Did it work: no accepted edit or fix marked done yet (claimsight edits accept FILE --data DIR; "
            "claimsight prevent done KEY --data DIR)"
        )
        return
    table = Table(title=f"Did it work: accepted edits and fixes, before and after, as of {effects['as_of'].iloc[0]}")
    for header in ("edit or fix", "on", "before", "n", "after", "n", "change", "$/mo before", "$/mo after",
                   "verdict"):  # fmt: skip
        table.add_column(header, justify="left" if header in ("edit or fix", "verdict") else "right")
    for _, row in effects.iterrows():
        change = "-"
        if pd.notna(row["difference"]):
            change = f"{row['difference']:+.1%} ({row['difference_low']:+.1%} to {row['difference_high']:+.1%})"
        table.add_row(
            f"{row['source']} {row['key']}",
            str(row["decided_on"]),
            _interval(row["rate_before"], row["rate_before_low"], row["rate_before_high"]),
            _num(row["seen_before"]),
            _interval(row["rate_after"], row["rate_after_low"], row["rate_after_high"]),
            _num(row["seen_after"]),
            change,
            _money(row["dollars_per_month_before"]),
            _money(row["dollars_per_month_after"]),
            str(row["verdict"]),
        )
    console.print(table)
    console.print(EFFECTS_LEGEND, style="dim")


def action_tables(console: Console, denials: pd.DataFrame, *, open_ids: set[str]) -> None:
    """Recommended action x the group code it rests on, for every denial and for the open ones, then the money."""
    group = denials["action_group"].replace("", "none").fillna("none")
    is_open = denials["claim_id"].isin(open_ids)
    for title, keep in (("every denial", slice(None)), ("open (unresolved) denials", is_open.to_numpy())):
        counts = pd.crosstab(denials["recommended_action"][keep], group[keep])
        table = Table(title=f"Recommended action by adjustment group, {title}")
        table.add_column("action", no_wrap=True)
        for column in counts.columns:
            table.add_column(str(column), justify="right")
        table.add_column("all", justify="right")
        for action, row in counts.iterrows():
            table.add_row(str(action), *(f"{int(v):,}" for v in row), f"{int(row.sum()):,}")
        console.print(table)
    money = {c: float(denials[c].sum()) for c in ("patient_amount", "payer_amount", "write_off_amount")}
    late = denials["deadline_rule"].str.startswith(("already out of time", "due when the denial arrived"))
    patient_billed_wrongly = (denials["recommended_action"] == "bill_patient") & (group != "PR")
    console.print(
        f"denied $: patient ${money['patient_amount']:,.0f}, worked with a payer ${money['payer_amount']:,.0f}, "
        f"write-off ${money['write_off_amount']:,.0f}; denials whose lines differ in action: "
        f"{int((denials['line_plan'] != '').sum()):,}; deadline gone or due on arrival: {int(late.sum()):,}; "
        f"bill_patient on a CO/PI/OA amount: {int(patient_billed_wrongly.sum()):,}"
    )


def training_report(console: Console, report: TrainReport) -> None:
    """The evaluation a reviewer asks for first: the model beside its baselines (and the oracle)."""
    r = report
    table = Table(title=f"Denial risk on evaluation months {', '.join(r.split.evaluate)}")
    cols = ("roc_auc", "pr_auc", "brier", "ece", "recall_at_80_precision", "lift_top_decile")
    table.add_column("model")
    for c in cols:
        table.add_column(c, justify="right")
    rows = {"ClaimSight": r.metrics, **r.baselines}
    for name, m in rows.items():
        table.add_row(name, *(f"{m.get(c, float('nan')):.4f}" for c in cols))
    console.print(table)
    oracle = r.oracle
    if oracle:
        console.print("oracle (synthetic truth): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(oracle.items())))
    m = r.metrics
    console.print(
        f"evaluation claims {m['rows']:,.0f}, denial rate {m['rate']:.2%}, mean predicted "
        f"{m['mean_p']:.2%}; recall at 95% precision {m.get('recall_at_95_precision', float('nan')):.3f}; category "
        f"head on denied claims: top-1 {m.get('category_head_accuracy', float('nan')):.3f}, "
        f"top-3 {m.get('category_top3_accuracy', float('nan')):.3f}"
    )
    _time_and_registry(console, DENIAL_RISK.registry_name, seconds=r.seconds, registry=r.registry, run_id=r.run_id)


def job_report(console: Console, kind: ModelKind, report: JobReport) -> None:
    """A training job's report: the kind's own renderer, or its headline metrics for a kind without one."""
    own: dict[str, Callable[[Console, Any], None]] = {
        DENIAL_RISK.name: training_report,
        RECOVERY.name: recovery_report,
    }
    if kind.name in own:
        own[kind.name](console, report)
        return
    console.print(f"{kind.name} on evaluation months {', '.join(report.split.evaluate)}: "
                  + ", ".join(f"{k} {v:.4f}" for k, v in sorted(report.metrics.items())))  # fmt: skip
    _time_and_registry(console, kind.registry_name, seconds=report.seconds, registry=report.registry,
                       run_id=report.run_id)  # fmt: skip


def _time_and_registry(
    console: Console, name: str, *, seconds: dict[str, float], registry: dict[str, object], run_id: str | None
) -> None:
    console.print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    if registry:
        state = "now champion" if registry["promoted"] else f"champion stays version {registry['champion']}"
        console.print(f"registered {name} version {registry['version']} ({state}); run {run_id}")


def riskiest_claims(console: Console, scored: pd.DataFrame, *, limit: int, threshold: float) -> None:
    table = Table(title=f"Riskiest claims awaiting a payer answer (review at p >= {threshold:.2f})", show_lines=True)
    for col in ("claim", "p_denial", "likely cause", "top reasons -> action"):
        table.add_column(col, justify="right" if col == "p_denial" else "left")
    for _, row in scored.head(limit).iterrows():
        reasons = []
        for k in (1, 2, 3):
            text = row.get(f"reason_{k}")
            if isinstance(text, str):
                reasons.append(f"{k}. {text}\n   -> {row[f'action_{k}']}")
        table.add_row(
            str(row["claim_id"]),
            f"{row['p_denial']:.2f}",
            f"{row['top_category']} ({row['p_category']:.0%})",
            "\n".join(reasons) or "-",
        )
    console.print(table)


def recovery_report(console: Console, report: RecoveryReport) -> None:
    """Recovery model beside its unweighted twin, the oracle and the dollar ranking."""
    r = report
    table = Table(title=f"Recovery on worked denials of {', '.join(r.split.evaluate)}")
    cols = ("roc_auc", "roc_auc_reweighted", "pr_auc", "brier", "ece")
    table.add_column("model")
    for c in cols:
        table.add_column(c, justify="right")
    for name, m in {"ClaimSight (propensity-weighted)": r.metrics, "unweighted": r.unweighted}.items():
        table.add_row(name, *(f"{m.get(c, float('nan')):.4f}" for c in cols))
    console.print(table)
    if r.oracle:
        console.print("oracle (synthetic truth): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.oracle.items())))
    if r.dollars:
        console.print(
            "true expected $ in the top 20% of denials (share of best possible): "
            + ", ".join(f"{k.removeprefix('capture_top20_')} {v:.3f}" for k, v in r.dollars.items())
        )
    rows = r.rows
    console.print(
        f"denials {rows['denials']:,}, mature {rows['mature']:,} ({rows['mature_worked']:,} worked), "
        f"evaluated {rows['evaluate']:,}; recovery rate of worked {r.metrics.get('rate', float('nan')):.2%}"
    )
    _time_and_registry(console, RECOVERY.registry_name, seconds=r.seconds, registry=r.registry, run_id=r.run_id)


def queue_table(console: Console, queue: pd.DataFrame, *, limit: int, capacity: float) -> None:
    table = Table(title=f"Appeal queue: today's work first (capacity {capacity:,.0f} min/day)", show_lines=True)
    for col in ("rank", "claim", "action", "expected $", "minutes", "deadline", "why", "top reason"):
        table.add_column(col, justify="right" if col in ("rank", "expected $", "minutes") else "left")
    for _, row in queue.head(limit).iterrows():
        deadline = row["deadline"]
        table.add_row(
            "" if pd.isna(row["rank"]) else f"{row['rank']:.0f}",
            str(row["claim_id"]),
            str(row["action"]),
            _money(row["expected_recovery"]),
            f"{row['minutes']:.0f}",
            "none" if pd.isna(deadline) else f"{pd.Timestamp(deadline):%Y-%m-%d}",
            str(row["why"]),
            str(row["reason_1"]) if isinstance(row["reason_1"], str) else "",
        )
    console.print(table)
    console.print("the rule behind each action and deadline is in the CSV (action_rule, deadline_rule)", style="dim")


def simulation_table(console: Console, summary: pd.DataFrame, *, capacity: float, days: int, denials: int) -> None:
    table = Table(title=f"Policy replay: {denials:,} denials, {days} working days, {capacity:,.0f} min/day")
    cols = [
        ("policy", "policy"),
        ("worked", "worked"),
        ("staff hours", "staff_hours"),
        ("recovered $", "recovered_dollars"),
        ("expected $", "expected_dollars"),
        ("$ / staff hour", "dollars_per_staff_hour"),
        ("deadlines missed", "deadlines_missed"),
        ("of them worth meeting", "missed_worth_meeting"),
        ("share of oracle", "share_of_oracle"),
    ]
    for title, _ in cols:
        table.add_column(title, justify="left" if title == "policy" else "right")
    for _, row in summary.iterrows():
        cells = []
        for _, key in cols:
            v = row[key]
            if key == "policy":
                cells.append(str(v))
            elif key in ("recovered_dollars", "expected_dollars", "dollars_per_staff_hour"):
                cells.append(_money(v))
            elif key == "share_of_oracle":
                cells.append(_pct(v))
            else:
                cells.append(f"{v:,.0f}")
        table.add_row(*cells)
    console.print(table)
