"""Every route but the probes needs a key; scopes are enforced; nothing a caller sent comes back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from api.support import Keys, Service, bearer
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from serving.api.app import OPEN_PATHS
from serving.api.security import KeyRing, hash_key, new_key, parse_key_entry, require_scope

WRONG_KEY = "csk_this-is-not-a-configured-key-CANARYKEY"


def _protected_routes(service: Service) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for context in iter_route_contexts(service.app.routes):
        if isinstance(context.original_route, APIRoute) and context.path not in OPEN_PATHS:
            path = str(context.path).replace("{claim_id}", "CLM-1")
            out.extend((method, path) for method in sorted(context.methods or ()))
    return out


def test_every_route_but_the_probes_is_protected(service: Service) -> None:
    routes = _protected_routes(service)
    assert ("GET", "/v1/models") in routes and ("POST", "/v1/admin/reload") in routes
    bad_headers: list[dict[str, str]] = [
        {},
        bearer(WRONG_KEY),
        {"X-API-Key": WRONG_KEY},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {WRONG_KEY}"},
        {"Authorization": WRONG_KEY},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    with TestClient(service.app) as client:
        for method, path in routes:
            for headers in bad_headers:
                response = client.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, headers.keys())
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert response.json()["detail"] == "missing or invalid API key"
                assert "CANARYKEY" not in response.text
                assert "CANARYKEY" not in str(response.headers)


def test_probes_are_open(client: TestClient) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_docs_are_off_unless_configured(make_service: Callable[..., Service]) -> None:
    assert TestClient(make_service().app).get("/openapi.json").status_code == 404
    assert TestClient(make_service(docs=True).app).get("/openapi.json").status_code == 200


def test_right_scope_both_header_styles(client: TestClient, keys: Keys) -> None:
    for headers in (bearer(keys.score), {"X-API-Key": keys.score}, {"Authorization": f"bearer {keys.score}"}):
        assert client.get("/v1/models", headers=headers).status_code == 200
    assert client.post("/v1/admin/reload", headers={"X-API-Key": keys.admin}).status_code == 200
    assert client.post("/v1/admin/reload", headers=bearer(keys.both)).status_code == 200
    assert client.get("/v1/models", headers=bearer(keys.both)).status_code == 200


def test_wrong_scope_is_403(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/admin/reload", headers=bearer(keys.score))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert client.get("/v1/models", headers=bearer(keys.admin)).status_code == 403


def test_new_key_round_trip() -> None:
    secret, entry = new_key(key_id="ops-1", scopes=("admin", "score"))
    key = parse_key_entry(entry)
    assert entry == f"ops-1:{hash_key(secret)}:admin,score"
    assert secret not in entry and key.scopes == {"admin", "score"}
    ring = KeyRing([key, parse_key_entry(new_key(key_id="other")[1])])
    assert ring.authenticate(secret) == key
    assert ring.authenticate(secret + "x") is None
    assert ring.authenticate("") is None and ring.authenticate(None) is None
    assert new_key()[0] != new_key()[0]


@pytest.mark.parametrize(
    "entry",
    [
        "only-two:parts",
        "bad id:" + "a" * 64 + ":score",
        "k:" + "A" * 64 + ":score",
        "k:" + "a" * 63 + ":score",
        "k:" + "a" * 64 + ":",
        "k:" + "a" * 64 + ":score,superuser",
    ],
)
def test_bad_key_entries_are_refused_without_echo(entry: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_key_entry(entry)
    assert entry not in str(info.value) and "a" * 63 not in str(info.value)


def test_unknown_scope_and_duplicate_ids_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        require_scope("root")
    entry = new_key(key_id="same")[1]
    with pytest.raises(ValueError, match="unique"):
        KeyRing([parse_key_entry(entry), parse_key_entry(entry)])


def test_auth_is_checked_before_the_body_is_validated(service: Service, client: TestClient) -> None:
    """An unauthenticated caller learns nothing about the request schema from a 422."""
    response = client.post("/v1/test/score", json={"claims": [{"patient_name": "x"}]})
    assert response.status_code == 401
    assert service.audit is not None and service.audit.flush_refusals() == 1
    assert service.audit.recent(1)[0].status_code == 401
