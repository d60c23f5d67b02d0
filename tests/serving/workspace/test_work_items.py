"""The appeal queue in the database: idempotent sync, who sees what, every change one versioned transaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, func, select, text, update
from workspace_factories import T0, QueueRows, person

from serving.workspace.errors import EditConflict, InvalidChange, NotPermitted
from serving.workspace.queue_sync import sync_queue
from serving.workspace.schema import work_events, work_items
from serving.workspace.users import User
from serving.workspace.work_items import (
    QueueFilter,
    WorkItem,
    assign,
    filter_choices,
    get_item,
    item_events,
    mark_sent,
    open_items,
    record_work,
    reopen,
    resolve,
)


@pytest.fixture
def team(engine: Engine) -> dict[str, User]:
    return {
        "ana": person(engine, "specialist", name="ana"),
        "bo": person(engine, "specialist", name="bo"),
        "mia": person(engine, "manager", name="mia"),
        "rex": person(engine, "reviewer", name="rex"),
    }


def _item(engine: Engine, claim_id: str) -> WorkItem:
    return next(
        i
        for i in open_items(engine, viewer=None, filters=QueueFilter(states=("open", "in_progress", "sent")))
        if i.claim_id == claim_id
    )


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_sync_is_idempotent_and_keeps_what_people_did(engine: Engine, team: dict[str, User]) -> None:
    rows = QueueRows().rows(5)
    first = sync_queue(engine, rows, now=T0)
    assert (first.added, first.refreshed, first.unchanged) == (5, 0, 0)
    assert sync_queue(engine, rows, now=T0).unchanged == 5
    assert _count(engine, work_items) == 5 and _count(engine, work_events, work_events.c.event == "opened") == 5

    item = _item(engine, rows[0]["claim_id"])
    assert item.state == "open" and item.version == 1 and item.owner_id is None
    assert item.snapshot["reason_3"] is None and item.snapshot["planned_day"] == "2026-03-02"  # JSON-safe
    assert item.deadline == rows[0]["deadline"] and item.remit_id == rows[0]["remit_id"]
    worked = record_work(engine, item.id, expected_version=1, by=team["ana"].id, action="appeal", minutes=30, now=T0)

    # the next morning: new scores for the same denials, one new denial, the same claim denied again by a later remit
    rows[0] = {**rows[0], "expected_recovery": 1.0, "rank": 9}
    again = {**rows[1], "remit_id": "RMT-LATER"}
    result = sync_queue(engine, pd.DataFrame([*rows, again]), now=T0 + dt.timedelta(days=1))
    assert (result.added, result.refreshed, result.unchanged) == (1, 1, 4)
    refreshed = get_item(engine, item.id)
    assert (refreshed.expected_dollars, refreshed.queue_rank) == (1.0, 9)
    assert (refreshed.state, refreshed.owner_id, refreshed.version) == ("in_progress", team["ana"].id, worked.version)
    assert _count(engine, work_items, work_items.c.claim_id == rows[1]["claim_id"]) == 2


def test_sync_needs_the_denying_remit_and_accepts_first_remit_id(engine: Engine) -> None:
    row = QueueRows().row()
    del row["remit_id"]
    with pytest.raises(InvalidChange, match="remit_id") as info:
        sync_queue(engine, [row])
    assert row["claim_id"] not in str(info.value)
    assert sync_queue(engine, [{**row, "first_remit_id": "R9"}]).added == 1


def test_in_progress_items_are_not_offered_to_others_and_resolved_never(engine: Engine, team: dict[str, User]) -> None:
    rows = QueueRows().rows(4)
    sync_queue(engine, rows, now=T0)
    ana, bo, mia = team["ana"].id, team["bo"].id, team["mia"].id
    a, b, c, d = (_item(engine, r["claim_id"]) for r in rows)
    record_work(engine, a.id, expected_version=1, by=ana, action="appeal", minutes=20, now=T0)
    assign(engine, b.id, owner_id=bo, expected_version=1, by=mia, now=T0)
    done = record_work(engine, c.id, expected_version=1, by=ana, action="write_off", minutes=2, now=T0)
    resolve(engine, c.id, expected_version=done.version, by=ana, resolution="written_off", now=T0)

    def ids(viewer: int | None, **filters: Any) -> set[int]:
        return {i.id for i in open_items(engine, viewer=viewer, filters=QueueFilter(**filters))}

    assert ids(ana) == {a.id, d.id}
    assert ids(bo) == {b.id, d.id}
    assert ids(None) == {a.id, b.id, d.id}  # the team's view: everyone's, still not resolved ones
    assert ids(None, states=("open", "in_progress", "sent", "resolved")) == {a.id, b.id, d.id}
    assert ids(None, owner="unassigned") == {d.id} and ids(None, owner=bo) == {b.id}
    assert [i.id for i in open_items(engine, viewer=None)] == [a.id, b.id, d.id]  # queue order
    choices = filter_choices(engine, viewer=bo)
    assert set(choices.owners) == {bo} and set(choices.payers) <= {"P1", "P2", "P3"}
    with pytest.raises(NotPermitted, match="assigned to ana") as info:
        record_work(engine, a.id, expected_version=2, by=bo, action="appeal", minutes=5)
    assert rows[0]["claim_id"] not in str(info.value)


def test_each_change_bumps_the_version_and_writes_one_event(engine: Engine, team: dict[str, User]) -> None:
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    ana, mia = team["ana"].id, team["mia"].id
    steps: list[Callable[[int], WorkItem]] = [
        lambda v: assign(engine, item.id, owner_id=ana, expected_version=v, by=mia, note="yours"),
        lambda v: record_work(engine, item.id, expected_version=v, by=ana, action="appeal", minutes=40, level=1),
        lambda v: mark_sent(engine, item.id, expected_version=v, by=ana),
        lambda v: resolve(engine, item.id, expected_version=v, by=ana, resolution="partly_paid"),
        lambda v: reopen(engine, item.id, expected_version=v, by=ana, note="payer took it back"),
    ]
    version = 1
    for step in steps:
        changed = step(version)
        assert changed.version == version + 1
        version = changed.version
    events = item_events(engine, item.id)
    assert [e.event for e in events] == ["opened", "assigned", "worked", "sent", "resolved", "reopened"]
    assert [e.version for e in events] == [1, 2, 3, 4, 5, 6]
    sent, resolved = events[3], events[4]
    assert (sent.action, sent.level, sent.user_id) == ("appeal", 1, ana)
    assert (resolved.resolution, resolved.outcome) == ("partly_paid", "partial")
    final = get_item(engine, item.id)
    assert (final.state, final.resolution, final.owner_id, final.updated_by) == ("open", None, ana, ana)


def test_reopening_is_for_who_may_resolve_the_item(engine: Engine, team: dict[str, User]) -> None:
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    ana, bo, mia, rex = (team[n].id for n in ("ana", "bo", "mia", "rex"))
    worked = record_work(engine, item.id, expected_version=1, by=ana, action="write_off", minutes=2)
    closed = resolve(engine, item.id, expected_version=worked.version, by=ana, resolution="written_off")
    for other in (bo, rex):  # someone else's item; a role that works no items
        with pytest.raises(NotPermitted):
            reopen(engine, item.id, expected_version=closed.version, by=other, note="x")
    assert get_item(engine, item.id).version == closed.version
    opened = reopen(engine, item.id, expected_version=closed.version, by=mia, note="the payer took it back")
    assert (opened.state, opened.owner_id) == ("open", ana)  # a manager may; the item stays Ana's


def test_invalid_changes_write_nothing(engine: Engine, team: dict[str, User]) -> None:
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    ana, rex = team["ana"].id, team["rex"].id
    with pytest.raises(InvalidChange, match="unknown action"):
        record_work(engine, item.id, expected_version=1, by=ana, action="prayer", minutes=5)
    with pytest.raises(InvalidChange, match="level"):
        record_work(engine, item.id, expected_version=1, by=ana, action="payer_call", minutes=5, level=2)
    with pytest.raises(InvalidChange, match="minutes"):
        record_work(engine, item.id, expected_version=1, by=ana, action="appeal", minutes=-1)
    with pytest.raises(InvalidChange, match="record the work"):
        mark_sent(engine, item.id, expected_version=1, by=ana)
    with pytest.raises(NotPermitted, match="reviewer"):
        record_work(engine, item.id, expected_version=1, by=rex, action="appeal", minutes=5)
    with pytest.raises(NotPermitted):
        assign(engine, item.id, owner_id=team["bo"].id, expected_version=1, by=ana)  # only a manager gives work
    with pytest.raises(InvalidChange, match="payer's answer"):
        resolve(engine, item.id, expected_version=1, by=ana, resolution="paid", outcome="pending")
    assert get_item(engine, item.id).version == 1 and len(item_events(engine, item.id)) == 1
    closed = resolve(engine, item.id, expected_version=1, by=None, resolution="paid")  # the system, on a payment
    with pytest.raises(InvalidChange, match="resolved"):
        record_work(engine, item.id, expected_version=closed.version, by=ana, action="appeal", minutes=5)


def test_a_stale_save_is_a_conflict_that_names_who_and_when(engine: Engine, team: dict[str, User]) -> None:
    rows = QueueRows().rows(1)
    sync_queue(engine, rows, now=T0)
    item = open_items(engine, viewer=None)[0]
    ana = team["ana"].id
    record_work(engine, item.id, expected_version=1, by=ana, action="appeal", minutes=10, note="called", now=T0)
    with pytest.raises(EditConflict) as info:
        record_work(engine, item.id, expected_version=1, by=ana, action="appeal", minutes=25, note="my draft text")
    conflict = info.value
    assert "changed by ana at 2026-03-02 09:00 UTC" in str(conflict) and "nothing was saved" in str(conflict)
    assert (conflict.expected_version, conflict.current_version) == (1, 2)
    assert conflict.attempted["note"] == "my draft text"  # the person's input, to show again
    assert "my draft text" not in str(conflict) and rows[0]["claim_id"] not in str(conflict)
    assert len(item_events(engine, item.id)) == 2


def _race(engine: Engine, item_id: int, users: list[int], version: int) -> tuple[list[WorkItem], list[EditConflict]]:
    """Everyone saves the same version of the item at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(users))
    won: list[WorkItem] = []
    lost: list[EditConflict] = []
    errors: list[BaseException] = []

    def save(user: int, n: int) -> None:
        barrier.wait()
        try:
            won.append(assign(engine, item_id, owner_id=user, expected_version=version, by=user, note=f"mine {n}"))
        except EditConflict as exc:
            lost.append(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(u, n)) for n, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return won, lost


def test_simultaneous_saves_one_wins_the_others_conflict(engine: Engine, team: dict[str, User]) -> None:
    sync_queue(engine, QueueRows().rows(3), now=T0)
    managers = [team["mia"].id] + [person(engine, "manager", name=f"m{i}").id for i in range(5)]
    for item in open_items(engine, viewer=None):
        won, lost = _race(engine, item.id, managers, version=1)
        assert len(won) == 1 and len(lost) == len(managers) - 1
        stored = get_item(engine, item.id)
        winner = won[0]
        assert stored.version == 2 and stored.owner_id == winner.owner_id
        assigned = [e for e in item_events(engine, item.id) if e.event == "assigned"]
        assert len(assigned) == 1 and assigned[0].user_id == winner.owner_id  # nothing half-written
        for conflict in lost:
            assert conflict.current_version == 2 and "after you opened it" in str(conflict)
            assert conflict.attempted["note"].startswith("mine ")
        # the losers' input is not lost: one reloads and saves it on the current version
        retry = lost[0].attempted
        again = assign(engine, item.id, owner_id=retry["owner_id"], expected_version=2, by=retry["owner_id"])
        assert again.version == 3


def test_a_save_waiting_on_another_transaction_sees_its_commit(engine: Engine, team: dict[str, User]) -> None:
    """Another connection holds an uncommitted save of the item; ours waits for it (row lock on PostgreSQL, the
    write lock on SQLite), then finds the version moved on: a conflict, with the other save intact."""
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    ana, mia = team["ana"].id, team["mia"].id
    outcome: list[BaseException | WorkItem] = []
    started = threading.Event()
    with engine.connect() as other:
        other.begin()
        other.execute(
            update(work_items).where(work_items.c.id == item.id).values(version=2, owner_id=mia, updated_by=mia)
        )

        def ours() -> None:
            started.set()
            try:
                outcome.append(record_work(engine, item.id, expected_version=1, by=ana, action="appeal", minutes=9))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=ours)
        thread.start()
        started.wait()
        thread.join(timeout=0.5)
        assert thread.is_alive() and not outcome  # blocked behind the open transaction
        other.commit()
        thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], EditConflict)
    assert "changed by mia" in str(outcome[0])
    stored = get_item(engine, item.id)
    assert (stored.version, stored.owner_id) == (2, mia) and len(item_events(engine, item.id)) == 1


def test_history_is_append_only(engine: Engine, team: dict[str, User]) -> None:
    sync_queue(engine, QueueRows().rows(1), now=T0)
    for statement in ("UPDATE work_events SET note = 'x'", "DELETE FROM work_events"):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert _count(engine, work_events) == 1


def test_sync_handles_a_queue_longer_than_one_statement(engine: Engine) -> None:
    rows = QueueRows(seed=3).rows(450)
    assert sync_queue(engine, rows, now=T0).added == 450
    again = sync_queue(engine, [{**r, "rank": r["rank"] + 1} if i % 2 else r for i, r in enumerate(rows)], now=T0)
    assert (again.added, again.refreshed, again.unchanged) == (0, 225, 225)
    assert _count(engine, work_events) == 450


def test_unreadable_queue_values_are_refused_without_quoting_them(engine: Engine) -> None:
    row = QueueRows().row(deadline="sometime CANARY", expected_recovery="lots CANARY")
    with pytest.raises(InvalidChange, match="queue row 0: expected_dollars is not a number") as info:
        sync_queue(engine, [row])
    assert "CANARY" not in str(info.value)
    assert _count(engine, work_items) == 0
