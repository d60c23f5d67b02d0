"""The web layer's security: cookie flags, CSRF on every form, sign-in lock-out, sessions, safe redirects,
roles, and the headers and markup that let the Content-Security-Policy forbid inline code."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from http.cookies import SimpleCookie

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from workspace_sample import MAX_FAILURES, PASSWORD

from claimsight.settings import Settings
from serving.workspace.web import MemoryBackend, WorkspaceOptions
from serving.workspace.web.backend import User

from .conftest import csrf_of, make_app, sign_in

VAL = User("val", "Val Moreau", "reviewer")
# every form a signed-in person can post, with fields that would otherwise be accepted
POSTS = {
    "/app/items/1/work": {"expected_version": "1", "action": "appeal", "minutes": "5", "note": "n", "then": "sent"},
    "/app/items/1/draft": {"expected_draft_version": "", "letter": "Dear payer"},
    "/app/review/CLM-2001": {"expected_version": "1", "decision": "released", "note": ""},
    "/app/team/capacity": {"username": "ana", "minutes": "300"},
    "/app/logout": {},
}


def set_cookies(response: object) -> dict[str, SimpleCookie]:
    jar = {}
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        jar.update({name: cookie for name in cookie})
    return jar


def test_session_and_sign_in_cookies_are_httponly_strict_and_secure(client: TestClient) -> None:
    form = client.get("/app/login")
    login_cookie = set_cookies(form)["__Host-claimsight_login_csrf"]["__Host-claimsight_login_csrf"]
    response = client.post(
        "/app/login",
        data={"csrf_token": csrf_of(form.text), "username": "ana", "password": PASSWORD},
        follow_redirects=False,
    )
    session = set_cookies(response)["__Host-claimsight_session"]["__Host-claimsight_session"]
    for morsel in (login_cookie, session):
        assert morsel["httponly"] is True
        assert morsel["secure"] is True
        assert morsel["samesite"].lower() == "strict"
        assert morsel["path"] == "/"
        assert not morsel["domain"]
    assert not session["max-age"] and not session["expires"]  # gone when the browser closes
    assert len(session.value) >= 40


def test_secure_can_be_turned_off_for_local_http_only(backend: MemoryBackend) -> None:
    with TestClient(make_app(backend, secure_cookies=False), base_url="http://testserver") as client:
        sign_in(client, "ana")
        assert "claimsight_session" in client.cookies
        assert "__Host-claimsight_session" not in client.cookies
    assert WorkspaceOptions(backend=backend).secure_cookies is True
    assert Settings(workspace_secure_cookies=False).workspace_options(backend).secure_cookies is False
    with pytest.raises(ValueError, match="workspace_secure_cookies"):
        Settings(environment="production", api_keys=(), workspace_secure_cookies=False)


@pytest.mark.parametrize("path", sorted(POSTS))
@pytest.mark.parametrize("token", ["missing", "wrong", "other session's"])
def test_every_form_post_needs_this_sessions_csrf_token(
    client: TestClient, new_client: Callable[[], TestClient], backend: MemoryBackend, path: str, token: str
) -> None:
    owner = "val" if path.startswith("/app/review") else "lee" if path.startswith("/app/team") else "ana"
    own = sign_in(client, owner)  # someone whose form it is
    other = sign_in(new_client(), "ben")
    data = dict(POSTS[path])
    if token == "wrong":
        data["csrf_token"] = own[:-4] + "AAAA"
    elif token == "other session's":
        data["csrf_token"] = other
    response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "Form rejected" in response.text and "nothing was changed" in response.text
    assert backend.item("1").version == 1 and backend.item("1").history == ()
    assert backend.item("1").draft is None
    assert {c.status for c in backend.review_claims(VAL)} == {"pending"}
    assert client.get("/app/home", follow_redirects=False).status_code == 200  # still signed in
    data["csrf_token"] = own
    assert client.post(path, data=data, follow_redirects=False).status_code == 303  # the right token works


def test_sign_in_needs_the_forms_token_and_cookie(client: TestClient) -> None:
    form = client.get("/app/login")
    token = csrf_of(form.text)
    no_token = client.post("/app/login", data={"username": "ana", "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403
    client.cookies.clear()  # a page on another site posting the form: it has no cookie of ours
    forged = client.post(
        "/app/login", data={"csrf_token": token, "username": "ana", "password": PASSWORD}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "__Host-claimsight_session" not in client.cookies


def test_a_post_that_is_not_a_url_encoded_form_is_refused_like_a_forgery(
    client: TestClient, backend: MemoryBackend
) -> None:
    token = sign_in(client, "ana")
    fields = {"csrf_token": token, "expected_version": 1, "action": "appeal", "minutes": 3}
    as_json = client.post("/app/items/1/work", json=fields)
    as_multipart = client.post("/app/items/1/work", data=fields, files={"f": ("a.txt", b"x")})
    for response in (as_json, as_multipart):
        assert response.status_code == 403 and "Form rejected" in response.text
    assert backend.item("1").version == 1


def test_wrong_passwords_lock_the_account_even_against_the_right_one(client: TestClient) -> None:
    def attempt(username: str, password: str) -> object:
        form = client.get("/app/login")
        data = {"csrf_token": csrf_of(form.text), "username": username, "password": password}
        return client.post("/app/login", data=data, follow_redirects=False)

    wrong = attempt("ana", "nope")
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text  # type: ignore[attr-defined]
    for _ in range(MAX_FAILURES - 2):
        assert attempt("ana", "nope").status_code == 401  # type: ignore[attr-defined]
    locked = attempt("ana", "nope")
    assert locked.status_code == 429 and "locked" in locked.text  # type: ignore[attr-defined]
    right = attempt("ana", PASSWORD)
    assert right.status_code == 429 and "Try again after" in right.text  # type: ignore[attr-defined]
    assert attempt("ben", PASSWORD).status_code == 303  # another account is not affected
    client.cookies.clear()
    # an unknown username fails and locks exactly like a known one: the answers do not tell which exist
    answers = [attempt("nobody", "nope").status_code for _ in range(MAX_FAILURES)]  # type: ignore[attr-defined]
    assert answers == [401] * (MAX_FAILURES - 1) + [429]


def test_signing_out_revokes_the_session_and_signing_in_makes_a_new_one(app: FastAPI, client: TestClient) -> None:
    token = sign_in(client, "ana")
    first = client.cookies["__Host-claimsight_session"]
    response = client.post("/app/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/app/login"
    assert "__Host-claimsight_session" not in client.cookies
    with TestClient(app, base_url="https://testserver", cookies={"__Host-claimsight_session": first}) as replay:
        assert replay.get("/app/queue", follow_redirects=False).status_code == 303  # the old cookie is dead
    sign_in(client, "ana")
    assert client.cookies["__Host-claimsight_session"] != first


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/app/items/3", "/app/items/3"),
        ("https://evil.example/app/queue", "/app/queue"),
        ("//evil.example/app/queue", "/app/queue"),
        ("/\\evil.example", "/app/queue"),
        ("/docs", "/app/queue"),
        ("", "/app/queue"),
    ],
)
def test_after_sign_in_only_workspace_pages_are_redirect_targets(client: TestClient, target: str, lands: str) -> None:
    form = client.get("/app/login", params={"next": target})
    data = {"csrf_token": csrf_of(form.text), "username": "ana", "password": PASSWORD, "next": target}
    response = client.post("/app/login", data=data, follow_redirects=False)
    assert response.headers["location"] == lands


def test_a_failed_sign_in_still_goes_to_the_page_asked_for(client: TestClient) -> None:
    form = client.get("/app/login", params={"next": "/app/review"})
    data = {"csrf_token": csrf_of(form.text), "username": "ana", "password": "wrong", "next": "/app/review"}
    failed = client.post("/app/login", data=data)
    assert failed.status_code == 401 and 'name="next" value="/app/review"' in failed.text
    data = {"csrf_token": csrf_of(failed.text), "username": "ana", "password": PASSWORD, "next": "/app/review"}
    assert client.post("/app/login", data=data, follow_redirects=False).headers["location"] == "/app/review"


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("ana", {"/app/queue", "/app/items/1", "/app/items/1/letter", "/app/home"}),
        (
            "lee",
            {"/app/queue", "/app/queue?scope=team", "/app/items/1", "/app/items/1/letter", "/app/home", "/app/team"},
        ),
        ("val", {"/app/review", "/app/home"}),
        ("ada", {"/app/home"}),
    ],
)
def test_each_role_reaches_only_its_pages_and_gets_a_clear_403_elsewhere(
    client: TestClient, username: str, allowed: set[str]
) -> None:
    sign_in(client, username)
    pages = [
        "/app/queue", "/app/queue?scope=team", "/app/items/1", "/app/items/1/letter", "/app/review", "/app/home",
        "/app/team",
    ]  # fmt: skip
    for path in pages:
        response = client.get(path)
        if path in allowed:
            assert response.status_code == 200, path
        else:
            assert response.status_code == 403, path
            assert "Not for your role" in response.text and "cannot" in response.text, path
            assert "CLM-" not in response.text, path  # no claim shown


@pytest.mark.parametrize("username", ["val", "ada"])
def test_a_role_that_works_no_items_cannot_change_any(
    client: TestClient, backend: MemoryBackend, username: str
) -> None:
    token = sign_in(client, username)
    for path, fields in POSTS.items():
        if path == "/app/logout" or (username == "val" and path.startswith("/app/review")):
            continue
        response = client.post(path, data={**fields, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403 and "Not for your role" in response.text, path
    assert backend.item("1").version == 1 and backend.item("1").draft is None
    assert {c.status for c in backend.review_claims(VAL)} == {"pending"}


def test_each_role_lands_on_its_own_start_page(client: TestClient, new_client: Callable[[], TestClient]) -> None:
    for username, start in (("ana", "/app/queue"), ("val", "/app/review"), ("ada", "/app/home")):
        browser = new_client()
        form = browser.get("/app/login")
        data = {"csrf_token": csrf_of(form.text), "username": username, "password": PASSWORD}
        assert browser.post("/app/login", data=data, follow_redirects=False).headers["location"] == start
        assert browser.get("/app/", follow_redirects=False).headers["location"] == start
    home = browser.get("/app/home").text
    assert "claimsight workspace user add" in home and 'href="/app/queue"' not in home


class _Markup(HTMLParser):
    """Collects what a strict CSP would block: inline scripts and styles, event handlers, other hosts."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and not names.get("src"):
            self.problems.append("inline <script>")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if name in {"src", "href", "action"} and value:
                self.references.append(value)


@pytest.mark.parametrize(
    "path",
    [
        "/app/login",
        "/app/queue",
        "/app/queue?scope=team",
        "/app/items/1",
        "/app/items/1/letter",
        "/app/review",
        "/app/home",
        "/app/team",
    ],
)
def test_pages_carry_security_headers_and_no_inline_code_or_outside_references(client: TestClient, path: str) -> None:
    if path != "/app/login":
        sign_in(client, "val" if path == "/app/review" else "lee")  # a manager for /app/team
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "img-src", "form-action"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "http" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    markup = _Markup()
    markup.feed(response.text)
    assert markup.problems == []
    outside = [r for r in markup.references if not r.startswith("/") or r.startswith("//")]
    assert outside == []


def test_error_pages_redirects_and_assets_carry_the_headers_too(client: TestClient) -> None:
    redirect = client.get("/app/queue", follow_redirects=False)
    asset = client.get("/app/static/app.js")
    sign_in(client, "ana")
    missing = client.get("/app/items/NOPE")
    assert missing.status_code == 404 and "There is no item with that id." in missing.text
    for response in (redirect, asset, missing):
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    assert asset.headers["cache-control"] == "no-cache"
    assert client.get("/livez").headers.get("content-security-policy") is None  # the API is left as it was


def test_shipped_assets_are_all_local(client: TestClient) -> None:
    for name in ("app.css", "app.js", "favicon.svg"):
        text = client.get(f"/app/static/{name}").text
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name
        assert "@import" not in text and "url(" not in text, name
