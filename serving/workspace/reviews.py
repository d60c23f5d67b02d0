"""Pre-release review: the claims held because they are likely to be denied, and what a reviewer decided.

`sync_review_claims` loads the claims `claimsight score claims` flagged for review (`review_claims`, one row
per claim, refreshed by a later sync); `record_review` stores a decision: one row per claim (fixed before
release, released as is, or held), changed with the same optimistic versioning as the work items: a decision
names the version the reviewer saw (None for the first), and a stale one raises `EditConflict` with who
decided last and when. The note is stored, never logged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from serving.workspace.clock import moment
from serving.workspace.errors import EditConflict, InvalidChange
from serving.workspace.queue_sync import plain
from serving.workspace.schema import REVIEW_DECISIONS, review_claims, reviews, users

MAX_NOTE_CHARS = 20_000


@dataclass(frozen=True)
class Review:
    id: int
    claim_id: str
    decision: str
    note: str
    user_id: int
    at: dt.datetime
    version: int


@dataclass(frozen=True)
class FlaggedClaim:
    """A claim held for review, as the scoring flagged it: its risk, reasons and preventive actions."""

    claim_id: str
    payer_id: str | None
    service_date: dt.date | None
    billed_amount: float | None
    p_denial: float
    snapshot: dict[str, Any]
    flagged_at: dt.datetime

    @property
    def reasons(self) -> tuple[str, ...]:
        return _numbered(self.snapshot, "reason")

    @property
    def actions(self) -> tuple[str, ...]:
        return _numbered(self.snapshot, "action")


def _numbered(snapshot: Mapping[str, Any], stem: str) -> tuple[str, ...]:
    values = (snapshot.get(f"{stem}_{n}") for n in range(1, 10))
    return tuple(str(v) for v in values if v not in (None, ""))


def _first(row: Mapping[str, Any], *names: str) -> Any:
    return next((plain(row[n]) for n in names if n in row and plain(row[n]) is not None), None)


def _flagged_values(row: Mapping[str, Any], position: int) -> dict[str, Any]:
    claim_id = _first(row, "claim_id")
    if claim_id is None:
        raise InvalidChange(f"review row {position}: needs claim_id")
    try:
        p = float(_first(row, "p_denial"))
        day = _first(row, "service_date", "service_from")
        billed = _first(row, "billed_amount", "total_charge")
        values = {
            "claim_id": str(claim_id),
            "payer_id": None if _first(row, "payer_id") is None else str(_first(row, "payer_id")),
            "service_date": None if day is None else dt.date.fromisoformat(str(day)[:10]),
            "billed_amount": None if billed is None else float(billed),
            "p_denial": p,
        }
    except (TypeError, ValueError):  # the message would quote the value
        raise InvalidChange(f"review row {position}: p_denial, service date or billed amount unreadable") from None
    if not 0.0 <= p <= 1.0:
        raise InvalidChange(f"review row {position}: p_denial must be between 0 and 1")
    values["snapshot"] = json.dumps({str(k): plain(v) for k, v in row.items()}, sort_keys=True)
    return values


def sync_review_claims(
    engine: Engine, rows: Iterable[Mapping[str, Any]] | Any, *, now: dt.datetime | None = None
) -> int:
    """Load the claims flagged for review: rows (mappings or a DataFrame) of `claimsight score claims` output,
    with the claim's payer_id, service_from and total_charge joined in; a row whose `decision` is not "review"
    is skipped. A claim already loaded is refreshed, its decision kept. Returns how many rows were loaded."""
    at = moment(now)
    records = rows.to_dict("records") if hasattr(rows, "to_dict") and hasattr(rows, "columns") else list(rows)
    wanted: dict[str, dict[str, Any]] = {}
    for position, row in enumerate(records):
        if "decision" in row and plain(row["decision"]) != "review":
            continue
        values = _flagged_values(row, position)
        wanted[values["claim_id"]] = values
    with engine.begin() as conn:
        known = set(
            conn.execute(select(review_claims.c.claim_id).where(review_claims.c.claim_id.in_(list(wanted)))).scalars()
        ) if wanted else set()  # fmt: skip
        fresh = [{**v, "flagged_at": at} for k, v in wanted.items() if k not in known]
        if fresh:
            conn.execute(insert(review_claims), fresh)
        again = [{"key": k, **{c: v for c, v in values.items() if c != "claim_id"}}
                 for k, values in wanted.items() if k in known]  # fmt: skip
        if again:
            conn.execute(update(review_claims).where(review_claims.c.claim_id == bindparam("key")), again)
    return len(wanted)


def _flagged(row: Any) -> FlaggedClaim:
    values = dict(row._mapping)
    values.pop("id")
    values["snapshot"] = json.loads(values["snapshot"])
    return FlaggedClaim(**values)


def flagged_claims(engine: Engine) -> list[FlaggedClaim]:
    """Every claim held for review, riskiest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(review_claims).order_by(review_claims.c.p_denial.desc(), review_claims.c.claim_id))
        return [_flagged(r) for r in rows]


def get_flagged(engine: Engine, claim_id: str) -> FlaggedClaim | None:
    with engine.connect() as conn:
        row = conn.execute(select(review_claims).where(review_claims.c.claim_id == claim_id)).one_or_none()
    return None if row is None else _flagged(row)


def get_review(engine: Engine, claim_id: str) -> Review | None:
    with engine.connect() as conn:
        row = conn.execute(select(reviews).where(reviews.c.claim_id == claim_id)).one_or_none()
    return None if row is None else Review(**dict(row._mapping))


def reviews_of(engine: Engine, claim_ids: Iterable[str]) -> dict[str, Review]:
    """The decisions made so far about these claims (absent: still pending)."""
    wanted = sorted({str(c) for c in claim_ids})
    out: dict[str, Review] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            rows = conn.execute(select(reviews).where(reviews.c.claim_id.in_(wanted[start : start + 500])))
            out.update({r.claim_id: Review(**dict(r._mapping)) for r in rows})
    return out


def _conflict(conn: Connection, *, claim_id: str, expected: int | None, attempted: dict[str, str]) -> EditConflict:
    row = conn.execute(
        select(reviews.c.version, reviews.c.at, users.c.username)
        .select_from(reviews.join(users, users.c.id == reviews.c.user_id))
        .where(reviews.c.claim_id == claim_id)
    ).one_or_none()
    return EditConflict(
        what="the review of this claim",  # no claim id: the message may be logged
        expected_version=expected or 0,
        current_version=None if row is None else row.version,
        changed_by=None if row is None else row.username,
        changed_at=None if row is None else row.at,
        attempted=attempted,
    )


def record_review(
    engine: Engine,
    *,
    claim_id: str,
    decision: str,
    note: str = "",
    by: int,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Review:
    """Record (or change) the decision on a held claim."""
    if decision not in REVIEW_DECISIONS:
        raise InvalidChange(f"unknown decision {decision!r} (one of {', '.join(REVIEW_DECISIONS)})")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidChange(f"a note holds at most {MAX_NOTE_CHARS} characters")
    at = moment(now)
    attempted = {"decision": decision, "note": note}
    values = {"decision": decision, "note": note, "user_id": by, "at": at}
    try:
        with engine.begin() as conn:
            if expected_version is None:
                conn.execute(insert(reviews).values(claim_id=claim_id, version=1, **values))
            else:
                written = conn.execute(
                    update(reviews)
                    .where(and_(reviews.c.claim_id == claim_id, reviews.c.version == expected_version))
                    .values(version=expected_version + 1, **values)
                )
                if written.rowcount != 1:
                    raise _conflict(conn, claim_id=claim_id, expected=expected_version, attempted=attempted)
    except IntegrityError:  # decided by someone else at the same time, or before the page was loaded
        with engine.connect() as fresh:  # the failed transaction is gone
            raise _conflict(fresh, claim_id=claim_id, expected=expected_version, attempted=attempted) from None
    review = get_review(engine, claim_id)
    assert review is not None
    return review


__all__ = [
    "FlaggedClaim",
    "Review",
    "flagged_claims",
    "get_flagged",
    "get_review",
    "record_review",
    "reviews_of",
    "sync_review_claims",
]
