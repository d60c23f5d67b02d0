"""Single sign-on by a header that a reverse proxy sets, opt-in (`WorkspaceOptions.sso`; off when None).

An organisation's sign-in service (nginx with `auth_basic` or `auth_request`, oauth2-proxy, a corporate SSO
gateway) authenticates the person and passes their username in a header such as `X-Forwarded-User`. The
workspace believes that header only from a TCP peer in `trusted_proxies`, because anyone who reaches the
service directly can send any header; from any other peer the header is ignored, a warning is logged (naming
the header and the peer, never the value), and the normal sign-in applies. The peer is `request.client` as
uvicorn reports it, which is the `X-Forwarded-For` address for peers in its `FORWARDED_ALLOW_IPS` (README,
"Single sign-on behind a reverse proxy"). The proxy asserts who the person
is and nothing more: the account must exist and be active in the workspace store, and its role is the
store's (`WorkspaceBackend.user_for_sso`). A username the store does not know is a 403 page saying the account
is not set up.

Why a vouched-for request opens an ordinary session instead of acting as that user request by request: the
proxy's own credential (its cookie, or the browser's remembered Basic credentials) is ambient: a browser
attaches it to a form another site posts, and the proxy then adds the header. A per-request identity would
therefore need its own defence against forged posts. A session keeps the existing one whole: its CSRF
token is random, bound to the session, and only ever written into this session's pages, and the session
cookie is `SameSite=Strict`. So a session is opened only on a GET or HEAD that arrives without a valid
session cookie; a post without one (a cross-site post, whose forger could not know a fresh session's token
anyway) opens none and is answered as signed out. Everything keyed on the session (CSRF,
the PHI view log, expiry, revocation) then works unchanged, and the cookie is the same one a password
sign-in sets (`SessionCookieMiddleware` adds it to the response of the request that opened it, so the page
is served at once, without a redirect that a cross-site navigation could turn into a loop).

The proxy stays in charge of identity: when it names someone other than the session's user (another person
signed in at the proxy in the same browser), that session is revoked and, on a GET, one for the named person
is opened. Signing out of the workspace revokes its session only: the next page the proxy forwards opens a
new one, so people sign out at the proxy. With `only=True` the password sign-in is turned off.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.workspace.proxy_trust import Network, check_header_name, parse_trusted_proxies, trusted
from serving.workspace.web.backend import Session, WorkspaceBackend
from serving.workspace.web.security import SESSION_COOKIE, set_cookie

if TYPE_CHECKING:
    from serving.workspace.web.app import Workspace

log = logging.getLogger("serving.workspace.sso")

MAX_USERNAME_CHARS = 200  # as the sign-in form
OPENED_STATE = "workspace_sso_token"  # scope["state"] key: the token of a session this request opened
OPENING_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class HeaderSso:
    """`header`: the field the proxy sets to the username. `trusted_proxies`: the proxy's addresses or networks,
    as the service sees its TCP peer. `only`: turn the password sign-in off."""

    header: str
    trusted_proxies: tuple[str, ...]
    only: bool = False
    networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_header_name(self.header)
        networks = parse_trusted_proxies(self.trusted_proxies)
        if not networks:
            raise ValueError("single sign-on by header needs at least one trusted proxy address")
        object.__setattr__(self, "networks", networks)

    def trusts(self, host: str | None) -> bool:
        return trusted(host, self.networks)


class SsoAccountMissing(Exception):
    """A trusted proxy named a user with no active workspace account."""

    def __init__(self, username: str) -> None:
        super().__init__("no active workspace account for the single sign-on user")
        self.username = username


def asserted_username(request: Request, sso: HeaderSso) -> str | None:
    """The username the proxy vouches for, or None when this request carries no header to believe."""
    values = request.headers.getlist(sso.header)
    if not values:
        return None
    peer = request.client.host if request.client else None
    if not sso.trusts(peer):
        log.warning("ignored the %s header from %s, which is not a trusted proxy", sso.header, peer or "no address")
        return None
    if len(values) > 1:  # the proxy passed the browser's header on beside its own: believe neither
        log.warning("ignored %d %s headers on one request from the proxy: it must set exactly one", len(values),
                    sso.header)  # fmt: skip
        return None
    raw = values[0]
    with contextlib.suppress(UnicodeError):  # header bytes arrive decoded as Latin-1; a proxy sends UTF-8
        raw = raw.encode("latin-1").decode("utf-8")
    return raw.strip() or None


async def sso_session(
    request: Request, found: Session | None, *, sso: HeaderSso, backend: WorkspaceBackend
) -> Session | None:
    """The session this request acts in, given the one its cookie named (`found`) and the proxy's header.

    Raises `SsoAccountMissing` when a trusted proxy names someone with no active account."""
    username = asserted_username(request, sso)
    if username is None:
        return found
    if found is not None and found.user.username.casefold() == username.casefold():
        return found
    if found is not None:  # the proxy now names someone else: the old session is not theirs to use
        await run_in_threadpool(backend.revoke_session, found.token)
    user = None if len(username) > MAX_USERNAME_CHARS else await run_in_threadpool(backend.user_for_sso, username)
    if user is None:
        log.warning("a trusted proxy named a user with no active workspace account")
        raise SsoAccountMissing(username[:MAX_USERNAME_CHARS])
    if request.method not in OPENING_METHODS:
        return None  # signed out: the form was not from a session of this person
    session = await run_in_threadpool(backend.create_session, user)
    setattr(request.state, OPENED_STATE, session.token)  # for SessionCookieMiddleware
    return session


class SessionCookieMiddleware:
    """Sets the session cookie on the response of a request that `sso_session` opened a session for. Pure ASGI,
    wrapping `send`, so whatever the route answers (a page, a redirect, a 403) carries it."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            token = state.get(OPENED_STATE)
            if message["type"] == "http.response.start" and token:
                cookie = Response()
                set_cookie(cookie, SESSION_COOKIE, token, secure=self.secure)
                headers = MutableHeaders(scope=message)
                for value in cookie.headers.getlist("set-cookie"):
                    headers.append("set-cookie", value)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def password_sign_in_off(ws: Workspace) -> Response:
    """What the sign-in page says when only single sign-on is allowed and this request carried none."""
    return ws.error(
        401,
        "Sign in through single sign-on",
        "This workspace signs people in through your organisation's sign-in service, not with a password here. "
        "Open the workspace through that service's address.",
    )


def install_sso(app: FastAPI, ws: Workspace) -> None:
    """What single sign-on adds to the app: the cookie of sessions it opens, and the page for unknown users."""

    async def account_missing(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SsoAccountMissing)
        return ws.error(
            403,
            "Account not set up",
            f"Your organisation's sign-in service says you are {exc.username}, but that account is not set up in "
            "the workspace (or is turned off). Ask a workspace administrator to add it.",
        )

    app.add_exception_handler(SsoAccountMissing, account_missing)
    app.add_middleware(SessionCookieMiddleware, secure=ws.options.secure_cookies)


__all__ = [
    "HeaderSso",
    "SessionCookieMiddleware",
    "SsoAccountMissing",
    "asserted_username",
    "install_sso",
    "password_sign_in_off",
    "sso_session",
]
