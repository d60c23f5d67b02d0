"""What the pages show and do, in-process: the queue and its filters, an item, record work (errors and
conflicts keep what was typed), the letter draft, and pre-release review decisions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from workspace_sample import TODAY

from serving.workspace.web import MemoryBackend
from serving.workspace.web.backend import User

from .conftest import csrf_of, sign_in

BEN = User("ben", "Ben Okafor", "specialist")
VAL = User("val", "Val Moreau", "reviewer")


def rows(html: str) -> list[str]:
    return re.findall(r'data-item="([^"]+)"', html)


def section(html: str, name: str) -> str:
    start = html.index(f'id="queue-{name}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_my_queue_is_mine_and_the_unassigned_with_todays_items_first(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/app/queue").text
    assert "Ana Ruiz" in page and ">specialist<" in page
    assert rows(section(page, "today")) == ["1", "2", "4", "5"]  # Ben's 3 is not offered to her
    assert rows(section(page, "later")) == ["6", "8"]
    assert "scope=team" not in page  # no Team tab for a specialist


def test_the_team_queue_is_the_managers(client: TestClient, new_client: Callable[[], TestClient]) -> None:
    sign_in(client, "lee")
    team = client.get("/app/queue", params={"scope": "team"}).text
    assert rows(section(team, "today")) == ["1", "2", "3", "4", "5"]
    assert rows(section(team, "later")) == ["6", "7", "8"]
    specialist = new_client()
    sign_in(specialist, "ana")
    refused = specialist.get("/app/queue", params={"scope": "team"})
    assert refused.status_code == 403 and "Your role (specialist) cannot see the whole team&#39;s queue" in refused.text


def test_the_queue_shows_money_minutes_deadline_action_reasons_and_code_meanings(client: TestClient) -> None:
    sign_in(client, "lee")
    page = client.get("/app/queue", params={"scope": "team"}).text
    row = page[page.index('data-item="3"') : page.index('data-item="4"')]
    for expected in (
        "CLM-1003",
        "MEDICARE-JL",
        "Coding",  # the category's label
        "Correct and resubmit",
        "remark N56 guidance",
        "$310.25",
        "of $402.50 denied",
        ">15<",
        "2026-05-01",  # TODAY + 60 days
        "in 60 days",
        "payer appeal window",
        "Procedure code does not match the diagnosis",
        "CO-96",
        "Non-covered charge",
        "N56",
        "Procedure code wrong for the service or date",
        "M51",
        "Procedure code missing or invalid",
    ):
        assert expected in row, expected
    assert "Non-covered charge(s). At least one Remark Code" in row  # the published meaning, as a tooltip
    assert "due-soon" in page[page.index('data-item="1"') : page.index('data-item="2"')]  # 5 days left


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"payer": "AETNA"}, ["1", "5"]),
        ({"category": "coding"}, ["3"]),
        ({"action": "appeal"}, ["2", "4"]),
        ({"owner": "ben"}, ["3", "7"]),
        ({"owner": "unassigned"}, ["4", "6", "8"]),
        ({"deadline_before": (TODAY.replace(day=9)).isoformat()}, ["1", "6"]),
        ({"payer": "UHC", "action": "appeal"}, ["4"]),
        ({"payer": "NOBODY"}, []),
    ],
)
def test_queue_filters(client: TestClient, params: dict[str, str], expected: list[str]) -> None:
    sign_in(client, "lee")
    page = client.get("/app/queue", params={"scope": "team", **params}).text
    assert rows(page) == expected
    for value in params.values():
        assert f'value="{value}" selected' in page or f'value="{value}"' in page  # the filter stays set


def test_a_deadline_filter_that_is_not_a_date_is_ignored_with_a_notice(client: TestClient) -> None:
    sign_in(client, "lee")
    page = client.get("/app/queue", params={"scope": "team", "deadline_before": "next week"}).text
    assert "was not a date" in page and len(rows(page)) == 8


def test_an_unknown_code_is_shown_bare(client: TestClient, backend: MemoryBackend) -> None:
    import dataclasses

    item = backend.item("5")
    odd = dataclasses.replace(
        item.facts, adjustments=(dataclasses.replace(item.facts.adjustments[0], carc="Z99", rarcs=("QQ1",)),)
    )
    backend.add_items([dataclasses.replace(item, facts=odd)])
    sign_in(client, "ana")
    page = client.get("/app/items/5").text
    assert "CO-Z99" in page and "QQ1" in page and "unknown code" in page and "Not in the code table" in page


def test_recording_work_redirects_to_the_item_with_its_history(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    page = client.get("/app/items/1").text
    assert '<option value="sent" selected>' in page  # a correction is usually sent at once
    fields = {"csrf_token": token, "action": "corrected_claim", "minutes": "9", "note": "NPI", "then": "working"}
    response = client.post("/app/items/1/work", data={**fields, "expected_version": "1"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/app/items/1?saved=work"
    page = client.get(response.headers["location"]).text
    assert "Work recorded." in page and "Corrected claim sent" in page and "9 min" in page and "In progress" in page
    assert backend.item("1").version == 2
    assert "1" in rows(client.get("/app/queue").text)  # in progress: still hers to finish
    sent = client.post("/app/items/1/work", data={**fields, "expected_version": "2", "then": "sent"})
    assert sent.status_code == 200 and "Sent" in sent.text
    assert backend.item("1").status == "sent"
    assert "1" not in rows(client.get("/app/queue").text)  # sent: waiting for the payer, out of the queue


def test_a_write_off_closes_the_item(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    page = client.get("/app/items/6").text
    assert '<option value="write_off" selected>' in page and '<option value="written_off" selected>' in page
    data = {"csrf_token": token, "expected_version": "1", "action": "write_off", "minutes": "2", "note": "",
            "then": "written_off"}  # fmt: skip
    page = client.post("/app/items/6/work", data=data).text
    assert "Resolved: Written off" in page and "This item is resolved." in page and 'id="work-form"' not in page
    assert (backend.item("6").status, backend.item("6").resolution) == ("resolved", "written_off")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "fax"}, "Choose what you did."),
        ({"minutes": "ten"}, "Minutes must be a whole number from 0 to 600."),
        ({"minutes": "601"}, "Minutes must be a whole number from 0 to 600."),
        ({"note": "x" * 2001}, "The note is longer than 2000 characters."),
        ({"expected_version": ""}, "The form was incomplete"),
        ({"then": "lost"}, "Choose where the item stands now."),
        ({"level": "4"}, "Appeal level must be 1, 2 or 3"),
        ({"level": "two"}, "Appeal level must be 1, 2 or 3"),
        ({"action": "payer_call", "level": "1"}, "Appeal level applies to an appeal or a reconsideration only"),
    ],
)
def test_a_mistake_in_the_form_is_explained_and_what_was_typed_is_kept(
    client: TestClient, backend: MemoryBackend, fields: dict[str, str], message: str
) -> None:
    token = sign_in(client, "ana")
    data = {"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "7", "note": "typed <b>",
            "then": "sent"}  # fmt: skip
    data.update(fields)
    response = client.post("/app/items/1/work", data=data)
    assert response.status_code == 422 and message in response.text
    if "note" not in fields:
        assert "typed &lt;b&gt;</textarea>" in response.text  # kept, and escaped
    assert backend.item("1").version == 1


def test_a_change_in_between_is_a_conflict_that_keeps_the_entry(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    backend.record_work("4", 1, BEN, action="payer_call", minutes=20, note="called UHC")
    data = {"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "40", "note": "my appeal",
            "then": "working"}  # fmt: skip
    response = client.post("/app/items/4/work", data=data)
    assert response.status_code == 409
    assert "ben saved this item at" in response.text and "Your entry was not saved" in response.text
    assert "The item is now ben&#39;s" in response.text
    assert (
        "my appeal</textarea>" in response.text
        and "<dd>40</dd>" in response.text
        and "<dd>Appeal</dd>" in response.text
    )
    assert "CLM-1004" not in response.text and "called UHC" not in response.text  # now Ben's: not shown to her
    assert [e.by for e in backend.item("4").history] == ["ben"]
    again = client.post("/app/items/4/work", data={**data, "expected_version": "2"})
    assert again.status_code == 403 and "assigned to ben" in again.text and "my appeal</textarea>" in again.text
    assert [e.by for e in backend.item("4").history] == ["ben"]


def test_a_conflict_on_an_item_still_open_to_both_shows_the_item_and_the_entry(
    client: TestClient, backend: MemoryBackend
) -> None:
    token = sign_in(client, "lee")  # a manager sees everyone's items
    backend.record_work("4", 1, BEN, action="payer_call", minutes=20, note="called UHC")
    data = {"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "40", "note": "my appeal",
            "then": "working"}  # fmt: skip
    response = client.post("/app/items/4/work", data=data)
    assert response.status_code == 409 and "ben saved this item at" in response.text
    assert "called UHC" in response.text and "CLM-1004" in response.text
    assert "my appeal</textarea>" in response.text and 'value="40"' in response.text
    assert '<option value="appeal" selected>' in response.text


def test_an_item_of_someone_else_is_not_shown_to_a_specialist(client: TestClient) -> None:
    sign_in(client, "ana")
    for path in ("/app/items/3", "/app/items/3/letter"):
        response = client.get(path)
        assert response.status_code == 403 and "assigned to ben" in response.text and "CLM-1003" not in response.text


def test_the_letter_draft_is_prefilled_saved_and_printable(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    page = client.get("/app/items/2").text
    draft = re.search(r'<textarea id="letter"[^>]*>(.*?)</textarea>', page, re.S)
    assert draft is not None
    for expected in ("March 2, 2026", "BCBS-TX", "claim CLM-1002", "CO-197 (Authorization or notification absent)",
                     "Ana Ruiz", "Riverside Medical Group"):  # fmt: skip
        assert expected in draft.group(1), expected
    response = client.post(
        "/app/items/2/draft",
        data={"csrf_token": token, "expected_draft_version": "", "letter": "Dear BCBS,\n<script>x</script>"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert backend.item("2").draft == "Dear BCBS,\n<script>x</script>"
    letter = client.get("/app/items/2/letter").text
    assert "Dear BCBS,\n&lt;script&gt;x&lt;/script&gt;" in letter and "<script>x" not in letter
    assert "data-print" in letter


def _textarea(page: str, field: str) -> str:
    found = re.search(rf'<textarea id="{field}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None, field
    return found.group(1)


def test_the_first_draft_comes_from_the_denying_carcs_template_with_its_evidence(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/app/items/2").text  # CO-197, an appeal: the letter comes first
    assert page.index('id="letter"') < page.index('id="checklist"')
    letter = _textarea(page, "letter")
    assert "request for retroactive authorization and reconsideration of claim CLM-1002" in letter
    assert "The retroactive authorization request" in letter  # evidence for CARC 197
    checklist = _textarea(page, "checklist")
    assert "Corrected claim checklist: claim CLM-1002 (BCBS-TX)" in checklist and "Frequency code 7" in checklist


def test_a_correction_offers_its_checklist_first_and_saves_it_apart_from_the_letter(
    client: TestClient, backend: MemoryBackend
) -> None:
    token = sign_in(client, "ana")
    page = client.get("/app/items/1").text  # CO-16 with N290, correct and resubmit
    assert page.index('id="checklist"') < page.index('id="letter"')
    checklist = _textarea(page, "checklist")
    assert "N290: Missing/incomplete/invalid rendering provider primary identifier." in checklist
    assert "[ ] The rendering provider&#39;s NPI as enrolled with this payer" in checklist  # RARC evidence, escaped
    response = client.post(
        "/app/items/1/draft",
        data={"csrf_token": token, "kind": "corrected_claim_checklist", "expected_draft_version": "",
              "checklist": "[x] NPI 1234567893 in loop 2310B"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"].endswith("saved=checklist")
    item = backend.item("1")
    assert (item.checklist, item.draft) == ("[x] NPI 1234567893 in loop 2310B", None)
    printable = client.get("/app/items/1/letter", params={"kind": "corrected_claim_checklist"}).text
    assert "[x] NPI 1234567893 in loop 2310B" in printable and "Corrected claim checklist for claim" in printable
    assert client.get("/app/items/1/letter", params={"kind": "fax"}).status_code == 404
    refused = client.post("/app/items/1/draft", data={"csrf_token": token, "kind": "fax", "expected_draft_version": ""})
    assert refused.status_code == 422 and backend.item("1").checklist_version == 1


def test_a_draft_saved_over_someone_elses_change_is_kept_in_the_form(
    client: TestClient, backend: MemoryBackend
) -> None:
    token = sign_in(client, "ana")
    backend.save_draft("4", None, BEN, "Ben's draft")
    response = client.post(
        "/app/items/4/draft", data={"csrf_token": token, "expected_draft_version": "", "letter": "Ana's draft"}
    )
    assert response.status_code == 409 and "Ana&#39;s draft</textarea>" in response.text
    assert "ben saved this item at" in response.text
    assert 'name="expected_draft_version" value="1"' in response.text  # still unowned: saving again is allowed
    assert backend.item("4").draft == "Ben's draft"


def test_a_review_decision_is_saved_and_a_stale_one_is_a_conflict(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "val")
    page = client.get("/app/review").text
    assert page.index("CLM-2001") < page.index("CLM-2002") < page.index("CLM-2003")  # riskiest first
    assert "82%" in page and "No authorization on file for 70553" in page
    response = client.post(
        "/app/review/CLM-2001",
        data={"csrf_token": token, "expected_version": "1", "decision": "held", "note": "waiting on auth"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/app/review?saved=review"
    page = client.get(response.headers["location"]).text
    assert "Decision saved." in page and "waiting on auth" in page
    stale = client.post(
        "/app/review/CLM-2001", data={"csrf_token": token, "expected_version": "1", "decision": "released"}
    )
    assert stale.status_code == 409 and "was changed by val" in stale.text and "now held" in stale.text
    claim = next(c for c in backend.review_claims(VAL) if c.claim_id == "CLM-2001")
    assert (claim.status, claim.version) == ("held", 2)


def test_review_refuses_an_unknown_decision_or_claim(client: TestClient) -> None:
    token = sign_in(client, "val")
    bad = client.post("/app/review/CLM-2001", data={"csrf_token": token, "expected_version": "1", "decision": "x"})
    assert bad.status_code == 400
    missing = client.post("/app/review/CLM-9", data={"csrf_token": token, "expected_version": "1", "decision": "fixed"})
    assert missing.status_code == 404


def test_an_unknown_item_is_a_404_page(client: TestClient) -> None:
    sign_in(client, "ana")
    for path in ("/app/items/NOPE", "/app/items/NOPE/letter"):
        response = client.get(path)
        assert response.status_code == 404 and "There is no item with that id." in response.text


def test_every_page_that_shows_claims_is_written_to_the_phi_view_log(
    client: TestClient, new_client: Callable[[], TestClient], backend: MemoryBackend
) -> None:
    sign_in(client, "lee")
    reviewer = new_client()
    sign_in(reviewer, "val")  # signing in lands on a page, which is logged too
    backend.phi_views.clear()
    client.get("/app/queue", params={"scope": "team", "payer": "AETNA"})
    client.get("/app/items/1")
    client.get("/app/items/1/letter")
    reviewer.get("/app/review")
    client.get("/app/items/NOPE")  # nothing shown, nothing logged
    logged = [(who, route, claims, item) for who, route, claims, item, _at in backend.phi_views]
    assert logged == [
        ("lee", "/app/queue", ("CLM-1001", "CLM-1005"), None),
        ("lee", "/app/items/{item_id}", ("CLM-1001",), "1"),
        ("lee", "/app/items/{item_id}/letter", ("CLM-1001",), "1"),
        ("val", "/app/review", ("CLM-2001", "CLM-2002", "CLM-2003"), None),
    ]


def test_a_manager_sets_capacity_on_the_team_page(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "lee")
    page = client.get("/app/team").text
    assert 'data-person="ana"' in page and 'data-person="val"' not in page
    response = client.post("/app/team/capacity", data={"csrf_token": token, "username": "ana", "minutes": "300"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/app/team?saved=capacity"
    page = client.get(response.headers["location"]).text
    assert "Capacity saved." in page and "300 minutes a day in all" in page
    bad = client.post("/app/team/capacity", data={"csrf_token": token, "username": "ana", "minutes": "lots"})
    assert bad.status_code == 422 and "whole number from 0 to 1440" in bad.text


def test_the_queue_is_read_a_page_at_a_time(backend: MemoryBackend) -> None:
    import dataclasses

    from workspace_sample import sample_options

    from serving.api import ApiConfig, ModelRegistry, create_app

    options = dataclasses.replace(sample_options(backend), page_size=3)
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "lee")
        first = client.get("/app/queue", params={"scope": "team"}).text
        assert rows(first) == ["1", "2", "3"] and "Items 1–3" in first and 'id="previous-page"' not in first
        assert 'href="/app/queue?page=2&amp;scope=team' in first
        backend.phi_views.clear()
        third = client.get("/app/queue", params={"scope": "team", "page": "3"}).text
        assert rows(third) == ["7", "8"] and "Items 7–8" in third and 'id="next-page"' not in third
        assert [v[2] for v in backend.phi_views] == [("CLM-1007", "CLM-1008")]  # only what the page showed
        filtered = client.get("/app/queue", params={"scope": "team", "payer": "AETNA"}).text
        assert rows(filtered) == ["1", "5"] and 'id="pager"' not in filtered


def level_choice(html: str) -> str:
    select = html[html.index('<select id="work-level"') : html.index("</select>", html.index('id="work-level"'))]
    found = re.search(r'<option value="([^"]*)" selected>', select)
    assert found is not None, select
    return found.group(1)


def test_the_work_form_suggests_the_next_appeal_level(client: TestClient, backend: MemoryBackend) -> None:
    sign_in(client, "ana")
    page = client.get("/app/items/2").text  # an appeal, nothing recorded yet
    assert 'name="level"' in page and "Not an appeal" in page and "Level 3 (external review)" in page
    assert level_choice(page) == "1"
    assert level_choice(client.get("/app/items/1").text) == ""  # a corrected claim is not an appeal
    ana = User("ana", "Ana Ruiz", "specialist")
    drafted = backend.record_work("2", 1, ana, action="appeal", minutes=30, note="", level=1)
    assert level_choice(client.get("/app/items/2").text) == "1"  # drafted in one sitting, sent in the next
    sent = backend.record_work("2", drafted.version, ana, action="appeal", minutes=5, note="", level=1, then="sent")
    closed = backend.record_work("2", sent.version, ana, action="payer_call", minutes=5, note="", then="written_off")
    reopened = backend.reopen("2", closed.version, ana, "upheld by letter; second level")
    assert level_choice(client.get("/app/items/2").text) == "2"  # the first level was answered: the next one
    external = backend.record_work("2", reopened.version, ana, action="appeal", minutes=30, note="", level=3,
                                   then="written_off")  # fmt: skip
    backend.reopen("2", external.version, ana, "new evidence")
    assert level_choice(client.get("/app/items/2").text) == "3"  # external review is the last


def test_an_appeal_recorded_at_level_2_shows_in_the_history(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    data = {"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "30", "note": "second",
            "then": "sent", "level": "2"}  # fmt: skip
    response = client.post("/app/items/2/work", data=data, follow_redirects=False)
    assert response.status_code == 303
    history = client.get(response.headers["location"]).text
    history = history[history.index('id="history"') :]
    assert "<strong>Appeal</strong>, level 2, 30 min" in history and "(Appeal, level 2)" in history
    assert [e.level for e in backend.item("2").history] == [2, 2]


def test_a_resolved_item_is_reopened_by_who_may_resolve_it(
    client: TestClient, backend: MemoryBackend, new_client: Callable[[], TestClient]
) -> None:
    ana = User("ana", "Ana Ruiz", "specialist")
    sign_in(client, "ana")
    assert 'id="reopen-form"' not in client.get("/app/items/6").text  # not resolved
    closed = backend.record_work("6", 1, ana, action="write_off", minutes=2, note="", then="written_off")
    page = client.get("/app/items/6").text
    assert "This item is resolved." in page and 'id="reopen-form"' in page and 'action="/app/items/6/reopen"' in page

    manager = new_client()
    sign_in(manager, "lee")
    assert 'id="reopen-form"' in manager.get("/app/items/6").text  # a manager reopens anyone's
    other = new_client()
    token = sign_in(other, "ben")
    assert other.get("/app/items/6").status_code == 403  # Ana's item: Ben sees no form
    refused = other.post("/app/items/6/reopen", data={"csrf_token": token, "expected_version": str(closed.version),
                                                      "note": "mine now"})  # fmt: skip
    assert refused.status_code == 403 and backend.item("6").status == "resolved"
    for person in ("val", "ada"):  # their roles work no items
        visitor = new_client()
        token = sign_in(visitor, person)
        answer = visitor.post("/app/items/6/reopen", data={"csrf_token": token, "expected_version": "1", "note": "x"})
        assert answer.status_code == 403 and backend.item("6").status == "resolved"

    token = csrf_of(page)
    data = {"csrf_token": token, "expected_version": str(closed.version), "note": "  "}
    missing = client.post("/app/items/6/reopen", data=data)
    assert missing.status_code == 422 and "the note is required" in missing.text
    assert client.post("/app/items/6/reopen", data={**data, "note": "x", "csrf_token": "forged"}).status_code == 403
    data["note"] = "patient disputes the bill"
    response = client.post("/app/items/6/reopen", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/app/items/6?saved=reopen"
    page = client.get(response.headers["location"]).text
    assert "Item reopened." in page and "<strong>Reopened</strong>, by ana" in page and "patient disputes" in page
    assert 'id="reopen-form"' not in page and 'id="work-form"' in page
    assert "6" in rows(client.get("/app/queue").text)  # offered again
    stale = client.post("/app/items/6/reopen", data=data)  # the version the page had
    assert stale.status_code == 409 and "it is open now, so it needs no reopening" in stale.text
