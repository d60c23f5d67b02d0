"""DenialRiskModel: will this claim be denied, for what kind of reason, and what to fix first.

Two LightGBM heads share one feature matrix: a binary head (P(denial)), calibrated on a later time slice,
and a multiclass head trained on denied claims only (P(category | denial)). The fitted feature builder
(category levels, point-in-time history, payer rules) travels inside the model, so scoring never refits.
The model shape follows MEASURED.md: small trees (15 leaves) were as accurate as larger ones and much
faster to explain, which matters because reasons are computed for every claim flagged for review.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.columns import Table
from features.contract.codes import CATEGORIES
from features.denial_features import CATEGORICAL, FEATURE_NAMES, DenialFeatureBuilder, FeatureSet
from features.progress import Progress, silent
from models.base import BoostedModel
from models.boosting import deterministic_params
from models.calibration import fit_calibrator
from models.reasons import (
    DENIAL_REASONS,
    Reason,
    group_contributions,
    reason_columns,
    reasons_frame,
    reasons_from_values,
)

_EXPLAIN_ROWS = 20_000


@dataclass
class TrainingSlice:
    """Features and outcomes of one time slice, rows in time order."""

    features: FeatureSet
    denied: np.ndarray  # bool
    category: np.ndarray  # category name per row ("" when not denied)


@dataclass(kw_only=True, eq=False)
class DenialRiskModel(BoostedModel):
    feature_names = FEATURE_NAMES
    categorical = CATEGORICAL
    heads = ("binary", "category")
    builder_class = DenialFeatureBuilder

    feature_fraction: float = 0.9
    lambda_l2: float = 1.0
    cat_smooth: float = 50.0
    cat_l2: float = 10.0
    max_cat_threshold: int = 64
    min_data_per_group: int = 200
    # A leaf holds at least this share of the learning rows, between 20 (LightGBM's default) and
    # min_child_samples: on a small history a written rule that fires on a few dozen claims (a deleted code)
    # must still be able to get a leaf of its own, while a large one keeps the steadier 100.
    min_child_share: float = 0.001
    # A head that grows its trees on more rows than this grows each tree on a random bag of about this many
    # (LightGBM's bagging, seeded by `seed`). On ten million claims the binary head grew 929 trees over every
    # learning row, 16 minutes of histograms; bags of 2M rows took 7 minutes but stopped at 505 trees, 0.0025 AUC
    # lower (README, "Ten million claims"). A head on fewer rows is fitted exactly as before.
    bag_rows: int = 4_000_000

    # ---- training ----------------------------------------------------------------------------------
    def leaf_minimum(self, n_rows: int) -> int:
        """min_data_in_leaf for `n_rows` learning rows."""
        return int(min(self.min_child_samples, max(20, round(self.min_child_share * n_rows))))

    def bagging(self, n_rows: int) -> dict[str, Any]:
        """LightGBM's bagging parameters for a head fitted on `n_rows` rows (early stopping's latest rows among
        them): none when the rows its trees grow on are at most `bag_rows`."""
        grown = int(n_rows * (1 - self.valid_fraction))  # the rows `train_time_ordered` grows trees on
        if grown <= self.bag_rows:
            return {}
        return {"bagging_fraction": self.bag_rows / grown, "bagging_freq": 1}

    def _lgb_params(self, *, n_rows: int, **extra: Any) -> dict[str, Any]:
        return deterministic_params(
            seed=self.seed, n_jobs=self.n_jobs, num_leaves=self.num_leaves, learning_rate=self.learning_rate,
            min_data_in_leaf=self.leaf_minimum(n_rows), feature_fraction=self.feature_fraction,
            lambda_l2=self.lambda_l2, cat_smooth=self.cat_smooth, cat_l2=self.cat_l2,
            max_cat_threshold=self.max_cat_threshold, min_data_per_group=self.min_data_per_group, **extra,
        )  # fmt: skip

    def fit(
        self, *, builder: DenialFeatureBuilder, learn: TrainingSlice, calibrate: TrainingSlice, client: Any = None
    ) -> DenialRiskModel:
        """Learn both heads on `learn`, calibrate the binary head on the later `calibrate` slice. `client`: fit both
        heads on its Dask cluster (`models.boosting.train_time_ordered_on_cluster`)."""
        self.builder_ = builder
        n_rows = len(learn.denied)  # both heads: the category head's leaves are sized like the binary head's
        self.binary_ = self._train(
            learn.features.X,
            learn.denied.astype(float),
            self._lgb_params(n_rows=n_rows, objective="binary", metric="binary_logloss", **self.bagging(n_rows)),
            client=client,
        )
        denied = learn.denied.astype(bool)
        cat_index = {c: i for i, c in enumerate(CATEGORIES)}
        y_cat = np.array([cat_index[c] for c in learn.category[denied]])
        self.category_ = self._train(
            learn.features.X[denied],
            y_cat,
            self._lgb_params(
                n_rows=n_rows,
                objective="multiclass",
                num_class=len(CATEGORIES),
                metric="multi_logloss",
                **self.bagging(len(y_cat)),
            ),
            client=client,
        )
        raw = self.predict_head("binary", calibrate.features.X)  # the calibrator reads what serving will give it
        self.calibrator_ = fit_calibrator(raw, calibrate.denied.astype(float), method=self.calibration)
        self.metadata_: dict[str, Any] = {}
        return self

    # ---- scoring -----------------------------------------------------------------------------------
    def features(
        self,
        *,
        claims: Table,
        lines: Table,
        context_claims: pd.DataFrame | None = None,
        context_lines: pd.DataFrame | None = None,
        chunk_claims: int | None = None,
        threads: int = 1,
        each_part: Callable[[int, np.ndarray], None] | None = None,
        reasons: bool = True,
        progress: Progress = silent,
    ) -> FeatureSet:
        return self.builder_.transform(
            claims=claims,
            lines=lines,
            context_claims=context_claims,
            context_lines=context_lines,
            chunk_claims=chunk_claims,
            threads=threads,
            each_part=each_part,
            reasons=reasons,
            progress=progress,
        )

    def features_and_heads(
        self,
        *,
        claims: Table,
        lines: Table,
        context_claims: pd.DataFrame | None = None,
        context_lines: pd.DataFrame | None = None,
        chunk_claims: int | None = None,
        threads: int = 1,
        progress: Progress = silent,
    ) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
        """The matrix (without reason values), P(denial) and P(category | denial) of every claim: what `features`,
        `predict_proba` and `predict_categories` give, to the bit.

        Each chunk's heads run as soon as its matrix is filled, while the feature threads build the next chunks:
        the heads' compiled walk holds no GIL, so it takes the CPU time the feature threads leave while they wait
        for it. A million claims took 28.6 s this way, against 20.0 s of features and 10.6 s of heads one after the
        other (README, "Scoring speed (sixth session)")."""
        n = len(claims)
        p = np.empty(n)
        categories = np.empty((n, len(CATEGORIES)))

        def heads(start: int, X: np.ndarray) -> None:
            p[start : start + len(X)] = self.predict_proba(X)
            categories[start : start + len(X)] = self.predict_categories(X)

        fs = self.features(
            claims=claims,
            lines=lines,
            context_claims=context_claims,
            context_lines=context_lines,
            chunk_claims=chunk_claims,
            threads=threads,
            each_part=heads,
            reasons=False,
            progress=progress,
        )
        return fs, p, categories

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(denial) per row."""
        return np.clip(self.calibrator_(self.predict_head("binary", X)), 0.0, 1.0)

    def predict_categories(self, X: np.ndarray) -> np.ndarray:
        """[n, len(CATEGORIES)] P(category | denial)."""
        return self.predict_head("category", X)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP per feature (log-odds of the uncalibrated binary head) + bias column: LightGBM's pred_contrib."""
        return self.head_contributions("binary", X)

    def explain(
        self, fs: FeatureSet, *, rows: np.ndarray | None = None, top: int = 3, progress: Progress = silent
    ) -> pd.DataFrame:
        """Top reasons and actions for the selected rows (default all): what a person will read."""
        idx = np.arange(len(fs.claim_ids)) if rows is None else np.asarray(rows)
        return reasons_frame(self._reasons(fs, idx, top=top, progress=progress), index=fs.claim_ids[idx], top=top)

    def _reasons(self, fs: FeatureSet, idx: np.ndarray, *, top: int, progress: Progress = silent) -> list[list[Reason]]:
        """Reasons for rows `idx`, `_EXPLAIN_ROWS` at a time: the TreeSHAP matrix of a whole batch's flagged claims
        would be the largest thing scoring holds.

        The next block's TreeSHAP (compiled, on every core, without the GIL) runs while this thread phrases the
        current block's reasons (Python, one core): the phrases no longer wait for the cores, nor the cores for
        them."""
        blocks = [idx[start : start + _EXPLAIN_ROWS] for start in range(0, len(idx), _EXPLAIN_ROWS)]
        if len(blocks) <= 1:  # a claim served, or a small batch: no thread to start
            return self._phrased(fs, idx, self.contributions(fs.X[idx]), top=top) if len(idx) else []
        out: list[list[Reason]] = []
        progress("reasons", 0, len(idx))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="treeshap") as shap:
            following = shap.submit(self.contributions, fs.X[blocks[0]])
            for k, rows in enumerate(blocks):
                contrib = following.result()
                if k + 1 < len(blocks):
                    following = shap.submit(self.contributions, fs.X[blocks[k + 1]])
                out += self._phrased(fs, rows, contrib, top=top)
                progress("reasons", len(out), len(idx))
        return out

    def _phrased(self, fs: FeatureSet, rows: np.ndarray, contrib: np.ndarray, *, top: int) -> list[list[Reason]]:
        """The reasons of rows `rows` of `fs`, from their TreeSHAP values."""
        grouped = group_contributions(contrib)
        credit_learned_modifier(grouped, contrib, fs=fs, rows=rows)
        values = fs.row_values(rows)
        return reasons_from_values(grouped, values, preventive_action=self.builder_.category_actions_, top=top)

    def score(
        self,
        fs: FeatureSet,
        *,
        review: np.ndarray | None = None,
        threshold: float | None = None,
        explain: str = "flagged",
        p: np.ndarray | None = None,
        categories: np.ndarray | None = None,
        explained: FeatureSet | None = None,
        progress: Progress = silent,
    ) -> pd.DataFrame:
        """p_denial, top category, release/review decision, and reasons for the rows a person will read.

        The decision is `review` where the caller's mask says so, else where p_denial >= threshold. The
        frame is built once from arrays (no join of a reasons frame): for one claim, each pandas operation's
        fixed cost is a visible share of the request.

        `p`, `categories`: the heads' answers when the caller has them already. `explained`: the features, with
        reason values, of exactly the rows to explain, in order, when `fs` was built without them (a batch keeps
        those values for the claims a person will read only).
        """
        if p is None:
            p = self.predict_proba(fs.X)
        if review is None:
            review = p >= (0.5 if threshold is None else threshold)
        cats = self.predict_categories(fs.X) if categories is None else categories
        top = cats.argmax(axis=1)
        columns: dict[str, Any] = {
            "p_denial": p,
            "top_category": np.array(CATEGORIES)[top],
            "p_category": cats[np.arange(len(top)), top],
            "decision": np.where(review, "review", "release"),
        }
        if explain != "none":
            idx = np.flatnonzero(review) if explain == "flagged" else np.arange(len(p))
            if explained is None:
                reasons = self._reasons(fs, idx, top=3, progress=progress)
            elif not explained.claim_ids.equals(fs.claim_ids[idx]):
                raise ValueError("`explained` must hold exactly the rows to explain, in order")
            else:
                reasons = self._reasons(explained, np.arange(len(idx)), top=3, progress=progress)
            columns.update(reason_columns(reasons, rows=idx, n=len(p), top=3))
        return pd.DataFrame(columns, index=fs.claim_ids)

    def _meta_extra(self) -> dict[str, Any]:
        return {"categories": list(CATEGORIES)}

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


_PLAN_PROC_COLUMNS = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith("plan_proc_")]


def credit_learned_modifier(grouped: np.ndarray, contrib: np.ndarray, *, fs: FeatureSet, rows: np.ndarray) -> None:
    """Move `plan_proc`'s push to the `modifier_policy` reason on the claims whose `plan_proc` line is one the
    learned modifier rule raised (features/denial_features.py::_carry_learned_modifier): there the rate is the
    rule's evidence, and the biller should read "sent without the modifier PAYER now requires" with that evidence,
    not the payer's overall rate for the code. `grouped` and `contrib` are the rows `rows` of `fs`."""
    flagged = fs.lines.get("modifier_learned")
    if flagged is None or not len(flagged):
        return
    line = fs.pointers["plan_proc"][rows]
    hit = (line >= 0) & flagged[np.maximum(line, 0)]
    if not hit.any():
        return
    names = DENIAL_REASONS.group_names
    moved = contrib[np.ix_(hit, _PLAN_PROC_COLUMNS)].sum(axis=1)
    grouped[hit, names.index("payer_procedure")] -= moved
    grouped[hit, names.index("modifier_policy")] += moved
