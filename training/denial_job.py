"""`claimsight train`: history in, a registered and evaluated denial-risk model out.

Steps: validate -> labels -> fit the feature builder on every outcome known -> point-in-time features
for every adjudicated original claim -> split by month (learn, calibrate, latest mature months to
evaluate) -> fit -> evaluate against the baselines (and the synthetic oracle when truth/ exists) ->
freeze the history snapshot -> save, log and register in MLflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.claim_fields import day_number
from features.cluster import transform_on_cluster
from features.columns import index_in
from features.contract.codes import CodeTables, load_code_tables
from features.contract.frames import month_text
from features.contract.labels import compute_labels, data_as_of
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from features.denial_events import builder_tables
from features.denial_features import FEATURE_NAMES, FEATURES, DenialFeatureBuilder
from features.memory import release_unused_memory
from features.progress import Progress, silent
from models.catalog import DENIAL_RISK
from models.denial_risk import DenialRiskModel, TrainingSlice
from training import evaluation as ev
from training.jobs import DEFAULT_RUN, JobReport, Judging, TrainingJob, TrainRun, log_and_register
from training.splits import TimeSplit, choose_split
from training.truth import read_truth

log = logging.getLogger(__name__)
MODEL_NAME = DENIAL_RISK.registry_name


@dataclass(kw_only=True)
class TrainReport(JobReport):
    """`evaluation`: claim_id, payer_id, denied, p (the rows a champion is judged on)."""

    baselines: dict[str, dict[str, float]]
    by_payer: pd.DataFrame
    by_category: pd.DataFrame
    oracle: dict[str, float] = field(default_factory=dict)
    oracle_by_cause: pd.DataFrame | None = None  # synthetic data only: where the gap to the oracle is
    held_out_ece: dict[str, float] = field(default_factory=dict)  # each calibration method on held-out halves

    def logged_metrics(self) -> dict[str, Mapping[str, float]]:
        return {
            "eval": self.metrics,
            **{f"baseline.{name}": m for name, m in self.baselines.items()},
            "oracle": self.oracle,
            "calibration.held_out_ece": self.held_out_ece,
        }

    def summary(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "baselines": self.baselines, "oracle": self.oracle}


@dataclass
class Dataset:
    features: Any  # FeatureSet over all adjudicated originals, time-ordered (reason values when asked for)
    labels: pd.DataFrame  # aligned rows: claim_id, initial_denial, denial_category, role, payer_id
    builder: DenialFeatureBuilder
    split: TimeSplit
    as_of: pd.Timestamp


def build_dataset(
    data_dir: Path,
    *,
    options: RunOptions,
    builder: DenialFeatureBuilder | None = None,
    as_of: pd.Timestamp | None = None,
    reasons: bool = False,
    client: Any = None,
    progress: Progress = silent,
) -> Dataset:
    """`as_of`: train on the history as known that morning (features/contract/time_cut.py); default everything.
    `reasons`: keep the values reason phrases read (training needs only the matrix; explaining rows needs them).
    `client`: a Dask client; the matrix is built on its cluster, a partition of claims per task
    (`features.cluster.transform_on_cluster`: the same matrix), the rest in this process."""
    progress("reading and validating the tables")
    result = load_validated(data_dir, max_reject_rate=options.max_reject_rate, threads=options.feature_threads)
    tables = result.tables if as_of is None else known_at(result.tables, as_of)
    del result
    release_unused_memory()  # each stage starts from what is alive, not from the last one's high-water mark
    codes = load_code_tables()
    routine = options.routine
    progress("labels")
    labels, split = _labels_and_split(tables, codes=codes, options=options, as_of=as_of)
    release_unused_memory()
    rules = load_payer_rules(data_dir=data_dir)
    known = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    # the labels have read the remits, follow-ups and adjustments; the builder reads the claims, their lines and
    # the first remits' denial adjustments only, and the matrix the claims and lines: the rest is let go here
    tables = builder_tables(tables, labels, codes=codes, routine=routine)
    release_unused_memory()
    progress("point-in-time history")
    builder = (builder or DenialFeatureBuilder()).fit(
        tables=tables, labels=labels, rules=rules, codes=codes, routine=routine, chunk_claims=options.chunk_claims,
        threads=options.feature_threads,
    )  # fmt: skip
    tables = {name: tables[name] for name in ("claims", "claim_lines")}
    release_unused_memory()
    sent = tables["claims"]
    rows = _training_rows(sent, labels)  # the labelled claims by submission day, as positions: no copy of claims
    progress("features")
    if client is not None and reasons:
        raise ValueError("the cluster builds the matrix only: build reason values (reasons=True) in one process")
    if client is not None:
        fs = transform_on_cluster(
            builder,
            claims=sent.iloc[rows].reset_index(drop=True),
            context_claims=sent,
            context_lines=tables["claim_lines"],
            client=client,
            chunk_claims=options.chunk_claims,
            progress=progress,
        )
    else:
        fs = builder.transform(
            claims=sent,
            rows=rows,
            lines=tables["claim_lines"],
            chunk_claims=options.chunk_claims,
            threads=options.feature_threads,
            reasons=reasons,
            progress=progress,
        )
    claims = sent[["claim_id", "payer_id", "submitted_at"]].iloc[rows].reset_index(drop=True)
    lab = labels.iloc[index_in(claims["claim_id"], labels["claim_id"])].reset_index(drop=True)  # every one is there
    lab["payer_id"] = claims["payer_id"].to_numpy()
    lab["role"] = split.role(month_text(claims["submitted_at"])).to_numpy()
    return Dataset(features=fs, labels=lab, builder=builder, split=split, as_of=known)


def _training_rows(claims: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Positions in `claims` of the labelled claims, ordered by submission day, then claim id."""
    at = index_in(claims["claim_id"], labels["claim_id"])
    rows = np.flatnonzero(at >= 0)
    if len(rows) != len(labels):
        raise ValueError(f"{len(labels) - len(rows):,} labelled claims are not among the claims")
    ids = claims["claim_id"].iloc[rows].to_numpy()
    return rows[np.lexsort((ids, day_number(claims["submitted_at"].iloc[rows])))]


def _labels_and_split(
    tables: Mapping[str, pd.DataFrame], *, codes: CodeTables, options: RunOptions, as_of: pd.Timestamp | None
) -> tuple[pd.DataFrame, TimeSplit]:
    labels = compute_labels(tables, codes=codes, routine=options.routine, maturity_days=options.maturity_days,
                            as_of=as_of)  # fmt: skip
    return labels, choose_split(tables["claims"], labels)


def check_history(
    tables: Mapping[str, pd.DataFrame], *, data_dir: Path, options: RunOptions, as_of: pd.Timestamp
) -> None:
    """Raise NotEnoughHistory when the history as known on `as_of` (`tables`, already cut) is too short for the
    split `train_denial_risk` would choose; labels only, no features, so it is cheap to ask first."""
    _labels_and_split(tables, codes=load_code_tables(), options=options, as_of=as_of)


def training_slice(ds: Dataset, role: str) -> TrainingSlice:
    rows = np.flatnonzero(ds.labels["role"].to_numpy() == role)
    fs = ds.features
    # the rows are time-ordered and the roles are runs of months: a run is a view of the matrix, not a copy
    contiguous = len(rows) > 0 and rows[-1] - rows[0] + 1 == len(rows)
    part = fs.subset(slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows)
    cats = ds.labels["denial_category"].astype("string").fillna("").to_numpy()[rows]
    return TrainingSlice(features=part, denied=ds.labels["initial_denial"].to_numpy(dtype=bool)[rows], category=cats)


def oracle_metrics(data_dir: Path, claim_ids: pd.Index, y: np.ndarray) -> dict[str, float]:
    """AUC of the generator's true probabilities on the evaluation rows, when truth/ exists (synthetic data)."""
    from sklearn.metrics import roc_auc_score

    truth = read_truth(data_dir, "claims")
    if truth is None:
        return {}
    truth = truth.set_index("claim_id").reindex(claim_ids.astype(str))
    out = {}
    for col, name in (("p_denial", "oracle_clairvoyant"), ("p_denial_knowable", "oracle_knowable")):
        if col in truth and truth[col].notna().all():
            out[f"{name}_auc"] = float(roc_auc_score(y, truth[col].to_numpy()))
            if 0 < y.sum() < len(y):
                out[f"{name}_recall_at_95_precision"] = ev.recall_at_precision(y, truth[col].to_numpy(), precision=0.95)
    return out


def oracle_by_cause(data_dir: Path, *, claim_ids: pd.Index, y: np.ndarray, p: np.ndarray) -> pd.DataFrame | None:
    """Per true cause of denial (truth/, synthetic data): how well the model and the knowable oracle rank that
    cause's denials above the paid claims, and each cause's share of the overall gap (its AUC gap weighted by
    its share of the denials). Says which mechanism the model still misses; None without truth."""
    from sklearn.metrics import roc_auc_score

    truth = read_truth(data_dir, "claims")
    if truth is None or "cause" not in truth or "p_denial_knowable" not in truth:
        return None
    truth = truth.set_index("claim_id").reindex(claim_ids.astype(str))
    denied = y.astype(bool)
    if truth["p_denial_knowable"].isna().any() or denied.all() or not denied.any():
        return None
    cause = truth["cause"].astype("string").fillna("").to_numpy(dtype=object)
    oracle = truth["p_denial_knowable"].to_numpy()
    rows = []
    for c in sorted(set(cause[denied]) - {""}):
        mine = denied & (cause == c)
        judged = ~denied | mine
        model_auc = float(roc_auc_score(mine[judged], p[judged]))
        oracle_auc = float(roc_auc_score(mine[judged], oracle[judged]))
        rows.append({"cause": c, "denials": int(mine.sum()), "model_auc": model_auc, "oracle_auc": oracle_auc})
    table = pd.DataFrame(rows, columns=["cause", "denials", "model_auc", "oracle_auc"])
    table["gap"] = table["oracle_auc"] - table["model_auc"]
    table["weighted_gap"] = table["gap"] * table["denials"] / max(int(table["denials"].sum()), 1)
    return table.sort_values("weighted_gap", ascending=False, kind="stable").reset_index(drop=True)


def train_denial_risk(
    data_dir: Path, *, options: RunOptions, run: TrainRun = DEFAULT_RUN
) -> tuple[DenialRiskModel, TrainReport]:
    seconds: dict[str, float] = {}
    seed = options.seed
    t0 = time.perf_counter()
    ds = build_dataset(data_dir, options=options, as_of=run.as_of, client=run.client, progress=run.progress)
    seconds["features"] = time.perf_counter() - t0
    # the matrix is built: the history is compacted to what serving reads before the fit, not after it (an
    # unfrozen history is 0.7 GiB per million claims, beside the matrix LightGBM bins)
    ds.builder.freeze(as_of_day=int(day_number(pd.Series([ds.as_of]))[0]))
    release_unused_memory()

    t = time.perf_counter()
    learn, cal, evl = (training_slice(ds, r) for r in ("learn", "calibrate", "evaluate"))
    run.progress("fitting both heads")
    fit_client = run.client if run.fit_on_cluster else None
    if run.fit_on_cluster and fit_client is None:
        raise ValueError("fitting on a cluster needs a cluster: give --cluster or CLAIMSIGHT_DASK_SCHEDULER")
    model = DenialRiskModel(seed=seed).fit(builder=ds.builder, learn=learn, calibrate=cal, client=fit_client)
    seconds["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    run.progress("evaluating on the latest months and the baselines")
    y = evl.denied.astype(float)
    p = model.predict_proba(evl.features.X)
    metrics = ev.score_metrics(y, p)
    payer_proc = evl.features.X[:, FEATURE_NAMES.index("payer_proc_rate")]
    baselines = {
        "payer_procedure_rate": ev.score_metrics(y, np.nan_to_num(payer_proc, nan=float(np.nanmean(payer_proc)))),
        "logistic_regression": ev.score_metrics(
            y, ev.logistic_baseline(learn.features.X, learn.denied.astype(float), evl.features.X, seed=seed)
        ),
    }
    cat_probs = model.predict_categories(evl.features.X)
    by_category = ev.category_metrics(evl.category, evl.denied, p, cat_probs)
    metrics.update(ev.category_accuracy(evl.category, evl.denied, cat_probs))
    eval_labels = ds.labels[ds.labels["role"] == "evaluate"]
    by_payer = ev.metrics_by(eval_labels["payer_id"], y, p)
    oracle = oracle_metrics(data_dir, evl.features.claim_ids, y)
    by_cause = oracle_by_cause(data_dir, claim_ids=evl.features.claim_ids, y=y, p=p)
    for name, auc in list(oracle.items()):
        if name.endswith("_auc"):
            oracle[name.replace("_auc", "_gap")] = auc - metrics["roc_auc"]
    seconds["evaluate"] = time.perf_counter() - t

    model.metadata_ = {
        "trained_as_of": ds.as_of.strftime("%Y-%m-%d"),
        "split": {
            "learn": list(ds.split.learn),
            "calibrate": list(ds.split.calibrate),
            "evaluate": list(ds.split.evaluate),
        },
        "metrics": metrics,
        "pr_curve": ev.pr_curve_summary(y, p, seed=seed),
        "default_threshold": float(np.quantile(p, 0.9)),
        "calibration": model.calibrator_.method,
        "profile": _profile(model, learn.features.X),
    }
    report = TrainReport(
        metrics=metrics,
        baselines=baselines,
        by_payer=by_payer,
        by_category=by_category,
        split=ds.split,
        seconds=seconds,
        oracle=oracle,
        oracle_by_cause=by_cause,
        evaluation=pd.DataFrame(
            {
                "claim_id": np.asarray(evl.features.claim_ids, dtype=str),
                "payer_id": eval_labels["payer_id"].to_numpy(),
                "denied": evl.denied,
                "p": p,
            }
        ),
    )
    if run.register:
        t = time.perf_counter()
        _log_and_register(
            model,
            report,
            data_dir=data_dir,
            options=options,
            evl=evl,
            p=p,
            baseline_scores={"payer x procedure rate": payer_proc},
            run=run,
        )
        seconds["mlflow"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return model, report


def _profile(model: DenialRiskModel, X: np.ndarray, *, top: int = 15) -> dict[str, Any]:
    """Reference bins of the most important features on the learning rows, for the monitor's PSI."""
    from training.monitoring import feature_profile

    gain = model.binary_.feature_importance(importance_type="gain")
    names = [FEATURE_NAMES[i] for i in np.argsort(-gain, kind="stable")[:top]]
    categorical = [f.name for f in FEATURES if f.categorical]
    return feature_profile(X, FEATURE_NAMES, features=names, categorical=categorical)


def _log_and_register(
    model: DenialRiskModel,
    report: TrainReport,
    *,
    data_dir: Path,
    options: RunOptions,
    evl: TrainingSlice,
    p: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
    run: TrainRun,
) -> None:
    y = evl.denied.astype(float)

    def artifacts(tmpdir: Path) -> None:
        report.by_payer.to_csv(tmpdir / "metrics_by_payer.csv", index=False)
        report.by_category.to_csv(tmpdir / "metrics_by_category.csv", index=False)
        if report.oracle_by_cause is not None:
            report.oracle_by_cause.to_csv(tmpdir / "oracle_by_cause.csv", index=False)
        curves = {"ClaimSight": (y, p)} | {
            k: (y, np.nan_to_num(v, nan=float(np.nanmean(v)))) for k, v in baseline_scores.items()
        }
        ev.plot_roc(curves, str(tmpdir / "roc.png"))
        ev.plot_calibration(y, p, str(tmpdir / "calibration.png"))
        sample = np.random.default_rng(model.seed).choice(len(y), size=min(2000, len(y)), replace=False)
        ev.plot_shap_summary(
            model.contributions(evl.features.X[sample]), evl.features.X[sample], str(tmpdir / "shap_summary.png")
        )

    report.held_out_ece = dict(model.calibrator_.scores)
    log_and_register(model, report, kind=DENIAL_RISK, data_dir=data_dir, options=options, artifacts=artifacts, run=run)


def denial_scores(
    path: Path,
    evaluation: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    *,
    history: DenialFeatureBuilder | None = None,
) -> np.ndarray:
    """A saved model's scores on the evaluation claims; over `history` (an unfrozen builder fitted on the
    history as known) instead of its own snapshot when given."""
    model = DenialRiskModel.load(path)
    if history is not None:
        model.builder_ = model.builder_.with_history_of(history)
    claims = tables["claims"].set_index("claim_id", drop=False).loc[evaluation["claim_id"]].reset_index(drop=True)
    fs = model.features(claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"],
                        context_lines=tables["claim_lines"])  # fmt: skip
    return np.asarray(model.predict_proba(fs.X))


def judging(
    report: TrainReport,
    *,
    data_dir: Path,
    tables: Mapping[str, pd.DataFrame],
    options: RunOptions,
    as_of: pd.Timestamp,
) -> Judging:
    """Every evaluation claim; point-in-time history from the claims, remits and rules as known on `as_of`."""
    assert report.evaluation is not None
    evaluation = report.evaluation
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data_dir)
    routine = options.routine
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=options.maturity_days, as_of=as_of)

    def score(path: Path, point_in_time: bool) -> np.ndarray:
        history = (
            DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=codes, routine=routine)
            if point_in_time
            else None
        )
        return denial_scores(path, evaluation, tables, history=history)

    return Judging(y=evaluation["denied"].to_numpy(dtype=float), p_challenger=evaluation["p"].to_numpy(), score=score)


JOB = TrainingJob(kind=DENIAL_RISK, train=train_denial_risk, judging=judging, check_history=check_history)
