"""The workspace used as a person uses it: a real headless Chromium signs in through the form, reads the queue,
opens an item, records a correction, runs into another person's change, decides a pre-release claim, and gets
locked out after too many wrong passwords. Each page is photographed under the test's tmp_path and checked to
have rendered; the console must show no error (a Content-Security-Policy violation would be one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser.harness import WAIT_SECONDS, LiveServer, console_problems, require_browser, screenshot

require_browser(module_level=True)  # before importing selenium: skips here without a browser (CI: tests fail)

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from workspace_sample import MAX_FAILURES, PASSWORD  # noqa: E402

from serving.workspace.web import WorkspaceBackend  # noqa: E402
from serving.workspace.web.backend import User  # noqa: E402

pytestmark = pytest.mark.slow


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def text_of(driver: Any, css: str) -> str:
    return str(wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css))).text)


def mark_page(driver: Any) -> None:
    """Mark the current page so ``wait_for_new_page`` can tell when another one has replaced it."""
    driver.execute_script("window.claimsightOldPage = true")


def wait_for_new_page(driver: Any) -> None:
    """Until a new page has loaded. Not ``staleness_of`` on an element: Chromium sometimes answers "node does
    not belong to the document" instead of "stale" while the old page is being torn down (a flake seen in CI)."""

    def replaced(d: Any) -> bool:
        try:
            script = "return window.claimsightOldPage === undefined && document.readyState === 'complete'"
            return bool(d.execute_script(script))
        except WebDriverException:  # between the two pages
            return False

    wait(driver).until(replaced)


def submit_login(driver: Any, username: str, password: str) -> None:
    user_box = wait(driver).until(ec.element_to_be_clickable((By.ID, "username")))
    user_box.clear()
    user_box.send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    mark_page(driver)
    driver.find_element(By.ID, "sign-in").click()
    wait_for_new_page(driver)


def sign_in(driver: Any, live: LiveServer, username: str) -> None:
    driver.get(live.url + "/app/login")
    submit_login(driver, username, PASSWORD)
    wait(driver).until(ec.url_contains("/app/review" if username == "val" else "/app/queue"))


def click_and_load(driver: Any, element: Any) -> None:
    """Click something that loads a new page, and wait until it has."""
    mark_page(driver)
    element.click()
    wait_for_new_page(driver)


def no_console_errors(driver: Any, *, except_status: tuple[int, ...] = ()) -> None:
    """No console error since the last check, but for the page's own answer when it was `except_status`
    (a 409 conflict page is meant)."""
    problems = [p for p in console_problems(driver) if not any(f"status of {code} " in p for code in except_status)]
    assert problems == [], problems


def test_sign_in_read_the_queue_open_an_item_and_record_a_correction(
    driver: Any, live: LiveServer, backend: WorkspaceBackend, shots: Path
) -> None:
    driver.get(live.url + "/app/queue")  # not signed in: the sign-in page, which comes back here after
    wait(driver).until(ec.url_contains("/app/login"))
    screenshot(driver, shots / "01-login.png")
    submit_login(driver, "ana", PASSWORD)
    wait(driver).until(ec.url_contains("/app/queue"))

    assert text_of(driver, "[data-testid=signed-in-user]") == "Ana Ruiz"
    assert text_of(driver, ".who .role") == "specialist"
    assert text_of(driver, "h1") == "My queue"
    today = text_of(driver, "#queue-today")
    assert "CLM-1001" in today and "CLM-1002" in today and "CLM-1005" in today
    assert "CLM-1004" in today  # unassigned: offered to her
    assert "CLM-1003" not in today  # Ben's
    # expected dollars, minutes, deadline with its rule, the recommended action, reasons and code meanings
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-item='1']").text
    for expected in ("$812.40", "12", "in 5 days", "payer appeal window", "Correct and resubmit",
                     "Rendering NPI missing", "CO-16", "Missing or invalid info on claim", "N290",
                     "Rendering provider ID missing or invalid"):  # fmt: skip
        assert expected in row, expected
    screenshot(driver, shots / "02-queue.png")
    no_console_errors(driver)

    click_and_load(driver, driver.find_element(By.LINK_TEXT, "CLM-1001"))
    assert text_of(driver, "h1") == "Claim CLM-1001"
    screenshot(driver, shots / "03-item.png")
    Select(driver.find_element(By.ID, "work-action")).select_by_value("corrected_claim")
    minutes = driver.find_element(By.ID, "work-minutes")
    minutes.clear()
    minutes.send_keys("14")
    driver.find_element(By.ID, "work-note").send_keys("Added rendering NPI; corrected claim sent")
    assert Select(driver.find_element(By.ID, "work-then")).first_selected_option.get_attribute("value") == "sent"
    click_and_load(driver, driver.find_element(By.ID, "record-work"))

    assert text_of(driver, "#saved") == "Work recorded."
    history = text_of(driver, "#history")
    assert "Corrected claim sent" in history and "14 min" in history and "by ana" in history
    assert "Added rendering NPI; corrected claim sent" in history
    screenshot(driver, shots / "04-item-recorded.png")
    assert text_of(driver, "#item-status") == "Sent"
    stored = backend.item("1")
    assert stored.status == "sent" and stored.version >= 2
    assert [(e.event, e.action, e.by) for e in stored.history] == [
        ("worked", "corrected_claim", "ana"), ("sent", "corrected_claim", "ana")
    ]  # fmt: skip
    assert stored.history[0].minutes == 14
    no_console_errors(driver)


def test_an_appeal_letter_is_drafted_saved_and_prints_without_the_page_around_it(
    driver: Any, live: LiveServer, backend: WorkspaceBackend, shots: Path
) -> None:
    sign_in(driver, live, "ana")
    driver.get(live.url + "/app/items/2")
    letter = driver.find_element(By.ID, "letter")
    assert "claim CLM-1002" in letter.get_attribute("value")
    assert "CO-197 (Authorization or notification absent)" in letter.get_attribute("value")
    letter.send_keys("\nAuthorization 77-1234 was on file before the visit.")
    click_and_load(driver, driver.find_element(By.ID, "save-draft"))
    assert text_of(driver, "#saved") == "Draft saved."
    assert "Authorization 77-1234" in (backend.item("2").draft or "")

    click_and_load(driver, driver.find_element(By.ID, "open-letter"))
    body = text_of(driver, "#letter-text")
    assert "Authorization 77-1234" in body and "Riverside Medical Group" in body and "Ana Ruiz" in body
    screenshot(driver, shots / "05-letter.png")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not driver.find_element(By.CSS_SELECTOR, "header.topbar").is_displayed()
        assert not driver.find_element(By.ID, "print-letter").is_displayed()
        assert driver.find_element(By.ID, "letter-text").is_displayed()
        screenshot(driver, shots / "06-letter-print.png")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    no_console_errors(driver)


def test_a_change_by_someone_else_in_between_is_a_conflict_that_keeps_what_was_typed(
    driver: Any, second_driver: Any, live: LiveServer, backend: WorkspaceBackend, shots: Path
) -> None:
    sign_in(driver, live, "ana")
    driver.get(live.url + "/app/items/4")  # unassigned: both may take it
    sign_in(second_driver, live, "ben")  # another person, another browser, the same item
    second_driver.get(live.url + "/app/items/4")
    Select(second_driver.find_element(By.ID, "work-action")).select_by_value("payer_call")
    Select(second_driver.find_element(By.ID, "work-then")).select_by_value("working")
    click_and_load(second_driver, second_driver.find_element(By.ID, "record-work"))
    assert text_of(second_driver, "#saved") == "Work recorded."

    Select(driver.find_element(By.ID, "work-action")).select_by_value("appeal")
    minutes = driver.find_element(By.ID, "work-minutes")
    minutes.clear()
    minutes.send_keys("40")
    driver.find_element(By.ID, "work-note").send_keys("Appeal with the operative report")
    click_and_load(driver, driver.find_element(By.ID, "record-work"))

    conflict = text_of(driver, "#conflict")
    assert "ben saved this item at" in conflict and "not saved" in conflict and "now ben's" in conflict
    assert driver.find_element(By.ID, "kept-note").get_attribute("value") == "Appeal with the operative report"
    entry = text_of(driver, "#kept-entry")
    assert "Appeal" in entry and "40" in entry
    assert "CLM-1004" not in driver.find_element(By.TAG_NAME, "body").text  # Ben's now: not shown to her
    screenshot(driver, shots / "07-conflict.png")
    no_console_errors(driver, except_status=(409,))
    assert [e.by for e in backend.item("4").history] == ["ben"]
    assert backend.item("4").owner == "ben"


def test_queue_filters_apply_when_a_choice_changes(driver: Any, live: LiveServer, shots: Path) -> None:
    sign_in(driver, live, "lee")
    click_and_load(driver, driver.find_element(By.LINK_TEXT, "Team"))
    assert text_of(driver, "h1") == "Team queue"
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-item]")) == 8
    mark_page(driver)
    Select(driver.find_element(By.NAME, "payer")).select_by_value("AETNA")  # app.js submits the form
    wait_for_new_page(driver)
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-item]")
    assert sorted(r.get_attribute("data-item") for r in rows) == ["1", "5"]
    assert "payer=AETNA" in driver.current_url and "scope=team" in driver.current_url
    screenshot(driver, shots / "08-queue-filtered.png")
    no_console_errors(driver)


def test_a_pre_release_claim_is_marked_fixed(
    driver: Any, live: LiveServer, backend: WorkspaceBackend, shots: Path
) -> None:
    sign_in(driver, live, "val")  # a reviewer lands on the review list
    assert text_of(driver, "h1") == "Pre-release review"
    screenshot(driver, shots / "09-review.png")
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-claim=CLM-2001]")
    assert "82%" in row.text and "No authorization on file" in row.text
    row.find_element(By.NAME, "note").send_keys("Auth 55-901 added")
    click_and_load(driver, row.find_element(By.CSS_SELECTOR, "button[value=fixed]"))

    assert text_of(driver, "#saved") == "Decision saved."
    row_text = driver.find_element(By.CSS_SELECTOR, "tr[data-claim=CLM-2001]").text
    assert "Fixed" in row_text and "val" in row_text and "Auth 55-901 added" in row_text
    screenshot(driver, shots / "10-review-decided.png")
    val = User("val", "Val Moreau", "reviewer")
    claim = next(c for c in backend.review_claims(val) if c.claim_id == "CLM-2001")
    assert (claim.status, claim.decided_by, claim.note) == ("fixed", "val", "Auth 55-901 added")
    no_console_errors(driver)


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    driver: Any, live: LiveServer, shots: Path
) -> None:
    driver.get(live.url + "/app/login")
    submit_login(driver, "ana", "not-her-password")
    assert text_of(driver, "#login-error") == "Wrong username or password."
    assert driver.find_element(By.ID, "username").get_attribute("value") == "ana"
    assert driver.find_element(By.ID, "password").get_attribute("value") == ""
    screenshot(driver, shots / "11-login-wrong.png")

    for _ in range(MAX_FAILURES - 1):
        submit_login(driver, "ana", "still-wrong")
    assert "locked" in text_of(driver, "#login-error")
    submit_login(driver, "ana", PASSWORD)  # the right password does not open a locked account
    error = text_of(driver, "#login-error")
    assert "locked" in error and "Try again after" in error
    assert "/app/login" in driver.current_url
    screenshot(driver, shots / "12-login-locked.png")


def test_signing_out_ends_the_session(driver: Any, live: LiveServer) -> None:
    sign_in(driver, live, "ana")
    click_and_load(driver, driver.find_element(By.ID, "sign-out"))
    assert "/app/login" in driver.current_url
    driver.get(live.url + "/app/queue")
    wait(driver).until(ec.url_contains("/app/login"))
