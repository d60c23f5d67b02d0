"""Request ids, the body-size cap, and error bodies that carry no request data.

Every known leak path of a FastAPI service ends here (RELIABILITY.md, "No PHI where it does not belong"):

- FastAPI's default 422 body echoes `input` and `ctx`. Ours names the field and the pydantic rule, and
  builds the message again from the rule and only those `ctx` values that come from the schema (limits,
  patterns, allowed literals). Anything a rule could only describe by quoting the input (`value_error`
  from a custom validator, `union_tag_invalid`, date and UUID parse errors, ...) gets a generic message.
  Location parts that do not look like identifiers are replaced by `*`: extra keys and dict keys are chosen
  by the client, and an identifier-like name is the most a field path will echo.
- A catch-all handler that returns `str(exc)`. Ours returns only `detail` and `request_id`, and logs the
  exception type, the request id and the stack frames (file, line, code), never the message, which
  is where values end up (`KeyError('<a claim id>')`).
- Uvicorn logs an exception that escapes the app with its message. `RequestContextMiddleware` is the
  outermost of our middlewares and swallows every exception after answering 500, so none escapes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.utils import is_body_allowed_for_status_code
from pydantic_core import PydanticKnownError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from serving.api.config import ApiConfig

log = logging.getLogger("serving.api")

REQUEST_ID_HEADER: Final = "X-Request-ID"
# Matched with `fullmatch`: with `match`, `$` also matches before a trailing newline ("id\n" passed).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

# ctx keys whose values come from the schema (a limit, a pattern, the allowed literals), never from the input.
_SCHEMA_CTX: Final = frozenset(
    {
        "ge",
        "gt",
        "le",
        "lt",
        "multiple_of",
        "min_length",
        "max_length",
        "field_type",
        "pattern",
        "expected",
        "class_name",
        "max_digits",
        "decimal_places",
        "whole_digits",
        "expected_schemes",
        "expected_version",
        "discriminator",
        "expected_tags",
        "tz_expected",
    }
)
GENERIC_MESSAGE: Final = "Input is not valid for this field"
# Rules of the service's own (not pydantic's), with their fixed messages.
DUPLICATE_KEY: Final = "duplicate_key"
_OWN_MESSAGES: Final = {DUPLICATE_KEY: "Object has the same key more than once"}
LOGGED_FRAMES: Final = 8


# ----------------------------------------------------------------------------------------------- request id


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def _incoming_request_id(scope: Scope) -> str:
    """Keep a caller's id when it is 1-64 characters of [A-Za-z0-9._-] (so it can be logged, stored and echoed
    safely), else make a fresh one; an unsafe value is dropped here and goes nowhere (not even cut short)."""
    given = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def internal_error_response(request_id: str) -> JSONResponse:
    return JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)


def log_exception(exc: BaseException, *, request_id: str, what: str = "unhandled") -> None:
    """Log the type, the request id and the innermost frames (file, line, source line); not the message,
    not chained causes, not locals."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-LOGGED_FRAMES:]))
    log.error("%s %s request_id=%s\n%s", what, type(exc).__name__, request_id, frames.rstrip())


class RequestContextMiddleware:
    """Outermost middleware: gives each request an id (`request.state.request_id`, echoed as X-Request-ID),
    and turns any exception that reaches it into a 500 carrying only that id.

    It does not re-raise: Starlette's ServerErrorMiddleware and the ASGI server would log the exception's
    message, and the message is where request data ends up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log_exception(exc, request_id=request_id)
            if not started:
                await internal_error_response(request_id)(scope, receive, send_with_id)


# ------------------------------------------------------------------------------------------------ body limit


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when the streamed body passes the cap.

    An HTTPException on purpose: FastAPI turns any other exception met while reading the body into a 400,
    but re-raises HTTPExceptions, so the client gets the 413 from our HTTPException handler.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


class BodyTimeout(StarletteHTTPException):
    """Raised from `receive` when the body has not all arrived in time (a slow or stalled sender)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=408, detail=f"request body not received within {seconds:g} seconds")


class BodyLimitMiddleware:
    """Reject bodies over `max_body_bytes` with 413: at once when Content-Length says so, and while reading
    when the bytes actually received pass it (chunked uploads, or a Content-Length that lies); and bodies
    that take longer than `body_timeout_seconds` to arrive with 408, so a client trickling bytes cannot
    hold a worker's connection slot. Only the body is timed: waits after it (for a disconnect) are not."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    def _response(self, scope: Scope, error: StarletteHTTPException) -> JSONResponse:
        request_id = str(scope.get("state", {}).get("request_id", "-"))
        return JSONResponse({"detail": error.detail, "request_id": request_id}, status_code=error.status_code)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._response(scope, BodyTooLarge(self.max_body_bytes))(scope, receive, send)
            return

        received = 0
        started = False
        body_done = False
        loop = asyncio.get_running_loop()
        timeout = self.body_timeout_seconds
        deadline = None if timeout is None else loop.time() + timeout

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if body_done or deadline is None or timeout is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise BodyTimeout(timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except (BodyTooLarge, BodyTimeout) as error:
            if started:
                raise
            await self._response(scope, error)(scope, receive, send)


# ---------------------------------------------------------------------------------------- validation errors


def _field(loc: Iterable[Any]) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(str(part))
        else:
            text = str(part)
            parts.append(text if _NAME_PART.match(text) else "*")
    return ".".join(parts)


def _plural(n: object) -> str:
    return "" if n == 1 else "s"


def safe_message(error_type: str, ctx: Mapping[str, Any] | None) -> str:
    """The pydantic message for `error_type`, rendered from schema-derived ctx values only.

    Rules whose message needs anything else (the input, a parser's description of it, a custom validator's
    text, the actual length) get `GENERIC_MESSAGE`; the rule name still tells the client what failed.
    """
    if error_type in _OWN_MESSAGES:
        return _OWN_MESSAGES[error_type]
    schema_ctx = {k: v for k, v in (ctx or {}).items() if k in _SCHEMA_CTX}
    # too_long / too_short quote the received length; say the limit only.
    if error_type == "too_long" and "max_length" in schema_ctx:
        n = schema_ctx["max_length"]
        return f"{schema_ctx.get('field_type', 'Value')} should have at most {n} item{_plural(n)}"
    if error_type == "too_short" and "min_length" in schema_ctx:
        n = schema_ctx["min_length"]
        return f"{schema_ctx.get('field_type', 'Value')} should have at least {n} item{_plural(n)}"
    try:
        return PydanticKnownError(error_type, schema_ctx or None).message()  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return GENERIC_MESSAGE


def public_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """`[{"field", "rule", "message"}]` from pydantic/FastAPI errors, with no input and no input-derived ctx.

    An unexpected key is itself client input (a caller may send `"<member id>": ...`), so for
    `extra_forbidden` the last part of the path is masked even when it looks like a field name."""
    return [
        {
            "field": _field(
                tuple(e.get("loc", ()))[:-1] + ("*",) if e.get("type") == "extra_forbidden" else e.get("loc", ())
            ),
            "rule": str(e.get("type", "invalid")),
            "message": safe_message(str(e.get("type", "")), e.get("ctx")),
        }
        for e in errors
    ]


def validation_response(request_id: str, errors: Sequence[Any]) -> JSONResponse:
    body = {"detail": "request validation failed", "request_id": request_id, "errors": public_errors(errors)}
    return JSONResponse(body, status_code=422)


def duplicate_key_errors(paths: Iterable[Sequence[str | int]]) -> list[dict[str, Any]]:
    """Errors (as pydantic's, under "body") for JSON objects that hold a key twice; the location is the object's
    path: the key itself is client input (and stays unnamed), the values are never looked at."""
    return [
        {"type": DUPLICATE_KEY, "loc": ("body", *path), "msg": _OWN_MESSAGES[DUPLICATE_KEY], "input": None}
        for path in paths
    ]


def check_batch(n: int, config: ApiConfig, *, field: str = "body") -> None:
    """Refuse a batch longer than `config.max_batch` with the same 422 shape as any validation error.

    `field` is the dotted path of the list, e.g. "body.claims". A route checks this before any work, so
    a huge batch costs parsing only (the body cap bounds that).
    """
    if n > config.max_batch:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": tuple(field.split(".")),
                    "msg": "batch too long",
                    "input": None,
                    "ctx": {"field_type": "List", "max_length": config.max_batch},
                }
            ]
        )


# ---------------------------------------------------------------------------------------------- media type

JSON_MEDIA_TYPE_MESSAGE: Final = "Content-Type should be application/json (UTF-8) or application/*+json"


class UnsupportedMediaType(StarletteHTTPException):
    """415 for a JSON route sent a body of another media type (or none). The body names the header and the rule,
    never the value sent."""

    errors: Final = (
        {"field": "header.content-type", "rule": "unsupported_media_type", "message": JSON_MEDIA_TYPE_MESSAGE},
    )

    def __init__(self) -> None:
        super().__init__(status_code=415, detail="unsupported media type")


class PositionedBodyErrors(StarletteHTTPException):
    """422 for a body that is not JSON (an X12 interchange): each problem as a dict of fixed text and positions
    built by the route (`serving.api.x12`), in the `errors` list every 422 has."""

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(status_code=422, detail="request validation failed")
        self.errors = [dict(e) for e in errors]


def is_json_media_type(value: str | None) -> bool:
    """application/json or application/<anything>+json, with no charset or UTF-8 (RFC 8259: JSON is UTF-8)."""
    if not value:
        return False
    media, *params = value.split(";")
    kind, _, subtype = media.strip().lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset" and given.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


# ---------------------------------------------------------------------------------------------- handlers


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_response(request_id_of(request), exc.errors())


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    """HTTPExceptions keep their status, detail and headers (401's WWW-Authenticate, 503's Retry-After);
    the body gains the request id. Details are our own fixed strings, never request data."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    body: dict[str, Any] = {"detail": exc.detail, "request_id": request_id_of(request)}
    if isinstance(exc, UnsupportedMediaType | PositionedBodyErrors):
        body["errors"] = list(exc.errors)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _catch_all_handler(request: Request, exc: Exception) -> Response:
    """Second line behind `RequestContextMiddleware`: if an exception ever reaches Starlette's
    ServerErrorMiddleware, the body is still only the request id."""
    request_id = request_id_of(request)
    log_exception(exc, request_id=request_id)
    return internal_error_response(request_id)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _catch_all_handler)
