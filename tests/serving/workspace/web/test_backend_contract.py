"""The rules of `WorkspaceBackend` that the pages rely on, checked on every implementation: `MemoryBackend`,
and `SqlBackend` on SQLite and on a real PostgreSQL server (tests/pg_server.py).

Written against the Protocol and a `make` fixture (a backend with the sample data of
tests/workspace_sample.py and a clock the test moves), so each backend runs through the same tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workspace_sample import FAST_HASHING, PASSWORD, USERS, sample_items, sample_review, sample_sql_backend

from serving.workspace.web.backend import (
    EditConflict,
    InvalidChange,
    ItemFilters,
    LockoutPolicy,
    NotFound,
    NotPermitted,
    User,
    WorkspaceBackend,
)
from serving.workspace.web.memory import MemoryBackend
from serving.workspace.web.sql_backend import SqlBackend

ANA = User("ana", "Ana Ruiz", "specialist")
BEN = User("ben", "Ben Okafor", "specialist")
LEE = User("lee", "Lee Park", "manager")
VAL = User("val", "Val Moreau", "reviewer")
ADA = User("ada", "Ada Quinn", "admin")
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
BACKENDS = ("memory", "sqlite", "postgresql")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, clock: Clock, tmp_path: Path) -> Iterator[Callable[..., WorkspaceBackend]]:
    built: list[SqlBackend] = []

    def build(max_failures: int = 3) -> WorkspaceBackend:
        if request.param == "memory":
            backend = MemoryBackend(
                lockout=LockoutPolicy(max_failures=max_failures, lock_for=dt.timedelta(minutes=15)),
                idle_timeout=dt.timedelta(minutes=30),
                absolute_timeout=dt.timedelta(hours=12),
                clock=clock,
                password_cost=FAST_HASHING,
            )
            for username, (name, role) in USERS.items():
                backend.add_user(username, PASSWORD, role=role, display_name=name)  # type: ignore[arg-type]
            backend.add_items(sample_items())
            backend.add_review_claims(sample_review())
            return backend
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'workspace-{len(built)}.db'}"
        else:
            assert not built, "one PostgreSQL database per test"
            url = request.getfixturevalue("postgresql_url")
        built.append(sample_sql_backend(url, max_failures=max_failures, clock=clock))
        return built[-1]

    yield build
    for backend in built:
        backend.engine.dispose()


def test_sign_in_returns_the_user_and_ignores_username_case(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert backend.authenticate("ana", PASSWORD).user == ANA
    assert backend.authenticate(" ANA ", PASSWORD).user == ANA
    assert backend.authenticate("ana", PASSWORD.upper()).user is None


def test_lock_out_after_failures_in_a_row_until_it_ends(make: Callable[..., WorkspaceBackend], clock: Clock) -> None:
    backend = make(max_failures=3)
    assert backend.authenticate("ana", "x").locked_until is None
    assert backend.authenticate("ana", "x").locked_until is None
    third = backend.authenticate("ana", "x")
    assert third.user is None and third.locked_until == START + dt.timedelta(minutes=15)
    assert backend.authenticate("ana", PASSWORD).user is None  # locked: the right password does not help
    clock.advance(minutes=15)
    assert backend.authenticate("ana", PASSWORD).user == ANA


def test_a_success_clears_the_failures(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make(max_failures=3)
    backend.authenticate("ana", "x")
    backend.authenticate("ana", "x")
    assert backend.authenticate("ana", PASSWORD).user == ANA
    assert backend.authenticate("ana", "x").locked_until is None  # counting starts again


def test_unknown_usernames_fail_and_lock_like_known_ones(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make(max_failures=2)
    known = [backend.authenticate("ana", "x") for _ in range(3)]
    unknown = [backend.authenticate("nobody", "x") for _ in range(3)]
    assert [(r.user, r.locked_until) for r in known] == [(r.user, r.locked_until) for r in unknown]
    assert unknown[0].locked_until is None and unknown[1].locked_until is not None


def test_sessions_expire_when_idle_and_at_their_absolute_limit(
    make: Callable[..., WorkspaceBackend], clock: Clock
) -> None:
    backend = make()
    idle = backend.create_session(ANA)
    clock.advance(minutes=29)
    assert backend.lookup_session(idle.token) is not None  # and this use extends it
    clock.advance(minutes=29)
    assert backend.lookup_session(idle.token) is not None
    clock.advance(minutes=31)
    assert backend.lookup_session(idle.token) is None

    busy = backend.create_session(ANA)
    for _ in range(12 * 4):
        clock.advance(minutes=15)
        found = backend.lookup_session(busy.token)
    assert found is None  # 12 hours after sign-in, however busy


def test_a_session_has_its_own_csrf_token_and_ends_when_revoked(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    one, two = backend.create_session(ANA), backend.create_session(ANA)
    assert one.token != two.token and one.csrf_token != two.csrf_token and one.token != one.csrf_token
    found = backend.lookup_session(one.token)
    assert found is not None and found.csrf_token == one.csrf_token and found.user == ANA
    backend.revoke_session(one.token)
    assert backend.lookup_session(one.token) is None
    assert backend.lookup_session(two.token) is not None
    assert backend.lookup_session("made-up") is None


def test_memory_backend_keeps_only_a_hash_of_session_tokens(clock: Clock) -> None:
    backend = MemoryBackend(clock=clock)
    session = backend.create_session(ANA)
    assert session.token not in backend._sessions


def test_a_persons_queue_is_theirs_and_the_unassigned_the_team_queue_everyone_s(
    make: Callable[..., WorkspaceBackend],
) -> None:
    backend = make()
    assert [i.item_id for i in backend.open_items(ItemFilters(mine=False), LEE)] == [str(n) for n in range(1, 9)]
    assert [i.item_id for i in backend.open_items(ItemFilters(), ANA)] == ["1", "2", "4", "5", "6", "8"]
    assert [i.item_id for i in backend.open_items(ItemFilters(owner="ana"), ANA)] == ["1", "2", "5"]
    assert [i.item_id for i in backend.open_items(ItemFilters(owner="unassigned"), ANA)] == ["4", "6", "8"]
    assert backend.open_items(ItemFilters(owner="nobody"), ANA) == []
    page = backend.open_items(ItemFilters(mine=False, limit=3, offset=3), LEE)
    assert [i.item_id for i in page] == ["4", "5", "6"]
    choices = backend.filter_choices(LEE, mine=False)
    assert choices.payers == ("AETNA", "BCBS-TX", "MEDICARE-JL", "UHC") and choices.owners == ("ana", "ben")
    assert backend.filter_choices(ANA).owners == ("ana",)
    with pytest.raises(NotPermitted):
        backend.open_items(ItemFilters(mine=False), ANA)  # a specialist does not see the team's queue
    for user in (VAL, ADA):
        with pytest.raises(NotPermitted):
            backend.open_items(ItemFilters(), user)


def test_an_item_carries_the_claim_facts_and_reasons(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    expected = sample_items()[2]
    item = backend.item("3")
    assert (item.claim_id, item.payer_id, item.category, item.recommended_action, item.owner) == (
        "CLM-1003", "MEDICARE-JL", "coding", "correct_and_resubmit", "ben"
    )  # fmt: skip
    assert item.facts == expected.facts and item.reasons == expected.reasons
    assert (item.deadline, item.planned_day, item.minutes, item.expected_recovery) == (
        expected.deadline, expected.planned_day, expected.minutes, expected.expected_recovery
    )  # fmt: skip
    assert (item.status, item.version, item.history, item.draft, item.draft_version) == ("open", 1, (), None, None)


def test_recorded_work_is_versioned_and_takes_the_item(make: Callable[..., WorkspaceBackend], clock: Clock) -> None:
    backend = make()
    worked = backend.record_work("4", 1, ANA, action="appeal", minutes=30, note="drafting")
    assert (worked.version, worked.status, worked.owner) == (2, "in_progress", "ana")
    assert [(e.event, e.action, e.minutes, e.note, e.by) for e in worked.history] == [
        ("worked", "appeal", 30, "drafting", "ana")
    ]
    assert "4" in [i.item_id for i in backend.open_items(ItemFilters(), ANA)]  # still hers to finish
    assert "4" not in [i.item_id for i in backend.open_items(ItemFilters(), BEN)]  # no longer offered to Ben
    with pytest.raises(EditConflict) as conflict:
        backend.record_work("4", 1, BEN, action="payer_call", minutes=5, note="late")
    current = conflict.value.current
    assert isinstance(current, type(worked)) and current.version == 2 and conflict.value.changed_by == "ana"
    with pytest.raises(NotPermitted):
        backend.record_work("4", 2, BEN, action="payer_call", minutes=5, note="hers now")
    clock.advance(minutes=5)
    sent = backend.record_work("4", 2, ANA, action="appeal", minutes=10, note="", then="sent")
    assert (sent.status, sent.version > 2) == ("sent", True)
    assert [e.event for e in sent.history] == ["worked", "worked", "sent"]
    assert "4" not in [i.item_id for i in backend.open_items(ItemFilters(), ANA)]  # waiting for the payer


def test_a_write_off_closes_the_item(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    closed = backend.record_work("6", 1, ANA, action="write_off", minutes=2, note="past filing", then="written_off")
    assert (closed.status, closed.resolution, closed.owner) == ("resolved", "written_off", "ana")
    assert "6" not in [i.item_id for i in backend.open_items(ItemFilters(mine=False), LEE)]
    with pytest.raises(InvalidChange):
        backend.record_work("6", closed.version, ANA, action="payer_call", minutes=1, note="")


def test_bad_writes_change_nothing(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    with pytest.raises(NotFound):
        backend.item("999")
    with pytest.raises(NotFound):
        backend.item("D0001")
    with pytest.raises(NotFound):
        backend.record_work("999", 1, ANA, action="appeal", minutes=1, note="")
    with pytest.raises(InvalidChange, match="unknown action"):
        backend.record_work("1", 1, ANA, action="fax", minutes=1, note="")
    with pytest.raises(NotPermitted):
        backend.record_work("3", 1, ANA, action="appeal", minutes=1, note="")  # Ben's
    assert backend.item("1").version == 1 and backend.item("3").version == 1


def test_drafts_have_their_own_version(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    first = backend.save_draft("4", None, ANA, "Dear UHC,")
    assert (first.draft, first.draft_version, first.version) == ("Dear UHC,", 1, 1)
    with pytest.raises(EditConflict) as conflict:
        backend.save_draft("4", None, BEN, "Ben's letter")  # both started from the template
    assert conflict.value.current.draft == "Dear UHC," and conflict.value.changed_by == "ana"
    assert backend.save_draft("4", 1, ANA, "Dear UHC, again").draft_version == 2
    with pytest.raises(NotPermitted):
        backend.save_draft("3", None, ANA, "Ben's item")
    assert backend.record_work("4", 1, ANA, action="appeal", minutes=5, note="").draft == "Dear UHC, again"


def test_the_letter_and_the_checklist_are_saved_and_versioned_apart(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    backend.save_draft("4", None, ANA, "Dear UHC,")
    listed = backend.save_draft("4", None, ANA, "[ ] modifier 25", kind="corrected_claim_checklist")
    assert (listed.draft, listed.draft_version, listed.checklist, listed.checklist_version) == (
        "Dear UHC,", 1, "[ ] modifier 25", 1,
    )  # fmt: skip
    with pytest.raises(EditConflict) as conflict:  # the letter's version does not stand for the checklist's
        backend.save_draft("4", None, ANA, "[ ] other", kind="corrected_claim_checklist")
    assert conflict.value.current.checklist == "[ ] modifier 25"
    again = backend.save_draft("4", 1, ANA, "[x] modifier 25", kind="corrected_claim_checklist")
    assert again.saved_draft("corrected_claim_checklist") == ("[x] modifier 25", 2)
    assert again.saved_draft("appeal_letter") == ("Dear UHC,", 1)
    with pytest.raises(InvalidChange, match="unknown draft kind"):
        backend.save_draft("4", None, ANA, "x", kind="fax_cover")  # type: ignore[arg-type]


def test_a_manager_assigns_and_takes_back(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert [u.username for u in backend.assignees()] == ["ana", "ben", "lee"]
    given = backend.assign("4", 1, LEE, "ben")
    assert (given.owner, given.version, given.history[-1].event, given.history[-1].detail) == (
        "ben", 2, "assigned", "ben"
    )  # fmt: skip
    assert backend.assign("4", 2, LEE, None).owner is None
    with pytest.raises(NotPermitted):
        backend.assign("4", 3, ANA, "ana")  # taking is done by working it
    with pytest.raises(InvalidChange):
        backend.assign("4", 3, LEE, "val")  # a reviewer works no items
    with pytest.raises(EditConflict):
        backend.assign("4", 1, LEE, "ana")


def test_review_decisions_are_versioned_and_ordered(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert [c.claim_id for c in backend.review_claims(VAL)] == ["CLM-2001", "CLM-2002", "CLM-2003"]
    first = backend.review_claims(VAL)[0]
    assert (first.payer_id, first.billed_amount, first.p_denial, first.status, first.version) == (
        "UHC", 1840.00, 0.82, "pending", 1
    )  # fmt: skip
    decided = backend.decide_review("CLM-2001", 1, VAL, "released", "ok")
    assert (decided.status, decided.decided_by, decided.version, decided.note) == ("released", "val", 2, "ok")
    assert [c.claim_id for c in backend.review_claims(VAL)] == ["CLM-2002", "CLM-2003", "CLM-2001"]
    with pytest.raises(EditConflict) as conflict:
        backend.decide_review("CLM-2001", 1, VAL, "held")
    assert conflict.value.current.status == "released" and conflict.value.changed_by == "val"
    assert backend.decide_review("CLM-2001", 2, VAL, "held").version == 3
    with pytest.raises(NotFound):
        backend.decide_review("CLM-9999", 1, VAL, "fixed")


def test_each_role_does_only_its_own_work(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    for user in (VAL, ADA):
        with pytest.raises(NotPermitted):
            backend.record_work("1", 1, user, action="appeal", minutes=1, note="")
        with pytest.raises(NotPermitted):
            backend.save_draft("1", None, user, "x")
    for user in (ANA, LEE, ADA):
        with pytest.raises(NotPermitted):
            backend.review_claims(user)
        with pytest.raises(NotPermitted):
            backend.decide_review("CLM-2001", 1, user, "fixed")
    assert backend.item("1").version == 1
    assert {c.status for c in backend.review_claims(VAL)} == {"pending"}


def test_phi_views_are_recorded(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    backend.record_phi_view(ANA, route="/app/items/{item_id}", claim_ids=["CLM-1001"], item_id="1")
    backend.record_phi_view(LEE, route="/app/queue", claim_ids=["CLM-1001", "CLM-1002"])
    if isinstance(backend, MemoryBackend):
        assert [(v[0], v[1], v[2], v[3]) for v in backend.phi_views] == [
            ("ana", "/app/items/{item_id}", ("CLM-1001",), "1"),
            ("lee", "/app/queue", ("CLM-1001", "CLM-1002"), None),
        ]
    else:
        assert isinstance(backend, SqlBackend)
        from serving.workspace.phi_views import views_of_claim

        views = views_of_claim(backend.engine, secret=backend.secret, claim_id="CLM-1001")
        assert [(v.route, v.item_id, len(v.claim_refs)) for v in views] == [
            ("/app/items/{item_id}", 1, 1),
            ("/app/queue", None, 2),
        ]
        assert all("CLM" not in ref for v in views for ref in v.claim_refs)


def test_a_manager_sets_each_persons_minutes_a_day(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert [(u.username, m) for u, m in backend.team_capacity(LEE)] == [("ana", None), ("ben", None), ("lee", None)]
    backend.set_capacity(LEE, "ana", 300)
    backend.set_capacity(LEE, "ana", 240)
    assert dict((u.username, m) for u, m in backend.team_capacity(LEE))["ana"] == 240
    with pytest.raises(InvalidChange):
        backend.set_capacity(LEE, "val", 60)  # a reviewer works no items
    with pytest.raises(InvalidChange):
        backend.set_capacity(LEE, "ana", 2000)
    for user in (ANA, VAL, ADA):
        with pytest.raises(NotPermitted):
            backend.set_capacity(user, "ana", 60)
        with pytest.raises(NotPermitted):
            backend.team_capacity(user)


def test_an_appeal_level_is_recorded_sent_and_exported(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    sent = backend.record_work("4", 1, ANA, action="appeal", minutes=30, note="", then="sent", level=2)
    assert [(e.event, e.action, e.level) for e in sent.history] == [("worked", "appeal", 2), ("sent", "appeal", 2)]
    assert [e.level for e in backend.record_work("2", 1, ANA, action="payer_call", minutes=5, note="").history] == [
        None
    ]
    if isinstance(backend, SqlBackend):  # the followups row the retraining reads (DATA.md followups.level)
        from serving.workspace.followups_export import followups_frame

        rows = followups_frame(backend.engine)
        appeal = rows[rows["claim_id"] == "CLM-1004"]
        assert (appeal["action"].tolist(), appeal["level"].tolist()) == (["appeal"], [2])


@pytest.mark.parametrize(("action", "level"), [("payer_call", 1), ("appeal", 4), ("reconsideration", 0)])
def test_a_level_the_store_would_refuse_is_refused_naming_the_level(
    make: Callable[..., WorkspaceBackend], action: str, level: int
) -> None:
    backend = make()
    with pytest.raises(InvalidChange, match="level"):
        backend.record_work("4", 1, ANA, action=action, minutes=5, note="", level=level)
    assert backend.record_work("4", 1, ANA, action="reconsideration", minutes=5, note="", level=3).version == 2


def test_a_resolved_item_is_reopened_with_a_reason_by_who_may_resolve_it(
    make: Callable[..., WorkspaceBackend],
) -> None:
    backend = make()
    closed = backend.record_work("6", 1, ANA, action="write_off", minutes=2, note="", then="written_off")
    assert closed.reopenable_by(ANA) and closed.reopenable_by(LEE) and not closed.reopenable_by(BEN)
    for user in (BEN, VAL, ADA):  # Ben: Ana's item; a reviewer and an admin work no items
        with pytest.raises(NotPermitted):
            backend.reopen("6", closed.version, user, "patient disputes")
    with pytest.raises(InvalidChange, match="reason"):
        backend.reopen("6", closed.version, ANA, "  ")
    with pytest.raises(EditConflict) as conflict:
        backend.reopen("6", closed.version - 1, ANA, "patient disputes")
    assert conflict.value.current.version == closed.version and conflict.value.current.status == "resolved"
    assert backend.item("6").version == closed.version

    opened = backend.reopen("6", closed.version, ANA, " patient disputes ")
    assert (opened.status, opened.resolution, opened.owner, opened.version) == ("open", None, "ana", closed.version + 1)
    assert [(e.event, e.by, e.note) for e in opened.history[-1:]] == [("reopened", "ana", "patient disputes")]
    assert "6" in [i.item_id for i in backend.open_items(ItemFilters(), ANA)]  # offered again
    with pytest.raises(InvalidChange, match="not resolved"):
        backend.reopen("6", opened.version, ANA, "again")

    again = backend.record_work("6", opened.version, ANA, action="write_off", minutes=1, note="", then="written_off")
    assert backend.reopen("6", again.version, LEE, "audit found a payment").status == "open"  # a manager: anyone's


def test_single_sign_on_finds_active_accounts_by_name_without_a_password(
    make: Callable[..., WorkspaceBackend],
) -> None:
    backend = make(max_failures=2)
    assert backend.user_for_sso("ana") == ANA
    assert backend.user_for_sso(" LEE ") == LEE  # any case, as the password sign-in; the role is the store's
    assert backend.user_for_sso("nobody") is None
    assert backend.user_for_sso("") is None
    for _ in range(2):
        backend.authenticate("val", "x")
    assert backend.authenticate("val", PASSWORD).user is None  # locked out for passwords ...
    assert backend.user_for_sso("val") == VAL  # ... not for the proxy, which did the authenticating
    session = backend.create_session(BEN)
    if isinstance(backend, MemoryBackend):
        backend.set_active("ben", active=False)
    else:
        assert isinstance(backend, SqlBackend)
        from serving.workspace.users import set_active, user_by_name

        person = user_by_name(backend.engine, "ben")
        assert person is not None
        set_active(backend.engine, person.id, active=False)
    assert backend.user_for_sso("ben") is None
    assert backend.lookup_session(session.token) is None  # a turned-off account's sessions end
    assert backend.authenticate("ben", PASSWORD).user is None
