"""`MemoryBackend`: the workspace store in memory, for tests and for trying the pages without a database.

It keeps the rules of `WorkspaceBackend` (roles, ownership, lock-out, hashed session tokens, idle and
absolute session expiry, versioned writes) so the web layer's tests exercise them fast; the same contract
tests run on `SqlBackend`. Nothing survives the process; the PHI views it is told of are kept in `phi_views`.
Passwords are hashed with scrypt (standard library); an unknown username is hashed against a dummy
record too, so it takes as long to refuse as a wrong password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence

from serving.workspace.web.backend import (
    CLOSING_STEPS,
    DRAFT_KINDS,
    NEXT_STEPS,
    QUEUED_STATUSES,
    REVIEW_DECISIONS,
    WORK_ACTIONS,
    DraftKind,
    EditConflict,
    FilterChoices,
    InvalidChange,
    ItemFilters,
    LockoutPolicy,
    LoginResult,
    NextStep,
    NotFound,
    NotPermitted,
    ReviewClaim,
    ReviewDecision,
    Role,
    Session,
    User,
    WorkEntry,
    WorkItem,
    check_level,
    reopen_reason,
)

SCRYPT_COST = 2**14  # scrypt's n: about 50 ms a hash on one core here
_PENDING_FIRST = {"pending": 0, "held": 1, "fixed": 2, "released": 3}


def hash_password(password: str, salt: bytes | None = None, *, cost: int = SCRYPT_COST) -> tuple[bytes, bytes]:
    salt = salt or secrets.token_bytes(16)
    return salt, hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost, r=8, p=1, dklen=32)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class _Account:
    user: User
    salt: bytes
    digest: bytes
    active: bool = True


@dataclasses.dataclass
class _Failures:
    count: int = 0
    locked_until: dt.datetime | None = None


@dataclasses.dataclass
class _SessionRow:
    session: Session
    last_seen: dt.datetime
    created: dt.datetime


class MemoryBackend:
    """A `WorkspaceBackend` in memory. Thread-safe: the routes call it from worker threads."""

    def __init__(
        self,
        *,
        lockout: LockoutPolicy | None = None,
        idle_timeout: dt.timedelta = dt.timedelta(minutes=30),
        absolute_timeout: dt.timedelta = dt.timedelta(hours=12),
        clock: Callable[[], dt.datetime] = _utcnow,
        password_cost: int = SCRYPT_COST,
    ) -> None:
        """`password_cost`: scrypt's n (a power of two); tests lower it to save time, nothing else should."""
        self.lockout = lockout or LockoutPolicy()
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.clock = clock
        self._lock = threading.RLock()
        self._accounts: dict[str, _Account] = {}
        self._failures: dict[str, _Failures] = {}
        self._sessions: dict[str, _SessionRow] = {}
        self._items: dict[str, WorkItem] = {}
        self._changed: dict[str, tuple[str | None, dt.datetime | None]] = {}  # item id -> who saved it last, when
        self._draft_changed: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
        self._review: dict[str, ReviewClaim] = {}
        self._capacity: dict[str, int] = {}  # username -> minutes per day
        self.phi_views: list[tuple[str, str, tuple[str, ...], str | None, dt.datetime]] = []
        self.password_cost = password_cost
        self._dummy = hash_password(secrets.token_urlsafe(16), cost=password_cost)

    # ------------------------------------------------------------------------------------ set-up
    def add_user(self, username: str, password: str, *, role: Role, display_name: str | None = None) -> User:
        user = User(username=username, display_name=display_name or username, role=role)
        salt, digest = hash_password(password, cost=self.password_cost)
        with self._lock:
            self._accounts[username.casefold()] = _Account(user, salt, digest)
        return user

    def add_items(self, items: Iterable[WorkItem]) -> None:
        with self._lock:
            for item in items:
                self._items[item.item_id] = item

    def add_review_claims(self, claims: Iterable[ReviewClaim]) -> None:
        with self._lock:
            for claim in claims:
                self._review[claim.claim_id] = claim

    # ----------------------------------------------------------------------------- sign-in
    def authenticate(self, username: str, password: str) -> LoginResult:
        key = username.strip().casefold()
        now = self.clock()
        with self._lock:
            account = self._accounts.get(key)
            failures = self._failures.setdefault(key, _Failures())
            if failures.locked_until is not None and now < failures.locked_until:
                return LoginResult(None, locked_until=failures.locked_until)
        salt, digest = (account.salt, account.digest) if account else self._dummy
        ok = hmac.compare_digest(hash_password(password, salt, cost=self.password_cost)[1], digest)
        ok = ok and account is not None and account.active
        with self._lock:
            if ok and account is not None:
                self._failures.pop(key, None)
                return LoginResult(account.user)
            if failures.locked_until is not None and now >= failures.locked_until:  # the lock-out ended
                failures.count, failures.locked_until = 0, None
            failures.count += 1
            if failures.count >= self.lockout.max_failures:
                failures.locked_until = now + self.lockout.lock_for
            return LoginResult(None, locked_until=failures.locked_until)

    def create_session(self, user: User) -> Session:
        now = self.clock()
        session = Session(
            token=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            user=user,
            expires_at=now + self.idle_timeout,
        )
        with self._lock:
            self._sessions[_token_hash(session.token)] = _SessionRow(session, last_seen=now, created=now)
        return session

    def lookup_session(self, token: str) -> Session | None:
        now = self.clock()
        key = _token_hash(token)
        with self._lock:
            row = self._sessions.get(key)
            if row is None:
                return None
            if now - row.last_seen >= self.idle_timeout or now - row.created >= self.absolute_timeout:
                del self._sessions[key]
                return None
            account = self._accounts.get(row.session.user.username.casefold())
            if account is None or not account.active:  # the user was removed or turned off
                del self._sessions[key]
                return None
            row.last_seen = now
            row.session = dataclasses.replace(
                row.session,
                user=account.user,
                expires_at=min(now + self.idle_timeout, row.created + self.absolute_timeout),
            )
            return row.session

    def revoke_session(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(_token_hash(token), None)

    # ----------------------------------------------------------------------------- the queue
    def open_items(self, filters: ItemFilters, user: User) -> Sequence[WorkItem]:
        _require(user, "view_queue" if filters.mine else "view_team_queue")
        with self._lock:
            items = [i for i in self._items.values() if i.status in QUEUED_STATUSES]
        keep = [i for i in items if _matches(i, filters, user)]
        ordered = sorted(
            keep, key=lambda i: (i.rank is None, i.rank or 0, int(i.item_id) if i.item_id.isdigit() else 0)
        )
        end = None if filters.limit is None else filters.offset + filters.limit
        return ordered[filters.offset : end]

    def filter_choices(self, user: User, *, mine: bool = True) -> FilterChoices:
        items = self.open_items(ItemFilters(mine=mine), user)
        return FilterChoices(
            payers=tuple(sorted({i.payer_id for i in items})),
            categories=tuple(sorted({i.category for i in items})),
            actions=tuple(sorted({i.recommended_action for i in items})),
            owners=tuple(sorted({i.owner for i in items if i.owner})),
        )

    def item(self, item_id: str) -> WorkItem:
        with self._lock:
            found = self._items.get(item_id)
        if found is None:
            raise NotFound(f"no work item {item_id}")
        return found

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
        if action not in WORK_ACTIONS:
            raise InvalidChange(f"unknown action {action!r} (one of {', '.join(WORK_ACTIONS)})")
        if then not in NEXT_STEPS:
            raise InvalidChange(f"unknown next step {then!r}")
        if minutes < 0:
            raise InvalidChange("minutes must not be negative")
        check_level(action, level)  # the store's rule, not a copy of it
        at = self.clock()
        entries = [WorkEntry("worked", at, user.username, action=action, minutes=minutes, note=note, level=level)]
        status = "in_progress"
        resolution = None
        if then == "sent":
            entries.append(WorkEntry("sent", at, user.username, action=action, level=level))
            status = "sent"
        elif then in CLOSING_STEPS:
            entries.append(WorkEntry("resolved", at, user.username, detail=then))
            status, resolution = "resolved", then

        def change(item: WorkItem) -> WorkItem:
            _own_or_free(item, user)
            return dataclasses.replace(
                item,
                history=(*item.history, *entries),
                status=status,  # type: ignore[arg-type]
                resolution=resolution,
                owner=item.owner or user.username,
            )

        attempted: dict[str, object] = {"action": action, "note": note, "level": level}
        return self._update_item(item_id, expected_version, user, change, attempted=attempted)

    def save_draft(
        self,
        item_id: str,
        expected_draft_version: int | None,
        user: User,
        text: str,
        *,
        kind: DraftKind = "appeal_letter",
    ) -> WorkItem:
        _require(user, "work_items")
        if kind not in DRAFT_KINDS:
            raise InvalidChange(f"unknown draft kind {kind!r} (one of {', '.join(DRAFT_KINDS)})")
        at = self.clock()
        with self._lock:
            current = self.item(item_id)
            _, version = current.saved_draft(kind)
            if version != expected_draft_version:
                who, when = self._draft_changed.get((item_id, kind), (None, None))
                raise EditConflict(
                    what=f"the {kind.replace('_', ' ')} of work item {item_id}",
                    expected_version=expected_draft_version or 0,
                    current_version=version,
                    changed_by=who,
                    changed_at=when,
                    attempted={"body": text},
                    current=current,
                )
            _own_or_free(current, user)
            number = (version or 0) + 1
            if kind == "corrected_claim_checklist":
                updated = dataclasses.replace(current, checklist=text, checklist_version=number)
            else:
                updated = dataclasses.replace(current, draft=text, draft_version=number)
            self._items[item_id] = updated
            self._draft_changed[(item_id, kind)] = (user.username, at)
            return updated

    def assignees(self) -> Sequence[User]:
        with self._lock:
            people = [a.user for a in self._accounts.values() if a.user.can("work_items")]
        return sorted(people, key=lambda u: u.username)

    def assign(self, item_id: str, expected_version: int, user: User, owner: str | None) -> WorkItem:
        _require(user, "assign_items")
        with self._lock:
            target = self._accounts.get(owner.casefold()) if owner is not None else None
        if owner is not None and (target is None or not target.user.can("work_items")):
            raise InvalidChange(f"{owner} does not work items")
        entry = WorkEntry("assigned", self.clock(), user.username, detail=owner)

        def change(item: WorkItem) -> WorkItem:
            if item.status == "resolved":
                raise InvalidChange(f"work item {item.item_id} is resolved; reopen it first")
            return dataclasses.replace(item, owner=owner, history=(*item.history, entry))

        return self._update_item(item_id, expected_version, user, change, attempted={"owner": owner})

    def team_capacity(self, user: User) -> Sequence[tuple[User, int | None]]:
        _require(user, "set_capacity")
        with self._lock:
            return [(person, self._capacity.get(person.username)) for person in self.assignees()]

    def set_capacity(self, user: User, username: str, minutes_per_day: int) -> None:
        _require(user, "set_capacity")
        if not 0 <= minutes_per_day <= 24 * 60:
            raise InvalidChange("minutes per day must be between 0 and 1440")
        with self._lock:
            account = self._accounts.get(username.casefold())
            if account is None or not account.user.can("work_items"):
                raise InvalidChange(f"{username} does not work items: no capacity to set")
            self._capacity[account.user.username] = minutes_per_day

    def reopen(self, item_id: str, expected_version: int, user: User, note: str) -> WorkItem:
        _require(user, "work_items")
        reason = reopen_reason(note)
        entry = WorkEntry("reopened", self.clock(), user.username, note=reason)

        def change(item: WorkItem) -> WorkItem:
            if item.status != "resolved":
                raise InvalidChange(f"work item {item.item_id} is not resolved")
            if not item.reopenable_by(user):
                raise NotPermitted(f"{user.username} may not reopen someone else's item")
            return dataclasses.replace(item, status="open", resolution=None, history=(*item.history, entry))

        return self._update_item(item_id, expected_version, user, change, attempted={"note": reason})

    def _update_item(
        self,
        item_id: str,
        expected_version: int,
        user: User,
        change: Callable[[WorkItem], WorkItem],
        *,
        attempted: dict[str, object],
    ) -> WorkItem:
        with self._lock:
            current = self.item(item_id)
            if current.version != expected_version:
                who, when = self._changed.get(item_id, (None, None))
                raise EditConflict(
                    what=f"work item {item_id}",
                    expected_version=expected_version,
                    current_version=current.version,
                    changed_by=who,
                    changed_at=when,
                    attempted=attempted,
                    current=current,
                )
            updated = dataclasses.replace(change(current), version=current.version + 1)
            self._items[item_id] = updated
            self._changed[item_id] = (user.username, self.clock())
            return updated

    # ----------------------------------------------------------------------------- review
    def review_claims(self, user: User) -> Sequence[ReviewClaim]:
        _require(user, "review_claims")
        with self._lock:
            claims = list(self._review.values())
        return sorted(claims, key=lambda c: (_PENDING_FIRST[c.status], -c.p_denial, c.claim_id))

    def decide_review(
        self, claim_id: str, expected_version: int, user: User, decision: ReviewDecision, note: str = ""
    ) -> ReviewClaim:
        if decision not in REVIEW_DECISIONS:
            raise InvalidChange(f"unknown decision {decision!r}")
        _require(user, "review_claims")
        with self._lock:
            current = self._review.get(claim_id)
            if current is None:
                raise NotFound("no such claim in review")
            if current.version != expected_version:
                raise EditConflict(
                    what="the review of this claim",
                    expected_version=expected_version,
                    current_version=current.version,
                    changed_by=current.decided_by,
                    changed_at=current.decided_at,
                    attempted={"decision": decision, "note": note},
                    current=current,
                )
            updated = dataclasses.replace(
                current,
                status=decision,
                decided_by=user.username,
                decided_at=self.clock(),
                note=note,
                version=current.version + 1,
            )
            self._review[claim_id] = updated
            return updated

    # ----------------------------------------------------------------------------- audit
    def record_phi_view(self, user: User, *, route: str, claim_ids: Sequence[str], item_id: str | None = None) -> None:
        with self._lock:
            self.phi_views.append((user.username, route, tuple(claim_ids), item_id, self.clock()))

    # ----------------------------------------------------------------------------- single sign-on
    def user_for_sso(self, username: str) -> User | None:
        with self._lock:
            account = self._accounts.get(username.strip().casefold())
        return account.user if account is not None and account.active else None

    def set_active(self, username: str, *, active: bool) -> None:
        """Turn an account off (or on again), as the store's `set_active`: it signs in no more, in any way."""
        with self._lock:
            self._accounts[username.casefold()].active = active


def _require(user: User, permission: str) -> None:
    if not user.can(permission):
        raise NotPermitted(f"{user.username} ({user.role}) may not {permission.replace('_', ' ')}")


def _own_or_free(item: WorkItem, user: User) -> None:
    _require(user, "work_items")
    if item.status == "resolved":
        raise InvalidChange(f"work item {item.item_id} is resolved; reopen it first")
    if item.owner not in (None, user.username):
        raise NotPermitted(f"work item {item.item_id} is assigned to {item.owner}")


def _matches(item: WorkItem, f: ItemFilters, user: User) -> bool:
    if f.mine and item.owner not in (None, user.username):
        return False
    if f.payer_id is not None and item.payer_id != f.payer_id:
        return False
    if f.category is not None and item.category != f.category:
        return False
    if f.action is not None and item.recommended_action != f.action:
        return False
    if f.owner is not None and (item.owner or "unassigned") != f.owner:
        return False
    return f.deadline_before is None or (item.deadline is not None and item.deadline <= f.deadline_before)


__all__ = ["SCRYPT_COST", "MemoryBackend", "hash_password"]
