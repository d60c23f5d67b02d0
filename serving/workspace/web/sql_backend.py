"""`SqlBackend`: the pages' `WorkspaceBackend` over the workspace database (serving.workspace, SQLite or
PostgreSQL), the one `claimsight serve` mounts.

Each method is a thin translation: the store's functions keep the rules (roles, ownership, versions, the
lock-out, hashed session tokens, append-only history), and this module turns the pages' values into theirs
and back:

- an item's id on the page is the store's number as text ("17"); an id that is not a number is not found;
- the queue shows open and in-progress items; a person's queue is theirs and the unassigned ones
  (`open_items(viewer=...)`), the team's (`viewer=None`) needs `view_team_queue`;
- recording work with `then="sent"` or a closing step is `record_work` followed by `mark_sent` or `resolve`
  (each its own transaction: if someone saves the item in between, the work stays recorded and the person
  sees the conflict with it in the history);
- a review claim's version on the page is 1 while pending and the store's review version + 1 after;
- the item's facts (service date, billed and paid amounts, the remit's adjustment codes, the reasons) come
  from the queue row stored with it (`snapshot`, written by `sync_queue` from `serving.appeal_queue.
  workspace_rows`);
- every view of claims the pages report is written to `phi_views` with keyed claim references
  (`secret`: the audit log's, so one reference names one claim in both logs).

The store's `EditConflict` is re-raised carrying the page's view of the record as it is now (`current`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, cast

from sqlalchemy import Engine

from serving.workspace import capacity as store_capacity
from serving.workspace import drafts as store_drafts
from serving.workspace import reviews as store_reviews
from serving.workspace import sessions as store_sessions
from serving.workspace import users as store_users
from serving.workspace import work_items as store_items
from serving.workspace.errors import EditConflict, InvalidChange, NotFound, NotPermitted
from serving.workspace.passwords import DEFAULT_PARAMS, ScryptParams
from serving.workspace.phi_views import record_phi_view
from serving.workspace.web.backend import (
    CLOSING_STEPS,
    NEXT_STEPS,
    QUEUED_STATUSES,
    REVIEW_DECISIONS,
    Adjustment,
    ClaimFacts,
    DraftKind,
    FilterChoices,
    ItemFilters,
    LoginResult,
    NextStep,
    ReviewClaim,
    ReviewDecision,
    Role,
    Session,
    User,
    WorkEntry,
    WorkItem,
    reopen_reason,
)

_DECIDED_ORDER = {"pending": 0, "held": 1, "fixed": 2, "released": 3}


class SqlBackend:
    """A `WorkspaceBackend` over an opened workspace database (`serving.workspace.database.open_workspace`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        secret: bytes | str,
        lockout: store_users.LockoutPolicy = store_users.DEFAULT_LOCKOUT,
        sessions: store_sessions.SessionPolicy = store_sessions.DEFAULT_SESSIONS,
        params: ScryptParams = DEFAULT_PARAMS,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """`secret`: the key of the claim references in the PHI view log (Settings.audit_secret). `params`:
        scrypt's cost for new hashes (tests lower it). `clock`: the time of every change (tests move it);
        None = now."""
        if not secret:
            raise ValueError("SqlBackend needs the audit secret: PHI views are logged with keyed claim references")
        self.engine = engine
        self.secret = secret
        self.lockout = lockout
        self.session_policy = sessions
        self.params = params
        self.clock = clock

    def _now(self) -> dt.datetime | None:
        return None if self.clock is None else self.clock()

    # ------------------------------------------------------------------------------- people
    @staticmethod
    def _user(person: store_users.User) -> User:
        return User(username=person.username, display_name=person.shown_name, role=cast(Role, person.role))

    def _person(self, user: User) -> store_users.User:
        """The store's account of a signed-in user; a removed or deactivated one may do nothing."""
        person = store_users.user_by_name(self.engine, user.username)
        if person is None or not person.active:
            raise NotPermitted(f"account {user.username} is not active")
        return person

    def _require(self, user: User, permission: str) -> store_users.User:
        person = self._person(user)
        if not self._user(person).can(permission):
            raise NotPermitted(f"{person.username} ({person.role}) may not {permission.replace('_', ' ')}")
        return person

    def authenticate(self, username: str, password: str) -> LoginResult:
        result = store_users.authenticate(
            self.engine, username=username, password=password, policy=self.lockout, params=self.params, now=self._now()
        )
        return LoginResult(None if result.user is None else self._user(result.user), locked_until=result.locked_until)

    def create_session(self, user: User) -> Session:
        person = self._person(user)
        made = store_sessions.create_session(
            self.engine, user_id=person.id, policy=self.session_policy, now=self._now()
        )
        user = self._user(made.user)
        return Session(token=made.token, csrf_token=made.csrf_token, user=user, expires_at=made.expires_at)

    def lookup_session(self, token: str) -> Session | None:
        found = store_sessions.lookup_session(self.engine, token, policy=self.session_policy, now=self._now())
        if found is None:
            return None
        return Session(
            token=found.token, csrf_token=found.csrf_token, user=self._user(found.user), expires_at=found.expires_at
        )

    def revoke_session(self, token: str) -> None:
        store_sessions.revoke_session(self.engine, token)

    def assignees(self) -> Sequence[User]:
        people = store_users.list_users(self.engine, active_only=True)
        return [self._user(p) for p in people if self._user(p).can("work_items")]

    # ------------------------------------------------------------------------------- the queue
    def _owner_filter(self, owner: str | None) -> int | Literal["unassigned"] | None:
        if owner is None:
            return None
        if owner == "unassigned":
            return "unassigned"
        person = store_users.user_by_name(self.engine, owner)
        return -1 if person is None else person.id  # nobody has id -1: an unknown owner matches nothing

    def open_items(self, filters: ItemFilters, user: User) -> Sequence[WorkItem]:
        person = self._require(user, "view_queue" if filters.mine else "view_team_queue")
        query = store_items.QueueFilter(
            payer_id=filters.payer_id,
            category=filters.category,
            action=filters.action,
            owner=self._owner_filter(filters.owner),
            deadline_before=filters.deadline_before,
            states=QUEUED_STATUSES,
            limit=filters.limit,
            offset=filters.offset,
        )
        rows = store_items.open_items(self.engine, viewer=person.id if filters.mine else None, filters=query)
        names = store_users.usernames(self.engine, {r.owner_id for r in rows if r.owner_id is not None})
        return [_web_item(r, names) for r in rows]

    def filter_choices(self, user: User, *, mine: bool = True) -> FilterChoices:
        person = self._require(user, "view_queue" if mine else "view_team_queue")
        found = store_items.filter_choices(self.engine, viewer=person.id if mine else None)
        names = store_users.usernames(self.engine, set(found.owners))
        return FilterChoices(
            payers=found.payers,
            categories=found.categories,
            actions=found.actions,
            owners=tuple(sorted(names[i] for i in found.owners if i in names)),
        )

    def item(self, item_id: str) -> WorkItem:
        number = _number(item_id)
        row = store_items.get_item(self.engine, number)
        events = store_items.item_events(self.engine, number)
        letter = store_drafts.get_draft(self.engine, item_id=number, kind="appeal_letter")
        checklist = store_drafts.get_draft(self.engine, item_id=number, kind="corrected_claim_checklist")
        ids = {row.owner_id} | {e.user_id for e in events} | {e.owner_id for e in events}
        names = store_users.usernames(self.engine, {i for i in ids if i is not None})
        return _web_item(row, names, events=events, letter=letter, checklist=checklist)

    def record_work(
        self,
        item_id: str,
        expected_version: int,
        user: User,
        *,
        action: str,
        minutes: int,
        note: str,
        then: NextStep = "working",
        level: int | None = None,
    ) -> WorkItem:
        if then not in NEXT_STEPS:
            raise InvalidChange(f"unknown next step {then!r}")
        number = _number(item_id)
        person = self._person(user)
        at = self._now()
        try:
            done = store_items.record_work(
                self.engine, number, expected_version=expected_version, by=person.id, action=action,
                minutes=minutes, note=note or None, level=level, now=at,
            )  # fmt: skip
            if then == "sent":  # the level too: the followups export counts (action, level) as one action
                store_items.mark_sent(
                    self.engine, number, expected_version=done.version, by=person.id, action=action, level=level,
                    now=at,
                )  # fmt: skip
            elif then in CLOSING_STEPS:
                store_items.resolve(
                    self.engine, number, expected_version=done.version, by=person.id, resolution=then, now=at
                )
        except EditConflict as exc:
            raise exc.with_current(self.item(item_id)) from None
        return self.item(item_id)

    def save_draft(
        self,
        item_id: str,
        expected_draft_version: int | None,
        user: User,
        text: str,
        *,
        kind: DraftKind = "appeal_letter",
    ) -> WorkItem:
        number = _number(item_id)
        person = self._require(user, "work_items")
        _own_or_free(store_items.get_item(self.engine, number), person)
        try:
            store_drafts.save_draft(
                self.engine, item_id=number, kind=kind, body=text, expected_version=expected_draft_version,
                by=person.id, now=self._now(),
            )  # fmt: skip
        except EditConflict as exc:
            raise exc.with_current(self.item(item_id)) from None
        return self.item(item_id)

    def assign(self, item_id: str, expected_version: int, user: User, owner: str | None) -> WorkItem:
        number = _number(item_id)
        person = self._require(user, "assign_items")
        owner_id = None
        if owner is not None:
            target = store_users.user_by_name(self.engine, owner)
            if target is None:
                raise InvalidChange(f"there is no account {owner}")
            owner_id = target.id
        try:
            store_items.assign(
                self.engine, number, owner_id=owner_id, expected_version=expected_version, by=person.id,
                now=self._now(),
            )  # fmt: skip
        except EditConflict as exc:
            raise exc.with_current(self.item(item_id)) from None
        return self.item(item_id)

    def reopen(self, item_id: str, expected_version: int, user: User, note: str) -> WorkItem:
        number = _number(item_id)
        person = self._require(user, "work_items")
        reason = reopen_reason(note)
        try:
            store_items.reopen(
                self.engine, number, expected_version=expected_version, by=person.id, note=reason, now=self._now()
            )
        except EditConflict as exc:
            raise exc.with_current(self.item(item_id)) from None
        return self.item(item_id)

    def team_capacity(self, user: User) -> Sequence[tuple[User, int | None]]:
        self._require(user, "set_capacity")
        minutes = store_capacity.capacities(self.engine)
        people = [p for p in store_users.list_users(self.engine, active_only=True) if self._user(p).can("work_items")]
        return [(self._user(p), minutes.get(p.id)) for p in people]

    def set_capacity(self, user: User, username: str, minutes_per_day: int) -> None:
        person = self._require(user, "set_capacity")
        target = store_users.user_by_name(self.engine, username)
        if target is None:
            raise InvalidChange(f"there is no account {username}")
        store_capacity.set_capacity(
            self.engine, user_id=target.id, minutes_per_day=minutes_per_day, by=person.id, now=self._now()
        )

    # ------------------------------------------------------------------------------- review
    def _review_claims(self, claim_ids: Iterable[str] | None = None) -> list[ReviewClaim]:
        flagged = store_reviews.flagged_claims(self.engine)
        if claim_ids is not None:
            wanted = set(claim_ids)
            flagged = [f for f in flagged if f.claim_id in wanted]
        decided = store_reviews.reviews_of(self.engine, [f.claim_id for f in flagged])
        names = store_users.usernames(self.engine, {r.user_id for r in decided.values()})
        return [_web_review(f, decided.get(f.claim_id), names) for f in flagged]

    def review_claims(self, user: User) -> Sequence[ReviewClaim]:
        self._require(user, "review_claims")
        claims = self._review_claims()
        return sorted(claims, key=lambda c: (_DECIDED_ORDER[c.status], -c.p_denial, c.claim_id))

    def decide_review(
        self, claim_id: str, expected_version: int, user: User, decision: ReviewDecision, note: str = ""
    ) -> ReviewClaim:
        if decision not in REVIEW_DECISIONS:
            raise InvalidChange(f"unknown decision {decision!r}")
        person = self._require(user, "review_claims")
        if store_reviews.get_flagged(self.engine, claim_id) is None:
            raise NotFound("no such claim in review")
        stored_version = None if expected_version <= 1 else expected_version - 1
        try:
            store_reviews.record_review(
                self.engine, claim_id=claim_id, decision=decision, note=note, by=person.id,
                expected_version=stored_version, now=self._now(),
            )  # fmt: skip
        except EditConflict as exc:
            raise exc.with_current(self._review_claims([claim_id])[0]) from None
        return self._review_claims([claim_id])[0]

    # ------------------------------------------------------------------------------- audit
    def record_phi_view(self, user: User, *, route: str, claim_ids: Sequence[str], item_id: str | None = None) -> None:
        person = self._person(user)
        number = int(item_id) if item_id is not None and item_id.isdigit() else None
        record_phi_view(
            self.engine, secret=self.secret, user_id=person.id, route=route, claim_ids=claim_ids, item_id=number,
            now=self._now(),
        )  # fmt: skip

    # ------------------------------------------------------------------------------- single sign-on
    def user_for_sso(self, username: str) -> User | None:
        person = store_users.user_by_name(self.engine, username)
        return None if person is None or not person.active else self._user(person)


# ----------------------------------------------------------------------------------- conversions
def _number(item_id: str) -> int:
    text = str(item_id).strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFound(f"no work item {item_id}")
    return int(text)


def _own_or_free(item: store_items.WorkItem, person: store_users.User) -> None:
    """The store's ownership rule for work (work_items.record_work), for a draft: one's own or unowned item."""
    if item.state == "resolved":
        raise InvalidChange(f"work item {item.id} is resolved; reopen it first")
    if item.owner_id not in (None, person.id):
        raise NotPermitted(f"work item {item.id} is assigned to someone else")


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first(snapshot: Mapping[str, Any], *names: str) -> Any:
    return next((snapshot[n] for n in names if snapshot.get(n) not in (None, "")), None)


def _facts(row: store_items.WorkItem) -> ClaimFacts:
    snap = row.snapshot
    adjustments = []
    for adj in snap.get("adjustments") or ():
        if isinstance(adj, Mapping):
            adjustments.append(
                Adjustment(
                    group_code=str(adj.get("group_code") or ""),
                    carc=str(adj.get("carc") or ""),
                    amount=_float(adj.get("amount")) or 0.0,
                    rarcs=tuple(str(r) for r in adj.get("rarcs") or ()),
                )
            )
    return ClaimFacts(
        service_date=_date(_first(snap, "service_date", "service_from")),
        billed_amount=_float(_first(snap, "billed_amount", "total_charge")),
        paid_amount=_float(_first(snap, "paid_amount")),
        denied_amount=row.denied_amount,
        remit_date=_date(_first(snap, "remit_date", "first_remit_date")),
        patient_amount=_float(_first(snap, "patient_amount")),
        adjustments=tuple(adjustments),
    )


def _entry(event: store_items.WorkEvent, names: Mapping[int, str]) -> WorkEntry:
    detail = None
    if event.event == "resolved":
        detail = event.resolution
    elif event.event == "assigned":
        detail = names.get(event.owner_id) if event.owner_id is not None else None
    return WorkEntry(
        event=event.event,
        at=event.at,
        by=names.get(event.user_id) if event.user_id is not None else None,
        action=event.action,
        minutes=None if event.minutes is None else round(event.minutes),
        note=event.note or "",
        detail=detail,
        level=event.level,
    )


def _web_item(
    row: store_items.WorkItem,
    names: Mapping[int, str],
    *,
    events: Sequence[store_items.WorkEvent] = (),
    letter: store_drafts.Draft | None = None,
    checklist: store_drafts.Draft | None = None,
) -> WorkItem:
    """The page's item. From `open_items` (no events, no drafts) its history and drafts are left empty."""
    snap = row.snapshot
    reasons = tuple(str(snap[f"reason_{n}"]) for n in (1, 2, 3) if snap.get(f"reason_{n}") not in (None, ""))
    return WorkItem(
        item_id=str(row.id),
        claim_id=row.claim_id,
        rank=row.queue_rank,
        payer_id=row.payer_id or "",
        category=row.category or "other",
        recommended_action=row.action or "",
        action_rule=str(snap.get("action_rule") or snap.get("why") or ""),
        expected_recovery=row.expected_dollars or 0.0,
        minutes=round(row.minutes or 0),
        deadline=row.deadline,
        deadline_rule=row.deadline_rule or "",
        planned_day=_date(snap.get("planned_day")) or row.created_at.date(),
        reasons=reasons,
        facts=_facts(row),
        owner=names.get(row.owner_id) if row.owner_id is not None else None,
        status=cast(Any, row.state),
        resolution=row.resolution,
        version=row.version,
        history=tuple(_entry(e, names) for e in events if e.event != "opened"),
        draft=None if letter is None else letter.body,
        draft_version=None if letter is None else letter.version,
        checklist=None if checklist is None else checklist.body,
        checklist_version=None if checklist is None else checklist.version,
    )


def _web_review(
    flagged: store_reviews.FlaggedClaim, review: store_reviews.Review | None, names: Mapping[int, str]
) -> ReviewClaim:
    return ReviewClaim(
        claim_id=flagged.claim_id,
        payer_id=flagged.payer_id,
        service_date=flagged.service_date,
        billed_amount=flagged.billed_amount,
        p_denial=flagged.p_denial,
        reasons=flagged.reasons,
        actions=flagged.actions,
        status=cast(Any, "pending" if review is None else review.decision),
        decided_by=None if review is None else names.get(review.user_id),
        decided_at=None if review is None else review.at,
        note="" if review is None else review.note,
        version=1 if review is None else review.version + 1,
    )


__all__ = ["SqlBackend"]
