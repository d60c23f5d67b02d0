"""Single sign-on by a reverse proxy's header (serving/workspace/web/sso.py): believed only from a trusted peer,
for an active account whose role is the store's, through an ordinary session (so CSRF and the PHI view log
work as after a password sign-in); off unless configured, and validated when settings load."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from workspace_sample import PASSWORD, sample_options

from claimsight.settings import Settings
from serving.api import ApiConfig, ModelRegistry, create_app
from serving.workspace.web import HeaderSso, MemoryBackend, WorkspaceOptions
from serving.workspace.web.backend import Session, User
from serving.workspace.web.sso import SessionCookieMiddleware

from .conftest import csrf_of, make_app, sign_in

HEADER = "X-Forwarded-User"
PROXY = ("10.0.0.5", 41234)
ELSEWHERE = ("203.0.113.9", 51234)  # a client that reached the service without the proxy
TRUSTED = ("10.0.0.5", "fd00:1::/64")


def sso_app(backend: MemoryBackend, *, only: bool = False, trusted: tuple[str, ...] = TRUSTED) -> FastAPI:
    options = dataclasses.replace(
        sample_options(backend), sso=HeaderSso(header=HEADER, trusted_proxies=trusted, only=only)
    )
    return create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)


@pytest.fixture
def browser(backend: MemoryBackend) -> Iterator[Callable[..., TestClient]]:
    """A browser reaching the SSO-enabled app from `peer` (the proxy by default), with its own cookie jar."""
    made: list[TestClient] = []
    apps: dict[bool, FastAPI] = {}

    def make(peer: tuple[str, int] = PROXY, *, user: str | None = None, only: bool = False) -> TestClient:
        app = apps.setdefault(only, sso_app(backend, only=only))
        headers = {HEADER: user} if user is not None else None
        made.append(TestClient(app, base_url="https://testserver", client=peer, headers=headers))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def opened(backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch) -> list[Session]:
    """Every session the backend opens from here on."""
    sessions: list[Session] = []
    create = backend.create_session

    def spy(user: User) -> Session:
        sessions.append(create(user))
        return sessions[-1]

    monkeypatch.setattr(backend, "create_session", spy)
    return sessions


def test_a_trusted_proxys_header_signs_in_through_an_ordinary_session(
    browser: Callable[..., TestClient], backend: MemoryBackend, opened: list[Session]
) -> None:
    client = browser(user="ANA")  # usernames match without regard to case, as at the password sign-in
    page = client.get("/app/queue")
    assert page.status_code == 200 and "Ana Ruiz" in page.text
    assert "__Host-claimsight_session" in client.cookies  # the cookie a password sign-in sets
    assert [s.user.username for s in opened] == ["ana"]
    assert client.cookies["__Host-claimsight_session"] == opened[0].token
    assert client.get("/app/items/1").status_code == 200
    assert len(opened) == 1  # the cookie's session is used again, not a new one per page
    assert [v[0] for v in backend.phi_views] == ["ana", "ana"]

    token = csrf_of(client.get("/app/items/1").text)
    assert token == opened[0].csrf_token  # the session's own CSRF token, on its pages only
    work = {"expected_version": "1", "action": "payer_call", "minutes": "5", "note": "", "then": "working"}
    assert client.post("/app/items/1/work", data=work, follow_redirects=False).status_code == 403  # no token
    assert backend.item("1").version == 1
    done = client.post("/app/items/1/work", data={**work, "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert backend.item("1").history[-1].by == "ana"


@pytest.mark.parametrize(
    ("user", "allowed", "refused"),
    [("val", "/app/review", "/app/queue"), ("lee", "/app/team", "/app/review"), ("ana", "/app/queue", "/app/team")],
)
def test_the_role_is_the_stores_not_the_proxys(
    browser: Callable[..., TestClient], user: str, allowed: str, refused: str
) -> None:
    client = browser(user=user)
    client.headers["X-Forwarded-Role"] = "admin"  # the proxy asserts identity only; nothing else is read
    assert client.get(allowed).status_code == 200
    assert client.get(refused).status_code == 403


def test_the_header_from_an_untrusted_peer_is_ignored_and_logged_without_its_value(
    browser: Callable[..., TestClient], opened: list[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serving.workspace.sso")
    for peer in (ELSEWHERE, ("testclient", 50000), ("10.0.0.6", 1)):
        client = browser(peer, user="lee")
        response = client.get("/app/queue", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/app/login?next=%2Fapp%2Fqueue"
        assert client.get("/app/login").status_code == 200  # the password form, not a session
        assert "claimsight_session" not in str(client.cookies)
    assert opened == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "serving.workspace.sso"]
    assert warnings and all(HEADER in w and "lee" not in w for w in warnings)
    assert any("203.0.113.9" in w for w in warnings)

    client = browser(ELSEWHERE, user="lee")  # the normal sign-in still works, as whoever signs in
    sign_in(client, "ana")
    assert "Ana Ruiz" in client.get("/app/queue").text


def test_an_account_the_store_does_not_have_or_has_turned_off_gets_403(
    browser: Callable[..., TestClient],
    backend: MemoryBackend,
    opened: list[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    name = "mallory<script>x</script>"
    for path in ("/app/queue", "/app/login"):
        page = browser(user=name).get(path, follow_redirects=False)
        assert page.status_code == 403
        assert "not set up in the workspace" in page.text
        assert "mallory&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>x" not in page.text
    backend.set_active("ben", active=False)
    assert browser(user="ben").get("/app/queue").status_code == 403
    assert browser(user="x" * 500).get("/app/queue").status_code == 403  # too long to be anyone's
    assert opened == []
    assert not any("mallory" in r.getMessage() or "ben" in r.getMessage() for r in caplog.records)


def test_without_the_header_the_password_sign_in_applies(
    browser: Callable[..., TestClient], opened: list[Session]
) -> None:
    client = browser()  # from the proxy, without the header (or with an empty one)
    assert client.get("/app/queue", follow_redirects=False).headers["location"].startswith("/app/login")
    empty = browser(user="  ")
    assert empty.get("/app/queue", follow_redirects=False).status_code == 303
    assert opened == []
    sign_in(client, "lee")
    assert "Lee Park" in client.get("/app/queue").text


def test_two_headers_on_one_request_are_not_believed(browser: Callable[..., TestClient]) -> None:
    client = browser()
    response = client.get("/app/queue", headers=[(HEADER, "ana"), (HEADER, "lee")], follow_redirects=False)
    assert response.status_code == 303 and "claimsight_session" not in str(client.cookies)


def test_the_proxy_naming_someone_else_ends_the_session_it_had(
    browser: Callable[..., TestClient], backend: MemoryBackend
) -> None:
    client = browser(user="ana")
    assert "Ana Ruiz" in client.get("/app/queue").text
    ana_token = client.cookies["__Host-claimsight_session"]
    client.headers[HEADER] = "lee"
    assert "Lee Park" in client.get("/app/queue").text
    assert backend.lookup_session(ana_token) is None
    assert client.cookies["__Host-claimsight_session"] != ana_token


def test_a_form_posted_without_a_session_opens_none(
    browser: Callable[..., TestClient], backend: MemoryBackend, opened: list[Session]
) -> None:
    """A cross-site form carries the proxy's credential but not the SameSite=Strict session cookie: it must not
    get a session (its token could not match anyway)."""
    client = browser(user="ana")
    data = {"expected_version": "1", "action": "appeal", "minutes": "5", "note": "", "then": "sent"}
    assert client.post("/app/items/1/work", data=data, follow_redirects=False).status_code == 401
    assert opened == [] and backend.item("1").version == 1


def test_signing_out_revokes_the_session_and_the_proxy_signs_in_again(
    browser: Callable[..., TestClient], backend: MemoryBackend
) -> None:
    client = browser(user="val")
    token = csrf_of(client.get("/app/review").text)
    old = client.cookies["__Host-claimsight_session"]
    out = client.post("/app/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and backend.lookup_session(old) is None
    again = client.get("/app/login", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/app/review"
    assert client.cookies["__Host-claimsight_session"] != old


def test_sso_only_turns_the_password_sign_in_off(browser: Callable[..., TestClient], opened: list[Session]) -> None:
    client = browser(ELSEWHERE, only=True)
    form = client.get("/app/login")
    assert form.status_code == 401 and "single sign-on" in form.text and 'name="password"' not in form.text
    posted = client.post("/app/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
    assert posted.status_code == 401 and opened == []
    assert browser(only=True, user="ana").get("/app/queue").status_code == 200


def test_off_by_default_and_nothing_changes(backend: MemoryBackend, opened: list[Session]) -> None:
    assert WorkspaceOptions(backend=backend).sso is None
    assert Settings().workspace_options(backend).sso is None
    app = make_app(backend)
    assert not any(m.cls is SessionCookieMiddleware for m in app.user_middleware)
    with TestClient(app, base_url="https://testserver", client=PROXY, headers={HEADER: "ana"}) as client:
        assert client.get("/app/queue", follow_redirects=False).status_code == 303
        assert opened == []
        sign_in(client, "ana")
        assert client.get("/app/queue").status_code == 200


def test_settings_turn_it_on_and_validate_it_at_start_up(
    backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        ValueError, match="workspace_sso_trusted_proxies: required when CLAIMSIGHT_WORKSPACE_SSO_HEADER"
    ):
        Settings(workspace_sso_header=HEADER)
    for bad in (("10.0.0.5/8",), ("0.0.0.0/0",), ("proxy.internal",)):
        with pytest.raises(ValueError, match="workspace_sso_trusted_proxies: trusted proxy 1"):
            Settings(workspace_sso_header=HEADER, workspace_sso_trusted_proxies=bad)
    with pytest.raises(ValueError, match="workspace_sso_header"):
        Settings(workspace_sso_header="X Forwarded: User", workspace_sso_trusted_proxies=("10.0.0.5",))
    with pytest.raises(ValueError, match="workspace_sso_only"):
        Settings(workspace_sso_only=True)
    with pytest.raises(ValueError, match="at least one trusted proxy"):
        HeaderSso(header=HEADER, trusted_proxies=())

    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_SSO_HEADER", HEADER)
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16 ::1")
    sso = Settings().workspace_options(backend).sso
    assert sso is not None and sso.header == HEADER and not sso.only
    assert [sso.trusts(h) for h in ("10.0.0.5", "10.1.2.3", "::1", "10.0.0.6", "nobody", None)] == [
        True, True, True, False, False, False,
    ]  # fmt: skip
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES", '["10.0.0.5"]')
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_SSO_ONLY", "true")
    only = Settings().workspace_options(backend).sso
    assert only is not None and only.only and only.trusted_proxies == ("10.0.0.5",)


def test_behind_uvicorn_the_peer_checked_is_the_one_it_reports(backend: MemoryBackend) -> None:
    """README: uvicorn replaces a peer in FORWARDED_ALLOW_IPS (127.0.0.1 by default) with the X-Forwarded-For
    address, so a same-machine proxy must not send that header to /app, and a browser cannot use it to pose as
    the proxy."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    inner: Any = sso_app(backend, trusted=("127.0.0.1",))
    app: Any = ProxyHeadersMiddleware(inner, trusted_hosts="127.0.0.1,::1")
    local = ("127.0.0.1", 40000)
    with TestClient(app, base_url="https://testserver", client=local, headers={HEADER: "ana"}) as client:
        forwarded = client.get("/app/queue", headers={"X-Forwarded-For": "198.51.100.7"}, follow_redirects=False)
        assert forwarded.status_code == 303  # uvicorn reported the browser: not the proxy
        assert client.get("/app/queue").status_code == 200  # the proxy, without X-Forwarded-For
    with TestClient(app, base_url="https://testserver", client=ELSEWHERE, headers={HEADER: "ana"}) as client:
        posing = client.get("/app/queue", headers={"X-Forwarded-For": "127.0.0.1"}, follow_redirects=False)
        assert posing.status_code == 303  # uvicorn believes X-Forwarded-For only from its own trusted peers
