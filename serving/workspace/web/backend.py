"""What the workspace pages need from a store, as a `Protocol` and the plain values it hands back.

The pages are written against `WorkspaceBackend`, not a database: `MemoryBackend`
(`serving.workspace.web.memory`) implements it in memory for tests and the shell, and the SQL store
implements it for production. Every method is synchronous; the routes call them on a worker thread
(`run_in_threadpool`), so a store may block on its database.

Rules every implementation keeps (the web layer relies on them and the tests check `MemoryBackend` for them):

- `authenticate` counts failures per username, whether or not the user exists, and after `max_failures`
  in a row refuses even the right password until the lock-out ends (`LoginResult.locked_until`). A known
  and an unknown username fail alike, so the answer does not tell which usernames exist.
- A session token is a random secret that the store keeps only as a hash; `lookup_session` answers None
  for a revoked, expired or unknown token and extends an idle session it finds. Each session has its
  own CSRF token, fixed for its lifetime.
- Items and review claims carry a `version`. A write names the version the person saw (`expected_version`);
  when the stored one differs the write changes nothing and raises `EditConflict` with the current value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from features.contract.schema import TEAM_ACTIONS

Role = Literal["viewer", "biller", "lead", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "biller", "lead", "admin")
WRITER_ROLES: frozenset[str] = frozenset({"biller", "lead", "admin"})  # a viewer reads, nothing more
ReviewDecision = Literal["fixed", "released", "held"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("fixed", "released", "held")
WORK_ACTIONS: tuple[str, ...] = TEAM_ACTIONS  # what a person records having done (followups.action)


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES


@dataclass(frozen=True)
class LoginResult:
    """`user` on success; otherwise None, with `locked_until` set while the username is locked out."""

    user: User | None
    locked_until: dt.datetime | None = None


@dataclass(frozen=True)
class Session:
    token: str  # the cookie value; shown to the browser once, stored only as a hash
    csrf_token: str  # the synchronizer token every form of this session posts back
    user: User
    expires_at: dt.datetime


@dataclass(frozen=True)
class Adjustment:
    """One adjustment on the remit: group, CARC, remark codes (RARC) and amount."""

    group_code: str
    carc: str
    amount: float
    rarcs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimFacts:
    """What the claim and its remit say, as a person checks them before working the denial."""

    service_date: dt.date
    billed_amount: float
    paid_amount: float
    denied_amount: float
    remit_date: dt.date | None = None
    patient_amount: float = 0.0
    adjustments: tuple[Adjustment, ...] = ()


@dataclass(frozen=True)
class WorkEntry:
    """One thing a person did on an item (a followups row once exported)."""

    action: str  # one of WORK_ACTIONS
    minutes: int
    note: str
    by: str  # username
    at: dt.datetime


@dataclass(frozen=True)
class WorkItem:
    """One denial in the appeal queue, as the ranking planned it, with what the team did so far."""

    item_id: str
    claim_id: str
    rank: int
    payer_id: str
    category: str  # denial category (features.contract.codes CATEGORIES)
    recommended_action: str
    action_rule: str  # why that action (the decision rule's words)
    expected_recovery: float
    minutes: int  # planned minutes of work
    deadline: dt.date | None
    deadline_rule: str
    planned_day: dt.date
    reasons: tuple[str, ...]  # top reasons, most important first
    facts: ClaimFacts
    owner: str | None = None  # username
    status: Literal["open", "worked"] = "open"
    version: int = 1
    history: tuple[WorkEntry, ...] = ()
    draft: str | None = None  # the appeal letter draft, once saved


@dataclass(frozen=True)
class ItemFilters:
    """The queue's filters; None = any. `owner` is a username or "unassigned"; `mine` keeps the user's own."""

    mine: bool = False
    payer_id: str | None = None
    category: str | None = None
    action: str | None = None
    owner: str | None = None
    deadline_before: dt.date | None = None  # deadline on or before this day


@dataclass(frozen=True)
class FilterChoices:
    """The values the queue's filters offer (the open items' distinct values)."""

    payers: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewClaim:
    """A claim held before release because it is likely to be denied."""

    claim_id: str
    payer_id: str
    service_date: dt.date
    billed_amount: float
    p_denial: float
    reasons: tuple[str, ...]
    status: Literal["pending", "fixed", "released", "held"] = "pending"
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    note: str = ""
    version: int = 1


class EditConflict(Exception):
    """Someone saved this item (or review claim) after the person loaded it: nothing was written."""

    def __init__(self, current: WorkItem | ReviewClaim) -> None:
        super().__init__(f"stale version; current is {current.version}")
        self.current = current


class NotFound(LookupError):
    """No item or review claim with that id."""


class Forbidden(PermissionError):
    """The user's role may not make this change."""


class WorkspaceBackend(Protocol):
    """The store behind the pages. Methods raise `NotFound`, `EditConflict` or `Forbidden` as documented."""

    # --- sign-in and sessions
    def authenticate(self, username: str, password: str) -> LoginResult: ...

    def create_session(self, user: User) -> Session: ...

    def lookup_session(self, token: str) -> Session | None: ...

    def revoke_session(self, token: str) -> None: ...

    # --- the appeal queue
    def open_items(self, filters: ItemFilters, user: User) -> Sequence[WorkItem]:
        """Open items matching `filters`, in rank order (the web layer puts today's first)."""
        ...

    def filter_choices(self, user: User) -> FilterChoices: ...

    def item(self, item_id: str) -> WorkItem:
        """The item, open or worked; `NotFound` otherwise."""
        ...

    def record_work(
        self, item_id: str, expected_version: int, user: User, *, action: str, minutes: int, note: str
    ) -> WorkItem:
        """Append the work (an action of WORK_ACTIONS) to the item's history and mark the item worked; an item
        with no owner becomes the user's."""
        ...

    def save_draft(self, item_id: str, expected_version: int, user: User, text: str) -> WorkItem: ...

    # --- pre-release review
    def review_claims(self, user: User) -> Sequence[ReviewClaim]:
        """Pending claims first (highest risk first), then the decided ones."""
        ...

    def decide_review(
        self, claim_id: str, expected_version: int, user: User, decision: ReviewDecision, note: str = ""
    ) -> ReviewClaim: ...


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_for: dt.timedelta = field(default=dt.timedelta(minutes=15))


__all__ = [
    "REVIEW_DECISIONS",
    "ROLES",
    "WORK_ACTIONS",
    "WRITER_ROLES",
    "Adjustment",
    "ClaimFacts",
    "EditConflict",
    "FilterChoices",
    "Forbidden",
    "ItemFilters",
    "LockoutPolicy",
    "LoginResult",
    "NotFound",
    "ReviewClaim",
    "ReviewDecision",
    "Role",
    "Session",
    "User",
    "WorkEntry",
    "WorkItem",
    "WorkspaceBackend",
]
