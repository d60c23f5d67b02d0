"""Who looked at which claims: one append-only row per view of a page that shows PHI (RELIABILITY.md,
HIPAA 45 CFR 164.312(b)).

A row holds the user, the time, the route template (never the raw path, which may hold an id), the work
item number when the page is an item's, and the claims shown as keyed references (`serving.claim_refs`,
the audit log's function under the same secret), never raw claim ids. The database refuses UPDATE and
DELETE on the table (triggers from migration 0001), and this module has no way to change a row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from serving.claim_refs import claim_ref
from serving.workspace.clock import moment
from serving.workspace.schema import phi_views


@dataclass(frozen=True)
class PhiView:
    id: int
    user_id: int
    at: dt.datetime
    route: str
    item_id: int | None
    claim_refs: tuple[str, ...]


def _secret(secret: bytes | str) -> bytes:
    if not secret:
        raise ValueError("a PHI view log needs a secret: claim references would be plain hashes")
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def record_phi_view(
    engine: Engine,
    *,
    secret: bytes | str,
    user_id: int,
    route: str,
    claim_ids: Iterable[str] = (),
    item_id: int | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Log one view (`route` is the route's template, e.g. /workspace/items/{item_id})."""
    key = _secret(secret)
    refs = sorted({claim_ref(key, str(c)) for c in claim_ids})
    row = {"user_id": user_id, "at": moment(now), "route": route, "item_id": item_id, "claim_refs": json.dumps(refs)}
    with engine.begin() as conn:
        conn.execute(insert(phi_views).values(**row))


def views_of_claim(engine: Engine, *, secret: bytes | str, claim_id: str) -> list[PhiView]:
    """Every logged view that showed `claim_id`, oldest first (for an accounting of disclosures)."""
    ref = claim_ref(_secret(secret), claim_id)
    pattern = f'%"{ref}"%'  # refs are hex inside a JSON list: a quoted match cannot hit part of another
    with engine.connect() as conn:
        rows = conn.execute(
            select(phi_views).where(phi_views.c.claim_refs.like(pattern)).order_by(phi_views.c.at, phi_views.c.id)
        )
        return [_view(r) for r in rows]


def recent_phi_views(engine: Engine, *, limit: int = 100, user_id: int | None = None) -> list[PhiView]:
    """The newest views, newest first (an admin's view; for one person with `user_id`)."""
    query = select(phi_views).order_by(phi_views.c.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(phi_views.c.user_id == user_id)
    with engine.connect() as conn:
        return [_view(r) for r in conn.execute(query)]


def _view(row: object) -> PhiView:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    values["claim_refs"] = tuple(json.loads(values["claim_refs"]))
    return PhiView(**values)


__all__ = ["PhiView", "recent_phi_views", "record_phi_view", "views_of_claim"]
