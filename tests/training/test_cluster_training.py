"""The denial-risk model fitted on a Dask cluster (lightgbm.dask) is as good as the one fitted in one process,
within the README's tolerance: the workers bin their own rows, so the trees are not the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from features.contract.run_options import RunOptions
from training.denial_job import train_denial_risk
from training.jobs import TrainRun


@pytest.mark.slow
def test_the_model_fitted_on_the_cluster_is_within_tolerance(
    trained: tuple[Any, Any, Path], small_world: Path, dask_client: Any, tmp_path: Path
) -> None:
    _, here, _ = trained
    _, there = train_denial_risk(
        small_world,
        options=RunOptions(home=tmp_path, seed=3),
        run=TrainRun(register=False, client=dask_client, fit_on_cluster=True),
    )
    assert abs(there.metrics["roc_auc"] - here.metrics["roc_auc"]) <= 0.01
    assert abs(there.metrics["pr_auc"] - here.metrics["pr_auc"]) <= 0.02
    assert abs(there.metrics["category_top3_accuracy"] - here.metrics["category_top3_accuracy"]) <= 0.02
    assert there.metrics["ece"] <= 0.03
