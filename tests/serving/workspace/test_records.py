"""Drafts and reviews (versioned like items), capacity, and the append-only log of PHI views."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, select, text
from workspace_factories import T0, Clock, QueueRows, person

from serving.claim_refs import claim_ref
from serving.workspace.capacity import capacities, set_capacity, team_minutes
from serving.workspace.database import open_workspace
from serving.workspace.drafts import get_draft, save_draft
from serving.workspace.errors import EditConflict, InvalidChange
from serving.workspace.phi_views import recent_phi_views, record_phi_view, views_of_claim
from serving.workspace.queue_sync import sync_queue
from serving.workspace.reviews import (
    flagged_claims,
    get_flagged,
    get_review,
    record_review,
    reviews_of,
    sync_review_claims,
)
from serving.workspace.schema import phi_views
from serving.workspace.users import set_active
from serving.workspace.work_items import open_items

SECRET = b"workspace-test-secret-0123456789abcdef"


def test_drafts_are_versioned_and_a_stale_save_keeps_the_typed_text(engine: Engine) -> None:
    ana, bo = person(engine, name="ana"), person(engine, name="bo")
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    first = save_draft(
        engine, item_id=item.id, kind="appeal_letter", body="Dear reviewer,", expected_version=None, by=ana.id, now=T0
    )
    assert first.version == 1
    second = save_draft(
        engine, item_id=item.id, kind="appeal_letter", body="Dear reviewer, v2", expected_version=1, by=bo.id, now=T0
    )
    assert second.version == 2 and second.updated_by == bo.id
    with pytest.raises(EditConflict, match="appeal letter of work item .* changed by bo") as info:
        save_draft(engine, item_id=item.id, kind="appeal_letter", body="ana's paragraph", expected_version=1, by=ana.id)
    assert info.value.attempted == {"body": "ana's paragraph"} and "paragraph" not in str(info.value)
    with pytest.raises(EditConflict):  # a second "first draft" is a conflict too, not an overwrite
        save_draft(engine, item_id=item.id, kind="appeal_letter", body="new", expected_version=None, by=ana.id)
    stored = get_draft(engine, item_id=item.id, kind="appeal_letter")
    assert stored is not None and stored.body == "Dear reviewer, v2"
    checklist = save_draft(
        engine,
        item_id=item.id,
        kind="corrected_claim_checklist",
        body="- modifier 25",
        expected_version=None,
        by=ana.id,
    )
    assert checklist.version == 1
    with pytest.raises(InvalidChange):
        save_draft(engine, item_id=item.id, kind="poem", body="", expected_version=None, by=ana.id)


def test_first_drafts_saved_at_once_one_wins(engine: Engine) -> None:
    ana, bo = person(engine, name="ana"), person(engine, name="bo")
    sync_queue(engine, QueueRows().rows(1), now=T0)
    item = open_items(engine, viewer=None)[0]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def save(user: int) -> None:
        barrier.wait()
        try:
            results.append(
                save_draft(
                    engine, item_id=item.id, kind="appeal_letter", body=f"by {user}", expected_version=None, by=user
                )
            )
        except EditConflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=save, args=(u,)) for u in (ana.id, bo.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(type(r).__name__ for r in results) == ["Draft", "EditConflict"]


def test_reviews_record_decisions_with_versions(engine: Engine) -> None:
    rex, ray = person(engine, "reviewer", name="rex"), person(engine, "reviewer", name="ray")
    held = record_review(
        engine, claim_id="CLM-9", decision="held", note="waiting for the auth number", by=rex.id, now=T0
    )
    assert (held.decision, held.version, held.user_id) == ("held", 1, rex.id)
    fixed = record_review(engine, claim_id="CLM-9", decision="fixed", note="auth added", by=ray.id, expected_version=1)
    assert fixed.version == 2
    with pytest.raises(EditConflict, match="changed by ray") as info:
        record_review(engine, claim_id="CLM-9", decision="released", by=rex.id, expected_version=1)
    assert "CLM-9" not in str(info.value) and info.value.attempted["decision"] == "released"
    with pytest.raises(EditConflict):
        record_review(engine, claim_id="CLM-9", decision="released", by=rex.id)  # it was decided already
    with pytest.raises(InvalidChange):
        record_review(engine, claim_id="CLM-8", decision="maybe", by=rex.id)
    assert set(reviews_of(engine, ["CLM-9", "CLM-8"])) == {"CLM-9"}
    review = get_review(engine, "CLM-9")
    assert review is not None and review.decision == "fixed"


def test_capacity_per_person_and_for_the_team(engine: Engine) -> None:
    ana, bo, mia = person(engine, name="ana"), person(engine, name="bo"), person(engine, "manager", name="mia")
    rex = person(engine, "reviewer", name="rex")
    set_capacity(engine, user_id=ana.id, minutes_per_day=240, by=mia.id, now=T0)
    set_capacity(engine, user_id=bo.id, minutes_per_day=300, by=mia.id, now=T0)
    set_capacity(engine, user_id=bo.id, minutes_per_day=120, by=mia.id, now=T0)
    assert capacities(engine) == {ana.id: 240, bo.id: 120} and team_minutes(engine) == 360
    set_active(engine, bo.id, active=False)
    assert team_minutes(engine) == 240
    with pytest.raises(InvalidChange):
        set_capacity(engine, user_id=rex.id, minutes_per_day=60, by=mia.id)
    with pytest.raises(InvalidChange):
        set_capacity(engine, user_id=ana.id, minutes_per_day=2000, by=mia.id)


def test_phi_views_hold_keyed_references_only_and_are_append_only(engine: Engine) -> None:
    clock = Clock()
    ana, bo = person(engine, name="ana"), person(engine, name="bo")
    record_phi_view(
        engine,
        secret=SECRET,
        user_id=ana.id,
        route="/workspace/items/{item_id}",
        claim_ids=["CLM-1"],
        item_id=1,
        now=clock(),
    )
    record_phi_view(
        engine,
        secret=SECRET,
        user_id=bo.id,
        route="/workspace/queue",
        claim_ids=["CLM-1", "CLM-2", "CLM-1"],
        now=clock.advance(minutes=1),
    )
    with engine.connect() as conn:
        raw = [tuple(map(str, r)) for r in conn.execute(select(phi_views))]
    assert raw and not any("CLM-" in value for row in raw for value in row)
    seen = views_of_claim(engine, secret=SECRET, claim_id="CLM-1")
    assert [v.user_id for v in seen] == [ana.id, bo.id]
    assert seen[1].claim_refs == tuple(sorted({claim_ref(SECRET, "CLM-1"), claim_ref(SECRET, "CLM-2")}))
    assert [v.user_id for v in views_of_claim(engine, secret=SECRET, claim_id="CLM-2")] == [bo.id]
    assert views_of_claim(engine, secret=b"another-secret", claim_id="CLM-1") == []
    assert [v.route for v in recent_phi_views(engine, user_id=ana.id)] == ["/workspace/items/{item_id}"]
    for statement in (
        "UPDATE phi_views SET route = '/x'",
        "DELETE FROM phi_views",
        "UPDATE phi_views SET claim_refs = '[]' WHERE id = 1",
    ):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert len(recent_phi_views(engine)) == 2
    assert json.loads(json.dumps(seen[0].claim_refs)) == [claim_ref(SECRET, "CLM-1")]
    with pytest.raises(ValueError, match="secret"):
        record_phi_view(engine, secret=b"", user_id=ana.id, route="/x")


def test_truncate_is_refused_on_postgresql(postgresql_url: str) -> None:
    engine = open_workspace(postgresql_url)
    for table in ("phi_views", "work_events"):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
    engine.dispose()


def test_claims_flagged_for_review_are_loaded_once_and_refreshed(engine: Engine) -> None:
    scored = [
        {"claim_id": "C1", "p_denial": 0.81, "decision": "review", "payer_id": "P1", "service_from": "2026-02-01",
         "total_charge": 1200.0, "reason_1": "no auth on file", "action_1": "get the authorization",
         "reason_2": None},
        {"claim_id": "C2", "p_denial": 0.12, "decision": "release", "payer_id": "P2"},
        {"claim_id": "C3", "p_denial": 0.55, "decision": "review", "payer_id": "P2"},
    ]  # fmt: skip
    assert sync_review_claims(engine, scored, now=T0) == 2
    flagged = flagged_claims(engine)
    assert [c.claim_id for c in flagged] == ["C1", "C3"]
    first = flagged[0]
    assert (first.payer_id, str(first.service_date), first.billed_amount) == ("P1", "2026-02-01", 1200.0)
    assert first.reasons == ("no auth on file",) and first.actions == ("get the authorization",)
    scored[2]["p_denial"] = 0.95
    assert sync_review_claims(engine, scored, now=T0) == 2
    assert [c.claim_id for c in flagged_claims(engine)] == ["C3", "C1"]
    assert get_flagged(engine, "C2") is None
    with pytest.raises(InvalidChange, match="review row 0"):
        sync_review_claims(engine, [{"claim_id": "C9", "p_denial": "high"}])
