"""Where the workspace finds the dashboard report: CLAIMSIGHT_WORKSPACE_REPORT_DIR, else the demo's once
`make demo` has built it (so `make serve` on a fresh clone shows it), else none."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_sample import write_sample_report
from workspace_sample import sample_backend

from claimsight.settings import DEMO_REPORT, Settings


def test_the_demo_report_is_found_once_built(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.report_dir() is None
    (tmp_path / DEMO_REPORT).mkdir(parents=True)
    assert settings.report_dir() is None  # an empty folder is no report
    write_sample_report(tmp_path / DEMO_REPORT)
    assert settings.report_dir() == tmp_path / DEMO_REPORT
    assert settings.workspace_options(sample_backend()).report_dir == tmp_path / DEMO_REPORT


def test_the_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_sample_report(tmp_path / DEMO_REPORT)
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_REPORT_DIR", str(tmp_path / "team-report"))
    assert Settings(home=tmp_path).report_dir() == tmp_path / "team-report"
