"""What every error of the API looks like, and the statuses a /v1 route documents: one shape for all routes,
so a client (and the contract test) reads any refusal the same way."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str
    rule: str
    message: str
    file: str | None = Field(None, description="X12 bodies: the file the position is in (`request`)")
    segment_number: int | None = Field(None, description="X12 bodies: segment number, from 1 at the ST")
    segment_id: str | None = Field(None, description="X12 bodies: segment id (CLM, LX, SV1, ...)")
    element: int | None = Field(None, description="X12 bodies: element position in the segment (1 = first)")


class ErrorBody(BaseModel):
    """Every error: fixed text and the request id, never anything the caller sent."""

    detail: str
    request_id: str
    errors: list[FieldError] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid API key"},
    403: {"model": ErrorBody, "description": "the key lacks the `score` scope"},
    408: {"model": ErrorBody, "description": "request body not received in time"},
    413: {"model": ErrorBody, "description": "request body over the size limit"},
    415: {
        "model": ErrorBody,
        "description": "the body is not JSON: Content-Type must be application/json (UTF-8); "
        "/v1/claims/score also takes application/edi-x12",
    },
    422: {"model": ErrorBody, "description": "the body breaks the schema or the batch limit (field and rule named)"},
    429: {"model": ErrorBody, "description": "the key's request budget is used up (Retry-After)"},
    503: {"model": ErrorBody, "description": "model not loaded yet (Retry-After) or audit unavailable"},
}


__all__ = ["ERROR_RESPONSES", "ErrorBody", "FieldError"]
