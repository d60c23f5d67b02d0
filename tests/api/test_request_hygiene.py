"""What the service accepts before it reads a body: the request id it keeps, the media type, duplicate keys.

Fast: the real scoring routes run here with fake models, which is enough for everything refused before scoring.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api.support import AUDIT_SECRET, CANARY, ArtifactStore, Keys, Service, bearer, verify_fake
from fastapi.testclient import TestClient

from serving.api import ApiConfig, AuditLog, ModelRegistry, ModelSlot, parse_key_entry
from serving.api.routes import ScoringContext, find_duplicate_keys
from serving.api.runtime import WARMUP_CLAIMS, build_app
from serving.api.schemas import ClaimBatch

PATIENT = f"Jane Roe {CANARY}"  # a fake patient name, as a careless client might put in its request id
UNSAFE_IDS = [
    pytest.param("x" * 5000, id="5000-chars"),
    pytest.param("req-1\n", id="trailing-newline"),
    pytest.param("req-1\nSet-Cookie: a=b", id="header-injection"),
    pytest.param('req-"1"', id="quote"),
    pytest.param("req-\u00e9t\u00e9".encode(), id="unicode"),
    pytest.param(PATIENT, id="patient-name"),
    pytest.param(f"{CANARY}\n", id="canary-newline"),
    pytest.param("", id="empty"),
]


def _claim(claim_id: str = "C1") -> dict[str, Any]:
    return {"claim_id": claim_id, "lines": [{"code": "97110", "units": 1}]}


def _texts(sent: str | bytes) -> tuple[str, ...]:
    """The forms in which a sent id could show up (as text, or its first bytes: a cut-off copy leaks too)."""
    text = sent.decode("utf-8") if isinstance(sent, bytes) else sent
    return (text, text.strip(), text[:64].strip()) if text.strip() else ()


# ------------------------------------------------------------------------------------------------ request id


@pytest.mark.parametrize("sent", UNSAFE_IDS)
def test_an_unsafe_request_id_is_replaced_everywhere(
    service: Service, client: TestClient, caplog: pytest.LogCaptureFixture, sent: str | bytes
) -> None:
    assert service.audit is not None
    headers = {**bearer(service.keys.score), "X-Request-ID": sent}
    with caplog.at_level(logging.DEBUG):
        scored = client.post("/v1/test/score", json={"claims": [_claim()]}, headers=headers)  # type: ignore[dict-item]
        failed = client.post("/v1/test/boom", headers=headers)  # type: ignore[arg-type]
    assert (scored.status_code, failed.status_code) == (200, 500)
    rows = service.audit.recent()
    assert len(rows) == 2
    for response, row in zip((failed, scored), rows, strict=True):
        echoed = response.headers["X-Request-ID"]
        assert len(echoed) == 32 and int(echoed, 16) >= 0  # a fresh id, not the caller's
        assert row.request_id == echoed
        assert [v for k, v in response.headers.raw if k.lower() == b"x-request-id"] == [echoed.encode()]
        assert b"set-cookie" not in {k.lower() for k, _ in response.headers.raw}
        if failed is response:
            assert response.json()["request_id"] == echoed
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert failed.headers["X-Request-ID"] in logged  # the 500 is logged under the fresh id
    for text in _texts(sent):
        for where in (scored.text, failed.text, str(scored.headers), str(failed.headers), logged):
            assert text not in where
        assert all(text not in r.request_id for r in rows)


def test_a_safe_request_id_is_kept_everywhere(
    service: Service, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert service.audit is not None
    sent = "batch-2026.12.04_0001"
    with caplog.at_level(logging.DEBUG):
        failed = client.post("/v1/test/boom", headers={**bearer(service.keys.score), "X-Request-ID": sent})
    assert failed.headers["X-Request-ID"] == sent
    assert failed.json()["request_id"] == sent
    assert service.audit.recent(1)[0].request_id == sent
    assert sent in caplog.text


# ------------------------------------------------------------------------------------------------ media type

ROUTES = ("/v1/claims/score", "/v1/denials/score", "/v1/queue")
REFUSED_TYPES = [
    pytest.param(None, id="missing"),
    pytest.param("text/plain", id="text-plain"),
    pytest.param("text/plain; charset=utf-8", id="text-plain-utf8"),
    pytest.param("application/x-www-form-urlencoded", id="form"),
    pytest.param("multipart/form-data; boundary=xyz", id="multipart"),
    pytest.param("text/json", id="text-json"),
    pytest.param("application/jsonx", id="jsonx"),
    pytest.param("application/json; charset=latin-1", id="json-latin1"),
    pytest.param(f"text/plain; note={CANARY}", id="canary-param"),
]
ACCEPTED_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON; Charset=UTF-8",
    'application/json;charset="utf-8"',
    "application/vnd.claimsight+json",
]


@pytest.fixture
def real_routes(tmp_path: Path, keys: Keys, store: ArtifactStore) -> Iterator[tuple[TestClient, AuditLog]]:
    """The real scoring routes, served with fake models: enough for what is refused before scoring starts."""
    config = ApiConfig(api_keys=tuple(parse_key_entry(e) for e in keys.entries), audit_secret=AUDIT_SECRET)
    registry = ModelRegistry([ModelSlot(n, loader=store.load, verify=verify_fake) for n in ("denial_risk", "recovery")])
    audit = AuditLog(url=f"sqlite:///{tmp_path / 'audit.sqlite'}", secret=AUDIT_SECRET)
    app = build_app(config=config, registry=registry, context=ScoringContext.load(), audit=audit)
    with TestClient(app) as client:
        yield client, audit
    audit.close()


def _post(client: TestClient, keys: Keys, path: str, body: bytes, content_type: str | None) -> Any:
    headers = bearer(keys.score)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(path, content=body, headers=headers)


@pytest.mark.parametrize("content_type", REFUSED_TYPES)
@pytest.mark.parametrize("path", ROUTES)
def test_a_body_that_is_not_json_is_refused_with_415(
    real_routes: tuple[TestClient, AuditLog], keys: Keys, path: str, content_type: str | None
) -> None:
    client, _ = real_routes
    body = json.dumps({"claims": [_claim(CANARY)], "denials": []}).encode()
    response = _post(client, keys, path, body, content_type)
    assert response.status_code == 415
    assert response.json() == {
        "detail": "unsupported media type",
        "request_id": response.headers["X-Request-ID"],
        "errors": [
            {
                "field": "header.content-type",
                "rule": "unsupported_media_type",
                "message": "Content-Type should be application/json (UTF-8) or application/*+json",
            }
        ],
    }
    assert CANARY not in response.text


@pytest.mark.parametrize("content_type", ACCEPTED_TYPES)
@pytest.mark.parametrize("path", ROUTES)
def test_a_json_media_type_reaches_validation(
    real_routes: tuple[TestClient, AuditLog], keys: Keys, path: str, content_type: str
) -> None:
    client, _ = real_routes
    response = _post(client, keys, path, b"{}", content_type)
    assert response.status_code == 422, response.text  # past the media type check: the body itself is judged
    assert {e["rule"] for e in response.json()["errors"]} == {"missing"}


def test_415_is_audited_like_422(real_routes: tuple[TestClient, AuditLog], keys: Keys) -> None:
    client, audit = real_routes
    wrong_type = _post(client, keys, "/v1/claims/score", b"{}", "text/plain")
    wrong_body = _post(client, keys, "/v1/claims/score", b"{}", "application/json")
    assert (wrong_type.status_code, wrong_body.status_code) == (415, 422)
    rows = audit.recent(2)
    assert [r.status_code for r in rows] == [422, 415]
    assert [r.request_id for r in rows] == [wrong_body.headers["X-Request-ID"], wrong_type.headers["X-Request-ID"]]
    fields = [(r.route, r.method, r.key_id, r.claim_refs, r.model_versions) for r in rows]
    assert fields[0] == fields[1] == ("/v1/claims/score", "POST", "scorer", (), {"denial_risk": "v1"})


# ---------------------------------------------------------------------------------------------- duplicate keys

DUPLICATE = {"rule": "duplicate_key", "message": "Object has the same key more than once"}


def _claim_json(claim_id: str) -> str:
    return json.dumps({**WARMUP_CLAIMS[0], "claim_id": claim_id})


def test_a_claim_with_claim_id_twice_is_422_naming_the_object_not_the_value(
    real_routes: tuple[TestClient, AuditLog], keys: Keys
) -> None:
    """Otherwise valid (the last value would win): with fake models, a body that got through would be a 500."""
    client, audit = real_routes
    claim = f'{{"claim_id": "{CANARY}-first", ' + _claim_json(f"{CANARY}-last")[1:]
    raw = '{"claims": [' + _claim_json("C-ok") + ", " + claim + "]}"
    response = _post(client, keys, "/v1/claims/score", raw.encode(), "application/json")
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "body.claims.1", **DUPLICATE}]
    assert CANARY not in response.text
    assert audit.recent(1)[0].claim_refs == ()  # refused before the route named any claim


@pytest.mark.parametrize(
    ("path", "raw", "fields"),
    [
        ("/v1/claims/score", '{"explain": "all", "claims": [%s], "explain": "none"}', ["body"]),
        ("/v1/claims/score", '{"claims": [%s], "target_precision": 0.5, "target_precision": 0.6}', ["body"]),
        ("/v1/denials/score", '{"denials": [{"claim": %s, "claim": {}}]}', ["body.denials.0"]),
    ],
)
def test_duplicate_keys_anywhere_are_422(
    real_routes: tuple[TestClient, AuditLog], keys: Keys, path: str, raw: str, fields: list[str]
) -> None:
    client, _ = real_routes
    response = _post(client, keys, path, (raw % _claim_json("C1")).encode(), "application/json")
    assert response.status_code == 422, response.text
    assert [e for e in response.json()["errors"] if e["rule"] == "duplicate_key"] == [
        {"field": f, **DUPLICATE} for f in fields
    ]


def test_a_duplicate_is_reported_beside_schema_errors(real_routes: tuple[TestClient, AuditLog], keys: Keys) -> None:
    client, _ = real_routes
    raw = f'{{"claims": [{{"claim_id": "{CANARY}", "claim_id": "C2"}}]}}'
    response = _post(client, keys, "/v1/claims/score", raw.encode(), "application/json")
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"field": "body.claims.0", **DUPLICATE} in errors
    assert any(e["rule"] == "missing" for e in errors)
    assert CANARY not in response.text


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        ('{"a": 1, "b": 2}', []),
        ('{"a": 1, "a": 1}', [()]),
        ('[{"a": {"b": [1, {"c": 1, "c": 2}]}}]', [(0, "a", "b", 1)]),
        ('{"a": {"x": 1, "x": 2}, "b": {"y": 1, "y": 2}}', [("a",), ("b",)]),
        ('{"a": {"x": 1, "x": 2}, "a": {"y": 1}}', [()]),  # the object dropped by the first "a" is not reached
        ('{"a": 1, "a"', []),  # invalid JSON is the parser's error to report, not this check's
        ("[" * 100_000, []),
    ],
)
def test_find_duplicate_keys(raw: str, paths: list[tuple[str | int, ...]]) -> None:
    assert find_duplicate_keys(raw.encode()) == paths


def _best_ms(fn: Callable[[], object], rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def test_the_duplicate_key_check_is_cheap_on_a_large_batch(capsys: pytest.CaptureFixture[str]) -> None:
    """Measured on a 1,000-claim batch; loosely bounded (shared CI cores): at most the cost of the validation."""
    raw = ('{"claims": [' + ", ".join(_claim_json(f"C{i}") for i in range(1000)) + "]}").encode()
    check_ms = _best_ms(lambda: find_duplicate_keys(raw))
    parse_ms = _best_ms(lambda: ClaimBatch.model_validate_json(raw))
    with capsys.disabled():
        print(f"\nduplicate-key check {check_ms:.1f} ms on {len(raw) / 1e6:.2f} MB; validation {parse_ms:.1f} ms")
    assert check_ms < max(parse_ms, 50.0)
