"""The leader's dashboard in a real headless Chromium: a manager signs in, opens the dashboard from the menu, and
every figure (an SVG from a protected route) has rendered with a size; the page is photographed and checked,
and the console shows no error (a Content-Security-Policy violation would be one). Then a manager accepts a
learned edit and marks a pattern's fix done with the page's forms, and the data folder holds exactly that."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser.harness import WAIT_SECONDS, LiveServer, console_problems, require_browser, screenshot, serve
from dashboard_sample import EDIT, KEY, write_decision_report, write_sample_report

require_browser(module_level=True)  # before importing selenium: skips here without a browser (CI: tests fail)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from workspace_sample import PASSWORD, sample_backend, sample_options  # noqa: E402

from serving.api import ApiConfig, ModelRegistry, create_app  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def live_dashboard(tmp_path: Path) -> Iterator[LiveServer]:
    options = dataclasses.replace(
        sample_options(sample_backend(), secure_cookies=False), report_dir=write_sample_report(tmp_path / "report")
    )
    with serve(create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)) as live:
        yield live


def test_a_manager_sees_the_plots(driver: Any, live_dashboard: LiveServer, tmp_path: Path) -> None:
    wait = WebDriverWait(driver, WAIT_SECONDS)
    driver.get(live_dashboard.url + "/app/login")
    wait.until(ec.element_to_be_clickable((By.ID, "username"))).send_keys("lee")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait.until(ec.url_contains("/app/queue"))
    driver.find_element(By.LINK_TEXT, "Dashboard").click()
    wait.until(ec.url_contains("/app/dashboard"))
    images = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "img.dash-figure")))
    assert len(images) == 2
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    wait.until(lambda d: all(d.execute_script(loaded, img) for img in images))
    for img in images:
        assert driver.execute_script("return arguments[0].naturalWidth", img) > 100
        assert driver.execute_script("return arguments[0].naturalHeight", img) > 100
        assert img.size["width"] > 100
    screenshot(driver, tmp_path / "shots" / "dashboard.png")
    assert "Initial denial rate by month" in driver.find_element(By.ID, "dashboard").text
    assert console_problems(driver) == []


def page_text(driver: Any) -> str:
    """The page's text, read in one script call: no element reference to go stale while a new page loads."""
    return str(driver.execute_script("return document.body ? document.body.innerText : ''"))


def sign_in_as_manager(driver: Any, live: LiveServer) -> WebDriverWait:
    wait = WebDriverWait(driver, WAIT_SECONDS)
    driver.get(live.url + "/app/login")
    wait.until(ec.element_to_be_clickable((By.ID, "username"))).send_keys("lee")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait.until(ec.url_contains("/app/queue"))
    return wait


def test_a_manager_accepts_an_edit_and_marks_a_fix_done_on_the_page(driver: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    options = dataclasses.replace(
        sample_options(sample_backend(), secure_cookies=False),
        report_dir=write_decision_report(tmp_path / "report", data_dir=data),
        data_dir=data,
    )
    with serve(create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)) as live:
        wait = sign_in_as_manager(driver, live)
        driver.get(live.url + "/app/dashboard")
        accept = wait.until(
            ec.presence_of_element_located(
                (By.XPATH, f"//form[contains(@action,'/edits/accept')][input[@name='edit_id' and @value='{EDIT}']]")
            )
        )
        day = accept.find_element(By.NAME, "on")
        driver.execute_script("arguments[0].value = '2024-08-01'", day)  # a date input takes its value so
        accept.find_element(By.TAG_NAME, "button").click()
        wait.until(ec.url_contains("/app/dashboard"))
        wait.until(lambda d: "recorded; rebuild the report" in page_text(d))
        done = driver.find_element(
            By.XPATH, f"//form[contains(@action,'/fixes/done')][input[@name='pattern_key' and @value='{KEY}']]"
        )
        driver.execute_script("arguments[0].value = '2024-09-01'", done.find_element(By.NAME, "on"))
        done.find_element(By.NAME, "note").send_keys("front desk checks the PT auth list")
        done.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda d: "fix done 2024-09-01 by lee" in page_text(d))
        screenshot(driver, tmp_path / "shots" / "dashboard-decided.png")
        assert console_problems(driver) == []
    decisions = yaml.safe_load((data / "edit_decisions.yaml").read_text())["decisions"]
    assert {k: (v["decision"], str(v["date"]), v["by"]) for k, v in decisions.items()} == {
        EDIT: ("accepted", "2024-08-01", "lee")
    }
    assert yaml.safe_load((data / "payer_rules.yaml").read_text())["payers"]["P0025"]
    fixes = yaml.safe_load((data / "prevention_decisions.yaml").read_text())["fixes"]
    assert fixes == {KEY: {"date": "2024-09-01", "note": "front desk checks the PT auth list", "by": "lee"}}
