"""The workspace's web security: cookies, CSRF, the headers of every page, form bodies and safe redirects.

- The session cookie is `HttpOnly`, `SameSite=Strict`, `Path=/` and `Secure`; with `Secure` its name carries
  the `__Host-` prefix, so a browser takes it only from this host over HTTPS and never with a `Domain`.
  `secure_cookies=False` exists for local http development only (`Settings` refuses it in production).
- CSRF: every form of a signed-in page posts the session's synchronizer token (`csrf_token`, a hidden
  field); the sign-in form, which has no session yet, posts a token that must equal a short-lived cookie
  set with the form (double submit). A mismatch is a 403 page, and nothing is done.
- Headers on every response under the workspace's prefix: a Content-Security-Policy that allows scripts,
  styles and images from this origin only (no inline code, no external host), no framing, no referrer,
  no MIME sniffing, and `Cache-Control: no-store` on pages (they show PHI); static assets may be cached.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "claimsight_session"
LOGIN_CSRF_COOKIE = "claimsight_login_csrf"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 50

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class LoginRequired(Exception):
    """No valid session: GET and HEAD are sent to the sign-in page, anything else gets 401."""


class CsrfRejected(Exception):
    """A form without this session's token (or the sign-in form without its cookie's token)."""


class BadForm(Exception):
    """A POST body that is not a small url-encoded form."""


def cookie_name(base: str, *, secure: bool) -> str:
    return f"__Host-{base}" if secure else base


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(
        cookie_name(name, secure=secure),
        value,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def delete_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(cookie_name(name, secure=secure), path="/", secure=secure, httponly=True, samesite="strict")


def read_cookie(request: Request, name: str, *, secure: bool) -> str | None:
    return request.cookies.get(cookie_name(name, secure=secure)) or None


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time equality of two tokens; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


async def read_form(request: Request) -> dict[str, str]:
    """The POSTed url-encoded form, first value per field. The body was capped by the app's body limit.

    Parsed here rather than with python-multipart: the workspace's forms are all url-encoded, and anything
    else is refused (`BadForm`, a 400 page)."""
    cached = getattr(request.state, "workspace_form", None)
    if cached is not None:
        return dict(cached)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise BadForm("expected an url-encoded form")
    body = await request.body()
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise BadForm("unreadable form") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    request.state.workspace_form = form
    return dict(form)


def safe_next(target: str | None, *, prefix: str, default: str) -> str:
    """A redirect target after sign-in: a path inside the workspace, or `default` (no open redirect)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(prefix + "/") or target.startswith("//"):
        return default
    return target


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every response under `prefix`, and `Cache-Control: no-store` to all but the
    static assets (under `static_prefix`). Pure ASGI: it wraps `send`, so streamed and error responses get
    them too."""

    def __init__(self, app: ASGIApp, *, prefix: str, static_prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.static_prefix = static_prefix

    def _covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefix + "/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
