"""The leader's dashboard in a real headless Chromium: a manager signs in, opens the dashboard from the menu, and
every figure (an SVG from a protected route) has rendered with a size; the page is photographed and checked,
and the console shows no error (a Content-Security-Policy violation would be one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser.harness import WAIT_SECONDS, LiveServer, console_problems, require_browser, screenshot, serve
from dashboard_sample import write_sample_report

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
