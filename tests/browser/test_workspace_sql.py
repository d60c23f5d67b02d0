"""The workspace as a team uses it, end to end against the SQL store: a real headless Chromium signs in as a
specialist, works three items of the queue (an appeal with a drafted letter, a correction, a write-off), signs
out; a reviewer marks two pre-release claims. Then the workspace database and its followups export
(`followups_frame`, what retraining reads) must hold exactly that, and every page shown is in the PHI view log.

Screenshots of each page go under the test's tmp_path (screenshots/), checked for a rendered page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser.harness import LiveServer, require_browser, screenshot, serve

require_browser(module_level=True)  # before importing selenium: skips here without a browser (CI: tests fail)

from browser.test_workspace_pages import click_and_load, no_console_errors, submit_login, text_of, wait  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402
from sqlalchemy import select  # noqa: E402
from workspace_sample import PASSWORD, TODAY, sample_options, sample_sql_backend  # noqa: E402

from features.contract.schema import FOLLOWUPS  # noqa: E402
from serving.api import ApiConfig, ModelRegistry, create_app  # noqa: E402
from serving.workspace.drafts import get_draft  # noqa: E402
from serving.workspace.followups_export import export_followups, followups_frame  # noqa: E402
from serving.workspace.phi_views import recent_phi_views  # noqa: E402
from serving.workspace.schema import reviews, users, work_items  # noqa: E402
from serving.workspace.web import SqlBackend  # noqa: E402

pytestmark = pytest.mark.slow
WORKED_AT = dt.datetime.combine(TODAY, dt.time(10, 0), tzinfo=dt.UTC)


@pytest.fixture
def team(tmp_path: Path, browser_available: None) -> Iterator[tuple[SqlBackend, LiveServer]]:
    """The sample workspace in a SQLite database, served; every change stamped at 10:00 on the sample's day."""
    backend = sample_sql_backend(f"sqlite:///{tmp_path / 'workspace.db'}", clock=lambda: WORKED_AT)
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=sample_options(backend))
    with serve(app) as server:
        yield backend, server
    backend.engine.dispose()


def record(driver: Any, *, action: str, then: str, minutes: str, note: str) -> None:
    assert Select(driver.find_element(By.ID, "work-action")).first_selected_option.get_attribute("value") == action
    assert Select(driver.find_element(By.ID, "work-then")).first_selected_option.get_attribute("value") == then
    box = driver.find_element(By.ID, "work-minutes")
    box.clear()
    box.send_keys(minutes)
    driver.find_element(By.ID, "work-note").send_keys(note)
    click_and_load(driver, driver.find_element(By.ID, "record-work"))
    assert text_of(driver, "#saved") == "Work recorded."


def test_a_specialist_and_a_reviewer_work_the_queue_and_the_store_holds_exactly_that(
    driver: Any, team: tuple[SqlBackend, LiveServer], tmp_path: Path
) -> None:
    backend, live = team
    shots = tmp_path / "screenshots"
    driver.get(live.url + "/app/login")
    submit_login(driver, "ana", PASSWORD)
    wait(driver).until(ec.url_contains("/app/queue"))
    screenshot(driver, shots / "sql-01-queue.png")

    # 1. an appeal: the letter drafted from the template, completed, saved; the work recorded and sent
    click_and_load(driver, driver.find_element(By.LINK_TEXT, "CLM-1002"))
    letter = driver.find_element(By.ID, "letter")
    assert "CO-197 (Authorization or notification absent)" in letter.get_attribute("value")
    letter.send_keys("\nAuthorization 77-1234 was on file before the visit.")
    click_and_load(driver, driver.find_element(By.ID, "save-draft"))
    assert text_of(driver, "#saved") == "Draft saved."
    record(driver, action="appeal", then="sent", minutes="35", note="Appeal with the authorization attached")
    assert text_of(driver, "#item-status") == "Sent"
    screenshot(driver, shots / "sql-02-appeal-sent.png")

    # 2. a correction, sent
    driver.get(live.url + "/app/items/1")
    record(driver, action="corrected_claim", then="sent", minutes="12", note="Rendering NPI added")
    screenshot(driver, shots / "sql-03-correction-sent.png")

    # 3. a write-off, which closes the item (unassigned until she took it)
    driver.get(live.url + "/app/items/6")
    record(driver, action="write_off", then="written_off", minutes="2", note="Filed after the payer's limit")
    assert text_of(driver, "#item-status").lower() == "resolved: written off"  # shown capitalised by the CSS
    screenshot(driver, shots / "sql-04-write-off.png")
    driver.get(live.url + "/app/queue")
    queue = driver.find_element(By.ID, "main").text
    for gone in ("CLM-1001", "CLM-1002", "CLM-1006"):  # sent or resolved: out of her queue
        assert gone not in queue
    no_console_errors(driver)
    click_and_load(driver, driver.find_element(By.ID, "sign-out"))

    # 4. the reviewer marks two claims held before release
    submit_login(driver, "val", PASSWORD)
    wait(driver).until(ec.url_contains("/app/review"))
    for claim, decision, note in (("CLM-2001", "fixed", "Auth 55-901 added"), ("CLM-2002", "held", "Ask the coder")):
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-claim='{claim}']")
        row.find_element(By.NAME, "note").send_keys(note)
        click_and_load(driver, row.find_element(By.CSS_SELECTOR, f"button[value={decision}]"))
        assert text_of(driver, "#saved") == "Decision saved."
    screenshot(driver, shots / "sql-05-review.png")
    no_console_errors(driver)

    # the database holds exactly that
    engine = backend.engine
    with engine.connect() as conn:
        names = dict(conn.execute(select(users.c.id, users.c.username)).all())
        items = {
            r.claim_id: (r.state, r.resolution, names.get(r.owner_id))
            for r in conn.execute(select(work_items)).all()
            if r.state != "open"
        }
        decided = {r.claim_id: (r.decision, names[r.user_id], r.note) for r in conn.execute(select(reviews)).all()}
    assert items == {
        "CLM-1001": ("sent", None, "ana"),
        "CLM-1002": ("sent", None, "ana"),
        "CLM-1006": ("resolved", "written_off", "ana"),
    }
    assert decided == {"CLM-2001": ("fixed", "val", "Auth 55-901 added"), "CLM-2002": ("held", "val", "Ask the coder")}
    draft = get_draft(engine, item_id=2, kind="appeal_letter")
    assert draft is not None and "Authorization 77-1234 was on file" in draft.body and "claim CLM-1002" in draft.body

    expected = pd.DataFrame(
        {
            "claim_id": ["CLM-1001", "CLM-1002", "CLM-1006"],
            "action": ["corrected_claim", "appeal", "write_off"],
            "action_date": [TODAY] * 3,
            "level": pd.array([None, 1, None], dtype="Int64"),  # a first appeal: the form's suggested level 1
            "outcome": pd.array(["pending", "pending", None], dtype="string"),
            "outcome_date": [None] * 3,
        }
    )[FOLLOWUPS.names]
    frame = followups_frame(engine)
    pd.testing.assert_frame_equal(frame.astype({"claim_id": "string", "action": "string"}), expected.astype(
        {"claim_id": "string", "action": "string"}), check_dtype=False)  # fmt: skip
    written = export_followups(engine, tmp_path / "data")
    assert len(pd.read_parquet(written)) == 3

    views = recent_phi_views(engine, limit=1000)
    by = {names[v.user_id] for v in views}
    routes = {v.route for v in views}
    assert by == {"ana", "val"}
    assert {"/app/queue", "/app/items/{item_id}", "/app/review"} <= routes
    assert all("CLM" not in ref for v in views for ref in v.claim_refs)
