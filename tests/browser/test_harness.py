"""The harness's own rules, without a browser: when the browser tests skip or fail, and what `screenshot`
accepts as a rendered page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from browser import harness
from PIL import Image, ImageDraw


@pytest.mark.parametrize(
    ("value", "required"), [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False)]
)
def test_ci_true_makes_the_browser_required(value: str, required: bool) -> None:
    assert harness.ci_requires_browser({"CI": value}) is required
    assert harness.ci_requires_browser({}) is False


def test_a_missing_browser_is_named_with_the_command_that_installs_it(tmp_path: Path) -> None:
    problem = harness.missing_browser(str(tmp_path / "chromium"), str(tmp_path / "chromedriver"))
    assert problem is not None
    assert "chromium not found" in problem and "chromedriver not found" in problem
    assert "apt-get install chromium chromium-driver" in problem


def test_without_a_browser_tests_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(harness, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        harness.require_browser()
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        harness.require_browser(module_level=True)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        harness.require_browser()
    harness.require_browser(module_level=True)  # collection goes on; each test fails in its fixture


class _FakeDriver:
    def __init__(self, png: bytes, text: str) -> None:
        self.png, self.text = png, text

    def get_screenshot_as_png(self) -> bytes:
        return self.png

    def execute_script(self, script: str) -> str:
        return self.text


def _png(draw_text: bool) -> bytes:
    image = Image.new("RGB", (800, 600), "white")
    if draw_text:
        ImageDraw.Draw(image).text((20, 20), "Claim CLM-1001 Correct and resubmit", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_screenshot_of_a_rendered_page_passes_and_a_blank_one_fails(tmp_path: Path) -> None:
    saved = harness.screenshot(_FakeDriver(_png(True), "Claim CLM-1001"), tmp_path / "shots" / "page.png")
    assert saved.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(AssertionError, match="colours"):
        harness.screenshot(_FakeDriver(_png(False), "text"), tmp_path / "blank.png")
    with pytest.raises(AssertionError, match="no text"):
        harness.screenshot(_FakeDriver(_png(True), "  "), tmp_path / "empty.png")
    with pytest.raises(AssertionError, match="not a PNG"):
        harness.screenshot(_FakeDriver(b"<html>", "x"), tmp_path / "html.png")
