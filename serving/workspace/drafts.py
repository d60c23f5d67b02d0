"""Appeal letters and corrected-claim checklists being written, one draft of each kind per work item.

Saved with the same optimistic versioning as the items: a save names the version the person started from
(None for a first draft); if someone saved in between, nothing is written and `EditConflict` says who and
when and carries the text the person typed, so the page can show both. A draft's body may hold PHI: it is
stored, never logged or put in a message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from serving.workspace.clock import moment
from serving.workspace.errors import EditConflict, InvalidChange, NotFound
from serving.workspace.schema import DRAFT_KINDS, drafts, users, work_items

MAX_BODY_CHARS = 200_000


@dataclass(frozen=True)
class Draft:
    id: int
    item_id: int
    kind: str
    body: str
    version: int
    updated_by: int
    updated_at: dt.datetime


def get_draft(engine: Engine, *, item_id: int, kind: str) -> Draft | None:
    with engine.connect() as conn:
        row = conn.execute(select(drafts).where(drafts.c.item_id == item_id, drafts.c.kind == kind)).one_or_none()
    return None if row is None else Draft(**dict(row._mapping))


def _conflict(conn: Connection, *, item_id: int, kind: str, expected: int | None, body: str) -> EditConflict:
    row = conn.execute(
        select(drafts.c.version, drafts.c.updated_at, users.c.username)
        .select_from(drafts.join(users, users.c.id == drafts.c.updated_by))
        .where(drafts.c.item_id == item_id, drafts.c.kind == kind)
    ).one_or_none()
    return EditConflict(
        what=f"the {kind.replace('_', ' ')} of work item {item_id}",
        expected_version=expected or 0,
        current_version=None if row is None else row.version,
        changed_by=None if row is None else row.username,
        changed_at=None if row is None else row.updated_at,
        attempted={"body": body},
    )


def save_draft(
    engine: Engine,
    *,
    item_id: int,
    kind: str,
    body: str,
    expected_version: int | None,
    by: int,
    now: dt.datetime | None = None,
) -> Draft:
    """Save the draft: `expected_version` None creates it, otherwise it must be the stored version."""
    if kind not in DRAFT_KINDS:
        raise InvalidChange(f"unknown draft kind {kind!r} (one of {', '.join(DRAFT_KINDS)})")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidChange(f"a draft holds at most {MAX_BODY_CHARS} characters")
    at = moment(now)
    try:
        with engine.begin() as conn:
            if conn.execute(select(work_items.c.id).where(work_items.c.id == item_id)).one_or_none() is None:
                raise NotFound(f"no work item {item_id}")
            if expected_version is None:
                values = {"item_id": item_id, "kind": kind, "body": body, "version": 1}
                conn.execute(insert(drafts).values(**values, updated_by=by, updated_at=at))
            else:
                written = conn.execute(
                    update(drafts)
                    .where(
                        and_(drafts.c.item_id == item_id, drafts.c.kind == kind, drafts.c.version == expected_version)
                    )
                    .values(body=body, version=expected_version + 1, updated_by=by, updated_at=at)
                )
                if written.rowcount != 1:
                    raise _conflict(conn, item_id=item_id, kind=kind, expected=expected_version, body=body)
    except IntegrityError:  # a first draft saved by someone else at the same time
        with engine.connect() as fresh:  # the failed transaction is gone
            raise _conflict(fresh, item_id=item_id, kind=kind, expected=expected_version, body=body) from None
    draft = get_draft(engine, item_id=item_id, kind=kind)
    assert draft is not None
    return draft


__all__ = ["Draft", "get_draft", "save_draft"]
