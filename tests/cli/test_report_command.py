"""`claimsight report` on the session world: a folder that opens from disk, progress on the way, model health
that says what is missing on a machine without models, and what it shows once a model is trained."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from claimsight.cli import main
from serving.dashboard import load_manifest

pytestmark = pytest.mark.slow  # commands on the session world


def sections_of(out: Path) -> dict[str, dict[str, Any]]:
    manifest = load_manifest(out)
    assert manifest is not None
    return {s["key"]: s for part in manifest.parts for s in part["sections"]}


def test_report_writes_a_folder_that_opens_from_disk(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(home))
    out = tmp_path / "report"
    assert main(["report", "--data", str(small_world), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"report: \d+/\d+ sections", printed) and "report: labels" in printed
    assert f"open {(out / 'index.html').resolve().as_uri()}" in printed
    sections = sections_of(out)
    figures = [s["svg"] for s in sections.values() if s["svg"]]
    assert len(figures) >= 12 and all((out / f).stat().st_size > 1_000 for f in figures)
    assert all((out / s["csv"]).is_file() for s in sections.values() if s["csv"])
    assert "claimsight train" in sections["models"]["note"] and not sections["models"]["csv"]
    assert not (home / "mlflow.db").exists()  # reading the registry made none


def test_report_shows_the_trained_models_health(
    trained: tuple[Any, Any, Path], small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(trained[2]))
    backtest = tmp_path / "backtest.csv"
    backtest.write_text("month,scope,model,roc_auc\n2024-01,all,frozen,0.70\n2024-01,all,retrained,0.74\n"
                        "2024-02,all,frozen,0.69\n2024-02,all,retrained,0.75\n")  # fmt: skip
    out = tmp_path / "report"
    assert main(["report", "--data", str(small_world), "--out", str(out), "--backtest", str(backtest)]) == 0
    sections = sections_of(out)
    assert sections["models"]["table"]["rows"][0][0] == "denial-risk"
    assert sections["calibration-by-month"]["svg"] and sections["feature-drift"]["svg"]
    assert sections["backtest-auc"]["svg"]


def test_report_refuses_a_missing_backtest_file(small_world: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code = main(["report", "--data", str(small_world), "--out", str(tmp_path), "--backtest", str(tmp_path / "no.csv")])
    assert code == 2
    assert "--backtest" in capsys.readouterr().err
