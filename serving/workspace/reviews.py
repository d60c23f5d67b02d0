"""Pre-release review: what a reviewer decided about a claim held because it is likely to be denied.

One row per claim (fixed before release, released as is, or held), changed with the same optimistic
versioning as the work items: a decision names the version the reviewer saw (None for the first), and a
stale one raises `EditConflict` with who decided last and when. The note is stored, never logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from serving.workspace.clock import moment
from serving.workspace.errors import EditConflict, InvalidChange
from serving.workspace.schema import REVIEW_DECISIONS, reviews, users

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


__all__ = ["Review", "get_review", "record_review", "reviews_of"]
