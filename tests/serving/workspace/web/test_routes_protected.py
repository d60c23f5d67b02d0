"""Nothing under /app answers without a session but the sign-in page and the static assets.

The walk reads the app's own route table, so a route added later is walked too: if it answers a visitor
without a session with anything but a redirect to sign-in (GET) or 401/403 (other methods), this fails.
"""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from starlette.routing import Mount

from serving.workspace.web import PUBLIC_PATHS, MemoryBackend

from .conftest import make_app

PREFIX = "/app"
STATIC = PREFIX + "/static"
PUBLIC = {PREFIX + p for p in PUBLIC_PATHS}


def all_routes(app: FastAPI) -> list[Any]:
    """Every route of the app, those of included routers among them (FastAPI >= 0.16x keeps an included router
    as one entry of `app.routes`; `iter_route_contexts` flattens it)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(app.routes) if flatten is None else list(flatten(app.routes))


def workspace_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every route under the prefix, path parameters filled in."""
    walked = []
    for route in all_routes(app):
        path = getattr(route, "path", None) or ""
        original = getattr(route, "original_route", route)
        if not (path == PREFIX or path.startswith(PREFIX + "/")) or isinstance(original, Mount) and path == STATIC:
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET", "POST"})
        walked += [(method, re.sub(r"\{[^}]+\}", "1", path)) for method in methods]
    return walked


def unprotected(app: FastAPI) -> list[str]:
    """Routes that answer a visitor without a valid session (no cookie, or a made-up one)."""
    problems = []
    for cookies in ({}, {"__Host-claimsight_session": "made-up", "claimsight_session": "made-up"}):
        with TestClient(app, base_url="https://testserver", cookies=cookies) as client:
            for method, path in workspace_routes(app):
                if path in PUBLIC:
                    continue
                response = client.request(method, path, data={"csrf_token": "x"}, follow_redirects=False)
                if method in {"GET", "HEAD"}:
                    ok = response.status_code == 303 and response.headers["location"].startswith(PREFIX + "/login")
                else:
                    ok = response.status_code in {401, 403}
                if not ok:
                    problems.append(f"{method} {path} -> {response.status_code}")
    return problems


def test_every_workspace_route_needs_a_session(app: FastAPI) -> None:
    walked = workspace_routes(app)
    assert len({p for _, p in walked}) >= 9, walked  # the walk does see the pages
    assert unprotected(app) == []


def test_the_walk_finds_a_route_added_without_protection(backend: MemoryBackend) -> None:
    app = make_app(backend)

    @app.get(PREFIX + "/export")
    async def export() -> PlainTextResponse:  # e.g. someone adds a page outside the protected router
        return PlainTextResponse("claims")

    assert unprotected(app) == ["GET /app/export -> 200", "GET /app/export -> 200"]


def test_only_sign_in_and_static_assets_are_public(client: TestClient) -> None:
    assert {"/app/login"} == PUBLIC
    assert client.get("/app/login").status_code == 200
    css = client.get("/app/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/app/static/../workspace_sample.py").status_code == 404
    assert client.get("/app/static/%2e%2e/app.py").status_code == 404


def test_a_signed_out_visitor_comes_back_to_the_page_after_signing_in(client: TestClient) -> None:
    response = client.get("/app/items/D0002?saved=work", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%2Fitems%2FD0002%3Fsaved%3Dwork"
