"""The model-health part, from plain data the command line gathers (serving never imports training).

What a leader asks before trusting the queue: which models serve and how good they were when trained (the
registry and the model card), whether their probabilities still match what happens (calibration by month),
whether the claims still look like the training data (drift), what the monthly retrain gate decided, and how
retraining fared over past months (the backtest). Each source may be missing (no model trained yet, no monitor
run, no backtest): its section then says how to get it instead of failing the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from serving.dashboard.sections import Chart, Section, unavailable

PART = "model-health"
CALIBRATION_COLUMNS = ("month", "mean_p", "rate")
DRIFT_COLUMNS = ("feature", "psi")
SHIFT_COLUMNS = ("payer_id", "family", "claims", "rate", "baseline_rate", "z")
METRIC_NAMES = {"roc_auc": "AUC", "pr_auc": "PR AUC", "ece": "ECE", "brier": "Brier"}


@dataclass(frozen=True)
class RegisteredModel:
    """A model the registry serves: its alias and version, the metrics of its training run, its model card."""

    kind: str  # "denial-risk"
    version: str
    alias: str = "champion"
    registered: str = ""  # YYYY-MM-DD
    metrics: Mapping[str, float] = field(default_factory=dict)  # evaluation metrics, by their standard names
    card: str | None = None  # MODEL_CARD.md, when the model carries one


@dataclass(frozen=True)
class ModelHealth:
    """Whatever is available; None (or empty) means that source is not there, and `missing` says why."""

    models: tuple[RegisteredModel, ...] = ()
    monitor_month: str | None = None
    calibration: pd.DataFrame | None = None  # training.monitoring CALIBRATION_COLUMNS
    drift: pd.DataFrame | None = None  # feature, psi, level
    shifts: pd.DataFrame | None = None  # the flagged payer x procedure family lines
    gate: pd.DataFrame | None = None  # one row per retrain decision and model kind
    backtest: pd.DataFrame | None = None  # training.backtest table: month, scope, model, roc_auc, ece, ...
    missing: Mapping[str, str] = field(default_factory=dict)  # source -> why it is not there, how to get it


def _missing(health: ModelHealth, source: str, default: str) -> str:
    return health.missing.get(source, default)


def model_sections(health: ModelHealth) -> list[Section]:
    out: list[Section] = []
    if health.models:
        rows = [
            {"model": m.kind, "alias": m.alias, "version": m.version, "registered": m.registered,
             **{label: m.metrics.get(name) for name, label in METRIC_NAMES.items()}}
            for m in health.models
        ]  # fmt: skip
        cards = "\n\n".join(m.card.strip() for m in health.models if m.card)
        out.append(
            Section(key="models", title="The models serving", part=PART, data=pd.DataFrame(rows), text=cards,
                    note="Evaluation metrics of each serving version on the held-out months of its training run. "
                    "AUC: how well it ranks (1 is perfect, 0.5 is chance); ECE: how far its probabilities are from "
                    "what happened (lower is better).")
        )  # fmt: skip
    else:
        note = _missing(health, "models", "No model in the registry yet: run `claimsight train --data DIR`.")
        out.append(unavailable("models", "The models serving", part=PART, note=note))
    return out


def monitor_sections(health: ModelHealth) -> list[Section]:
    default = "No monitor report: run `claimsight monitor --data DIR` (after `claimsight train`)."
    out: list[Section] = []
    month = f" ({health.monitor_month})" if health.monitor_month else ""
    if health.calibration is not None and len(health.calibration):
        data = health.calibration[list(CALIBRATION_COLUMNS)].reset_index(drop=True)
        out.append(
            Section(key="calibration-by-month", title=f"Calibration by month{month}", part=PART, data=data,
                    chart=Chart(kind="line", x="month", y=("mean_p", "rate"), fmt="percent",
                                labels={"mean_p": "predicted denial rate", "rate": "observed denial rate"}),
                    note="The denial-risk model's mean predicted probability against the observed initial denial "
                    "rate, by month the claim was sent. The lines should lie together; a growing gap means "
                    "the queue and the release threshold are working from wrong probabilities.")
        )  # fmt: skip
    else:
        out.append(unavailable("calibration-by-month", "Calibration by month", part=PART,
                               note=_missing(health, "calibration", default)))  # fmt: skip
    if health.drift is not None and len(health.drift):
        data = health.drift[list(DRIFT_COLUMNS)].sort_values("psi", ascending=False).reset_index(drop=True)
        out.append(
            Section(key="feature-drift", title=f"Drift of the model's top features{month}", part=PART, data=data,
                    chart=Chart(kind="barh", x="feature", y=("psi",), fmt="number",
                                labels={"psi": "population stability index"}),
                    note="Population stability index between the training data and the latest month: below 0.10 "
                    "stable, 0.10 to 0.25 a moderate shift, above 0.25 a major shift worth a retrain.")
        )  # fmt: skip
    else:
        out.append(unavailable("feature-drift", "Feature drift", part=PART, note=_missing(health, "drift", default)))
    if health.shifts is not None:
        data = health.shifts[[c for c in SHIFT_COLUMNS if c in health.shifts.columns]].reset_index(drop=True)
        out.append(
            Section(key="payer-shifts", title=f"Payer x procedure family denial-rate shifts{month}", part=PART,
                    data=data, note="Lines whose denial rate rose beyond their historical noise in the month: the "
                    "early sign of a payer's new policy. None listed: nothing moved.")
        )  # fmt: skip
    return out


def gate_sections(health: ModelHealth) -> list[Section]:
    if health.gate is not None and len(health.gate):
        return [
            Section(key="retrain-decisions", title="The retrain gate's last decisions", part=PART,
                    data=health.gate.reset_index(drop=True),
                    note="Each monthly retrain judges a challenger against the serving champion on the same fresh "
                    "months; it serves only when it is not worse (AUC within tolerance, calibration under its "
                    "ceiling).")
        ]  # fmt: skip
    note = _missing(health, "gate", "No retrain decision yet: run `claimsight retrain --data DIR --as-of YYYY-MM`.")
    return [unavailable("retrain-decisions", "The retrain gate's decisions", part=PART, note=note)]


def backtest_sections(health: ModelHealth) -> list[Section]:
    table = health.backtest
    needed = {"month", "model", "roc_auc"}
    if table is not None and needed <= set(table.columns) and len(table):
        part = table[table["scope"] == "all"] if "scope" in table.columns else table
        data = part[["month", "model", "roc_auc"]].sort_values(["month", "model"]).reset_index(drop=True)
        return [
            Section(key="backtest-auc", title="Backtest: retrained monthly vs frozen", part=PART, data=data,
                    chart=Chart(kind="line", x="month", y=("roc_auc",), series="model", fmt="number",
                                labels={"roc_auc": "AUC"}),
                    note="AUC month by month of a model frozen at the first month against one retrained every "
                    "month: the gap is what the monthly loop is worth.")
        ]  # fmt: skip
    note = _missing(health, "backtest", "No backtest: run `claimsight backtest --data DIR --from YYYY-MM --to "
                    "YYYY-MM --csv FILE` and pass the file to `claimsight report --backtest FILE`.")  # fmt: skip
    return [unavailable("backtest-auc", "Backtest", part=PART, note=note)]


def health_sections(health: ModelHealth | None) -> list[Section]:
    health = health or ModelHealth(missing={"models": "Model health was not gathered for this report."})
    return [*model_sections(health), *monitor_sections(health), *gate_sections(health), *backtest_sections(health)]
