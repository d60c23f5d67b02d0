"""`POST /v1/claims/score` with an 837 body (`application/edi-x12`): a held batch scored before release.

The slow tests use the real service on the session's trained models: the public samples score (their payers
and codes are new to the models, which is what a first batch from a new clearinghouse looks like), and the
same synthetic claims as JSON and as X12 score identically. The others use fake models: what is refused
before scoring (media type, key, scope, body cap, broken interchanges) never reaches a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api.service_support import RealService, make_real_service
from api.support import AUDIT_SECRET, CANARY, ArtifactStore, Keys, bearer, verify_fake
from api.x12_support import sample, write_837, x12_expressible
from fastapi.testclient import TestClient

from serving.api import ApiConfig, ModelRegistry, ModelSlot, parse_key_entry
from serving.api.routes import ScoringContext
from serving.api.runtime import build_app
from serving.api.schemas import ClaimBatch, claim_bodies
from serving.api.x12 import X12_RULE, x12_claims

X12 = {"Content-Type": "application/edi-x12"}
ROUTE = "/v1/claims/score"


def _post(client: TestClient, key: str, body: bytes, content_type: str = "application/edi-x12") -> Any:
    return client.post(ROUTE, content=body, headers={**bearer(key), "Content-Type": content_type})


# ------------------------------------------------------------------------------------- the real service


@pytest.fixture(scope="module")
def real(model_home: Path, keys: Keys, small_world: Path) -> Iterator[tuple[TestClient, RealService]]:
    service = make_real_service(home=model_home, keys=keys, rules_dir=small_world, audit_dir=None, max_batch=50)
    with TestClient(service.app) as client:
        yield client, service


@pytest.fixture(scope="module")
def synthetic_claims(world_tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Recent claims of the session world that an 837P can say in full, without `eligibility_verified`."""
    bodies = claim_bodies(world_tables["claims"].tail(300).reset_index(drop=True), world_tables["claim_lines"])
    chosen = [b for b in bodies if x12_expressible(b)][:12]
    for body in chosen:
        body.pop("eligibility_verified", None)
    return chosen


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "claim_ids"),
    [
        ("lfh_837p_x222a2_example1.837", ["26463774"]),
        ("lfh_837i_x223a3_two_claims.837", ["756048Q", "756049Q"]),
        ("lfh_837p_x222a2_cob_example3a.837", ["26407789"]),
    ],
)
def test_a_public_837_sample_scores_one_result_per_claim(
    real: tuple[TestClient, RealService], name: str, claim_ids: list[str]
) -> None:
    client, service = real
    response = _post(client, service.keys.score, sample(name))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_versions"] == {"denial_risk": "1"}
    results = body["results"]
    assert [(r["index"], r["claim_id"]) for r in results] == list(enumerate(claim_ids))
    assert all(0.0 <= r["p_denial"] <= 1.0 for r in results)
    assert all(r["decision"] == ("review" if r["p_denial"] >= body["threshold"] else "release") for r in results)


@pytest.mark.slow
def test_the_same_claims_as_json_and_as_x12_score_identically(
    real: tuple[TestClient, RealService], synthetic_claims: list[dict[str, Any]]
) -> None:
    client, service = real
    raw = write_837(synthetic_claims)
    # the mapping gives exactly the batch the JSON body gives ...
    as_json = ClaimBatch.model_validate_json(json.dumps({"claims": synthetic_claims}))
    assert x12_claims(raw).batch == as_json
    # ... and the route scores it alike: same probabilities, threshold, decisions and reasons
    json_response = client.post(ROUTE, json={"claims": synthetic_claims}, headers=bearer(service.keys.score))
    x12_response = _post(client, service.keys.score, raw)
    assert json_response.status_code == x12_response.status_code == 200, x12_response.text
    from_json, from_x12 = json_response.json(), x12_response.json()
    assert from_x12["threshold"] == from_json["threshold"]
    assert all("claim_id" not in r for r in from_json["results"])  # a JSON body's answer echoes no identifier
    assert [r.pop("claim_id") for r in from_x12["results"]] == [c["claim_id"] for c in synthetic_claims]
    assert from_x12["results"] == from_json["results"]


@pytest.mark.slow
def test_an_837_over_the_batch_limit_is_refused(
    real: tuple[TestClient, RealService], synthetic_claims: list[dict[str, Any]]
) -> None:
    client, service = real
    many = [{**synthetic_claims[i % len(synthetic_claims)], "claim_id": f"X{i}"} for i in range(51)]
    response = _post(client, service.keys.score, write_837(many))
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("body.claims", "too_long")]


# ------------------------------------------------------------------------- refused before any model work


@pytest.fixture
def fake(tmp_path: Path, keys: Keys, store: ArtifactStore) -> Iterator[TestClient]:
    """The real routes on fake models, with a small body cap: what is refused never reaches a model."""
    config = ApiConfig(
        api_keys=tuple(parse_key_entry(e) for e in keys.entries), audit_secret=AUDIT_SECRET, max_body_bytes=4000
    )
    registry = ModelRegistry([ModelSlot(n, loader=store.load, verify=verify_fake) for n in ("denial_risk", "recovery")])
    app = build_app(config=config, registry=registry, context=ScoringContext.load(), audit=None)
    with TestClient(app) as client:
        yield client


def _example() -> str:
    return sample("lfh_837p_x222a2_example1.837").decode()


def _errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "request validation failed"
    return [
        {k: e[k] for k in ("file", "segment_number", "segment_id", "element", "rule")}
        for e in response.json()["errors"]
    ]


def test_a_broken_837_is_a_422_by_position_without_values(fake: TestClient, keys: Keys) -> None:
    text = (
        _example()
        .replace("NM1*QC*1*SMITH*TED~", f"NM1*QC*1*SMITH*{CANARY}~")  # a name: must never come back
        .replace("SV1*HC:87070*15.00*", f"SV1*HC:87070*{CANARY}*")  # a charge that is not an amount
    )
    response = _post(fake, keys.score, text.encode())
    assert _errors(response) == [
        {"file": "request", "segment_number": 32, "segment_id": "SV1", "element": 2, "rule": X12_RULE}
    ]
    error = response.json()["errors"][0]
    assert error["message"] == "SV102 line charge is required and must be a decimal amount"
    assert error["field"] == "request, segment 32, SV1, element 02"
    assert CANARY not in response.text


def test_a_wrong_segment_count_names_the_se(fake: TestClient, keys: Keys) -> None:
    response = _post(fake, keys.score, _example().replace("SE*40*0021", "SE*41*0021").encode())
    assert _errors(response) == [
        {"file": "request", "segment_number": 40, "segment_id": "SE", "element": 1, "rule": X12_RULE}
    ]


def test_a_claim_the_request_schema_refuses_names_its_clm_and_column(fake: TestClient, keys: Keys) -> None:
    """Mapped, but CLM01 holds a character no claim id may: the CLM segment, the column and pydantic's rule."""
    response = _post(fake, keys.score, _example().replace("CLM*26463774*", f"CLM*{CANARY} 1*").encode())
    assert _errors(response) == [
        {"file": "request", "segment_number": 25, "segment_id": "CLM", "element": None, "rule": X12_RULE}
    ]
    assert response.json()["errors"][0]["message"].startswith("claim_id string_pattern_mismatch: ")
    assert CANARY not in response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not an interchange " + CANARY.encode(), id="not-x12"),
        pytest.param(b"ISA*00\xff\xfe" + CANARY.encode(), id="not-utf8"),
    ],
)
def test_a_body_that_is_no_interchange_is_a_422(fake: TestClient, keys: Keys, body: bytes) -> None:
    errors = _errors(_post(fake, keys.score, body))
    assert len(errors) == 1 and errors[0]["file"] == "request" and errors[0]["segment_number"] is None


def test_a_segment_id_from_a_garbled_file_is_masked(fake: TestClient, keys: Keys) -> None:
    text = _example().replace("ST*837*0021*005010X222A2~", f"{CANARY}~ST*837*0021*005010X222A2~")
    response = _post(fake, keys.score, text.encode())
    assert _errors(response)[0]["segment_id"] == "*"
    assert CANARY not in response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x12", "application/edi-x12; charset=latin-1"])
def test_other_media_types_keep_the_415(fake: TestClient, keys: Keys, content_type: str) -> None:
    response = _post(fake, keys.score, _example().encode(), content_type)
    assert response.status_code == 415
    assert response.json()["errors"][0]["rule"] == "unsupported_media_type"


@pytest.mark.parametrize("path", ["/v1/denials/score", "/v1/queue"])
def test_the_denial_routes_take_no_x12(fake: TestClient, keys: Keys, path: str) -> None:
    response = fake.post(path, content=_example().encode(), headers={**bearer(keys.score), **X12})
    assert response.status_code == 415


def test_an_x12_body_needs_a_key_with_the_score_scope(fake: TestClient, keys: Keys) -> None:
    assert fake.post(ROUTE, content=_example().encode(), headers=X12).status_code == 401
    assert _post(fake, keys.admin, _example().encode()).status_code == 403


def test_an_x12_body_over_the_cap_is_a_413(fake: TestClient, keys: Keys) -> None:
    big = (_example() * 4).encode()  # four interchanges: past the 4,000-byte cap of this service
    assert _post(fake, keys.score, big).status_code == 413


def test_the_openapi_document_names_both_bodies(fake: TestClient) -> None:
    schema = fake.app.openapi()  # type: ignore[attr-defined]
    content = schema["paths"][ROUTE]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/edi-x12"}
