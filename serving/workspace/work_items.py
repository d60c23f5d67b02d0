"""Working the appeal queue: who owns a denial, what was done, what came of it.

An item moves open -> in_progress (work recorded) -> sent (the appeal or corrected claim went out) ->
resolved (paid, partly paid, upheld, billed to the patient, written off); `reopen` takes a resolved item back
to open. Every change is one transaction that writes the item with
`UPDATE ... WHERE id = :id AND version = :expected` (bumping `version`) and appends its `work_events` row.
If someone else saved the item since the person loaded it, the UPDATE matches nothing, the transaction
writes nothing, and `EditConflict` says who changed it and when; the caller still has the person's input
(and the exception carries it) to show again. On PostgreSQL a second writer waits for the first's row lock
and then sees the new version; on SQLite writers queue on the database lock; both end the same way.

Ownership is the store's rule, not only the page's: work is recorded by the item's owner, an unowned item
becomes the owner's on first work, and an item owned by someone else is neither offered (`open_items`) nor
writable by others; only someone who may assign (a manager) gives an item to someone else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Select, and_, insert, or_, select, update

from features.contract.schema import FOLLOWUP_OUTCOMES, TEAM_ACTIONS
from serving.workspace.clock import moment
from serving.workspace.errors import EditConflict, InvalidChange, NotFound, NotPermitted
from serving.workspace.roles import can
from serving.workspace.schema import APPEAL_LEVELS, ITEM_STATES, RESOLUTIONS, users, work_events, work_items

# The payer's answer recorded with a resolution, as a followups outcome (DATA.md). Billing the patient or
# writing off says what the team did, not what the payer answered: no outcome unless the person gives one.
RESOLUTION_OUTCOMES: Mapping[str, str | None] = {
    "paid": "overturned",
    "partly_paid": "partial",
    "upheld": "upheld",
    "billed_patient": None,
    "written_off": None,
}
LEVELED_ACTIONS = frozenset({"appeal", "reconsideration"})  # the actions DATA.md's `level` applies to
UNRESOLVED = tuple(s for s in ITEM_STATES if s != "resolved")
MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class WorkItem:
    id: int
    claim_id: str
    remit_id: str
    payer_id: str | None
    category: str | None
    action: str | None  # ClaimSight's recommended action
    queue_rank: int | None
    expected_dollars: float | None
    denied_amount: float | None
    minutes: float | None
    deadline: dt.date | None
    deadline_rule: str | None
    snapshot: dict[str, Any]
    owner_id: int | None
    state: str
    resolution: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: int | None


@dataclass(frozen=True)
class WorkEvent:
    id: int
    item_id: int
    user_id: int | None
    at: dt.datetime
    event: str
    action: str | None
    level: int | None
    minutes: float | None
    note: str | None
    owner_id: int | None
    resolution: str | None
    outcome: str | None
    version: int


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page narrows to; None = any. `owner` is a user id or "unassigned"."""

    payer_id: str | None = None
    category: str | None = None
    action: str | None = None
    owner: int | Literal["unassigned"] | None = None
    deadline_before: dt.date | None = None  # deadline on or before this day
    states: tuple[str, ...] = UNRESOLVED
    limit: int | None = None
    offset: int = 0  # rows of the ordered queue to skip (a page of it)


@dataclass(frozen=True)
class FilterChoices:
    payers: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    owners: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Actor:
    id: int
    username: str
    role: str


@dataclass
class _Change:
    """One state change: the item's new values and the event that records it."""

    event: str
    values: dict[str, Any] = field(default_factory=dict)
    event_fields: dict[str, Any] = field(default_factory=dict)


def _item(row: Any) -> WorkItem:
    values = dict(row._mapping)
    values["snapshot"] = json.loads(values["snapshot"])
    return WorkItem(**values)


def _event(row: Any) -> WorkEvent:
    return WorkEvent(**dict(row._mapping))


def get_item(engine: Engine, item_id: int) -> WorkItem:
    with engine.connect() as conn:
        row = conn.execute(select(work_items).where(work_items.c.id == item_id)).one_or_none()
    if row is None:
        raise NotFound(f"no work item {item_id}")
    return _item(row)


def item_events(engine: Engine, item_id: int) -> list[WorkEvent]:
    """The item's history, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(work_events).where(work_events.c.item_id == item_id).order_by(work_events.c.at, work_events.c.id)
        )
        return [_event(r) for r in rows]


def _visible(query: Select[Any], viewer: int | None, filters: QueueFilter) -> Select[Any]:
    states = [s for s in filters.states if s != "resolved"]  # a resolved item is never in the queue
    query = query.where(work_items.c.state.in_(states))
    if viewer is not None:  # a person's queue: theirs and nobody's
        query = query.where(or_(work_items.c.owner_id.is_(None), work_items.c.owner_id == viewer))
    for column, wanted in (("payer_id", filters.payer_id), ("category", filters.category), ("action", filters.action)):
        if wanted is not None:
            query = query.where(work_items.c[column] == wanted)
    if filters.owner == "unassigned":
        query = query.where(work_items.c.owner_id.is_(None))
    elif filters.owner is not None:
        query = query.where(work_items.c.owner_id == filters.owner)
    if filters.deadline_before is not None:
        query = query.where(work_items.c.deadline <= filters.deadline_before)
    return query


def open_items(engine: Engine, *, viewer: int | None, filters: QueueFilter | None = None) -> list[WorkItem]:
    """The queue: unresolved items in queue order (rank, then deadline). `viewer` = a person's queue (their
    items and unassigned ones; an item someone else owns is not offered); None = the whole team's (a
    manager's view, `can(role, "view_team_queue")`)."""
    filters = filters or QueueFilter()
    query = _visible(select(work_items), viewer, filters).order_by(
        work_items.c.queue_rank.is_(None),
        work_items.c.queue_rank,
        work_items.c.deadline.is_(None),
        work_items.c.deadline,
        work_items.c.id,
    )
    if filters.limit is not None:
        query = query.limit(filters.limit)
    if filters.offset:
        query = query.offset(filters.offset)
    with engine.connect() as conn:
        return [_item(r) for r in conn.execute(query)]


def filter_choices(engine: Engine, *, viewer: int | None) -> FilterChoices:
    """The distinct values the queue's filters can offer, among the items `viewer` sees."""
    out: dict[str, tuple[Any, ...]] = {}
    with engine.connect() as conn:
        for name, column in (("payers", "payer_id"), ("categories", "category"), ("actions", "action")):
            query = _visible(select(work_items.c[column]).distinct(), viewer, QueueFilter())
            out[name] = tuple(sorted(v for v in conn.execute(query).scalars() if v is not None))
        owners = _visible(select(work_items.c.owner_id).distinct(), viewer, QueueFilter())
        out["owners"] = tuple(sorted(v for v in conn.execute(owners).scalars() if v is not None))
    return FilterChoices(**out)


def _actor(conn: Connection, user_id: int) -> _Actor:
    row = conn.execute(
        select(users.c.id, users.c.username, users.c.role, users.c.active).where(users.c.id == user_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no user {user_id}")
    if not row.active:
        raise NotPermitted(f"account {row.username} is inactive")
    return _Actor(id=row.id, username=row.username, role=row.role)


def _conflict(conn: Connection, item_id: int, expected_version: int, attempted: Mapping[str, Any]) -> EditConflict:
    row = conn.execute(
        select(work_items.c.version, work_items.c.updated_at, users.c.username)
        .select_from(work_items.outerjoin(users, users.c.id == work_items.c.updated_by))
        .where(work_items.c.id == item_id)
    ).one_or_none()
    return EditConflict(
        what=f"work item {item_id}",
        expected_version=expected_version,
        current_version=None if row is None else row.version,
        changed_by=None if row is None else row.username,
        changed_at=None if row is None else row.updated_at,
        attempted=attempted,
    )


def _apply(
    engine: Engine,
    item_id: int,
    *,
    expected_version: int,
    by: int | None,
    attempted: Mapping[str, Any],
    decide: Callable[[Connection, Any, _Actor | None], _Change],
    now: dt.datetime | None,
) -> WorkItem:
    """Read the item, let `decide` check the change and say what it is, write item and event in one
    transaction, or raise (EditConflict on a stale version) having written nothing."""
    at = moment(now)
    with engine.begin() as conn:
        current = conn.execute(select(work_items).where(work_items.c.id == item_id)).one_or_none()
        if current is None:
            raise NotFound(f"no work item {item_id}")
        if current.version != expected_version:
            raise _conflict(conn, item_id, expected_version, attempted)
        actor = None if by is None else _actor(conn, by)
        change = decide(conn, current, actor)
        version = expected_version + 1
        written = conn.execute(
            update(work_items)
            .where(and_(work_items.c.id == item_id, work_items.c.version == expected_version))
            .values(**change.values, version=version, updated_at=at, updated_by=by)
        )
        if written.rowcount != 1:  # someone saved between our read and our write
            raise _conflict(conn, item_id, expected_version, attempted)
        conn.execute(
            insert(work_events).values(
                item_id=item_id, user_id=by, at=at, event=change.event, version=version, **change.event_fields
            )
        )
    return get_item(engine, item_id)


def _not_resolved(current: Any) -> None:
    if current.state == "resolved":
        raise InvalidChange(f"work item {current.id} is resolved; reopen it first")


def _owner_or_taker(conn: Connection, current: Any, actor: _Actor) -> int:
    """The item's owner after `actor` works on it: an unowned item becomes theirs; someone else's is refused."""
    if not can(actor.role, "work_items"):
        raise NotPermitted(f"{actor.username} ({actor.role}) may not work items")
    if current.owner_id is None or current.owner_id == actor.id:
        return actor.id
    owner = conn.execute(select(users.c.username).where(users.c.id == current.owner_id)).scalar_one()
    raise NotPermitted(f"work item {current.id} is assigned to {owner}")


def check_level(action: str, level: int | None) -> None:
    """The appeal level rule (DATA.md followups.level), shared with the in-memory web backend so both refuse
    alike: a level only on an appeal or a reconsideration, and only one of APPEAL_LEVELS."""
    if level is None:
        return
    if action not in LEVELED_ACTIONS:
        raise InvalidChange(f"a level applies to {' and '.join(sorted(LEVELED_ACTIONS))} only")
    if level not in APPEAL_LEVELS:
        raise InvalidChange("level must be 1, 2 or 3 (external review)")


def assign(
    engine: Engine,
    item_id: int,
    *,
    owner_id: int | None,
    expected_version: int,
    by: int,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> WorkItem:
    """Give the item to `owner_id` (None: back to the team's pool). Taking an unowned item for oneself needs
    `work_items`; anything else (giving, taking from someone, unassigning) needs `assign_items`."""

    def decide(conn: Connection, current: Any, actor: _Actor | None) -> _Change:
        assert actor is not None
        _not_resolved(current)
        taking_free = owner_id == actor.id and current.owner_id in (None, actor.id)
        if not (can(actor.role, "assign_items") or (taking_free and can(actor.role, "work_items"))):
            raise NotPermitted(f"{actor.username} ({actor.role}) may not assign this item")
        if owner_id is not None:
            owner = _actor(conn, owner_id)
            if not can(owner.role, "work_items"):
                raise InvalidChange(f"{owner.username} ({owner.role}) does not work items")
        return _Change("assigned", {"owner_id": owner_id}, {"owner_id": owner_id, "note": note})

    attempted = {"owner_id": owner_id, "note": note}
    return _apply(
        engine, item_id, expected_version=expected_version, by=by, attempted=attempted, decide=decide, now=now
    )


def record_work(
    engine: Engine,
    item_id: int,
    *,
    expected_version: int,
    by: int,
    action: str,
    minutes: float,
    note: str | None = None,
    level: int | None = None,
    now: dt.datetime | None = None,
) -> WorkItem:
    """Record time spent on a team action (DATA.md followups actions); the item becomes in_progress and, if
    it had no owner, the worker's."""
    attempted = {"action": action, "minutes": minutes, "note": note, "level": level}
    if action not in TEAM_ACTIONS:
        raise InvalidChange(f"unknown action {action!r} (one of {', '.join(TEAM_ACTIONS)})")
    if not 0 <= minutes <= MAX_MINUTES:
        raise InvalidChange(f"minutes must be between 0 and {MAX_MINUTES}")
    check_level(action, level)

    def decide(conn: Connection, current: Any, actor: _Actor | None) -> _Change:
        assert actor is not None
        _not_resolved(current)
        owner = _owner_or_taker(conn, current, actor)
        fields = {"action": action, "minutes": float(minutes), "note": note, "level": level}
        return _Change("worked", {"owner_id": owner, "state": "in_progress"}, fields)

    return _apply(
        engine, item_id, expected_version=expected_version, by=by, attempted=attempted, decide=decide, now=now
    )


def _last_worked(conn: Connection, item_id: int) -> Any:
    """The latest `worked` event since the item was last opened (its current round of work), or None."""
    events = conn.execute(
        select(work_events.c.event, work_events.c.action, work_events.c.level)
        .where(work_events.c.item_id == item_id)
        .order_by(work_events.c.at.desc(), work_events.c.id.desc())
    )
    for row in events:
        if row.event == "worked":
            return row
        if row.event in ("reopened", "opened"):
            return None
    return None


def mark_sent(
    engine: Engine,
    item_id: int,
    *,
    expected_version: int,
    by: int,
    action: str | None = None,
    level: int | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> WorkItem:
    """The appeal, corrected claim or call went out: the item waits for the payer. `action` (and `level`)
    default to those of the latest work recorded; with none recorded, `action` must be given."""
    attempted = {"action": action, "level": level, "note": note}
    if action is not None and action not in TEAM_ACTIONS:
        raise InvalidChange(f"unknown action {action!r} (one of {', '.join(TEAM_ACTIONS)})")

    def decide(conn: Connection, current: Any, actor: _Actor | None) -> _Change:
        assert actor is not None
        _not_resolved(current)
        owner = _owner_or_taker(conn, current, actor)
        sent_action, sent_level = action, level
        if sent_action is None:
            last = _last_worked(conn, current.id)
            if last is None:
                raise InvalidChange(f"work item {current.id}: record the work (or name the action) before sending")
            sent_action, sent_level = last.action, level if level is not None else last.level
        check_level(sent_action, sent_level)
        fields = {"action": sent_action, "level": sent_level, "note": note}
        return _Change("sent", {"owner_id": owner, "state": "sent"}, fields)

    return _apply(
        engine, item_id, expected_version=expected_version, by=by, attempted=attempted, decide=decide, now=now
    )


def resolve(
    engine: Engine,
    item_id: int,
    *,
    expected_version: int,
    by: int | None,
    resolution: str,
    outcome: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> WorkItem:
    """Close the item. `outcome` is the payer's answer as a followups outcome; by default it follows from
    the resolution (`RESOLUTION_OUTCOMES`). `by=None` is the system (`resolve_from_remits`)."""
    attempted = {"resolution": resolution, "outcome": outcome, "note": note}
    if resolution not in RESOLUTIONS:
        raise InvalidChange(f"unknown resolution {resolution!r} (one of {', '.join(RESOLUTIONS)})")
    final = RESOLUTION_OUTCOMES[resolution] if outcome is None else outcome
    if final is not None and (final not in FOLLOWUP_OUTCOMES or final == "pending"):
        raise InvalidChange("outcome must be a payer's answer: overturned, partial, upheld or no_response")

    def decide(conn: Connection, current: Any, actor: _Actor | None) -> _Change:
        _not_resolved(current)
        if actor is not None:  # one's own or an unowned item; someone else's only for a manager
            own_or_free = current.owner_id in (None, actor.id) and can(actor.role, "work_items")
            if not (own_or_free or can(actor.role, "assign_items")):
                raise NotPermitted(f"{actor.username} may not resolve someone else's item")
        fields = {"resolution": resolution, "outcome": final, "note": note}
        return _Change("resolved", {"state": "resolved", "resolution": resolution}, fields)

    return _apply(
        engine, item_id, expected_version=expected_version, by=by, attempted=attempted, decide=decide, now=now
    )


def reopen(
    engine: Engine,
    item_id: int,
    *,
    expected_version: int,
    by: int,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> WorkItem:
    """Take a resolved item back into the queue (the payer took the money back, the patient disputes). Who
    may is who may resolve it: the owner, anyone who works items for an unowned one, a manager for any."""

    def decide(conn: Connection, current: Any, actor: _Actor | None) -> _Change:
        assert actor is not None
        if current.state != "resolved":
            raise InvalidChange(f"work item {current.id} is not resolved")
        if not can(actor.role, "work_items"):
            raise NotPermitted(f"{actor.username} ({actor.role}) may not work items")
        if current.owner_id not in (None, actor.id) and not can(actor.role, "assign_items"):
            raise NotPermitted(f"{actor.username} may not reopen someone else's item")  # as for resolving it
        return _Change("reopened", {"state": "open", "resolution": None}, {"note": note})

    return _apply(
        engine, item_id, expected_version=expected_version, by=by, attempted={"note": note}, decide=decide, now=now
    )


__all__ = [
    "LEVELED_ACTIONS",
    "RESOLUTION_OUTCOMES",
    "FilterChoices",
    "QueueFilter",
    "WorkEvent",
    "WorkItem",
    "assign",
    "check_level",
    "filter_choices",
    "get_item",
    "item_events",
    "mark_sent",
    "open_items",
    "record_work",
    "reopen",
    "resolve",
]
