"""The dashboard's model-health facts, gathered where they live (the MLflow registry and runs, the monitor's
reports, a backtest file) and handed to `serving.dashboard` as plain data: serving may not import training.

Each source is optional. A missing one becomes a sentence in `ModelHealth.missing` saying how to get it; the
report is never refused for it. Reading the registry never creates anything in it (no experiment, no store):
a report on a machine that never trained a model must not leave an empty MLflow database behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from features.contract.run_options import RunOptions
from serving.dashboard import ModelHealth, RegisteredModel

log = logging.getLogger(__name__)
RETRAIN_EXPERIMENT = "claimsight-retrain"
GATE_RUNS = 6  # the last retrain decisions shown
EVAL_METRICS = ("roc_auc", "pr_auc", "ece", "brier")
Say = Callable[[str], None]


def _client(options: RunOptions) -> Any | None:
    """An MLflow client on the configured store, or None when there is no store to read."""
    if options.tracking_uri is None and not (options.home / "mlflow.db").exists():
        return None
    import mlflow
    from mlflow import MlflowClient

    from training.tracking import default_tracking_uri

    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    mlflow.set_tracking_uri(options.tracking_uri or default_tracking_uri(options.home))
    return MlflowClient()


def registered_models(client: Any) -> tuple[RegisteredModel, ...]:
    """Each catalog kind's champion: version, registration day, its training run's eval metrics, its card."""
    from mlflow.exceptions import MlflowException

    from models import catalog
    from models.mlflow_model import CHAMPION, download_model

    found = []
    for kind in catalog.kinds():
        try:
            mv = client.get_model_version_by_alias(kind.registry_name, CHAMPION)
        except MlflowException:
            continue
        metrics: dict[str, float] = {}
        if mv.run_id:
            run_metrics = client.get_run(mv.run_id).data.metrics
            metrics = {m: float(run_metrics[f"eval.{m}"]) for m in EVAL_METRICS if f"eval.{m}" in run_metrics}
        card = None
        try:
            path = download_model(name=kind.registry_name, ref=str(mv.version)) / "MODEL_CARD.md"
            card = path.read_text(encoding="utf-8") if path.exists() else None
        except (MlflowException, OSError, ValueError) as exc:  # an unreadable card leaves the metrics standing
            log.warning("model card of %s version %s not read: %s", kind.registry_name, mv.version, type(exc).__name__)
        registered = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC).strftime("%Y-%m-%d")
        found.append(RegisteredModel(kind=kind.name, version=str(mv.version), registered=registered, metrics=metrics,
                                     card=card))  # fmt: skip
    return tuple(found)


def gate_decisions(client: Any, *, runs: int = GATE_RUNS) -> pd.DataFrame | None:
    """The last `runs` retrain runs: one row per model kind judged, with the decision and both sides' metrics."""
    from models import catalog

    experiment = client.get_experiment_by_name(RETRAIN_EXPERIMENT)
    if experiment is None:
        return None
    rows = []
    for run in client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                                  max_results=runs):  # fmt: skip
        tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
        for kind in catalog.names():
            if f"{kind}.decision" not in tags:
                continue
            rows.append(
                {
                    "as_of": params.get("as_of", ""),
                    "model": kind,
                    "decision": tags[f"{kind}.decision"],
                    "challenger": tags.get(f"{kind}.challenger", ""),
                    "champion_before": tags.get(f"{kind}.champion_before", ""),
                    "challenger_auc": metrics.get(f"{kind}.challenger.roc_auc"),
                    "champion_auc": metrics.get(f"{kind}.champion.roc_auc"),
                    "challenger_ece": metrics.get(f"{kind}.challenger.ece"),
                    "champion_ece": metrics.get(f"{kind}.champion.ece"),
                }
            )
    return pd.DataFrame(rows) if rows else None


def saved_monitor(home: Path) -> tuple[str, dict[str, pd.DataFrame | None]] | None:
    """The latest report `claimsight monitor` wrote under HOME/monitor/YYYY-MM, as (month, its tables)."""
    folders = sorted(p for p in (home / "monitor").glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]") if p.is_dir())
    for folder in reversed(folders):
        if (folder / "calibration.csv").exists():
            tables: dict[str, pd.DataFrame | None] = {}
            for name in ("calibration", "psi", "shifts_flagged"):
                path = folder / f"{name}.csv"
                tables[name] = pd.read_csv(path, dtype={"payer_id": str, "family": str}) if path.exists() else None
            return folder.name, tables
    return None


class ChampionUnreadable(ValueError):
    """The registry's champion cannot be loaded by this version (its message says what to do)."""


def live_monitor(tables: dict[str, pd.DataFrame], labels: pd.DataFrame, *, options: RunOptions) -> Any | None:
    """The monitor run now with the serving denial-risk champion (no learned-authorization part: that is the
    monitor command's), or None without a champion."""
    from mlflow.exceptions import MlflowException

    from features.contract.labels import data_as_of
    from models.catalog import DENIAL_RISK
    from models.denial_risk import DenialRiskModel
    from models.mlflow_model import CHAMPION, download_model
    from training.monitoring import latest_complete_month, run_monitor

    try:
        model = DenialRiskModel.load(download_model(name=DENIAL_RISK.registry_name, ref=CHAMPION))
    except MlflowException:
        return None
    except ValueError:  # saved by a ClaimSight whose feature list differs: the rest of the report still stands
        raise ChampionUnreadable(
            "The denial-risk champion was trained by a version of ClaimSight with other features and cannot be "
            "loaded: train or retrain it (`claimsight train --data DIR`), then build the report again."
        ) from None
    month = latest_complete_month(data_as_of(tables))
    return run_monitor(tables, labels, month=month, model=model, routine=options.routine)


def gather_model_health(
    tables: dict[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    options: RunOptions,
    monitor: bool,
    backtest: Path | None,
    say: Say,
) -> ModelHealth:
    """Everything available about the models; `monitor`: run the monitor now when no saved report exists."""
    missing: dict[str, str] = {}
    client = _client(options)
    models: tuple[RegisteredModel, ...] = ()
    gate = None
    if client is None:
        missing["models"] = f"No model registry in {options.home}: run `claimsight train --data DIR` first."
    else:
        say("model health: reading the registry and the retrain decisions")
        models = registered_models(client)
        gate = gate_decisions(client)
    month, calibration, drift, shifts = None, None, None, None
    saved = saved_monitor(options.home)
    if saved is not None:
        month, found = saved
        say(f"model health: the monitor report of {month} in {options.home / 'monitor'}")
        calibration, drift, shifts = found["calibration"], found["psi"], found["shifts_flagged"]
    elif monitor and any(m.kind == "denial-risk" for m in models):
        say("model health: running the monitor with the denial-risk champion (calibration by month, drift)")
        try:
            report = live_monitor(tables, labels, options=options)
        except ChampionUnreadable as exc:
            report, missing["calibration"], missing["drift"] = None, str(exc), str(exc)
        if report is not None:
            month, calibration, drift, shifts = report.month, report.calibration, report.psi, report.flagged
    elif not monitor:
        missing["calibration"] = missing["drift"] = (
            "No saved monitor report and --no-monitor: run `claimsight monitor --data DIR`, then the report again."
        )
    frame = None
    if backtest is not None:
        frame = pd.read_csv(backtest)
    return ModelHealth(models=models, monitor_month=month, calibration=calibration, drift=drift, shifts=shifts,
                       gate=gate, backtest=frame, missing=missing)  # fmt: skip
