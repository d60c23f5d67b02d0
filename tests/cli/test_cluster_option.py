"""`--cluster` / CLAIMSIGHT_DASK_SCHEDULER: the address rules, the workers' patient key, and the same scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from claimsight.cli import main
from claimsight.cluster import ClusterError, cluster_client
from claimsight.settings import Settings
from features.patient_keys import DEVELOPMENT_PATIENT_KEY, use_patient_key


@pytest.mark.parametrize("address", ["local", "local:3", "tcp://scheduler:8786", "tls://10.0.0.5:8786"])
def test_cluster_addresses_that_are_accepted(address: str) -> None:
    assert Settings(dask_scheduler=address).dask_scheduler == address


@pytest.mark.parametrize("address", ["", "local:0", "localhost", "scheduler:8786", "http://scheduler:8786"])
def test_cluster_addresses_that_are_refused_name_the_rule(address: str) -> None:
    with pytest.raises(ValidationError, match="must be local, local:N"):
        Settings(dask_scheduler=address)


def test_no_cluster_is_no_client() -> None:
    with cluster_client(None) as client:
        assert client is None


def test_workers_keyed_with_another_patient_key_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers read their own key (never sent over the wire): one that differs stops the command first."""
    monkeypatch.setenv("CLAIMSIGHT_PATIENT_KEY", "x" * 40)  # what the workers' environment holds
    use_patient_key(DEVELOPMENT_PATIENT_KEY)  # and this process another
    refused = pytest.raises(ClusterError, match="2 of 2 workers key patient history with another patient key")
    with refused, cluster_client("local:2"):
        pass


@pytest.mark.slow
def test_score_claims_on_a_local_cluster_writes_the_same_scores(
    trained: tuple[Any, Any, Path], small_world: Path, tmp_path: Path
) -> None:
    saved = trained[0].save(tmp_path / "model")
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    common = ["score", "claims", "--data", str(small_world), "--model", str(saved), "--review-capacity", "30"]
    assert main([*common, "--out", str(here)]) == 0
    assert main([*common, "--out", str(there), "--cluster", "local:2"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(there), pd.read_csv(here))
