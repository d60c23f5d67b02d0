"""Batch scoring on a Dask cluster (two local workers) gives the frame one process gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.contract.validation import load_validated
from serving.batch_scoring import pending_claims, score_claims
from serving.cluster_scoring import score_claims_on_cluster


@pytest.mark.slow
@pytest.mark.parametrize("review_capacity", [None, 40])
def test_cluster_scores_are_the_batch_scores(
    trained: tuple[Any, Any, Path], small_world: Path, dask_client: Any, review_capacity: int | None
) -> None:
    model = trained[0]
    tables = load_validated(small_world, max_reject_rate=1.0).tables
    claims = pd.concat([pending_claims(tables), tables["claims"].iloc[-1500:]]).drop_duplicates("claim_id")
    threshold = model.threshold_for()
    here = score_claims(model, claims=claims, tables=tables, threshold=threshold, review_capacity=review_capacity)
    there = score_claims_on_cluster(
        model, claims=claims, tables=tables, threshold=threshold, review_capacity=review_capacity,
        client=dask_client, partitions=5,
    )  # fmt: skip
    assert (here["decision"] == "review").sum() > 20
    pd.testing.assert_frame_equal(there, here)
    assert there.map(type).equals(here.map(type))  # None where no reason, as one process writes it (not NaN)


def test_claims_not_in_the_tables_are_refused(dask_client: Any) -> None:
    tables = {"claims": pd.DataFrame({"claim_id": ["A"]}), "claim_lines": pd.DataFrame()}
    with pytest.raises(ValueError, match="every scored claim in the tables"):
        score_claims_on_cluster(
            object(),  # type: ignore[arg-type]
            claims=pd.DataFrame({"claim_id": ["A", "B"]}), tables=tables, threshold=0.5, client=dask_client,
        )  # fmt: skip
