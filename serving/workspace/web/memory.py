"""`MemoryBackend`: the workspace store in memory, for tests and for trying the pages without a database.

It keeps the rules of `WorkspaceBackend` (lock-out, hashed session tokens, idle and absolute session
expiry, versioned writes) so the web layer's tests exercise them; nothing survives the process.
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
    REVIEW_DECISIONS,
    WORK_ACTIONS,
    EditConflict,
    FilterChoices,
    Forbidden,
    ItemFilters,
    LockoutPolicy,
    LoginResult,
    NotFound,
    ReviewClaim,
    ReviewDecision,
    Role,
    Session,
    User,
    WorkEntry,
    WorkItem,
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
        self._review: dict[str, ReviewClaim] = {}
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
        ok = ok and account is not None
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
            if account is None:  # the user was removed
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
        with self._lock:
            items = [i for i in self._items.values() if i.status == "open"]
        keep = [i for i in items if _matches(i, filters, user)]
        return sorted(keep, key=lambda i: i.rank)

    def filter_choices(self, user: User) -> FilterChoices:
        with self._lock:
            items = [i for i in self._items.values() if i.status == "open"]
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
            raise NotFound(item_id)
        return found

    def record_work(
        self, item_id: str, expected_version: int, user: User, *, action: str, minutes: int, note: str
    ) -> WorkItem:
        if action not in WORK_ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        entry = WorkEntry(action=action, minutes=minutes, note=note, by=user.username, at=self.clock())
        return self._update_item(
            item_id,
            expected_version,
            user,
            lambda item: dataclasses.replace(
                item, history=(*item.history, entry), status="worked", owner=item.owner or user.username
            ),
        )

    def save_draft(self, item_id: str, expected_version: int, user: User, text: str) -> WorkItem:
        return self._update_item(item_id, expected_version, user, lambda item: dataclasses.replace(item, draft=text))

    def _update_item(
        self, item_id: str, expected_version: int, user: User, change: Callable[[WorkItem], WorkItem]
    ) -> WorkItem:
        if not user.can_write:
            raise Forbidden(user.role)
        with self._lock:
            current = self._items.get(item_id)
            if current is None:
                raise NotFound(item_id)
            if current.version != expected_version:
                raise EditConflict(current)
            updated = dataclasses.replace(change(current), version=current.version + 1)
            self._items[item_id] = updated
            return updated

    # ----------------------------------------------------------------------------- review
    def review_claims(self, user: User) -> Sequence[ReviewClaim]:
        with self._lock:
            claims = list(self._review.values())
        return sorted(claims, key=lambda c: (_PENDING_FIRST[c.status], -c.p_denial, c.claim_id))

    def decide_review(
        self, claim_id: str, expected_version: int, user: User, decision: ReviewDecision, note: str = ""
    ) -> ReviewClaim:
        if decision not in REVIEW_DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        if not user.can_write:
            raise Forbidden(user.role)
        with self._lock:
            current = self._review.get(claim_id)
            if current is None:
                raise NotFound(claim_id)
            if current.version != expected_version:
                raise EditConflict(current)
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


def _matches(item: WorkItem, f: ItemFilters, user: User) -> bool:
    if f.mine and item.owner != user.username:
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
