"""`claimsight train`: history in, a registered and evaluated denial-risk model out.

Steps: validate -> labels -> fit the feature builder on every outcome known -> point-in-time features
for every adjudicated original claim -> split by month (learn, calibrate, latest mature months to
evaluate) -> fit -> evaluate against the baselines (and the synthetic oracle when truth/ exists) ->
freeze the history snapshot -> save, log and register in MLflow.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.claim_fields import day_number
from features.contract.codes import CATEGORIES, load_code_tables
from features.contract.labels import compute_labels, data_as_of
from features.contract.payer_rules import load_payer_rules
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from features.denial_features import FEATURE_NAMES, FEATURES, DenialFeatureBuilder
from models.denial_risk import DenialRiskModel, TrainingSlice
from models.mlflow_model import DenialRiskPyfunc, directory_sha256
from training import evaluation as ev
from training.splits import TimeSplit, choose_split
from training.truth import read_truth

log = logging.getLogger(__name__)
MODEL_NAME = "claimsight-denial-risk"
EXPERIMENT = "claimsight-denial-risk"


@dataclass
class TrainReport:
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    by_payer: pd.DataFrame
    by_category: pd.DataFrame
    split: TimeSplit
    seconds: dict[str, float]
    oracle: dict[str, float] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    evaluation: pd.DataFrame | None = None  # claim_id, payer_id, denied, p: the rows a champion is judged on


@dataclass
class Dataset:
    features: Any  # FeatureSet over all adjudicated originals, time-ordered
    labels: pd.DataFrame  # aligned rows: claim_id, initial_denial, denial_category, role, payer_id
    builder: DenialFeatureBuilder
    split: TimeSplit
    as_of: pd.Timestamp


def build_dataset(
    data_dir: Path,
    *,
    max_reject_rate: float,
    maturity_days: int,
    routine: frozenset[tuple[str, str]] | None = None,
    builder: DenialFeatureBuilder | None = None,
    as_of: pd.Timestamp | None = None,
) -> Dataset:
    """`as_of`: train on the history as known that morning (features/contract/time_cut.py); default everything."""
    result = load_validated(data_dir, max_reject_rate=max_reject_rate)
    tables = result.tables if as_of is None else known_at(result.tables, as_of)
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity_days, as_of=as_of)
    split = choose_split(tables["claims"], labels)
    rules = load_payer_rules(data_dir=data_dir)
    builder = (builder or DenialFeatureBuilder()).fit(
        tables=tables, labels=labels, rules=rules, codes=codes, routine=routine
    )
    claims = tables["claims"].set_index("claim_id", drop=False).loc[labels["claim_id"]]
    order = np.lexsort((claims["claim_id"].to_numpy(), day_number(claims["submitted_at"])))
    claims = claims.iloc[order].reset_index(drop=True)
    fs = builder.transform(
        claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"], context_lines=tables["claim_lines"]
    )
    lab = labels.set_index("claim_id").loc[claims["claim_id"]].reset_index()
    lab["payer_id"] = claims["payer_id"].to_numpy()
    lab["role"] = split.role(claims["submitted_at"].dt.strftime("%Y-%m")).to_numpy()
    known = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    return Dataset(features=fs, labels=lab, builder=builder, split=split, as_of=known)


def _slice(ds: Dataset, role: str) -> TrainingSlice:
    rows = np.flatnonzero(ds.labels["role"].to_numpy() == role)
    fs = ds.features
    part = fs.subset(rows)
    cats = ds.labels["denial_category"].astype("string").fillna("").to_numpy()[rows]
    return TrainingSlice(features=part, denied=ds.labels["initial_denial"].to_numpy(dtype=bool)[rows], category=cats)


def _oracle(data_dir: Path, claim_ids: pd.Index, y: np.ndarray) -> dict[str, float]:
    """AUC of the generator's true probabilities on the evaluation rows, when truth/ exists (synthetic data)."""
    from sklearn.metrics import roc_auc_score

    truth = read_truth(data_dir, "claims")
    if truth is None:
        return {}
    truth = truth.set_index("claim_id").reindex(claim_ids.astype(str))
    out = {}
    for col, name in (("p_denial", "oracle_clairvoyant_auc"), ("p_denial_knowable", "oracle_knowable_auc")):
        if col in truth and truth[col].notna().all():
            out[name] = float(roc_auc_score(y, truth[col].to_numpy()))
    return out


def train_denial_risk(
    data_dir: Path,
    *,
    home: Path,
    tracking_uri: str | None,
    seed: int = 7,
    max_reject_rate: float = 0.05,
    maturity_days: int = 180,
    routine: frozenset[tuple[str, str]] | None = None,
    register: bool = True,
    model: DenialRiskModel | None = None,
    as_of: pd.Timestamp | None = None,
    promote_first: bool = True,
) -> tuple[DenialRiskModel, TrainReport]:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = build_dataset(
        data_dir, max_reject_rate=max_reject_rate, maturity_days=maturity_days, routine=routine, as_of=as_of
    )
    seconds["features"] = time.perf_counter() - t0

    t = time.perf_counter()
    learn, cal, evl = (_slice(ds, r) for r in ("learn", "calibrate", "evaluate"))
    model = (model or DenialRiskModel(seed=seed)).fit(builder=ds.builder, learn=learn, calibrate=cal)
    seconds["fit"] = time.perf_counter() - t

    t = time.perf_counter()
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
    denied = evl.denied
    if denied.any():
        metrics["category_head_accuracy"] = float(
            (np.array(CATEGORIES)[cat_probs[denied].argmax(axis=1)] == evl.category[denied]).mean()
        )
    eval_labels = ds.labels[ds.labels["role"] == "evaluate"]
    by_payer = ev.metrics_by(eval_labels["payer_id"], y, p)
    oracle = _oracle(data_dir, evl.features.claim_ids, y)
    for name, auc in list(oracle.items()):
        oracle[name.replace("_auc", "_gap")] = auc - metrics["roc_auc"]
    seconds["evaluate"] = time.perf_counter() - t

    model.builder_.freeze(as_of_day=int(day_number(pd.Series([ds.as_of]))[0]))
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
        evaluation=pd.DataFrame(
            {
                "claim_id": np.asarray(evl.features.claim_ids, dtype=str),
                "payer_id": eval_labels["payer_id"].to_numpy(),
                "denied": evl.denied,
                "p": p,
            }
        ),
    )
    if register:
        t = time.perf_counter()
        _log_and_register(
            model,
            report,
            data_dir=data_dir,
            home=home,
            tracking_uri=tracking_uri,
            evl=evl,
            p=p,
            baseline_scores={"payer x procedure rate": payer_proc},
            promote_first=promote_first,
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
    home: Path,
    tracking_uri: str | None,
    evl: TrainingSlice,
    p: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
    promote_first: bool = True,
) -> None:
    import mlflow

    from training.tracking import code_version, configure, data_fingerprint, register

    configure(home=home, tracking_uri=tracking_uri, experiment=EXPERIMENT)
    y = evl.denied.astype(float)
    with mlflow.start_run(run_name="denial-risk") as run, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        mlflow.log_params({f"model.{k}": v for k, v in model.get_params().items()})
        mlflow.log_params(
            {
                "split.learn": f"{report.split.learn[0]}..{report.split.learn[-1]}",
                "split.calibrate": ",".join(report.split.calibrate),
                "split.evaluate": ",".join(report.split.evaluate),
                "calibration": model.calibrator_.method,
                "n_features": len(FEATURE_NAMES),
            }
        )
        mlflow.log_metrics({f"eval.{k}": v for k, v in report.metrics.items()})
        for name, m in report.baselines.items():
            mlflow.log_metrics({f"baseline.{name}.{k}": v for k, v in m.items()})
        mlflow.log_metrics({f"oracle.{k}": v for k, v in report.oracle.items()})
        mlflow.log_metrics({f"calibration.held_out_ece.{k}": v for k, v in model.calibrator_.scores.items()})
        fingerprint = data_fingerprint(data_dir)
        mlflow.set_tags({"data_fingerprint": fingerprint, **{f"code.{k}": v for k, v in code_version().items()}})
        report.by_payer.to_csv(tmpdir / "metrics_by_payer.csv", index=False)
        report.by_category.to_csv(tmpdir / "metrics_by_category.csv", index=False)
        (tmpdir / "report.json").write_text(
            json.dumps(
                {"metrics": report.metrics, "baselines": report.baselines, "oracle": report.oracle},
                indent=1,
                sort_keys=True,
            )
        )
        curves = {"ClaimSight": (y, p)} | {
            k: (y, np.nan_to_num(v, nan=float(np.nanmean(v)))) for k, v in baseline_scores.items()
        }
        ev.plot_roc(curves, str(tmpdir / "roc.png"))
        ev.plot_calibration(y, p, str(tmpdir / "calibration.png"))
        sample = np.random.default_rng(model.seed).choice(len(y), size=min(2000, len(y)), replace=False)
        ev.plot_shap_summary(
            model.contributions(evl.features.X[sample]), evl.features.X[sample], str(tmpdir / "shap_summary.png")
        )
        mlflow.log_artifacts(str(tmpdir), artifact_path="evaluation")
        model_dir = model.save(tmpdir / "model")
        sha = directory_sha256(model_dir)
        report.registry = register(
            model_dir=model_dir,
            name=MODEL_NAME,
            python_model=DenialRiskPyfunc(),
            sha256=sha,
            tags={
                "data_fingerprint": fingerprint,
                "trained_as_of": model.metadata_["trained_as_of"],
                "seed": str(model.seed),
            },  # fmt: skip
            promote_first=promote_first,
        )
        report.run_id = run.info.run_id
