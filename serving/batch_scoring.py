"""Batch scoring of claims before release: the same feature function as training, no refitting.

Explanations are computed for the claims a person will read (those flagged for review), not for
every row: TreeSHAP costs far more than a prediction (MEASURED.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.contract.frames import member
from features.denial_context import FeatureSet
from features.progress import Progress, silent
from models.denial_risk import DenialRiskModel

# what scoring claims reads: the claims, their lines, and the remits that say which are still pending
SCORING_TABLES = ("claims", "claim_lines", "remits")

SCORE_COLUMNS = (
    "claim_id",
    "p_denial",
    "top_category",
    "p_category",
    "decision",
    "reason_1",
    "action_1",
    "reason_2",
    "action_2",
    "reason_3",
    "action_3",
)


def pending_claims(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Claims the payer has not answered yet (no remit), voids excluded."""
    claims = tables["claims"]
    answered = pd.Index(tables["remits"]["claim_id"].unique())
    keep = ~claims["claim_id"].isin(answered) & claims["frequency_code"].ne("8")
    return claims[keep]


def review_mask(p: np.ndarray, *, threshold: float, review_capacity: int | None) -> np.ndarray:
    """Claims at or above the threshold, cut to the `review_capacity` riskiest when the team has fewer hours."""
    review = p >= threshold
    if review_capacity is not None and review.sum() > review_capacity:
        top = np.argsort(-p, kind="stable")[:review_capacity]
        review = np.zeros(len(p), dtype=bool)
        review[top] = True
    return review


def batch_features(
    model: DenialRiskModel,
    *,
    claims: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    chunk_claims: int | None,
    threads: int = 1,
    reasons: bool,
    progress: Progress = silent,
) -> FeatureSet:
    """Features of `claims` with every claim in `tables` as the context (lines and duplicate suspicion)."""
    return model.features(
        claims=claims,
        lines=tables["claim_lines"],
        context_claims=tables["claims"],
        context_lines=tables["claim_lines"],
        chunk_claims=chunk_claims,
        threads=threads,
        reasons=reasons,
        progress=progress,
    )


def batch_features_and_heads(
    model: DenialRiskModel,
    *,
    claims: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    chunk_claims: int | None,
    threads: int = 1,
    progress: Progress = silent,
) -> tuple[FeatureSet, np.ndarray, np.ndarray]:
    """`batch_features` without reason values, with both heads' answers scored chunk by chunk
    (`DenialRiskModel.features_and_heads`)."""
    return model.features_and_heads(
        claims=claims,
        lines=tables["claim_lines"],
        context_claims=tables["claims"],
        context_lines=tables["claim_lines"],
        chunk_claims=chunk_claims,
        threads=threads,
        progress=progress,
    )


def score_claims(
    model: DenialRiskModel,
    *,
    claims: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    threshold: float,
    review_capacity: int | None = None,
    chunk_claims: int | None = None,
    threads: int = 1,
    progress: Progress = silent,
) -> pd.DataFrame:
    """Scores for `claims`, highest risk first, with reasons for those flagged for review.

    `tables` supplies the lines and the claims sent before (for duplicate suspicion). `chunk_claims`: build
    the features that many claims at a time, `threads` chunks side by side (`DenialFeatureBuilder.transform`).

    When every claim scored is in `tables` (a nightly batch of pending claims), a claim's features do not
    depend on which others are scored beside it: the batch is scored on the matrix alone, and the values
    reason phrases read are built for the flagged claims only. For a million claims those values would hold
    more memory than everything else scoring needs. Each chunk's scores are then computed as soon as its matrix
    is (`DenialRiskModel.features_and_heads`).
    """
    all_sent = bool(member(claims["claim_id"], tables["claims"]["claim_id"]).all())
    progress("features")
    categories = None
    if all_sent:
        fs, p, categories = batch_features_and_heads(
            model, claims=claims, tables=tables, chunk_claims=chunk_claims, threads=threads, progress=progress
        )
    else:
        fs = batch_features(
            model,
            claims=claims,
            tables=tables,
            chunk_claims=chunk_claims,
            threads=threads,
            reasons=True,
            progress=progress,
        )
        progress("p_denial")
        p = model.predict_proba(fs.X)
    review = review_mask(p, threshold=threshold, review_capacity=review_capacity)
    explained = None
    if all_sent:
        flagged = claims.iloc[np.flatnonzero(review)]
        progress("reason values of the flagged claims")
        explained = batch_features(
            model, claims=flagged, tables=tables, chunk_claims=chunk_claims, threads=threads, reasons=True
        )
    progress("likely causes and reasons")
    out = model.score(
        fs, review=review, explain="flagged", p=p, categories=categories, explained=explained, progress=progress
    )
    out = out.reset_index().reindex(columns=list(SCORE_COLUMNS))
    order = np.argsort(-out["p_denial"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)
