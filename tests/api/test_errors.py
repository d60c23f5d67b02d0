"""Error bodies name the field and the rule and carry a request id, never anything the caller sent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from api.support import CANARY, Service, bearer
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from serving.api.errors import GENERIC_MESSAGE, BodyLimitMiddleware, public_errors, safe_message


def _claim(claim_id: str = "C1", **line: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "lines": [{"code": "97110", "units": 1}, {"code": "97140", "units": 1, **line}]}


def test_422_names_field_and_rule_without_the_input(service: Service, client: TestClient) -> None:
    body = {
        "claims": [
            _claim(units=-1),
            {**_claim(code=CANARY), "patient_name": CANARY, f"{CANARY} key": 1},
        ],
        "memo": {"text": CANARY},
    }
    response = client.post("/v1/test/score", json=body, headers=bearer(service.keys.score))
    assert response.status_code == 422
    assert CANARY not in response.text
    payload = response.json()
    assert set(payload) == {"detail", "request_id", "errors"}
    assert payload["request_id"] == response.headers["X-Request-ID"]
    errors = {(e["field"], e["rule"]): e["message"] for e in payload["errors"]}
    assert errors == {
        ("body.claims.0.lines.1.units", "greater_than_equal"): "Input should be greater than or equal to 0",
        ("body.claims.1.lines.1.code", "string_too_long"): "String should have at most 5 characters",
        # an unexpected key is client input: never echoed, even when it looks like a field name
        ("body.claims.1.*", "extra_forbidden"): "Extra inputs are not permitted",
        ("body.*", "extra_forbidden"): "Extra inputs are not permitted",
    }
    assert sum(e["rule"] == "extra_forbidden" for e in payload["errors"]) == 3
    assert all(set(e) == {"field", "rule", "message"} for e in payload["errors"])


def test_invalid_json_is_422_without_echo(service: Service, client: TestClient) -> None:
    raw = '{"claims": [' + json.dumps(CANARY) + ", oops"
    headers = {**bearer(service.keys.score), "Content-Type": "application/json"}
    response = client.post("/v1/test/score", content=raw, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "json_invalid"
    assert CANARY not in response.text


def test_batch_limit_is_422_in_the_same_shape(make_service: Callable[..., Service]) -> None:
    service = make_service(max_batch=2)
    with TestClient(service.app) as client:
        body = {"claims": [_claim(f"C{i}") for i in range(3)]}
        response = client.post("/v1/test/score", json=body, headers=bearer(service.keys.score))
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"field": "body.claims", "rule": "too_long", "message": "List should have at most 2 items"}
        ]
        body = {"claims": [_claim(f"C{i}") for i in range(2)]}
        assert client.post("/v1/test/score", json=body, headers=bearer(service.keys.score)).status_code == 200


@pytest.mark.parametrize(
    ("error_type", "ctx", "expected"),
    [
        ("value_error", {"error": ValueError(CANARY)}, GENERIC_MESSAGE),
        ("assertion_error", {"error": CANARY}, GENERIC_MESSAGE),
        ("union_tag_invalid", {"tag": CANARY, "discriminator": "'kind'", "expected_tags": "'a'"}, GENERIC_MESSAGE),
        ("uuid_parsing", {"error": f"invalid character: found `{CANARY}`"}, GENERIC_MESSAGE),
        ("date_parsing", {"error": "input is too short"}, GENERIC_MESSAGE),
        ("too_short", {"field_type": "List", "min_length": 1, "actual_length": 0}, "List should have at least 1 item"),
        ("literal_error", {"expected": "'CO' or 'PR'"}, "Input should be 'CO' or 'PR'"),
        ("string_pattern_mismatch", {"pattern": "^[0-9]{5}$"}, "String should match pattern '^[0-9]{5}$'"),
        ("missing", None, "Field required"),
        ("my_custom_rule", {"anything": CANARY}, GENERIC_MESSAGE),
    ],
)
def test_messages_use_schema_context_only(error_type: str, ctx: dict[str, Any] | None, expected: str) -> None:
    assert safe_message(error_type, ctx) == expected


def test_public_errors_drop_input_and_ctx() -> None:
    errors = [{"type": "greater_than", "loc": ("body", "x", 0), "msg": CANARY, "input": CANARY, "ctx": {"gt": 0}}]
    expected = {"field": "body.x.0", "rule": "greater_than", "message": "Input should be greater than 0"}
    assert public_errors(errors) == [expected]


def test_500_body_and_logs_hold_only_type_and_request_id(
    service: Service, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/test/boom", headers={**bearer(service.keys.score), "X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-42"}
    assert response.headers["X-Request-ID"] == "req-42"
    assert CANARY not in response.text
    logged = "\n".join(
        [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records] + [caplog.text]
    )
    assert "RuntimeError" in logged and "req-42" in logged
    assert CANARY not in logged
    assert all(r.exc_info is None for r in caplog.records)
    assert service.audit is not None
    assert service.audit.recent(1)[0].status_code == 500


def test_http_exceptions_pass_through_with_request_id(service: Service, client: TestClient) -> None:
    response = client.get("/v1/test/teapot", headers=bearer(service.keys.score))
    assert response.status_code == 418
    assert response.headers["X-Tea"] == "earl grey"
    assert response.json() == {"detail": "short and stout", "request_id": response.headers["X-Request-ID"]}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123_X.y", True), ("x" * 64, True), ("x" * 65, False), ("has space", False), ("<script>", False)],
)
def test_request_id_kept_only_when_plain(client: TestClient, sent: str, kept: bool) -> None:
    echoed = client.get("/livez", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0


def test_request_id_generated_and_unique(client: TestClient) -> None:
    ids = {client.get("/livez").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_413_on_declared_and_on_streamed_length(make_service: Callable[..., Service]) -> None:
    service = make_service(max_body_bytes=2048)
    big = json.dumps({"claims": [_claim(f"C{i}") for i in range(60)]}).encode()
    assert len(big) > 2048
    headers = {**bearer(service.keys.score), "Content-Type": "application/json"}
    with TestClient(service.app) as client:
        declared = client.post("/v1/test/score", content=big, headers=headers)
        streamed = client.post("/v1/test/score", content=iter([big[:1000], big[1000:]]), headers=headers)
        small = client.post("/v1/test/score", content=json.dumps({"claims": [_claim()]}), headers=headers)
    assert small.status_code == 200
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {
            "detail": "request body larger than 2048 bytes",
            "request_id": response.headers["X-Request-ID"],
        }
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert service.audit is not None
    # refused before the key was read: counted (the client's shutdown wrote the count), not a row each
    rows = service.audit.recent()
    assert [(r.route, r.status_code, r.calls) for r in rows if r.status_code == 413] == [("/v1/test/score", 413, 2)]


def test_body_limit_counts_chunks_even_when_content_length_lies() -> None:
    """Direct ASGI: Content-Length says 10, three 600-byte chunks arrive; the app reads them all."""
    reached: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            reached.append(total)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": i < 2} for i in range(3)]
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"10")], "state": {}}
    asyncio.run(BodyLimitMiddleware(app, max_body_bytes=1000)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert reached == [600]  # the second chunk raised before the app saw it
    assert json.loads(sent[1]["body"])["detail"] == "request body larger than 1000 bytes"


def _reader_app(after_body: list[str]) -> Any:
    """Reads the whole body, then waits once more on receive (as a server-sent response waits for a disconnect)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        after_body.append((await receive())["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": [], "state": {"request_id": "r1"}}


def test_a_stalled_body_gets_408_not_a_held_connection() -> None:
    sent: list[Message] = []
    first = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> Message:
        if first:
            return first.pop()
        await asyncio.Event().wait()  # the client never sends the rest
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(_reader_app([]), max_body_bytes=1000, body_timeout_seconds=0.05)
    asyncio.run(middleware(_scope(), receive, send))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {
        "detail": "request body not received within 0.05 seconds",
        "request_id": "r1",
    }


def test_waits_after_the_body_are_not_timed() -> None:
    sent: list[Message] = []
    after_body: list[str] = []
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.sleep(0.2)  # longer than the body timeout: only a wrong middleware would cut it
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(_reader_app(after_body), max_body_bytes=1000, body_timeout_seconds=0.05)
    asyncio.run(middleware(_scope(), receive, send))
    assert sent[0]["status"] == 200 and after_body == ["http.disconnect"]
