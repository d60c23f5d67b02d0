"""What the pages show and do, in-process: the queue and its filters, an item, record work (errors and
conflicts keep what was typed), the letter draft, and pre-release review decisions."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from workspace_sample import TODAY

from serving.workspace.web import MemoryBackend
from serving.workspace.web.backend import User

from .conftest import sign_in

BEN = User("ben", "Ben Okafor", "biller")


def rows(html: str) -> list[str]:
    return re.findall(r'data-item="([^"]+)"', html)


def section(html: str, name: str) -> str:
    start = html.index(f'id="queue-{name}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_my_queue_is_mine_with_todays_items_first(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/app/queue").text
    assert "Ana Ruiz" in page and ">biller<" in page
    assert rows(section(page, "today")) == ["D0001", "D0002", "D0005"]
    assert rows(section(page, "later")) == []
    team = client.get("/app/queue", params={"scope": "team"}).text
    assert rows(section(team, "today")) == ["D0001", "D0002", "D0003", "D0004", "D0005"]
    assert rows(section(team, "later")) == ["D0006", "D0007", "D0008"]


def test_the_queue_shows_money_minutes_deadline_action_reasons_and_code_meanings(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/app/queue", params={"scope": "team"}).text
    row = page[page.index('data-item="D0003"') : page.index('data-item="D0004"')]
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
    assert "due-soon" in page[page.index('data-item="D0001"') : page.index('data-item="D0002"')]  # 5 days left


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"payer": "AETNA"}, ["D0001", "D0005"]),
        ({"category": "coding"}, ["D0003"]),
        ({"action": "appeal"}, ["D0002", "D0004"]),
        ({"owner": "ben"}, ["D0003", "D0007"]),
        ({"owner": "unassigned"}, ["D0004", "D0006", "D0008"]),
        ({"deadline_before": (TODAY.replace(day=9)).isoformat()}, ["D0001", "D0006"]),
        ({"payer": "UHC", "action": "appeal"}, ["D0004"]),
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

    item = backend.item("D0005")
    odd = dataclasses.replace(
        item.facts, adjustments=(dataclasses.replace(item.facts.adjustments[0], carc="Z99", rarcs=("QQ1",)),)
    )
    backend.add_items([dataclasses.replace(item, facts=odd)])
    sign_in(client, "ana")
    page = client.get("/app/items/D0005").text
    assert "CO-Z99" in page and "QQ1" in page and "unknown code" in page and "Not in the code table" in page


def test_recording_work_redirects_to_the_item_with_its_history(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    response = client.post(
        "/app/items/D0001/work",
        data={"csrf_token": token, "expected_version": "1", "action": "corrected_claim", "minutes": "9", "note": "NPI"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/app/items/D0001?saved=work"
    page = client.get(response.headers["location"]).text
    assert "Work recorded." in page and "Corrected claim sent" in page and "9 min" in page
    assert backend.item("D0001").version == 2
    assert "D0001" not in rows(client.get("/app/queue").text)  # worked: waiting for the payer, out of the queue


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "fax"}, "Choose what you did."),
        ({"minutes": "ten"}, "Minutes must be a whole number from 0 to 600."),
        ({"minutes": "601"}, "Minutes must be a whole number from 0 to 600."),
        ({"note": "x" * 2001}, "The note is longer than 2000 characters."),
        ({"expected_version": ""}, "The form was incomplete"),
    ],
)
def test_a_mistake_in_the_form_is_explained_and_what_was_typed_is_kept(
    client: TestClient, backend: MemoryBackend, fields: dict[str, str], message: str
) -> None:
    token = sign_in(client, "ana")
    data = {"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "7", "note": "typed <b>"}
    data.update(fields)
    response = client.post("/app/items/D0001/work", data=data)
    assert response.status_code == 422 and message in response.text
    if "note" not in fields:
        assert "typed &lt;b&gt;</textarea>" in response.text  # kept, and escaped
    assert backend.item("D0001").version == 1


def test_a_change_in_between_is_a_conflict_that_keeps_the_entry(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    backend.record_work("D0004", 1, BEN, action="payer_call", minutes=20, note="called UHC")
    response = client.post(
        "/app/items/D0004/work",
        data={"csrf_token": token, "expected_version": "1", "action": "appeal", "minutes": "40", "note": "my appeal"},
    )
    assert response.status_code == 409
    assert "ben saved this item at" in response.text and "Your entry was not saved" in response.text
    assert "my appeal</textarea>" in response.text and 'value="40"' in response.text
    assert '<option value="appeal" selected>' in response.text
    assert 'name="expected_version" value="2"' in response.text  # submitting again, having seen it, is allowed
    assert "called UHC" in response.text
    assert [e.by for e in backend.item("D0004").history] == ["ben"]


def test_the_letter_draft_is_prefilled_saved_and_printable(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "ana")
    page = client.get("/app/items/D0002").text
    draft = re.search(r'<textarea id="letter"[^>]*>(.*?)</textarea>', page, re.S)
    assert draft is not None
    for expected in ("March 2, 2026", "BCBS-TX", "claim CLM-1002", "CO-197 (Authorization or notification absent)",
                     "Ana Ruiz", "Riverside Medical Group"):  # fmt: skip
        assert expected in draft.group(1), expected
    response = client.post(
        "/app/items/D0002/draft",
        data={"csrf_token": token, "expected_version": "1", "letter": "Dear BCBS,\n<script>x</script>"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert backend.item("D0002").draft == "Dear BCBS,\n<script>x</script>"
    letter = client.get("/app/items/D0002/letter").text
    assert "Dear BCBS,\n&lt;script&gt;x&lt;/script&gt;" in letter and "<script>x" not in letter
    assert "data-print" in letter


def test_a_draft_saved_over_someone_elses_change_is_kept_in_the_form(
    client: TestClient, backend: MemoryBackend
) -> None:
    token = sign_in(client, "ana")
    backend.save_draft("D0002", 1, BEN, "Ben's draft")
    response = client.post(
        "/app/items/D0002/draft", data={"csrf_token": token, "expected_version": "1", "letter": "Ana's draft"}
    )
    assert response.status_code == 409 and "Ana&#39;s draft</textarea>" in response.text
    assert backend.item("D0002").draft == "Ben's draft"


def test_a_review_decision_is_saved_and_a_stale_one_is_a_conflict(client: TestClient, backend: MemoryBackend) -> None:
    token = sign_in(client, "lee")
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
    assert stale.status_code == 409 and "was changed by lee" in stale.text and "now held" in stale.text
    claim = next(c for c in backend.review_claims(BEN) if c.claim_id == "CLM-2001")
    assert (claim.status, claim.version) == ("held", 2)


def test_review_refuses_an_unknown_decision_or_claim(client: TestClient) -> None:
    token = sign_in(client, "lee")
    bad = client.post("/app/review/CLM-2001", data={"csrf_token": token, "expected_version": "1", "decision": "x"})
    assert bad.status_code == 400
    missing = client.post("/app/review/CLM-9", data={"csrf_token": token, "expected_version": "1", "decision": "fixed"})
    assert missing.status_code == 404


def test_an_unknown_item_is_a_404_page(client: TestClient) -> None:
    sign_in(client, "ana")
    for path in ("/app/items/NOPE", "/app/items/NOPE/letter"):
        response = client.get(path)
        assert response.status_code == 404 and "There is no item with that id." in response.text
