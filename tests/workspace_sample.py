"""A small workspace to test the pages against: five people (one per role, two specialists), eight queued
denials and three claims in review, in memory (`sample_backend`) or in a workspace database
(`sample_sql_backend`, the same data through the store's own sync functions).

Shared by the TestClient tests (tests/serving/workspace/web) and the browser tests (tests/browser).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from serving.workspace.database import open_workspace
from serving.workspace.passwords import ScryptParams
from serving.workspace.queue_sync import sync_queue
from serving.workspace.reviews import sync_review_claims
from serving.workspace.schema import work_items
from serving.workspace.users import LockoutPolicy, create_user, user_by_name
from serving.workspace.web import MemoryBackend, SqlBackend, WorkspaceOptions
from serving.workspace.web.backend import Adjustment, ClaimFacts, ReviewClaim, WorkItem

TODAY = dt.date(2026, 3, 2)
PASSWORD = "correct-horse-battery-9"
USERS = {  # username -> (display name, role)
    "ana": ("Ana Ruiz", "specialist"),
    "ben": ("Ben Okafor", "specialist"),
    "lee": ("Lee Park", "manager"),
    "val": ("Val Moreau", "reviewer"),
    "ada": ("Ada Quinn", "admin"),
}
MAX_FAILURES = 3
FAST_HASHING = 2**10  # scrypt cost for tests: a sign-in in about 1 ms instead of 50
FAST_STORE_HASHING = ScryptParams(n=2**4, r=1, p=1)  # the store's equivalent
SECRET = b"sample-workspace-audit-secret-0123456789"


def _item(
    n: int,
    *,
    payer: str,
    category: str,
    action: str,
    rule: str,
    expected: float,
    minutes: int,
    deadline_days: int | None,
    planned_days: int,
    owner: str | None,
    adjustments: tuple[Adjustment, ...],
    reasons: tuple[str, ...],
) -> WorkItem:
    billed = round(sum(a.amount for a in adjustments) * 1.6, 2)
    denied = round(sum(a.amount for a in adjustments), 2)
    return WorkItem(
        item_id=str(n),  # the store numbers items 1, 2, ... in the order the queue is synced
        claim_id=f"CLM-{1000 + n}",
        rank=n,
        payer_id=payer,
        category=category,
        recommended_action=action,
        action_rule=rule,
        expected_recovery=expected,
        minutes=minutes,
        deadline=None if deadline_days is None else TODAY + dt.timedelta(days=deadline_days),
        deadline_rule="payer appeal window: 90 days from the remit" if deadline_days else "no deadline known",
        planned_day=TODAY + dt.timedelta(days=planned_days),
        reasons=reasons,
        facts=ClaimFacts(
            service_date=TODAY - dt.timedelta(days=40 + n),
            billed_amount=billed,
            paid_amount=round(billed - denied, 2),
            denied_amount=denied,
            remit_date=TODAY - dt.timedelta(days=10 + n),
            patient_amount=0.0,
            adjustments=adjustments,
        ),
        owner=owner,
    )


def sample_items() -> list[WorkItem]:
    return [
        _item(1, payer="AETNA", category="missing_information", action="correct_and_resubmit",
              rule="remark N290 guidance (Rendering provider ID missing or invalid)", expected=812.40, minutes=12,
              deadline_days=5, planned_days=0, owner="ana",
              adjustments=(Adjustment("CO", "16", 950.00, ("N290",)),),
              reasons=("Rendering NPI missing on the claim", "Payer fixes these on a corrected claim 91% of the time",
                       "High billed amount")),
        _item(2, payer="BCBS-TX", category="authorization", action="appeal",
              rule="category authorization: usual follow-up", expected=640.00, minutes=35, deadline_days=21,
              planned_days=0, owner="ana", adjustments=(Adjustment("CO", "197", 1200.00, ()),),
              reasons=("Authorization on file for the date of service", "Appeals with auth attached win often")),
        _item(3, payer="MEDICARE-JL", category="coding", action="correct_and_resubmit",
              rule="remark N56 guidance (Procedure code wrong for the service or date)", expected=310.25, minutes=15,
              deadline_days=60, planned_days=0, owner="ben",
              adjustments=(Adjustment("CO", "96", 402.50, ("N56", "M51")),),
              reasons=("Procedure code does not match the diagnosis", "Corrected claims for N56 usually pay")),
        _item(4, payer="UHC", category="medical_necessity", action="appeal",
              rule="category medical_necessity: usual follow-up", expected=1520.00, minutes=45, deadline_days=30,
              planned_days=0, owner=None, adjustments=(Adjustment("CO", "50", 3100.00, ()),),
              reasons=("Large denied amount", "Records support medical necessity in similar claims")),
        _item(5, payer="AETNA", category="eligibility", action="verify_status",
              rule="category eligibility: usual follow-up", expected=95.00, minutes=8, deadline_days=None,
              planned_days=0, owner="ana", adjustments=(Adjustment("CO", "27", 180.00, ("N30",)),),
              reasons=("Coverage ended before the date of service?",)),
        _item(6, payer="UHC", category="timely_filing", action="write_off",
              rule="CARC 29: filing deadline passed", expected=0.0, minutes=3, deadline_days=2, planned_days=1,
              owner=None, adjustments=(Adjustment("CO", "29", 75.00, ()),),
              reasons=("Filed 200 days after the service",)),
        _item(7, payer="BCBS-TX", category="duplicate", action="verify_status",
              rule="category duplicate: usual follow-up", expected=45.50, minutes=6, deadline_days=45,
              planned_days=2, owner="ben", adjustments=(Adjustment("OA", "18", 220.00, ()),),
              reasons=("Original claim may still be in process",)),
        _item(8, payer="MEDICARE-JL", category="non_covered", action="bill_patient",
              rule="PR-204: patient responsibility", expected=60.00, minutes=5, deadline_days=None, planned_days=3,
              owner=None, adjustments=(Adjustment("PR", "204", 120.00, ("N130",)),),
              reasons=("Service not covered by the plan; ABN on file",)),
    ]  # fmt: skip


def sample_review() -> list[ReviewClaim]:
    return [
        ReviewClaim("CLM-2001", "UHC", TODAY - dt.timedelta(days=3), 1840.00, 0.82,
                    ("No authorization on file for 70553", "UHC denies MRI without auth 78% of the time")),
        ReviewClaim("CLM-2002", "AETNA", TODAY - dt.timedelta(days=2), 420.00, 0.64,
                    ("Modifier 25 missing with a same-day E/M",)),
        ReviewClaim("CLM-2003", "BCBS-TX", TODAY - dt.timedelta(days=1), 260.00, 0.51,
                    ("Subscriber ID format differs from the last paid claim",)),
    ]  # fmt: skip


def sample_backend(*, max_failures: int = MAX_FAILURES) -> MemoryBackend:
    backend = MemoryBackend(
        lockout=LockoutPolicy(max_failures=max_failures, lock_for=dt.timedelta(minutes=15)),
        password_cost=FAST_HASHING,
    )
    for username, (name, role) in USERS.items():
        backend.add_user(username, PASSWORD, role=role, display_name=name)  # type: ignore[arg-type]
    backend.add_items(sample_items())
    backend.add_review_claims(sample_review())
    return backend


def sample_queue_rows() -> list[dict[str, Any]]:
    """The sample items as the queue rows `sync_queue` takes (serving.appeal_queue.workspace_rows' columns)."""
    rows = []
    for item in sample_items():
        facts = item.facts
        rows.append(
            {
                "rank": item.rank,
                "claim_id": item.claim_id,
                "first_remit_id": f"RMT-{item.item_id}",
                "planned_day": item.planned_day,
                "action": item.recommended_action,
                "action_rule": item.action_rule,
                "expected_recovery": item.expected_recovery,
                "denied_amount": facts.denied_amount,
                "payer_amount": facts.denied_amount,
                "minutes": float(item.minutes),
                "deadline": item.deadline,
                "deadline_rule": item.deadline_rule,
                "payer_id": item.payer_id,
                "denial_category": item.category,
                **{f"reason_{n}": r for n, r in enumerate(item.reasons, start=1)},
                "first_remit_date": facts.remit_date,
                "service_from": facts.service_date,
                "total_charge": facts.billed_amount,
                "paid_amount": facts.paid_amount,
                "patient_amount": facts.patient_amount,
                "adjustments": [
                    {"group_code": a.group_code, "carc": a.carc, "amount": a.amount, "rarcs": list(a.rarcs)}
                    for a in facts.adjustments
                ],
            }
        )
    return rows


def sample_review_rows() -> list[dict[str, Any]]:
    """The claims in review as `claimsight score claims` rows with the claim's facts joined in."""
    return [
        {"claim_id": c.claim_id, "p_denial": c.p_denial, "decision": "review", "payer_id": c.payer_id,
         "service_from": c.service_date, "total_charge": c.billed_amount,
         **{f"reason_{n}": r for n, r in enumerate(c.reasons, start=1)}}
        for c in sample_review()
    ]  # fmt: skip


def sample_sql_backend(
    url: str, *, max_failures: int = MAX_FAILURES, clock: Callable[[], dt.datetime] | None = None
) -> SqlBackend:
    """The sample workspace in the database at `url` (empty): people, the queue and the review list loaded
    through the store's functions, the owners set as a manager's hand-out would leave them (written directly,
    so every item starts at version 1 as in `sample_backend`)."""
    engine = open_workspace(url)
    for username, (name, role) in USERS.items():
        create_user(engine, username=username, password=PASSWORD, role=role, display_name=name,
                    params=FAST_STORE_HASHING)  # fmt: skip
    at = dt.datetime.combine(TODAY, dt.time(7, 0), tzinfo=dt.UTC)
    sync_queue(engine, sample_queue_rows(), now=at)
    with engine.begin() as conn:
        for item in sample_items():
            if item.owner is not None:
                owner = user_by_name(engine, item.owner)
                assert owner is not None
                conn.execute(update(work_items).where(work_items.c.claim_id == item.claim_id).values(owner_id=owner.id))
        ids = dict(conn.execute(work_items.select().with_only_columns(work_items.c.claim_id, work_items.c.id)).all())
    assert {ids[i.claim_id] for i in sample_items()} == {int(i.item_id) for i in sample_items()}
    assert all(str(ids[i.claim_id]) == i.item_id for i in sample_items()), "items numbered as in the sample"
    sync_review_claims(engine, sample_review_rows(), now=at)
    return SqlBackend(
        engine,
        secret=SECRET,
        lockout=LockoutPolicy(max_failures=max_failures, lock_for=dt.timedelta(minutes=15)),
        params=FAST_STORE_HASHING,
        clock=clock,
    )


def sample_options(backend: Any = None, *, secure_cookies: bool = True) -> WorkspaceOptions:
    return WorkspaceOptions(
        backend=backend or sample_backend(),
        secure_cookies=secure_cookies,
        organisation="Riverside Medical Group",
        today=lambda: TODAY,
    )
