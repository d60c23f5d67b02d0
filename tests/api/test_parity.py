"""Train/serve parity: the API and the batch path give the same answers for the same claims and denials.

The only input the two paths do not share is the context for duplicate suspicion: `claimsight score claims`
looks for an earlier claim of the same patient, procedure and date of service among every claim in the data
directory, the API among the claims of the request. The claims compared here are the pending claims (no payer
answer yet, what the batch command scores by default) for which the whole history holds no such earlier claim,
so both contexts agree; the test first checks that the two feature matrices are identical, then compares the
answers. Everything else (frozen point-in-time history, payer rules, category levels) travels in the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api.service_support import RealService, make_real_service
from api.support import Keys, bearer
from fastapi.testclient import TestClient

from claimsight.cli import main
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.denial_feature_defs import FEATURE_NAMES
from features.recovery_features import denial_frame
from serving.api.schemas import ClaimBatch, claim_bodies, claim_column_tables, claim_tables, denial_bodies
from serving.batch_scoring import pending_claims

pytestmark = pytest.mark.slow  # the real service on the session's trained models

N_CLAIMS = 300
PRECISION = 0.6


@pytest.fixture(scope="module")
def service(model_home: Path, keys: Keys, small_world: Path) -> RealService:
    made = make_real_service(home=model_home, keys=keys, rules_dir=small_world, audit_dir=None)
    made.registry.refresh()
    assert made.registry.ready
    return made


@pytest.fixture(scope="module")
def client(service: RealService) -> Iterator[TestClient]:
    with TestClient(service.app) as c:
        yield c


@pytest.fixture(scope="module")
def chosen(service: RealService, world_tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Pending claims with no earlier duplicate anywhere in the history (see the module docstring)."""
    model = service.registry["denial_risk"].current().model
    pending = pending_claims(world_tables).reset_index(drop=True)
    lines = world_tables["claim_lines"]
    full = model.features(claims=pending, lines=lines, context_claims=world_tables["claims"], context_lines=lines)
    no_dup = full.X[:, FEATURE_NAMES.index("duplicate_prior")] == 0
    out = pending[no_dup].head(N_CLAIMS).reset_index(drop=True)
    assert len(out) == N_CLAIMS
    return out


def _reasons(row: pd.Series) -> list[dict[str, Any]]:
    return [
        {"text": row[f"reason_{k}"], "action": row[f"action_{k}"]}
        for k in (1, 2, 3)
        if isinstance(row[f"reason_{k}"], str)
    ]


def test_features_are_identical(
    service: RealService, chosen: pd.DataFrame, world_tables: dict[str, pd.DataFrame]
) -> None:
    model = service.registry["denial_risk"].current().model
    lines = world_tables["claim_lines"]
    batch = model.features(claims=chosen, lines=lines, context_claims=world_tables["claims"], context_lines=lines)
    body = ClaimBatch.model_validate({"claims": claim_bodies(chosen, lines)})
    # the route's arrays (ColumnTable) and typed DataFrames as validation gives them: both read alike
    for tables in (claim_column_tables(body.claims), claim_tables(body.claims)):
        api = model.features(claims=tables["claims"], lines=tables["claim_lines"])
        assert list(api.claim_ids) == list(batch.claim_ids)
        np.testing.assert_array_equal(api.X, batch.X)  # NaN == NaN here
    # one claim a request, the common call (the readers' per-value route for few values)
    for i in range(0, N_CLAIMS, 5):
        one = claim_column_tables(body.claims[i : i + 1])
        single = model.features(claims=one["claims"], lines=one["claim_lines"])
        np.testing.assert_array_equal(single.X[0], batch.X[i])


def test_api_scores_equal_claimsight_score_claims(
    client: TestClient,
    service: RealService,
    chosen: pd.DataFrame,
    world_tables: dict[str, pd.DataFrame],
    small_world: Path,
    model_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # batch: the command line, on the registered version the service loaded
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(model_home))
    monkeypatch.delenv("CLAIMSIGHT_MLFLOW_TRACKING_URI", raising=False)
    ids = tmp_path / "ids.csv"
    chosen[["claim_id"]].to_csv(ids, index=False)
    out = tmp_path / "scores.csv"
    argv = ["score", "claims", "--data", str(small_world), "--out", str(out), "--model", "1"]
    argv += ["--claims-file", str(ids), "--target-precision", str(PRECISION), "--show", "0"]
    assert main(argv) == 0
    batch = pd.read_csv(out, dtype={"claim_id": str}).set_index("claim_id")

    # API: the same claims as JSON bodies
    bodies = claim_bodies(chosen, world_tables["claim_lines"])
    response = client.post(
        "/v1/claims/score",
        json={"claims": bodies, "target_precision": PRECISION},
        headers=bearer(service.keys.score),
    )
    assert response.status_code == 200, response.text
    api = response.json()["results"]
    assert len(api) == len(batch) == N_CLAIMS

    decisions = set()
    for result in api:
        expected = batch.loc[bodies[result["index"]]["claim_id"]]
        assert abs(result["p_denial"] - expected["p_denial"]) <= 1e-12
        assert result["decision"] == expected["decision"]
        assert result["top_category"] == expected["top_category"]
        assert result["reasons"] == _reasons(expected)
        decisions.add(result["decision"])
    assert decisions == {"release", "review"}  # both branches compared, reasons included


def test_api_denials_equal_the_batch_denial_path(
    client: TestClient, service: RealService, world_tables: dict[str, pd.DataFrame], small_world: Path
) -> None:
    """/v1/denials/score vs the path `claimsight queue` takes (labels -> denial_frame -> RecoveryModel.score) on
    the whole data directory, for denials with no follow-up dated before their remit (the API is not sent
    follow-ups)."""
    model = service.registry["recovery"].current().model
    codes = load_code_tables()
    frame = denial_frame(
        world_tables,
        compute_labels(world_tables, codes=codes),
        codes=codes,
        rules=load_payer_rules(data_dir=small_world),
    )
    frame = frame[frame["prior_followups"].eq(0)].tail(200).reset_index(drop=True)
    batch = model.score(frame, explain=True).set_index("claim_id")

    ids = frame["claim_id"].astype(str).tolist()
    response = client.post(
        "/v1/denials/score", json={"denials": denial_bodies(world_tables, ids)}, headers=bearer(service.keys.score)
    )
    assert response.status_code == 200, response.text
    for result in response.json()["results"]:
        expected = batch.loc[ids[result["index"]]]
        assert result["denied"]
        for column in ("p_recover", "expected_recovery", "denied_amount", "share_if_recovered"):
            assert abs(result[column] - float(expected[column])) <= 1e-12, column
        for column in ("recommended_action", "action_rule", "deadline_rule", "denial_category"):
            assert result[column] == expected[column], column
        deadline = expected["deadline"]
        assert result["deadline"] == (None if pd.isna(deadline) else pd.Timestamp(deadline).date().isoformat())
        assert result["reasons"] == _reasons(expected)
