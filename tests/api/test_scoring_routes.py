"""The scoring routes on real models (trained on the session's synthetic world, loaded from a local registry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api.service_support import RealService, audit_rows, make_real_service
from api.support import Keys, bearer
from fastapi.testclient import TestClient

from features.contract.codes import FOLLOWUP_ACTIONS, load_code_tables
from features.contract.labels import compute_labels
from serving.api.schemas import claim_bodies, claim_tables, denial_bodies, denial_tables

pytestmark = pytest.mark.slow  # the real service on the session's trained models

ACTIONS = set(FOLLOWUP_ACTIONS)


@pytest.fixture(scope="module")
def service(
    model_home: Path, keys: Keys, small_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealService]:
    audit_dir = tmp_path_factory.mktemp("audit")
    made = make_real_service(home=model_home, keys=keys, rules_dir=small_world, audit_dir=audit_dir, max_batch=50)
    yield made
    assert made.audit is not None
    made.audit.close()


@pytest.fixture(scope="module")
def client(service: RealService) -> Iterator[TestClient]:
    with TestClient(service.app) as c:
        yield c


@pytest.fixture(scope="module")
def claims(world_tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    originals = world_tables["claims"][world_tables["claims"]["frequency_code"].eq("1")]
    return claim_bodies(originals.tail(40).reset_index(drop=True), world_tables["claim_lines"])


@pytest.fixture(scope="module")
def denied_ids(world_tables: dict[str, pd.DataFrame]) -> list[str]:
    labels = compute_labels(world_tables, codes=load_code_tables())
    return labels.loc[labels["initial_denial"].to_numpy(dtype=bool), "claim_id"].astype(str).tail(30).tolist()


@pytest.fixture(scope="module")
def paid_ids(world_tables: dict[str, pd.DataFrame]) -> list[str]:
    labels = compute_labels(world_tables, codes=load_code_tables())
    return labels.loc[~labels["initial_denial"].to_numpy(dtype=bool), "claim_id"].astype(str).tail(2).tolist()


def test_ready_with_both_models(client: TestClient, service: RealService) -> None:
    assert client.get("/readyz").status_code == 200
    models = client.get("/v1/models", headers=bearer(service.keys.score)).json()["models"]
    assert {m["name"]: m["version"] for m in models} == {"denial_risk": "1", "recovery": "1"}
    assert all(len(m["sha256"]) == 64 for m in models)


def test_claims_scored_in_request_order_with_versions(
    client: TestClient, service: RealService, claims: list[dict[str, Any]]
) -> None:
    response = client.post(
        "/v1/claims/score", json={"claims": claims, "explain": "all"}, headers=bearer(service.keys.score)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_versions"] == {"denial_risk": "1"}
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(claims)))
    assert all(0.0 <= r["p_denial"] <= 1.0 and 0.0 <= r["p_category"] <= 1.0 for r in results)
    assert {r["decision"] for r in results} <= {"release", "review"}
    assert all(r["decision"] == ("review" if r["p_denial"] >= body["threshold"] else "release") for r in results)
    # reasons are the groups pushing the risk up: nearly every claim has some, each with an action
    assert sum(bool(r["reasons"]) for r in results) > len(results) // 2
    assert all(x["text"] and x["action"] for r in results for x in r["reasons"])
    # no identifier the caller sent comes back
    for claim in claims:
        assert claim["claim_id"] not in response.text and claim["patient_id"] not in response.text


def test_explain_modes_and_target_precision(
    client: TestClient, service: RealService, claims: list[dict[str, Any]]
) -> None:
    post = lambda **extra: client.post(  # noqa: E731
        "/v1/claims/score", json={"claims": claims, **extra}, headers=bearer(service.keys.score)
    ).json()
    none = post(explain="none")
    assert all(r["reasons"] == [] for r in none["results"])
    flagged = post(target_precision=0.2)  # a low bar: some claims go to review
    assert not any(r["reasons"] for r in flagged["results"] if r["decision"] == "release")
    assert any(r["reasons"] for r in flagged["results"] if r["decision"] == "review")
    strict = post(target_precision=0.9, explain="none")
    loose = post(target_precision=0.2, explain="none")
    assert strict["threshold"] >= loose["threshold"]
    assert [r["p_denial"] for r in strict["results"]] == [r["p_denial"] for r in none["results"]]


def test_denials_scored_with_action_deadline_and_rules(
    client: TestClient,
    service: RealService,
    world_tables: dict[str, pd.DataFrame],
    denied_ids: list[str],
    paid_ids: list[str],
) -> None:
    bodies = denial_bodies(world_tables, [*denied_ids, *paid_ids])
    response = client.post("/v1/denials/score", json={"denials": bodies}, headers=bearer(service.keys.score))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_versions"] == {"recovery": "1"}
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(bodies)))
    denied, paid = results[: len(denied_ids)], results[len(denied_ids) :]
    assert all(r["denied"] for r in denied) and not any(r["denied"] for r in paid)
    assert all(r["p_recover"] is None and r["reasons"] == [] for r in paid)
    for r in denied:
        assert 0.0 <= r["p_recover"] <= 1.0 and r["expected_recovery"] >= 0.0
        assert r["recommended_action"] in ACTIONS
        assert r["action_rule"] and r["denial_category"]
        assert r["deadline"] is None or r["deadline_rule"]
        # only a PR amount is billed to the patient (issue 18), through the API as in the queue
        assert r["recommended_action"] != "bill_patient" or r["action_group"] == "PR"
        money = r["patient_amount"] + r["payer_amount"] + r["write_off_amount"]
        assert money >= 0.0 and (r["recommended_action"] != "bill_patient" or r["patient_amount"] > 0)
    assert any(r["deadline"] for r in denied)


def test_a_provider_liable_non_covered_denial_is_not_billed_to_the_patient(
    client: TestClient, service: RealService, world_tables: dict[str, pd.DataFrame]
) -> None:
    """CO-96 and PR-96 from the synthetic world, scored through the API: only the PR ones go to the patient."""
    adj = world_tables["adjustments"]
    labels = compute_labels(world_tables, codes=load_code_tables()).set_index("claim_id")
    first = adj[adj["remit_id"].isin(labels["first_remit_id"].dropna())]
    pick = {}
    for group in ("CO", "PR"):
        rows = first[(first["carc"] == "96") & (first["group_code"] == group)]
        only = rows.groupby("claim_id")["remit_id"].size()
        pick[group] = [c for c in only.index if len(first[first["claim_id"] == c]) == 1][:5]
        assert pick[group], f"the synthetic world has no lone {group}-96 denial"
    bodies = denial_bodies(world_tables, [*pick["CO"], *pick["PR"]])
    response = client.post("/v1/denials/score", json={"denials": bodies}, headers=bearer(service.keys.score))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    co, pr = results[: len(pick["CO"])], results[len(pick["CO"]) :]
    assert all(r["recommended_action"] == "appeal" and r["action_group"] == "CO" for r in co)
    assert all(r["recommended_action"] == "bill_patient" and r["patient_amount"] > 0 for r in pr)


def test_queue_ranks_within_capacity(
    client: TestClient,
    service: RealService,
    world_tables: dict[str, pd.DataFrame],
    denied_ids: list[str],
    paid_ids: list[str],
) -> None:
    bodies = denial_bodies(world_tables, [*denied_ids, *paid_ids])
    request = {"denials": bodies, "capacity_minutes_per_day": 60, "horizon_days": 3}
    response = client.post("/v1/queue", json=request, headers=bearer(service.keys.score))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_versions"] == {"recovery": "1"}
    assert body["not_denied"] == list(range(len(denied_ids), len(bodies)))
    rows = body["rows"]
    assert sorted(r["index"] for r in rows) == list(range(len(denied_ids)))
    ranked = [r for r in rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    today = [r for r in rows if r["status"] == "work_today"]
    assert sum(r["minutes"] for r in today) <= 60 + 1e-9
    assert all(r["why"] for r in rows)
    assert body["today"] == max(
        max(b["claim"]["submitted_at"] for b in bodies), max(b["remit"]["remit_date"] for b in bodies)
    )
    fixed = client.post("/v1/queue", json={**request, "today": "2024-01-02"}, headers=bearer(service.keys.score)).json()
    assert fixed["today"] == "2024-01-02"


def test_batch_limit_auth_and_strict_bodies(
    client: TestClient, service: RealService, claims: list[dict[str, Any]]
) -> None:
    url = "/v1/claims/score"
    too_many = client.post(url, json={"claims": claims + claims[:11]}, headers=bearer(service.keys.score))
    assert too_many.status_code == 422  # max_batch=50 in this module (and duplicate ids never get that far)
    assert client.post(url, json={"claims": claims[:1]}).status_code == 401
    assert client.post(url, json={"claims": claims[:1]}, headers=bearer(service.keys.admin)).status_code == 403
    bad = [
        {**claims[0], "patient_name": "X"},  # minimum necessary: not a model input
        {**claims[0], "total_charge": "12.50"},  # strings are not numbers
        {**claims[0], "service_from": 19700101},  # numbers are not dates
        {**claims[0], "submitted_at": "2023-01-01T00:00:00"},  # dates are YYYY-MM-DD
        {**claims[0], "eligibility_verified": "yes"},
        {**claims[0], "lines": []},
        {**claims[0], "service_from": "2030-01-01"},  # after submission: validation would quarantine it
        {**claims[0], "frequency_code": "7"},  # a replacement names its original
        {**claims[0], "lines": [claims[0]["lines"][0], claims[0]["lines"][0]]},
    ]
    for claim in bad:
        response = client.post(url, json={"claims": [claim]}, headers=bearer(service.keys.score))
        assert response.status_code == 422, claim
    dup = client.post(url, json={"claims": [claims[0], claims[0]]}, headers=bearer(service.keys.score))
    assert dup.status_code == 422 and dup.json()["errors"][0]["rule"] == "duplicate_claim_id"


def test_one_audit_row_per_call_with_hashed_claims(
    client: TestClient, service: RealService, claims: list[dict[str, Any]]
) -> None:
    assert service.audit is not None
    before = len(audit_rows(service.audit_dir))
    client.post("/v1/claims/score", json={"claims": claims[:3]}, headers=bearer(service.keys.score))
    rows = audit_rows(service.audit_dir)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["route"], row["status_code"], row["key_id"]) == ("/v1/claims/score", 200, "scorer")
    assert json.loads(row["model_versions"]) == {"denial_risk": "1"}
    assert sorted(json.loads(row["claim_refs"])) == sorted(service.audit.claim_ref(c["claim_id"]) for c in claims[:3])


def test_bodies_become_the_tables_validation_makes(
    world_tables: dict[str, pd.DataFrame], denied_ids: list[str]
) -> None:
    """Same columns, dtypes and values as a validated data directory: the API and the batch path feed the
    feature function the same frames."""
    from serving.api.schemas import ClaimBatch, DenialBatch

    claims = world_tables["claims"].sample(300, random_state=3).reset_index(drop=True)
    body = ClaimBatch.model_validate({"claims": claim_bodies(claims, world_tables["claim_lines"])})
    tables = claim_tables(body.claims)
    pd.testing.assert_frame_equal(tables["claims"], claims)
    lines = world_tables["claim_lines"]
    expected = lines[lines["claim_id"].isin(claims["claim_id"])].sort_values(["claim_id", "line_number"])
    expected = expected.reset_index(drop=True)
    got = tables["claim_lines"].sort_values(["claim_id", "line_number"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)

    denials = denial_tables(DenialBatch.model_validate({"denials": denial_bodies(world_tables, denied_ids)}).denials)
    for name, frame in denials.items():
        assert list(frame.columns) == list(world_tables[name].columns)
        assert (frame.dtypes == world_tables[name].dtypes).all(), name
    adj = world_tables["adjustments"]
    assert len(denials["adjustments"]) == adj["remit_id"].isin(denials["remits"]["remit_id"]).sum()
