"""The rules of `WorkspaceBackend` that the pages rely on, checked on `MemoryBackend`.

Written against the Protocol and a `make` fixture (a backend with the sample data and a clock the test
moves), so the SQL store can be run through the same tests by adding it to `make`'s params.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from workspace_sample import FAST_HASHING, PASSWORD, USERS, sample_items, sample_review

from serving.workspace.web.backend import (
    EditConflict,
    Forbidden,
    ItemFilters,
    LockoutPolicy,
    NotFound,
    User,
    WorkspaceBackend,
)
from serving.workspace.web.memory import MemoryBackend

ANA = User("ana", "Ana Ruiz", "biller")
VAL = User("val", "Val Moreau", "viewer")
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


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


@pytest.fixture(params=["memory"])
def make(request: pytest.FixtureRequest, clock: Clock) -> Callable[..., WorkspaceBackend]:
    def build(max_failures: int = 3) -> WorkspaceBackend:
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

    return build


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
    assert backend.authenticate("nobody", "x").locked_until is None
    assert backend.authenticate("nobody", "x").locked_until is not None


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


def test_open_items_filter_and_rank(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert [i.item_id for i in backend.open_items(ItemFilters(), ANA)] == [f"D000{n}" for n in range(1, 9)]
    assert [i.item_id for i in backend.open_items(ItemFilters(mine=True), ANA)] == ["D0001", "D0002", "D0005"]
    choices = backend.filter_choices(ANA)
    assert choices.payers == ("AETNA", "BCBS-TX", "MEDICARE-JL", "UHC") and choices.owners == ("ana", "ben")


def test_versioned_writes(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    worked = backend.record_work("D0004", 1, ANA, action="appeal", minutes=30, note="sent")
    assert (worked.version, worked.status, worked.owner) == (2, "worked", "ana")
    with pytest.raises(EditConflict) as conflict:
        backend.save_draft("D0004", 1, ANA, "late")
    assert conflict.value.current.version == 2
    assert backend.item("D0004").draft is None
    assert "D0004" not in [i.item_id for i in backend.open_items(ItemFilters(), ANA)]
    with pytest.raises(NotFound):
        backend.item("D9999")
    with pytest.raises(NotFound):
        backend.record_work("D9999", 1, ANA, action="appeal", minutes=1, note="")
    with pytest.raises(ValueError, match="unknown action"):
        backend.record_work("D0001", 1, ANA, action="fax", minutes=1, note="")


def test_review_decisions_are_versioned_and_ordered(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    assert [c.claim_id for c in backend.review_claims(ANA)] == ["CLM-2001", "CLM-2002", "CLM-2003"]
    decided = backend.decide_review("CLM-2001", 1, ANA, "released", "ok")
    assert (decided.status, decided.decided_by, decided.version) == ("released", "ana", 2)
    assert [c.claim_id for c in backend.review_claims(ANA)] == ["CLM-2002", "CLM-2003", "CLM-2001"]
    with pytest.raises(EditConflict):
        backend.decide_review("CLM-2001", 1, ANA, "held")


def test_a_viewer_cannot_write(make: Callable[..., WorkspaceBackend]) -> None:
    backend = make()
    with pytest.raises(Forbidden):
        backend.record_work("D0001", 1, VAL, action="appeal", minutes=1, note="")
    with pytest.raises(Forbidden):
        backend.decide_review("CLM-2001", 1, VAL, "fixed")
    assert backend.item("D0001").version == 1
