"""Features computed on a Dask cluster, a partition of claims per task, with the same function as in one process.

A claim's features read the fitted builder (its point-in-time history, category levels and rules) and the context
tables (every sent claim and line, for duplicate suspicion and the claim's own lines), never the other claims of
its partition. So each worker gets the fitted builder and the context once (scattered to every worker), and
the partition boundaries change no value: the time order of the history is inside the builder, not in how the
claims are cut (`tests/features/test_cluster_features.py` checks it against the one-process build).

Dask is an optional dependency (`pip install 'claimsight[cluster]'`): nothing here imports it until asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.denial_context import FeatureSet
from features.denial_feature_defs import FEATURE_NAMES
from features.progress import Progress, silent

if TYPE_CHECKING:
    from distributed import Client

    from features.denial_features import DenialFeatureBuilder

__all__ = [
    "counted",
    "gather_frame",
    "map_claim_partitions",
    "partitions_for",
    "scatter_shared",
    "transform_on_cluster",
]


def partitions_for(client: Client, n_claims: int, *, per_worker: int = 2) -> int:
    """Partitions of `n_claims` claims: a few per worker, so a slow worker does not hold up the rest."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    return max(1, min(n_claims, per_worker * workers))


def scatter_shared(client: Client, shared: Mapping[str, Any]) -> dict[str, Any]:
    """Each object sent to every worker once; the futures stand for them in the tasks."""
    return {name: client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()}


def map_claim_partitions(
    client: Client,
    claims: pd.DataFrame,
    fn: Callable[..., pd.DataFrame],
    *,
    shared: Mapping[str, Any],
    meta: pd.DataFrame,
    partitions: int | None = None,
    **kwargs: Any,
) -> Iterator[pd.DataFrame]:
    """`fn(part, **shared, **kwargs)` on consecutive partitions of `claims`: each part's result in the claims'
    order, as it is needed (the caller holds one part at a time beside what it builds from them).

    `shared`: futures from `scatter_shared` (or plain values). `meta`: an empty frame of what `fn` returns. The
    partitions are scattered to the workers, not written into the task graph."""
    import dask.dataframe as dd

    if not len(claims):
        return
    n = partitions or partitions_for(client, len(claims))
    bounds = np.linspace(0, len(claims), n + 1).astype(int)
    parts = client.scatter([claims.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a])
    frame = dd.from_delayed(parts, meta=claims.iloc[:0], verify_meta=False)
    futures = client.compute(
        frame.map_partitions(fn, **shared, **kwargs, meta=meta, align_dataframes=False).to_delayed()
    )
    del parts, frame
    for future in futures:
        yield future.result()
        future.release()


def counted(parts: Iterator[pd.DataFrame], *, stage: str, total: int, progress: Progress) -> Iterator[pd.DataFrame]:
    """The parts as they come, with `progress(stage, rows so far, total)` after each."""
    done = 0
    for part in parts:
        done += len(part)
        progress(stage, done, total)
        yield part


def gather_frame(parts: Iterator[pd.DataFrame], *, meta: pd.DataFrame) -> pd.DataFrame:
    """The parts one after another (`meta` when there are none), with a fresh row index."""
    frames = list(parts)
    return pd.concat(frames, ignore_index=True) if frames else meta.copy()


def _matrix_part(
    part: pd.DataFrame,
    *,
    builder: DenialFeatureBuilder,
    context_claims: pd.DataFrame,
    context_lines: pd.DataFrame,
    chunk_claims: int | None,
) -> pd.DataFrame:
    fs = builder.transform(
        claims=part,
        lines=context_lines,
        context_claims=context_claims,
        context_lines=context_lines,
        chunk_claims=chunk_claims,
        reasons=False,
    )
    out = pd.DataFrame(fs.X, columns=list(FEATURE_NAMES))
    out.insert(0, "claim_id", fs.claim_ids.to_numpy(dtype=object))
    return out


def transform_on_cluster(
    builder: DenialFeatureBuilder,
    *,
    claims: pd.DataFrame,
    context_claims: pd.DataFrame,
    context_lines: pd.DataFrame,
    client: Client,
    chunk_claims: int | None = None,
    partitions: int | None = None,
    progress: Progress = silent,
) -> FeatureSet:
    """`builder.transform(..., reasons=False)` of `claims`, a partition per task on the cluster: the same matrix.

    Every claim must be in `context_claims` (a training set, a nightly batch): then no claim's features depend on
    which others are built beside it."""
    missing = int((~claims["claim_id"].isin(context_claims["claim_id"])).sum())
    if missing:
        raise ValueError(f"{missing:,} claims are not in the context: the cluster builds features of sent claims")
    shared = scatter_shared(
        client, {"builder": builder, "context_claims": context_claims, "context_lines": context_lines}
    )
    meta = pd.DataFrame(
        {"claim_id": pd.Series(dtype=object), **{n: pd.Series(dtype=np.float32) for n in FEATURE_NAMES}}
    )
    # the matrix filled a part at a time: never every part's frame beside the matrix
    X = np.empty((len(claims), len(FEATURE_NAMES)), dtype=np.float32)
    ids = np.empty(len(claims), dtype=object)
    at = 0
    progress("features on the cluster", 0, len(claims))
    for part in map_claim_partitions(
        client, claims, _matrix_part, shared=shared, meta=meta, partitions=partitions, chunk_claims=chunk_claims
    ):
        X[at : at + len(part)] = part[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
        ids[at : at + len(part)] = part["claim_id"].to_numpy(dtype=object)
        at += len(part)
        progress("features on the cluster", at, len(claims))
    return FeatureSet(X=X, context={}, claim_ids=pd.Index(ids, dtype="str", name="claim_id"))
