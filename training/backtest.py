"""`claimsight backtest`: replay the monthly loop over history and show what retraining buys.

For every month in the range, two denial-risk models score the claims submitted that month, each as it
would have served them (its own frozen feature snapshot): one trained on the history known at the start
of the range and never retrained, and one retrained on the history known at the start of that month.
The monitor runs on what was known at the end of each month, so the table shows when an alert would
have fired next to when the metrics moved. The payer x procedure families to watch are chosen by the monitor's
strongest alert, not from the generator's truth; on synthetic data the generator's own change (truth/world.json)
is shown beside them, read only to judge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.claim_fields import procedure_family
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import codes_in, load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from models.denial_risk import DenialRiskModel
from training.denial_job import train_denial_risk
from training.jobs import TrainRun
from training.metrics import standard_metrics
from training.monitoring import ShiftRule, learned_auth_requirements, payer_family_rates, payer_family_shifts
from training.retrain import month_start


@dataclass(frozen=True)
class BacktestResult:
    table: pd.DataFrame  # month, scope (all | payer ...), model (frozen | retrained), the standard metrics
    alerts: pd.DataFrame  # the monitor's flags, month by month
    learned: pd.DataFrame  # authorization requirements the features learned and the rule file lacks, by month
    watched_payer: str | None
    watched_families: tuple[str, ...] = ()


def months_between(first: str, last: str) -> list[str]:
    start, end = month_start(first), month_start(last)
    if end < start:
        raise ValueError("--to must not be before --from")
    return [d.strftime("%Y-%m") for d in pd.date_range(start, end, freq="MS")]


def backtest(
    data_dir: Path,
    *,
    first_month: str,
    last_month: str,
    options: RunOptions,
    rule: ShiftRule | None = None,
) -> BacktestResult:
    months = months_between(first_month, last_month)
    routine, maturity_days = options.routine, options.maturity_days
    tables = load_validated(data_dir, max_reject_rate=options.max_reject_rate, threads=options.feature_threads).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity_days)
    claims = tables["claims"].set_index("claim_id", drop=False).loc[labels["claim_id"]].reset_index(drop=True)
    submitted = claims["submitted_at"].dt.strftime("%Y-%m")

    def train(month: str) -> DenialRiskModel:
        model, _ = train_denial_risk(data_dir, options=options, run=TrainRun(register=False, as_of=month_start(month)))
        return model

    frozen = train(months[0])
    rows: list[dict[str, object]] = []
    alerts, learned = [], []
    rules = load_payer_rules(data_dir=data_dir)
    scored: dict[str, pd.DataFrame] = {}
    for month in months:
        current = frozen if month == months[0] else train(month)
        mask = (submitted == month).to_numpy()
        part = claims[mask].reset_index(drop=True)
        denied = labels["initial_denial"].to_numpy(dtype=bool)[mask]
        frame = pd.DataFrame({"claim_id": part["claim_id"].to_numpy(), "payer_id": part["payer_id"].to_numpy(),
                              "denied": denied})  # fmt: skip
        for name, model in (("frozen", frozen), ("retrained", current)):
            fs = model.features(claims=part, lines=tables["claim_lines"], context_claims=tables["claims"],
                                context_lines=tables["claim_lines"])  # fmt: skip
            frame[name] = model.predict_proba(fs.X)
        scored[month] = frame
        rows += metrics_rows(frame, month=month, scope="all")
        end = month_start(month) + pd.DateOffset(months=1)
        seen = known_at(tables, end)
        seen_labels = compute_labels(seen, codes=codes, routine=routine, maturity_days=maturity_days, as_of=end)
        shifts = payer_family_shifts(payer_family_rates(seen, seen_labels), month=month, rule=rule)
        alerts.append(shifts[shifts["flagged"]])
        found = learned_auth_requirements(seen, seen_labels, rules=rules, codes=codes, routine=routine, as_of=end)
        learned.append(found.assign(month=month))
    alert_frame = pd.concat(alerts, ignore_index=True) if alerts else pd.DataFrame()
    watched, families = None, ()
    if len(alert_frame):
        watched = str(alert_frame.sort_values("z", ascending=False)["payer_id"].iloc[0])
        families = tuple(sorted(alert_frame.loc[alert_frame["payer_id"] == watched, "family"].astype(str).unique()))
        lines = tables["claim_lines"]
        in_family = lines.loc[procedure_family(lines["procedure_code"]).isin(families).to_numpy(), "claim_id"]
        scope = f"payer {watched} x {'/'.join(families)}"
        for month, frame in scored.items():
            rows += metrics_rows(frame[frame["payer_id"].eq(watched) & frame["claim_id"].isin(in_family)],
                                 month=month, scope=scope)  # fmt: skip
            rows += metrics_rows(frame[frame["payer_id"].eq(watched)], month=month, scope=f"payer {watched}")
    change = generator_change(data_dir)
    if change is not None:
        payer, ranges = change
        lines = tables["claim_lines"]
        changed = lines.loc[codes_in(lines["procedure_code"], ranges), "claim_id"]
        named = ", ".join(ranges) if len(ranges) <= 4 else f"{len(ranges)} codes"
        scope = f"payer {payer} x {named} (the generator's change, truth/world.json)"
        for month, frame in scored.items():
            rows += metrics_rows(frame[frame["payer_id"].eq(payer) & frame["claim_id"].isin(changed)],
                                 month=month, scope=scope)  # fmt: skip
    return BacktestResult(table=pd.DataFrame(rows), alerts=alert_frame, learned=pd.concat(learned, ignore_index=True),
                          watched_payer=watched, watched_families=families)  # fmt: skip


def generator_change(data_dir: Path) -> tuple[str, tuple[str, ...]] | None:
    """The synthetic world's payer policy change (payer, code ranges or codes), or None for a real team's data:
    the standard world's authorization change (`drift`), or the scrambled world's (`policy_change`)."""
    path = data_dir / "truth" / "world.json"
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    change = meta.get("drift") or meta.get("policy_change")
    return None if not change else (str(change["payer_id"]), tuple(str(r) for r in change["codes"]))


def metrics_rows(frame: pd.DataFrame, *, month: str, scope: str) -> list[dict[str, object]]:
    """The standard metrics (training/metrics.py) of each model's column of `frame` against its `denied`."""
    y = frame["denied"].to_numpy(dtype=float)
    return [
        {"month": month, "scope": scope, "model": name, **standard_metrics(y, frame[name].to_numpy(dtype=float))}
        for name in ("frozen", "retrained")
    ]


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per month and scope, frozen beside retrained (`roc_auc_frozen`, ...); rows and rate once."""
    pivot = table.pivot_table(index=["scope", "month"], columns="model",
                              values=["rows", "roc_auc", "ece", "mean_p", "rate"])  # fmt: skip
    pivot.columns = [f"{pair[0]}_{pair[1]}" for pair in pivot.columns.to_list()]
    keep = ["rows_frozen", "roc_auc_frozen", "roc_auc_retrained", "ece_frozen", "ece_retrained", "mean_p_frozen",
            "mean_p_retrained", "rate_frozen"]  # fmt: skip
    return (
        pivot[[c for c in keep if c in pivot.columns]]
        .rename(columns={"rows_frozen": "rows", "rate_frozen": "rate"})
        .reset_index()
    )


def by_month(result: BacktestResult) -> Mapping[str, pd.DataFrame]:
    return {str(scope): part.drop(columns="scope") for scope, part in wide(result.table).groupby("scope", sort=False)}
