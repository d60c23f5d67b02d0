"""A third model kind, as small as a kind can be, added the way the README's "Adding a model" says: a feature
builder, a `BoostedModel`, a training job, and one catalog entry (`TINY`, which a test appends to
`models.catalog.KINDS`). It predicts a claim's initial denial from its charge and line count."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels, data_as_of
from features.contract.run_options import RunOptions
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from models.base import BoostedModel
from models.boosting import deterministic_params
from models.calibration import fit_calibrator
from models.catalog import ModelKind
from models.mlflow_model import SavedModelPyfunc
from training.jobs import DEFAULT_RUN, JobReport, Judging, TrainingJob, TrainRun, log_and_register
from training.splits import NotEnoughHistory, TimeSplit


class TinyBuilder:
    """Charge and number of lines of each claim; nothing learned, so its state is empty."""

    def transform(self, claims: pd.DataFrame, lines: pd.DataFrame) -> np.ndarray:
        n_lines = claims["claim_id"].map(lines.groupby("claim_id").size()).fillna(0)
        return np.column_stack([claims["total_charge"].to_numpy(dtype=float), n_lines.to_numpy(dtype=float)])

    def to_state(self) -> dict[str, Any]:
        return {"version": 1}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TinyBuilder:
        return cls()


@dataclass(kw_only=True, eq=False)
class TinyModel(BoostedModel):
    feature_names = ("total_charge", "n_lines")
    heads = ("binary",)
    builder_class = TinyBuilder

    n_estimators: int = 50
    early_stopping_rounds: int = 10

    def fit(self, X: np.ndarray, y: np.ndarray, *, calibrate: np.ndarray) -> TinyModel:
        self.builder_ = TinyBuilder()
        params = deterministic_params(
            seed=self.seed, n_jobs=1, objective="binary", num_leaves=4, min_data_in_leaf=self.min_child_samples
        )
        self.binary_ = self._train(X[~calibrate], y[~calibrate], params)
        self.calibrator_ = fit_calibrator(np.asarray(self.binary_.predict(X[calibrate])), y[calibrate], method="platt")
        self.metadata_ = {}
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self.calibrator_(np.asarray(self.binary_.predict(X))), 0.0, 1.0)


class TinyPyfunc(SavedModelPyfunc):
    def _model_class(self) -> Any:
        return TinyModel

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict_proba(self._matrix(model_input))


def _rows(data_dir: Path, options: RunOptions, as_of: pd.Timestamp | None) -> tuple[dict[str, Any], pd.DataFrame]:
    tables = load_validated(data_dir, max_reject_rate=options.max_reject_rate).tables
    tables = tables if as_of is None else known_at(tables, as_of)
    labels = compute_labels(tables, codes=load_code_tables(), routine=options.routine,
                            maturity_days=options.maturity_days, as_of=as_of)  # fmt: skip
    claims = tables["claims"].set_index("claim_id", drop=False).loc[labels["claim_id"]].reset_index(drop=True)
    claims["denied"] = labels["initial_denial"].to_numpy(dtype=float)
    return tables, claims.sort_values(["submitted_at", "claim_id"], kind="stable").reset_index(drop=True)


def train(
    data_dir: Path,
    *,
    options: RunOptions,
    run: TrainRun = DEFAULT_RUN,
) -> tuple[TinyModel, JobReport]:
    t0 = time.perf_counter()
    tables, claims = _rows(data_dir, options, run.as_of)
    months = claims["submitted_at"].dt.strftime("%Y-%m")
    present = sorted(months.unique())
    split = TimeSplit(tuple(present[:-4]), tuple(present[-4:-2]), tuple(present[-2:]), ())
    role = split.role(months).to_numpy()
    X = TinyBuilder().transform(claims, tables["claim_lines"])
    y = claims["denied"].to_numpy()
    fit_rows = np.isin(role, ["learn", "calibrate"])
    model = TinyModel(seed=options.seed).fit(X[fit_rows], y[fit_rows], calibrate=role[fit_rows] == "calibrate")
    evaluate = role == "evaluate"
    p = model.predict_proba(X[evaluate])
    known = data_as_of(tables) if run.as_of is None else pd.Timestamp(run.as_of)
    model.metadata_ = {"trained_as_of": known.strftime("%Y-%m-%d")}
    report = JobReport(
        metrics={"rows": float(evaluate.sum()), "mean_p": float(p.mean())},
        split=split,
        evaluation=pd.DataFrame(
            {"claim_id": claims.loc[evaluate, "claim_id"].to_numpy(), "denied": y[evaluate], "p": p}
        ),
    )
    if run.register:
        log_and_register(model, report, kind=TINY, data_dir=data_dir, options=options, run=run)
    report.seconds["total"] = time.perf_counter() - t0
    return model, report


def judging(
    report: JobReport, *, data_dir: Path, tables: Mapping[str, pd.DataFrame], options: RunOptions, as_of: pd.Timestamp
) -> Judging:
    assert report.evaluation is not None
    evaluation = report.evaluation
    claims = tables["claims"].set_index("claim_id", drop=False).loc[evaluation["claim_id"]].reset_index(drop=True)

    def score(path: Path, point_in_time: bool) -> np.ndarray:
        model = TinyModel.load(path)
        return model.predict_proba(model.builder_.transform(claims, tables["claim_lines"]))

    return Judging(y=evaluation["denied"].to_numpy(), p_challenger=evaluation["p"].to_numpy(), score=score)


def check_history(
    tables: Mapping[str, pd.DataFrame], *, data_dir: Path, options: RunOptions, as_of: pd.Timestamp
) -> None:
    """`train` splits the months of labelled claims 4 from the end and 2 from the end: it needs 5 of them."""
    labels = compute_labels(tables, codes=load_code_tables(), routine=options.routine,
                            maturity_days=options.maturity_days, as_of=as_of)  # fmt: skip
    claims = tables["claims"].set_index("claim_id").loc[labels["claim_id"]]
    months = claims["submitted_at"].dt.strftime("%Y-%m").nunique()
    if months < 5:
        raise NotEnoughHistory(f"need labelled claims in at least 5 months to train tiny; found {months}")


TINY = ModelKind(
    "tiny", TinyModel, TinyPyfunc, "tiny_kind:JOB", summary="a test's third model: P(denial) from charge and lines"
)
JOB = TrainingJob(kind=TINY, train=train, judging=judging, check_history=check_history)
