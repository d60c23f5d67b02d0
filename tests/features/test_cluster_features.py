"""The training matrix built on a Dask cluster (two local workers) is the one built in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.cluster import transform_on_cluster
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from training.denial_job import build_dataset


@pytest.mark.slow
def test_the_training_set_built_on_the_cluster_is_the_one_built_here(
    small_world: Path, dask_client: Any, tmp_path: Path
) -> None:
    options = RunOptions(home=tmp_path, seed=3, chunk_claims=5_000)
    here = build_dataset(small_world, options=options)
    there = build_dataset(small_world, options=options, client=dask_client)
    assert there.features.claim_ids.equals(here.features.claim_ids)
    np.testing.assert_array_equal(there.features.X, here.features.X)  # NaN where NaN, every bit the same
    pd.testing.assert_frame_equal(there.labels, here.labels)


@pytest.mark.slow
def test_partition_boundaries_change_no_value(
    trained: tuple[Any, Any, Path], small_world: Path, dask_client: Any
) -> None:
    """Claims cut into many small partitions, out of time order: each claim's history is the builder's, as of
    the claim's own day, wherever the cut falls."""
    builder = trained[0].builder_
    tables = load_validated(small_world, max_reject_rate=1.0).tables
    claims = tables["claims"].sample(n=4_000, random_state=1)
    whole = builder.transform(
        claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"],
        context_lines=tables["claim_lines"], reasons=False,
    )  # fmt: skip
    parts = transform_on_cluster(
        builder, claims=claims, context_claims=tables["claims"], context_lines=tables["claim_lines"],
        client=dask_client, partitions=7,
    )  # fmt: skip
    assert parts.claim_ids.equals(whole.claim_ids)
    np.testing.assert_array_equal(parts.X, whole.X)


def test_claims_missing_from_the_context_are_refused(dask_client: Any) -> None:
    claims = pd.DataFrame({"claim_id": ["A", "B"]})
    with pytest.raises(ValueError, match="1 claims are not in the context"):
        transform_on_cluster(
            object(),  # type: ignore[arg-type]
            claims=claims, context_claims=claims.iloc[:1], context_lines=pd.DataFrame(), client=dask_client,
        )  # fmt: skip
