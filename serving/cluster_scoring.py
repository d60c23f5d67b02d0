"""Batch scoring on a Dask cluster: `serving.batch_scoring.score_claims`, a partition of claims per task.

Two passes, as in one process: every claim's p_denial and likely cause, then the review decision over the whole
batch (a review capacity ranks all claims, so it cannot be decided per partition), then reasons for the flagged
claims, again a partition per task. The model and the context tables go to every worker once. The frame is the
one `score_claims` gives (`tests/serving/test_cluster_scoring.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.cluster import counted, gather_frame, map_claim_partitions, scatter_shared
from features.contract.frames import member
from features.progress import Progress, silent
from models.denial_risk import DenialRiskModel
from serving.batch_scoring import SCORE_COLUMNS, batch_features, review_mask

if TYPE_CHECKING:
    from distributed import Client

_SCORES = pd.DataFrame(
    {"claim_id": pd.Series(dtype=object), "p_denial": pd.Series(dtype=np.float64),
     "top_category": pd.Series(dtype=object), "p_category": pd.Series(dtype=np.float64)}
)  # fmt: skip
_REASON_COLUMNS = [f"{kind}_{k}" for k in (1, 2, 3) for kind in ("reason", "action")]
_REASONS = pd.DataFrame({"claim_id": pd.Series(dtype=object), **{c: pd.Series(dtype=object) for c in _REASON_COLUMNS}})


def _objects(values: pd.Series) -> np.ndarray:
    """Text as Python objects with None where missing, as one process's frame holds it (whatever string type
    the column took on its way back from the workers)."""
    out: np.ndarray = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    return out


def _tables(context_claims: pd.DataFrame, context_lines: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"claims": context_claims, "claim_lines": context_lines}


def _score_part(
    part: pd.DataFrame,
    *,
    model: DenialRiskModel,
    context_claims: pd.DataFrame,
    context_lines: pd.DataFrame,
    chunk_claims: int | None,
) -> pd.DataFrame:
    tables = _tables(context_claims, context_lines)
    fs = batch_features(model, claims=part, tables=tables, chunk_claims=chunk_claims, reasons=False)
    scored = model.score(fs, review=np.zeros(len(part), dtype=bool), explain="none")
    return scored[["p_denial", "top_category", "p_category"]].rename_axis("claim_id").reset_index()


def _reasons_part(
    part: pd.DataFrame,
    *,
    model: DenialRiskModel,
    context_claims: pd.DataFrame,
    context_lines: pd.DataFrame,
    chunk_claims: int | None,
) -> pd.DataFrame:
    tables = _tables(context_claims, context_lines)
    explained = batch_features(model, claims=part, tables=tables, chunk_claims=chunk_claims, reasons=True)
    return model.explain(explained).rename_axis("claim_id").reset_index()


def score_claims_on_cluster(
    model: DenialRiskModel,
    *,
    claims: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    threshold: float,
    client: Client,
    review_capacity: int | None = None,
    chunk_claims: int | None = None,
    partitions: int | None = None,
    progress: Progress = silent,
) -> pd.DataFrame:
    """`score_claims` computed on the cluster `client` talks to: the same frame, highest risk first.

    Every scored claim must be in `tables` (pending claims, a claims file, an 837 merged in with
    `claimsight.shell.with_claims`), so that no claim's features depend on the partition it lands in."""
    if not bool(member(claims["claim_id"], tables["claims"]["claim_id"]).all()):
        raise ValueError("scoring on a cluster needs every scored claim in the tables")
    shared = scatter_shared(
        client, {"model": model, "context_claims": tables["claims"], "context_lines": tables["claim_lines"]}
    )
    progress("scores on the cluster", 0, len(claims))
    scores = gather_frame(
        counted(
            map_claim_partitions(
                client, claims, _score_part, shared=shared, meta=_SCORES, partitions=partitions,
                chunk_claims=chunk_claims,
            ),
            stage="scores on the cluster", total=len(claims), progress=progress,
        ),
        meta=_SCORES,
    )  # fmt: skip
    p = scores["p_denial"].to_numpy(dtype=np.float64)
    review = review_mask(p, threshold=threshold, review_capacity=review_capacity)
    idx = np.flatnonzero(review)
    progress("reasons on the cluster", 0, len(idx))
    reasons = gather_frame(
        counted(
            map_claim_partitions(
                client, claims.iloc[idx], _reasons_part, shared=shared, meta=_REASONS, partitions=partitions,
                chunk_claims=chunk_claims,
            ),
            stage="reasons on the cluster", total=len(idx), progress=progress,
        ),
        meta=_REASONS,
    )  # fmt: skip
    out = scores.assign(claim_id=scores["claim_id"].astype("str"), decision=np.where(review, "review", "release"))
    for name in _REASON_COLUMNS:
        column = np.full(len(out), None, dtype=object)
        column[idx] = _objects(reasons[name])
        out[name] = column
    out = out.reindex(columns=list(SCORE_COLUMNS))
    order = np.argsort(-p, kind="stable")
    return out.iloc[order].reset_index(drop=True)
