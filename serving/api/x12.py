"""837 interchanges as claim batches: what a clearinghouse or practice-management system holds before release.

Why here and not a second scoring path: an 837 body becomes the same `ClaimBatch` a JSON body becomes (the
rows of `features.contract.x12.claims_837`, keyed by the DATA.md columns, validated by the same `ClaimIn`
model), so the claims route, and `claimsight score claims --x12`, then score it through `claim_column_tables`
and the one feature function, and the model sees exactly what it sees for the same claims sent as JSON.

Errors name positions, never values (segment contents are PHI): the reader's and the mapper's `X12Error`s as
they are, and a row that breaks the request schema at the CLM (claim fields) or LX (line fields) segment it
came from, with the column and the pydantic rule, rendered by `serving.api.errors.safe_message`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from features.contract.x12.claims_837 import Claims837, claims_from_837
from features.contract.x12.errors import X12MappingError
from features.contract.x12.segments import Transaction, X12Error, read_transactions
from serving.api.errors import safe_message
from serving.api.schemas import ClaimBatch

__all__ = [
    "REQUEST_FILE",
    "X12_MEDIA_TYPE",
    "X12_RULE",
    "X12Claims",
    "X12Invalid",
    "is_x12_media_type",
    "public_x12_errors",
    "x12_claims",
]

X12_MEDIA_TYPE: Final = "application/edi-x12"
REQUEST_FILE: Final = "request"  # the "file" an API body's errors name: the caller knows which body it sent
_TEXT_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


class X12Invalid(Exception):
    """The body is not a readable 837 or a claim in it breaks the request schema: every problem, by position."""

    def __init__(self, errors: Sequence[X12Error]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} X12 problems")


@dataclass(frozen=True)
class X12Claims:
    """The claims of an 837 body as the JSON route's batch, and each claim's CLM01 in batch order."""

    batch: ClaimBatch
    claim_ids: list[str]


@dataclass(frozen=True)
class _Mapped:
    """One transaction's rows and where they came from: each claim's CLM and its lines' LX segment numbers."""

    rows: Claims837
    clm: list[int]
    lx: list[list[int]]


def is_x12_media_type(value: str | None) -> bool:
    """application/edi-x12, with no charset or a UTF-8/ASCII one (X12 text is ASCII in practice)."""
    if not value:
        return False
    media, *params = value.split(";")
    if media.strip().lower() != X12_MEDIA_TYPE:
        return False
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "charset" and given.strip().strip('"').lower() not in _TEXT_CHARSETS:
            return False
    return True


def _positions(tx: Transaction) -> tuple[list[int], list[list[int]]]:
    """Segment numbers of each CLM, and of the LX segments under it, in file order (the mapper's row order)."""
    clm: list[int] = []
    lx: list[list[int]] = []
    for seg in tx.segments:
        if seg.id == "CLM":
            clm.append(seg.number)
            lx.append([])
        elif seg.id == "LX" and lx:
            lx[-1].append(seg.number)
    return clm, lx


def _transactions(text: str, file: str) -> Iterator[_Mapped | X12Error]:
    for item in read_transactions(text, file=file):
        if isinstance(item, X12Error):
            yield item
            continue
        try:
            rows = claims_from_837(item)
        except X12MappingError as exc:
            yield exc.to_error(file)
            continue
        yield _Mapped(rows, *_positions(item))


def _present(row: dict[str, object]) -> dict[str, object]:
    """A row as a JSON body would carry it: empty cells left out, so the body's defaults are the contract's
    (as `schemas.claim_bodies` leaves them out)."""
    return {k: v for k, v in row.items() if v is not None}


def _bodies(mapped: Sequence[_Mapped]) -> list[dict[str, Any]]:
    """ClaimIn-shaped dicts: each claim with its lines, in file order."""
    bodies: list[dict[str, Any]] = []
    for tx in mapped:
        lines: dict[object, list[dict[str, object]]] = {}
        for line in tx.rows.lines:
            body = _present(line)
            lines.setdefault(body.pop("claim_id"), []).append(body)
        bodies.extend({**_present(claim), "lines": lines.get(claim["claim_id"], [])} for claim in tx.rows.claims)
    return bodies


def _schema_error(error: Any, clm: list[int], lx: list[list[int]], file: str) -> X12Error:
    """A schema error of the mapped rows at the segment its value came from; the rule is the column and the
    pydantic rule, never the value."""
    loc = tuple(error.get("loc", ()))
    message = f"{error.get('type', 'invalid')}: {safe_message(str(error.get('type', '')), error.get('ctx'))}"
    if len(loc) < 2 or loc[0] != "claims" or not isinstance(loc[1], int):
        return X12Error(file, None, None, None, f"claims {message}")
    i, rest = loc[1], loc[2:]
    if len(rest) >= 3 and rest[0] == "lines" and isinstance(rest[1], int) and rest[1] < len(lx[i]):
        return X12Error(file, lx[i][rest[1]], "LX", None, f"{'.'.join(map(str, rest[2:]))} {message}")
    field = ".".join(map(str, rest)) or "claim"
    return X12Error(file, clm[i], "CLM", None, f"{field} {message}")


def _validated(mapped: Sequence[_Mapped], file: str) -> ClaimBatch:
    """Validated from JSON text, as the JSON route validates its body: the same strict JSON-mode rules."""
    clm = [n for tx in mapped for n in tx.clm]
    lx = [numbers for tx in mapped for numbers in tx.lx]
    try:
        return ClaimBatch.model_validate_json(json.dumps({"claims": _bodies(mapped)}))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=True)
        raise X12Invalid([_schema_error(e, clm, lx, file) for e in errors]) from None


def _text(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise X12Invalid([X12Error(file, None, None, None, "an X12 body must be ASCII (UTF-8) text")]) from None


def x12_claims(raw: bytes, *, file: str = REQUEST_FILE) -> X12Claims:
    """The claims of every 837 transaction in `raw`, validated as a JSON claims body is; `X12Invalid` with
    every problem found (a broken transaction does not hide the problems of the others)."""
    mapped: list[_Mapped] = []
    errors: list[X12Error] = []
    for item in _transactions(_text(raw, file), file):
        if isinstance(item, X12Error):
            errors.append(item)
        else:
            mapped.append(item)
    if not errors and not mapped:
        errors.append(X12Error(file, None, None, None, "no 837 transaction set (ST..SE) in the interchange"))
    if errors:
        raise X12Invalid(errors)
    batch = _validated(mapped, file)
    return X12Claims(batch=batch, claim_ids=[c.claim_id for c in batch.claims])


_SEGMENT_ID: Final = re.compile(r"[A-Z][A-Z0-9]{1,2}")
X12_RULE: Final = "x12_invalid"


def public_x12_errors(errors: Sequence[X12Error]) -> list[dict[str, Any]]:
    """The 422 `errors` entries of an X12 body: the position (file, segment number, segment id, element) and the
    reader's, mapper's or schema's fixed rule text. A segment id that is not one (a garbled file's text where a
    segment id should be) is masked, as error paths mask keys: it is the caller's text."""
    out = []
    for e in errors:
        segment_id = e.segment_id if e.segment_id and _SEGMENT_ID.fullmatch(e.segment_id) else None
        safe = X12Error(e.file, e.segment_number, segment_id or ("*" if e.segment_id else None), e.element, e.rule)
        out.append(
            {
                "field": safe.message().removesuffix(f": {e.rule}"),
                "rule": X12_RULE,
                "message": e.rule,
                "file": e.file,
                "segment_number": e.segment_number,
                "segment_id": safe.segment_id,
                "element": e.element,
            }
        )
    return out
