"""What the workspace pages need from a store, as a `Protocol` and the plain values it hands back.

The pages are written against `WorkspaceBackend`, not a database: `SqlBackend` (`serving.workspace.web.
sql_backend`) implements it over the workspace database (SQLite or PostgreSQL), and `MemoryBackend`
(`serving.workspace.web.memory`) in memory, the fast double for tests and for trying the pages. Both keep
the rules below, and tests/serving/workspace/web/test_backend_contract.py runs the same tests on each. Every
method is synchronous; the routes call them on a worker thread (`run_in_threadpool`), so a store may block.

The values here are the pages' view of the store's rows (a `WorkItem` carries the claim facts, the history
and the draft that one page shows); the roles, the permissions and the exceptions are the store's own
(`serving.workspace.roles`, `serving.workspace.errors`), so there is one of each.

Rules every implementation keeps:

- Roles are the issue's: specialist, reviewer, manager, admin, and what each may do is
  `serving.workspace.roles.can`. A call the user's role does not allow raises `NotPermitted`.
- `authenticate` counts failures per username, whether or not the user exists, and after `max_failures`
  in a row refuses even the right password until the lock-out ends (`LoginResult.locked_until`). A known
  and an unknown username fail alike, so the answers do not tell which usernames exist. Usernames match
  without regard to case.
- A session token is a random secret that the store keeps only as a hash; `lookup_session` answers None
  for a revoked, expired or unknown token and extends an idle session it finds. Each session has its
  own CSRF token, fixed for its lifetime.
- Items and review claims carry a `version`, a saved draft its own `draft_version`. A write names the
  version the person saw; when the stored one differs the write changes nothing and raises `EditConflict`
  (the store's) with `current` set to the value as it is now.
- An item belongs to whoever works it first (or whom a manager assigns it to): a person's queue offers their
  own items and unassigned ones, and work on someone else's item raises `NotPermitted`. The queue offers
  items that are open or in progress; once sent to the payer or resolved an item leaves it.
- An appeal or a reconsideration may carry its appeal level (`APPEAL_LEVELS`; 3 is external review), by the
  store's rule (`check_level`); other work carries none.
- A resolved item is reopened, with the reason in a note, by whoever may resolve it: its owner, anyone who
  works items for an unowned one, a manager (`assign_items`) for anyone's. It is open, in the queue, again.
- `record_phi_view` appends to the audit log of who saw which claims; the pages call it for every page that
  shows claim facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from features.contract.schema import TEAM_ACTIONS
from serving.workspace import roles
from serving.workspace.errors import EditConflict, InvalidChange, NotFound, NotPermitted
from serving.workspace.schema import APPEAL_LEVELS
from serving.workspace.schema import DRAFT_KINDS as _KINDS
from serving.workspace.schema import REVIEW_DECISIONS as _DECISIONS
from serving.workspace.users import LockoutPolicy
from serving.workspace.work_items import LEVELED_ACTIONS, check_level

Role = Literal["specialist", "reviewer", "manager", "admin"]
ROLES: tuple[Role, ...] = ("specialist", "reviewer", "manager", "admin")
ItemStatus = Literal["open", "in_progress", "sent", "resolved"]
QUEUED_STATUSES: tuple[ItemStatus, ...] = ("open", "in_progress")  # what the queue offers
ReviewDecision = Literal["fixed", "released", "held"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("fixed", "released", "held")
WORK_ACTIONS: tuple[str, ...] = TEAM_ACTIONS  # what a person records having done (followups.action)
# What the item becomes once the work is recorded: still being worked, sent to the payer, or closed by the
# team (written off, billed to the patient: store resolutions).
NextStep = Literal["working", "sent", "written_off", "billed_patient"]
DraftKind = Literal["appeal_letter", "corrected_claim_checklist"]
DRAFT_KINDS: tuple[DraftKind, ...] = ("appeal_letter", "corrected_claim_checklist")
NEXT_STEPS: tuple[NextStep, ...] = ("working", "sent", "written_off", "billed_patient")
CLOSING_STEPS = frozenset({"written_off", "billed_patient"})

_DRIFT = tuple(roles.ROLES) != ROLES or tuple(_DECISIONS) != REVIEW_DECISIONS or tuple(_KINDS) != DRAFT_KINDS
if _DRIFT:  # pragma: no cover - a drift
    raise RuntimeError("the web layer's roles, review decisions or draft kinds differ from the store's")


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role

    def can(self, permission: str) -> bool:
        """What the role may do (`serving.workspace.roles.can`)."""
        return roles.can(self.role, permission)


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

    service_date: dt.date | None
    billed_amount: float | None
    paid_amount: float | None
    denied_amount: float | None
    remit_date: dt.date | None = None
    patient_amount: float | None = None
    adjustments: tuple[Adjustment, ...] = ()


@dataclass(frozen=True)
class WorkEntry:
    """One event of an item's history: work recorded (a followups row once exported), sent, resolved,
    assigned. `by` is None for the system (a queue sync, the payer's remit)."""

    event: str  # worked, sent, resolved, assigned, opened, reopened
    at: dt.datetime
    by: str | None
    action: str | None = None  # one of WORK_ACTIONS, on worked and sent
    minutes: int | None = None
    note: str = ""
    detail: str | None = None  # the resolution (resolved) or the new owner (assigned)
    level: int | None = None  # the appeal level (APPEAL_LEVELS), on worked and sent


@dataclass(frozen=True)
class WorkItem:
    """One denial in the appeal queue, as the ranking planned it, with what the team did so far."""

    item_id: str
    claim_id: str
    rank: int | None
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
    status: ItemStatus = "open"
    resolution: str | None = None
    version: int = 1
    history: tuple[WorkEntry, ...] = ()
    draft: str | None = None  # the appeal letter draft, once saved
    draft_version: int | None = None  # None until a draft is saved
    checklist: str | None = None  # the corrected-claim checklist, once saved
    checklist_version: int | None = None

    def saved_draft(self, kind: DraftKind) -> tuple[str | None, int | None]:
        """The saved text of a draft kind and its version; (None, None) before the first save."""
        if kind == "corrected_claim_checklist":
            return self.checklist, self.checklist_version
        return self.draft, self.draft_version

    def open_to(self, user: User) -> bool:
        """Whether `user` may see the item: their own or unassigned, or anyone's for who sees the team queue."""
        if not user.can("view_queue"):
            return False
        return self.owner in (None, user.username) or user.can("view_team_queue")

    def workable_by(self, user: User) -> bool:
        """Whether `user` may record work on it now (their own or unassigned, and not resolved)."""
        return user.can("work_items") and self.owner in (None, user.username) and self.status != "resolved"

    def reopenable_by(self, user: User) -> bool:
        """Whether `user` may reopen it: resolved, and whoever may resolve it (the store's `reopen` rule)."""
        if self.status != "resolved" or not user.can("work_items"):
            return False
        return self.owner in (None, user.username) or user.can("assign_items")


@dataclass(frozen=True)
class ItemFilters:
    """The queue's filters; None = any. `owner` is a username or "unassigned". `mine`: the items offered to
    the user (their own and unassigned ones); otherwise the whole team's (`view_team_queue`)."""

    mine: bool = True
    payer_id: str | None = None
    category: str | None = None
    action: str | None = None
    owner: str | None = None
    deadline_before: dt.date | None = None  # deadline on or before this day
    limit: int | None = None  # a page of the queue: at most this many items ...
    offset: int = 0  # ... after skipping this many, in rank order


@dataclass(frozen=True)
class FilterChoices:
    """The values the queue's filters offer (the distinct values of the items the user's queue holds)."""

    payers: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewClaim:
    """A claim held before release because it is likely to be denied."""

    claim_id: str
    payer_id: str | None
    service_date: dt.date | None
    billed_amount: float | None
    p_denial: float
    reasons: tuple[str, ...]
    status: Literal["pending", "fixed", "released", "held"] = "pending"
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    note: str = ""
    version: int = 1
    actions: tuple[str, ...] = ()  # the preventive actions, one per reason


def reopen_reason(note: str) -> str:
    """The reason a reopen is given, trimmed. Required: the history is the only account of why a closed
    denial came back, and the followups export starts a new round at it."""
    reason = note.strip()
    if not reason:
        raise InvalidChange("a reason (note) is required to reopen an item")
    return reason


class WorkspaceBackend(Protocol):
    """The store behind the pages. Methods raise `NotFound`, `EditConflict`, `NotPermitted` or
    `InvalidChange` (all from serving.workspace.errors) as documented."""

    # --- sign-in and sessions
    def authenticate(self, username: str, password: str) -> LoginResult: ...

    def create_session(self, user: User) -> Session: ...

    def lookup_session(self, token: str) -> Session | None: ...

    def revoke_session(self, token: str) -> None: ...

    # --- the appeal queue
    def open_items(self, filters: ItemFilters, user: User) -> Sequence[WorkItem]:
        """Queued items (open or in progress) matching `filters`, in rank order (the web layer puts today's
        first). The team's queue (`mine=False`) needs `view_team_queue`."""
        ...

    def filter_choices(self, user: User, *, mine: bool = True) -> FilterChoices: ...

    def item(self, item_id: str) -> WorkItem:
        """The item whatever its status; `NotFound` otherwise. Who may see it is the page's check
        (`WorkItem.open_to`)."""
        ...

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
        """Append the work (an action of WORK_ACTIONS) to the item's history; the item becomes in progress, or
        sent, or resolved (`then`), and an item with no owner becomes the user's. `level`: the appeal level of
        an appeal or reconsideration (`check_level`; `InvalidChange` naming the level otherwise)."""
        ...

    def save_draft(
        self,
        item_id: str,
        expected_draft_version: int | None,
        user: User,
        text: str,
        *,
        kind: DraftKind = "appeal_letter",
    ) -> WorkItem:
        """Save the appeal letter or the corrected-claim checklist; `expected_draft_version` (that kind's own
        version) None for the first draft."""
        ...

    def assignees(self) -> Sequence[User]:
        """The active people an item can be given to (those who work items)."""
        ...

    def assign(self, item_id: str, expected_version: int, user: User, owner: str | None) -> WorkItem:
        """Give the item to `owner` (a username; None: back to the team's pool). Needs `assign_items`."""
        ...

    def reopen(self, item_id: str, expected_version: int, user: User, note: str) -> WorkItem:
        """Take a resolved item back to open (`WorkItem.reopenable_by`); `note`, the reason, is required
        (`reopen_reason`). `InvalidChange` if the item is not resolved."""
        ...

    def team_capacity(self, user: User) -> Sequence[tuple[User, int | None]]:
        """Each active person who works items with their minutes per day (None: not set). Needs
        `set_capacity`."""
        ...

    def set_capacity(self, user: User, username: str, minutes_per_day: int) -> None:
        """Set a person's minutes per day for the queue (0 to 1440). Needs `set_capacity`."""
        ...

    # --- pre-release review
    def review_claims(self, user: User) -> Sequence[ReviewClaim]:
        """Pending claims first (highest risk first), then the decided ones. Needs `review_claims`."""
        ...

    def decide_review(
        self, claim_id: str, expected_version: int, user: User, decision: ReviewDecision, note: str = ""
    ) -> ReviewClaim: ...

    # --- the audit log
    def record_phi_view(self, user: User, *, route: str, claim_ids: Sequence[str], item_id: str | None = None) -> None:
        """Log that `user` was shown these claims on `route` (the route's template, never the raw path)."""
        ...

    # --- single sign-on (serving.workspace.web.sso)
    def user_for_sso(self, username: str) -> User | None:
        """The active user of this username (any case) for a sign-in a trusted reverse proxy vouched for, with
        the store's role; None for an unknown or inactive one. No password, so no lock-out count either: the
        lock-out guards password guessing, and the proxy did the authenticating."""
        ...


__all__ = [
    "APPEAL_LEVELS",
    "CLOSING_STEPS",
    "DRAFT_KINDS",
    "LEVELED_ACTIONS",
    "NEXT_STEPS",
    "QUEUED_STATUSES",
    "REVIEW_DECISIONS",
    "ROLES",
    "WORK_ACTIONS",
    "Adjustment",
    "ClaimFacts",
    "DraftKind",
    "EditConflict",
    "FilterChoices",
    "InvalidChange",
    "ItemFilters",
    "ItemStatus",
    "LockoutPolicy",
    "LoginResult",
    "NextStep",
    "NotFound",
    "NotPermitted",
    "ReviewClaim",
    "ReviewDecision",
    "Role",
    "Session",
    "User",
    "WorkEntry",
    "WorkItem",
    "WorkspaceBackend",
    "check_level",
    "reopen_reason",
]
