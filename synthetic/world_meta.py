"""The world.json of a world written in shards: the shards' own figures combined into the whole world's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthetic.knowable import rank_auc

__all__ = ["OracleInputs", "combined_meta"]

# what the oracle AUCs are computed from: a truth claims table's p_denial, p_denial_knowable and denied
OracleInputs = tuple[np.ndarray, np.ndarray, np.ndarray]

_SUMMED = (
    "claims",
    "original_claims",
    "replacement_claims",
    "new_claims_after_ma130",
    "void_claims",
    "duplicate_claims",
)


def combined_meta(metas: Sequence[dict[str, Any]], oracle: Sequence[OracleInputs]) -> dict[str, Any]:
    """One world.json for shards that share a practice: counts add up, the denial rate and cause mix are the
    shards' weighted by their original claims (and denials), the oracle AUCs are recomputed over every claim."""
    first = metas[0]
    out = {k: v for k, v in first.items() if k != "shard"}
    for key in _SUMMED:
        out[key] = int(sum(m[key] for m in metas))
    out["sizes"] = {name: int(sum(m["sizes"][name] for m in metas)) for name in first["sizes"]}
    out["entities"] = {**first["entities"], "patients": int(sum(m["entities"]["patients"] for m in metas))}
    n = np.array([m["original_claims"] for m in metas], dtype=np.float64)
    rate = np.array([m["true_denial_rate"] for m in metas])
    denied = n * rate
    out["true_denial_rate"] = round(float(denied.sum() / n.sum()), 6)
    out["true_cause_mix"] = {
        cause: round(
            float(sum(d * m["true_cause_mix"][cause] for d, m in zip(denied, metas, strict=True)))
            / max(float(denied.sum()), 1.0),
            6,
        )
        for cause in first["true_cause_mix"]
    }
    p, knowable, was_denied = (np.concatenate([part[i] for part in oracle]) for i in range(3))
    out["oracle_auc"] = {
        "clairvoyant": round(rank_auc(p, was_denied), 6),
        "knowable": round(rank_auc(knowable, was_denied), 6),
    }
    out["shards"] = [m["shard"] for m in metas]
    return out
