"""Canary: marker strings in every field that identifies a patient or a claim, driven through the success, 422,
500 and no-model paths of every scoring route. The markers must appear in no log record, no byte of the audit
database and no response (body or headers).

Marked fields: claim_id, original_claim_id, patient_id, patient_birth_date (a date no real claim carries),
prior_auth_number, referral_number and remit_id. Payer, provider and facility ids are not patient data and are
named in reasons on purpose ("payer P0016 denied ..."), so they carry no marker.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from api.service_support import RealService, audit_bytes, audit_rows, make_real_service
from api.support import CANARY, Keys, bearer
from fastapi.testclient import TestClient

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from serving.api.schemas import claim_bodies, denial_bodies

pytestmark = pytest.mark.slow  # the real service on the session's trained models

BIRTH_DATE = "1901-02-03"
CANARY_KEY = "CanaryPhiKey81"  # looks like a field name, so only masking every unexpected key keeps it out
MARKERS = (CANARY, CANARY_KEY, BIRTH_DATE, BIRTH_DATE.replace("-", ""))


def _mark_claim(claim: dict[str, Any], n: int) -> dict[str, Any]:
    claim = copy.deepcopy(claim)
    claim.update(
        claim_id=f"{CANARY}-claim-{n}",
        patient_id=f"{CANARY}-patient-{n}",
        patient_birth_date=BIRTH_DATE,
        prior_auth_number=f"{CANARY}-auth-{n}",
        referral_number=f"{CANARY}-referral-{n}",
    )
    return claim


@pytest.fixture(scope="module")
def marked(world_tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    claims = world_tables["claims"]
    originals = claims[claims["frequency_code"].eq("1")].tail(6).reset_index(drop=True)
    plain = claim_bodies(originals, world_tables["claim_lines"])
    bodies = [_mark_claim(c, i) for i, c in enumerate(plain)]
    replacement = {**_mark_claim(plain[0], 99), "frequency_code": "7", "original_claim_id": f"{CANARY}-claim-0"}
    labels = compute_labels(world_tables, codes=load_code_tables())
    denied = labels.loc[labels["initial_denial"].to_numpy(dtype=bool), "claim_id"].astype(str).tail(4).tolist()
    denials = denial_bodies(world_tables, denied)
    for i, d in enumerate(denials):
        d["claim"] = _mark_claim(d["claim"], 100 + i)
        d["remit"]["remit_id"] = f"{CANARY}-remit-{i}"
    return {"claims": [*bodies, replacement], "denials": denials}


@pytest.fixture
def service(model_home: Path, keys: Keys, small_world: Path, tmp_path: Path) -> Iterator[RealService]:
    made = make_real_service(home=model_home, keys=keys, rules_dir=small_world, audit_dir=tmp_path)
    yield made
    assert made.audit is not None
    made.audit.close()


@pytest.fixture
def no_models(keys: Keys, small_world: Path, tmp_path: Path) -> Iterator[RealService]:
    """A service whose registry is empty: nothing to load, never ready."""
    made = make_real_service(home=tmp_path / "empty_home", keys=keys, rules_dir=small_world, audit_dir=tmp_path)
    yield made
    assert made.audit is not None
    made.audit.close()


def _requests(marked: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    denials = marked["denials"]
    return [
        ("/v1/claims/score", {"claims": marked["claims"], "explain": "all"}),
        ("/v1/denials/score", {"denials": denials}),
        ("/v1/queue", {"denials": denials, "capacity_minutes_per_day": 30}),
    ]


def _invalid(marked: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each body breaks the schema somewhere and carries markers in and around the broken fields."""
    claim = marked["claims"][0]
    denial = marked["denials"][0]
    bad_claims = [
        {**claim, "total_charge": -1.0},
        # a client-chosen key is never echoed (errors.py), even one that looks like a field name
        {**claim, "patient_name": CANARY, f"{CANARY} member id": CANARY, f"{CANARY_KEY}_member_id": CANARY},
        {**claim, "claim_id": f"{CANARY} with spaces"},
        {**claim, "patient_birth_date": f"{BIRTH_DATE}T00:00:00"},
        {**claim, "service_from": "2099-01-01"},
        {**claim, "lines": [{**claim["lines"][0], "units": CANARY}]},
    ]
    return [
        ("/v1/claims/score", {"claims": bad_claims}),
        ("/v1/claims/score", {"claims": [claim, claim]}),
        ("/v1/denials/score", {"denials": [{**denial, "remit": {**denial["remit"], "paid_amount": CANARY}}]}),
        ("/v1/queue", {"denials": [denial], "capacity_minutes_per_day": 0, "memo": CANARY}),
    ]


def _assert_clean(responses: list[httpx.Response], caplog: pytest.LogCaptureFixture, audit_dir: Path) -> None:
    texts = [r.text for r in responses] + [str(dict(r.headers)) for r in responses]
    logged = [r.getMessage() + (r.exc_text or "") + str(r.args) for r in caplog.records]
    stored = audit_bytes(audit_dir)
    for marker in MARKERS:
        assert not [t for t in texts if marker in t], marker
        assert not [m for m in logged if marker in m], marker
        assert marker.encode() not in stored, marker


def test_success_paths_leak_nothing(
    service: RealService, marked: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught, TestClient(service.app) as client:
        warnings.simplefilter("always")
        responses = [client.post(url, json=body, headers=bearer(service.keys.score)) for url, body in _requests(marked)]
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text[:200] for r in responses]
    assert responses[1].json()["results"][0]["denied"]
    assert not [w for w in caught if any(m in str(w.message) for m in MARKERS)]
    _assert_clean(responses, caplog, service.audit_dir)
    rows = audit_rows(service.audit_dir)
    assert len(rows) == 3 and all(len(r["claim_refs"]) > 2 for r in rows)  # the claims are on record, hashed


def test_validation_errors_leak_nothing(
    service: RealService, marked: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(service.app) as client:
        responses = [client.post(url, json=body, headers=bearer(service.keys.score)) for url, body in _invalid(marked)]
    assert [r.status_code for r in responses] == [422] * len(responses)
    rules = {e["rule"] for r in responses for e in r.json()["errors"]}
    assert {"greater_than_equal", "extra_forbidden", "string_pattern_mismatch", "duplicate_claim_id"} <= rules
    _assert_clean(responses, caplog, service.audit_dir)


def test_server_errors_leak_nothing(
    service: RealService, marked: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The models raise with the request's identifiers in the message, as a KeyError on a claim id would."""

    def failing_score(fs: Any, **_: Any) -> Any:
        raise KeyError(f"no history for claims {list(fs.claim_ids)}")

    def failing_recovery(denials: pd.DataFrame, **_: Any) -> Any:
        raise ValueError(f"bad denials {denials['claim_id'].tolist()} {denials['first_remit_id'].tolist()}")

    caplog.set_level(logging.DEBUG)
    with TestClient(service.app, raise_server_exceptions=False) as client:
        denial_model = service.registry["denial_risk"].current().model
        recovery_model = service.registry["recovery"].current().model
        denial_model.score = failing_score  # instance attributes: the shared class is untouched
        recovery_model.score = failing_recovery
        try:
            responses = [
                client.post(url, json=body, headers=bearer(service.keys.score)) for url, body in _requests(marked)
            ]
        finally:
            del denial_model.score, recovery_model.score
    assert [r.status_code for r in responses] == [500, 500, 500]
    assert all(set(r.json()) == {"detail", "request_id"} for r in responses)
    assert any("KeyError" in r.getMessage() for r in caplog.records)  # the failure is logged, by type
    _assert_clean(responses, caplog, service.audit_dir)
    assert [r["status_code"] for r in audit_rows(service.audit_dir)] == [500, 500, 500]


def test_no_model_paths_leak_nothing(
    no_models: RealService, marked: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(no_models.app) as client:
        assert client.get("/readyz").status_code == 503
        responses = [
            client.post(url, json=body, headers=bearer(no_models.keys.score)) for url, body in _requests(marked)
        ]
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert all(r.headers["Retry-After"] for r in responses)
    assert all(r.json()["detail"] == "model not ready" for r in responses)
    _assert_clean(responses, caplog, no_models.audit_dir)
