"""DenialRiskModel: will this claim be denied, for what kind of reason, and what to fix first.

Two LightGBM heads share one feature matrix: a binary head (P(denial)), calibrated on a later time slice,
and a multiclass head trained on denied claims only (P(category | denial)). The fitted feature builder
(category levels, point-in-time history, payer rules) travels inside the model, so scoring never refits.
The model shape follows MEASURED.md: 15 leaves was the most accurate LightGBM there and explains ~4x
faster than 63 leaves, which matters because reasons are computed for every claim flagged for review.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.contract.codes import CATEGORIES
from features.denial_features import CATEGORICAL, FEATURE_NAMES, DenialFeatureBuilder, FeatureSet
from models.boosting import deterministic_params, train_time_ordered
from models.calibration import Calibrator, fit_calibrator
from models.reasons import group_contributions, reasons_frame, reasons_from_values
from models.state_files import load_state, save_state

FORMAT_VERSION = 1
_CATEGORICAL_INDEX = [FEATURE_NAMES.index(c) for c in CATEGORICAL]
_ONE_THREAD_ROWS = 16


@dataclass
class TrainingSlice:
    """Features and outcomes of one time slice, rows in time order."""

    features: FeatureSet
    denied: np.ndarray  # bool
    category: np.ndarray  # category name per row ("" when not denied)


class DenialRiskModel:
    def __init__(
        self,
        *,
        num_leaves: int = 15,
        learning_rate: float = 0.1,
        n_estimators: int = 1000,
        min_child_samples: int = 100,
        feature_fraction: float = 0.9,
        lambda_l2: float = 1.0,
        cat_smooth: float = 50.0,
        cat_l2: float = 10.0,
        max_cat_threshold: int = 64,
        min_data_per_group: int = 200,
        early_stopping_rounds: int = 40,
        valid_fraction: float = 0.15,
        calibration: str = "auto",
        seed: int = 7,
        n_jobs: int = 2,
    ) -> None:
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.lambda_l2 = lambda_l2
        self.cat_smooth = cat_smooth
        self.cat_l2 = cat_l2
        self.max_cat_threshold = max_cat_threshold
        self.min_data_per_group = min_data_per_group
        self.early_stopping_rounds = early_stopping_rounds
        self.valid_fraction = valid_fraction
        self.calibration = calibration
        self.seed = seed
        self.n_jobs = n_jobs

    # ---- training ----------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def _lgb_params(self, **extra: Any) -> dict[str, Any]:
        return deterministic_params(
            seed=self.seed, n_jobs=self.n_jobs, num_leaves=self.num_leaves, learning_rate=self.learning_rate,
            min_data_in_leaf=self.min_child_samples, feature_fraction=self.feature_fraction,
            lambda_l2=self.lambda_l2, cat_smooth=self.cat_smooth, cat_l2=self.cat_l2,
            max_cat_threshold=self.max_cat_threshold, min_data_per_group=self.min_data_per_group, **extra,
        )  # fmt: skip

    def _train(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
        return train_time_ordered(
            X, y, params, feature_names=FEATURE_NAMES, categorical=_CATEGORICAL_INDEX,
            n_estimators=self.n_estimators, early_stopping_rounds=self.early_stopping_rounds,
            valid_fraction=self.valid_fraction,
        )  # fmt: skip

    def fit(self, *, builder: DenialFeatureBuilder, learn: TrainingSlice, calibrate: TrainingSlice) -> DenialRiskModel:
        """Learn both heads on `learn`, calibrate the binary head on the later `calibrate` slice."""
        self.builder_ = builder
        self.binary_ = self._train(
            learn.features.X, learn.denied.astype(float), self._lgb_params(objective="binary", metric="binary_logloss")
        )
        denied = learn.denied.astype(bool)
        cat_index = {c: i for i, c in enumerate(CATEGORIES)}
        y_cat = np.array([cat_index[c] for c in learn.category[denied]])
        self.category_ = self._train(
            learn.features.X[denied],
            y_cat,
            self._lgb_params(objective="multiclass", num_class=len(CATEGORIES), metric="multi_logloss"),
        )
        raw = np.asarray(self.binary_.predict(calibrate.features.X))
        self.calibrator_ = fit_calibrator(raw, calibrate.denied.astype(float), method=self.calibration)
        self.metadata_: dict[str, Any] = {}
        return self

    # ---- scoring -----------------------------------------------------------------------------------
    def features(
        self,
        *,
        claims: pd.DataFrame,
        lines: pd.DataFrame,
        context_claims: pd.DataFrame | None = None,
        context_lines: pd.DataFrame | None = None,
    ) -> FeatureSet:
        return self.builder_.transform(
            claims=claims, lines=lines, context_claims=context_claims, context_lines=context_lines
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(denial) per row."""
        return np.clip(self.calibrator_(np.asarray(self.binary_.predict(X, **_threads(X)))), 0.0, 1.0)

    def predict_categories(self, X: np.ndarray) -> np.ndarray:
        """[n, len(CATEGORIES)] P(category | denial)."""
        return np.asarray(self.category_.predict(X, **_threads(X)))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP per feature (log-odds of the uncalibrated binary head) + bias column."""
        return np.asarray(self.binary_.predict(X, pred_contrib=True, **_threads(X)))

    def explain(self, fs: FeatureSet, *, rows: np.ndarray | None = None, top: int = 3) -> pd.DataFrame:
        """Top reasons and actions for the selected rows (default all): what a person will read."""
        idx = np.arange(len(fs.claim_ids)) if rows is None else np.asarray(rows)
        if len(idx) == 0:
            return reasons_frame([], index=fs.claim_ids[:0], top=top)
        grouped = group_contributions(self.contributions(fs.X[idx]))
        reasons = reasons_from_values(
            grouped, fs.records(idx), preventive_action=self.builder_.category_actions_, top=top
        )
        return reasons_frame(reasons, index=fs.claim_ids[idx], top=top)

    def score(
        self,
        fs: FeatureSet,
        *,
        review: np.ndarray | None = None,
        threshold: float | None = None,
        explain: str = "flagged",
    ) -> pd.DataFrame:
        """p_denial, top category, release/review decision, and reasons for the rows a person will read.

        The decision is `review` where the caller's mask says so, else where p_denial >= threshold.
        """
        p = self.predict_proba(fs.X)
        if review is None:
            review = p >= (0.5 if threshold is None else threshold)
        cats = self.predict_categories(fs.X)
        top = cats.argmax(axis=1)
        out = pd.DataFrame(
            {
                "p_denial": p,
                "top_category": np.array(CATEGORIES)[top],
                "p_category": cats[np.arange(len(top)), top],
                "decision": np.where(review, "review", "release"),
            },
            index=fs.claim_ids,
        )
        if explain != "none":
            rows = np.flatnonzero(review) if explain == "flagged" else None
            out = out.join(self.explain(fs, rows=rows))
        return out

    # ---- persistence -------------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        (path / "binary.txt").write_text(self.binary_.model_to_string())
        (path / "category.txt").write_text(self.category_.model_to_string())
        save_state(self.builder_.to_state(), path, name="features")
        meta = {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "feature_names": list(FEATURE_NAMES),
            "categories": list(CATEGORIES),
            "calibrator": self.calibrator_.to_state(),
            "metadata": self.metadata_,
        }
        (path / "model.json").write_text(json.dumps(meta, sort_keys=True, indent=1, default=_jsonable) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> DenialRiskModel:
        meta = json.loads((path / "model.json").read_text())
        if meta["format_version"] != FORMAT_VERSION or meta["feature_names"] != list(FEATURE_NAMES):
            raise ValueError(f"{path}: model format or feature list does not match this version of ClaimSight")
        self = cls(**meta["params"])
        self.binary_ = lgb.Booster(model_str=(path / "binary.txt").read_text())
        self.category_ = lgb.Booster(model_str=(path / "category.txt").read_text())
        self.builder_ = DenialFeatureBuilder.from_state(load_state(path, name="features"))
        self.calibrator_ = Calibrator.from_state(meta["calibrator"])
        self.metadata_ = meta["metadata"]
        return self

    def threshold_for(self, *, precision: float | None = None, review_share: float | None = None) -> float:
        """Review threshold from the evaluation PR curve (target precision) or a share of claims to review."""
        curve = self.metadata_.get("pr_curve")
        if precision is not None and curve:
            thr = np.asarray(curve["threshold"])
            ok = np.asarray(curve["precision"]) >= precision
            return float(thr[ok].min()) if ok.any() else 1.0
        if review_share is not None and curve:
            return float(np.quantile(np.asarray(curve["score_sample"]), 1 - review_share))
        return float(self.metadata_.get("default_threshold", 0.5))


def _threads(X: np.ndarray) -> dict[str, Any]:
    """One thread for a handful of rows: waking LightGBM's OpenMP team costs more than the trees (and
    on a busy 2-core box an explanation went from 0.3 ms to 2.5 ms). Rows are scored independently, so
    the values are the same with any thread count."""
    return {"num_threads": 1} if len(X) <= _ONE_THREAD_ROWS else {}


def _jsonable(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
