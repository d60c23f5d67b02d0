"""One training job per model kind, and what every job does the same way.

`claimsight train`, the monthly retrain and bench find a kind's job through the catalog (`job_for`), so they
never name a model. A job trains from a data directory and registers the result (`train`), and says which
rows a challenger is judged on and how to score any saved model of its kind on them (`judging`): the retrain
gate is then the same for every kind. It also says, cheaply and before anything is trained, whether a history
is long enough to train it (`check_history`): the retrain asks every kind first, so a kind that lacks history
cannot stop the run after another kind has registered a challenger that no verdict then judges.

`log_and_register` is the MLflow half every job shares: parameters, metrics, data fingerprint and code
version, evaluation artifacts, the saved model with its sha256, and the registry entry.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.run_options import RunOptions
from features.progress import Progress, silent
from models.base import BoostedModel
from models.catalog import ModelKind
from training.splits import TimeSplit


@dataclass(frozen=True)
class Judging:
    """What the retrain gate compares: outcomes `y` of the challenger's evaluation rows, its scores on them,
    and `score(model_dir, point_in_time)` for any saved model of the kind on the same rows. With
    `point_in_time`, features come from the history as known at each row's own time, in the model's coding
    (a champion's frozen snapshot postdates those rows and would count their own outcomes)."""

    y: np.ndarray
    p_challenger: np.ndarray
    score: Callable[[Path, bool], np.ndarray]


@dataclass(kw_only=True)
class JobReport:
    """What every training job reports: headline metrics on the evaluation rows, the split, timings, the
    registry entry once registered, and the rows a champion is judged on. Kinds add their own sections and
    say which numbers go to MLflow (`logged_metrics`) and into evaluation/report.json (`summary`)."""

    metrics: dict[str, float]
    split: TimeSplit
    seconds: dict[str, float] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    evaluation: pd.DataFrame | None = None

    def logged_metrics(self) -> dict[str, Mapping[str, float]]:
        """MLflow metric prefix -> values."""
        return {"eval": self.metrics}

    def summary(self) -> dict[str, Any]:
        return {"metrics": self.metrics}


@dataclass(frozen=True)
class TrainRun:
    """What one training call is for, beside the run's options: the morning the history is cut at (None:
    everything known), whether to log and register the model, whether a first version of a name becomes
    champion (the retrain gate registers challengers without it), the cluster to build features on, and who
    is told how far along it is."""

    as_of: pd.Timestamp | None = None
    register: bool = True
    promote_first: bool = True
    client: Any = None  # a Dask client (claimsight.cluster): the denial-risk features are built on its cluster
    fit_on_cluster: bool = False  # also fit LightGBM there (lightgbm.dask): trees differ from one process's
    progress: Progress = silent  # told each stage (features.progress): the command line shows it


DEFAULT_RUN = TrainRun()  # everything known, registered, champion if the name has none


@dataclass(frozen=True)
class TrainingJob:
    """`train(data_dir, *, options, run=TrainRun()) -> (model, report)`, the report carrying `metrics`,
    `registry` (version, ...), `seconds` and `evaluation`; `judging(report, *, data_dir, tables, options,
    as_of) -> Judging` for the retrain gate; and `check_history(tables, *, data_dir, options, as_of)`, which
    raises `training.splits.NotEnoughHistory` exactly when `train` on the history as known on `as_of` (`tables`,
    already cut) would, without training."""

    kind: ModelKind
    train: Callable[..., tuple[Any, JobReport]]
    judging: Callable[..., Judging]
    check_history: Callable[..., None]


def job_for(kind: ModelKind) -> TrainingJob:
    """The job the catalog names for `kind` ("module:attribute")."""
    module, _, attribute = kind.training_job.partition(":")
    job = getattr(importlib.import_module(module), attribute)
    if job.kind != kind:
        raise ValueError(f"{kind.training_job} trains {job.kind.name!r}, not {kind.name!r}")
    return job


def log_and_register(
    model: BoostedModel,
    report: JobReport,
    *,
    kind: ModelKind,
    data_dir: Path,
    options: RunOptions,
    artifacts: Callable[[Path], None] | None = None,
    model_files: Callable[[Path], None] | None = None,
    run: TrainRun,
) -> None:
    """Log one training run of `kind` and register its model; the registry entry and run id land on `report`.

    `artifacts(dir)` adds evaluation files (plots, tables) beside report.json; `model_files(dir)` adds files
    to the saved model directory before it is hashed (a model card)."""
    import mlflow

    from models.mlflow_model import directory_sha256
    from training.tracking import code_version, configure, data_fingerprint, register

    split = report.split
    configure(home=options.home, tracking_uri=options.tracking_uri, experiment=kind.registry_name)
    with mlflow.start_run(run_name=kind.name) as active, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        mlflow.log_params({f"model.{k}": v for k, v in model.get_params().items()})
        calibrator = getattr(model, "calibrator_", None)
        mlflow.log_params(
            {
                "split.learn": f"{split.learn[0]}..{split.learn[-1]}",
                "split.calibrate": ",".join(split.calibrate),
                "split.evaluate": ",".join(split.evaluate),
                "calibration": "none" if calibrator is None else calibrator.method,
                "n_features": len(kind.feature_names),
            }
        )
        for prefix, values in report.logged_metrics().items():
            mlflow.log_metrics({f"{prefix}.{k}": float(v) for k, v in values.items() if np.isfinite(v)})
        fingerprint = data_fingerprint(data_dir)
        mlflow.set_tags({"data_fingerprint": fingerprint, **{f"code.{k}": v for k, v in code_version().items()}})
        (tmpdir / "report.json").write_text(json.dumps(report.summary(), indent=1, sort_keys=True))
        if artifacts is not None:
            artifacts(tmpdir)
        mlflow.log_artifacts(str(tmpdir), artifact_path="evaluation")
        model_dir = model.save(tmpdir / "model")
        if model_files is not None:
            model_files(model_dir)
        report.registry = register(
            model_dir=model_dir,
            name=kind.registry_name,
            python_model=kind.pyfunc(),
            sha256=directory_sha256(model_dir),
            tags={
                "data_fingerprint": fingerprint,
                "trained_as_of": model.metadata_["trained_as_of"],
                "seed": str(model.seed),
            },
            promote_first=run.promote_first,
        )
        report.run_id = active.info.run_id
