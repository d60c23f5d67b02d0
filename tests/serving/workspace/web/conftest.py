"""The workspace app in-process (TestClient over https://testserver, so `Secure` cookies are sent back), with
the sample workspace of tests/workspace_sample.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from workspace_sample import PASSWORD, sample_backend, sample_options

from serving.api import ApiConfig, ModelRegistry, create_app
from serving.workspace.web import MemoryBackend

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(backend: MemoryBackend, *, secure_cookies: bool = True) -> FastAPI:
    return create_app(
        config=ApiConfig(), models=ModelRegistry([]), workspace=sample_options(backend, secure_cookies=secure_cookies)
    )


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (read from a page, as a browser would)."""
    form = client.get("/app/login")
    response = client.post(
        "/app/login",
        data={"csrf_token": csrf_of(form.text), "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/app/queue").text)


@pytest.fixture
def backend() -> MemoryBackend:
    return sample_backend()


@pytest.fixture
def app(backend: MemoryBackend) -> FastAPI:
    return make_app(backend)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Another browser: its own cookie jar."""
    made: list[TestClient] = []

    def make() -> TestClient:
        made.append(TestClient(app, base_url="https://testserver"))
        return made[-1]

    yield make
    for c in made:
        c.close()
