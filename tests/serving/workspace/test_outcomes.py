"""The payer's next remit closes items; recorded work becomes followups rows the pipeline accepts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from factories import History
from sqlalchemy import Engine
from workspace_factories import T0, Clock, QueueRows, person

from features.contract.schema import FOLLOWUPS
from features.contract.tables_io import read_tables
from features.contract.validation import load_validated
from serving.workspace.errors import InvalidChange
from serving.workspace.followups_export import export_followups, followups_frame
from serving.workspace.queue_sync import sync_queue
from serving.workspace.remit_outcomes import judge, resolve_from_remits
from serving.workspace.users import User
from serving.workspace.work_items import (
    WorkItem,
    get_item,
    item_events,
    mark_sent,
    open_items,
    record_work,
    reopen,
    resolve,
)


def _remit(claim: str, remit: str, day: str, paid: float, status: str = "1") -> dict[str, Any]:
    return {"claim_id": claim, "remit_id": remit, "remit_date": day, "status_code": status, "paid_amount": paid}


def _by_claim(engine: Engine) -> dict[str, WorkItem]:
    return {i.claim_id: i for i in open_items(engine, viewer=None)}


def _sent(engine: Engine, item: WorkItem, user: User, *, action: str = "appeal", at: dt.datetime = T0) -> WorkItem:
    worked = record_work(engine, item.id, expected_version=item.version, by=user.id, action=action, minutes=30, now=at)
    return mark_sent(engine, item.id, expected_version=worked.version, by=user.id, now=at)


@pytest.mark.parametrize(
    ("asked", "paid", "sent", "expected"),
    [
        (100.0, 100.0, True, "paid"),
        (100.0, 99.996, False, "paid"),  # to the cent
        (100.0, 99.98, True, "partly_paid"),
        (100.0, 0.0, True, "upheld"),
        (100.0, 0.0, False, None),
        (None, 5.0, False, "paid"),
    ],
)
def test_judge(asked: float | None, paid: float, sent: bool, expected: str | None) -> None:
    assert judge(asked=asked, paid=paid, answered_what_was_sent=sent) == expected


def test_next_remits_resolve_paid_partly_paid_and_upheld(engine: Engine) -> None:
    ana = person(engine, name="ana")
    factory = QueueRows()
    rows = [factory.row(payer_amount=200.0, denied_amount=250.0) for _ in range(6)]
    sync_queue(engine, rows, now=T0)
    items = _by_claim(engine)
    c = [r["claim_id"] for r in rows]
    for claim in c[:4]:
        _sent(engine, items[claim], ana)
    remits = [
        _remit(c[0], "A1", "2026-03-20", 120.0),  # paid in two remits
        _remit(c[0], "A2", "2026-03-25", 80.0),
        _remit(c[1], "B1", "2026-03-20", 50.0),
        _remit(c[2], "C1", "2026-03-20", 0.0, status="4"),
        _remit(c[3], rows[3]["remit_id"], "2026-03-01", 0.0, status="4"),  # the denial itself: no answer
        _remit(c[3], "D1", "2026-03-21", -40.0, status="22"),  # a reversal: skipped
        _remit(c[4], "E1", "2026-03-20", 0.0),  # zero on an item nobody sent: changes nothing
        _remit(c[5], "F1", "2026-03-20", 200.0),  # the payer paid before anyone worked it
        _remit("CLM-ELSEWHERE", "Z1", "2026-03-20", 10.0),
    ]
    at = T0 + dt.timedelta(days=25)
    done = resolve_from_remits(engine, pd.DataFrame(remits), now=at)
    decided = {get_item(engine, d.item_id).claim_id: (d.resolution, d.remit_id, d.paid) for d in done}
    assert decided == {
        c[0]: ("paid", "A2", 200.0),
        c[1]: ("partly_paid", "B1", 50.0),
        c[2]: ("upheld", "C1", 0.0),
        c[5]: ("paid", "F1", 200.0),
    }
    for claim, (resolution, _, _) in decided.items():
        item = get_item(engine, items[claim].id)
        assert item.state == "resolved" and item.resolution == resolution and item.updated_by is None
        assert item_events(engine, item.id)[-1].at == at
    assert {i.claim_id for i in open_items(engine, viewer=None)} == {c[3], c[4]}
    assert resolve_from_remits(engine, remits, now=at) == []  # nothing left to decide: idempotent


def test_a_reopened_item_waits_for_a_newer_remit_and_corrected_claims_count(engine: Engine) -> None:
    ana = person(engine, name="ana")
    rows = QueueRows().rows(2)
    sync_queue(engine, rows, now=T0)
    items = _by_claim(engine)
    first, second = (items[r["claim_id"]] for r in rows)
    sent = _sent(engine, first, ana)
    resolve_from_remits(engine, [_remit(first.claim_id, "P1", "2026-03-10", 10_000.0)], now=T0 + dt.timedelta(days=9))
    paid = get_item(engine, first.id)
    reopen(engine, first.id, expected_version=paid.version, by=ana.id, now=T0 + dt.timedelta(days=20))
    assert sent.state == "sent"
    old = [_remit(first.claim_id, "P1", "2026-03-10", 10_000.0)]
    assert resolve_from_remits(engine, old, now=T0 + dt.timedelta(days=21)) == []  # already counted before reopen
    # the second denial was fixed by a corrected claim, a new claim id whose remit answers it
    _sent(engine, second, ana, action="corrected_claim")
    done = resolve_from_remits(
        engine, [_remit("CLM-REPLACEMENT", "R7", "2026-03-15", 1.0)], replaces={"CLM-REPLACEMENT": second.claim_id}
    )
    assert [d.item_id for d in done] == [second.id]


def _world(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Three denied claims in a CSV data directory, and their queue rows."""
    history = History()
    rows = []
    for n in range(1, 4):
        claim = history.claim(f"C{n}", charge=300.0)
        remit = history.remit(claim, date="2024-02-01", status="1", paid=0.0)
        history.adj(claim, remit, "CO", "197", 300.0)
        rows.append(QueueRows().row(claim_id=claim, remit_id=remit, payer_amount=300.0))
    history.followup("C3", action="payer_call", date="2024-02-05", outcome="no_response")
    data = history.write_csv(tmp_path / "data")
    return data, rows


def test_recorded_work_becomes_followups_rows_the_pipeline_accepts(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2024, 2, 10, 9, tzinfo=dt.UTC))
    ana, mia = person(engine, name="ana"), person(engine, "manager", name="mia")
    data, rows = _world(tmp_path)
    sync_queue(engine, rows, now=clock())
    items = _by_claim(engine)
    c1, c2, c3 = (items[f"C{n}"] for n in range(1, 4))
    # C1: appeal worked over two days, sent on the second, paid; C2: a write-off; C3: appeal sent, no answer yet
    v = record_work(
        engine, c1.id, expected_version=1, by=ana.id, action="appeal", minutes=30, level=1, now=clock()
    ).version
    v = record_work(
        engine, c1.id, expected_version=v, by=ana.id, action="appeal", minutes=15, level=1, now=clock.advance(days=1)
    ).version
    v = mark_sent(engine, c1.id, expected_version=v, by=ana.id, now=clock()).version
    resolve_from_remits(engine, [_remit("C1", "R-PAID", "2024-03-01", 300.0)], now=clock.advance(days=20))
    v2 = record_work(engine, c2.id, expected_version=1, by=mia.id, action="write_off", minutes=2, now=clock()).version
    resolve(engine, c2.id, expected_version=v2, by=mia.id, resolution="written_off", now=clock())
    _sent(engine, c3, ana, at=clock.advance(days=1))

    frame = followups_frame(engine)
    assert list(frame.columns) == FOLLOWUPS.names
    got = [tuple(None if pd.isna(x) else x for x in row) for row in frame.itertuples(index=False)]
    assert got == [
        ("C1", "appeal", dt.date(2024, 2, 11), 1, "overturned", dt.date(2024, 3, 2)),
        ("C2", "write_off", dt.date(2024, 3, 2), None, None, None),
        ("C3", "appeal", dt.date(2024, 3, 3), None, "pending", None),
    ]

    path = export_followups(engine, data)
    assert path == data / "followups.csv"  # the directory holds CSV
    result = load_validated(data, max_reject_rate=0.0)
    assert result.total_quarantined == 0
    table = result.tables["followups"].sort_values(["claim_id", "action_date"]).reset_index(drop=True)
    assert list(table["action"]) == ["appeal", "write_off", "payer_call", "appeal"]  # the team's own C3 row kept
    assert list(table["outcome"].astype("string").fillna("-")) == ["overturned", "-", "no_response", "pending"]

    # the answer to C3 arrives: exporting again replaces the pending row instead of adding one
    upheld = get_item(engine, c3.id)
    resolve(engine, c3.id, expected_version=upheld.version, by=ana.id, resolution="upheld", now=clock.advance(days=30))
    export_followups(engine, data)
    again = read_tables(data).frames["followups"]
    assert len(again) == 4 and sorted(again["outcome"].fillna("-")) == ["-", "no_response", "overturned", "upheld"]


def test_export_writes_parquet_by_default(engine: Engine, tmp_path: Path) -> None:
    ana = person(engine, name="ana")
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    record_work(engine, item.id, expected_version=1, by=ana.id, action="reconsideration", minutes=10, level=2, now=T0)
    path = export_followups(engine, tmp_path / "fresh")
    assert path.name == "followups.parquet" and [p.name for p in path.parent.iterdir()] == ["followups.parquet"]
    frame = pd.read_parquet(path)
    assert list(frame.columns) == FOLLOWUPS.names and frame["level"].tolist() == [2]
    assert frame["outcome"].tolist() == ["pending"]


def test_unreadable_remits_are_refused_without_quoting_them(engine: Engine) -> None:
    with pytest.raises(InvalidChange, match="remit row 0") as info:
        resolve_from_remits(engine, [_remit("C1", "R1", "CANARY-date", 10.0)])
    assert "CANARY" not in str(info.value)
