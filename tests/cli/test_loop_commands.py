"""`claimsight monitor`, `retrain` and `backtest` from the command line (argument checks and the report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claimsight.cli import main

pytestmark = pytest.mark.slow  # commands on the session world and its trained model


def test_monitor_writes_the_report(
    trained: tuple[Any, Any, Path],
    small_world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    saved = trained[0].save(tmp_path / "model")
    out = tmp_path / "report"
    code = main(["monitor", "--data", str(small_world), "--model", str(saved), "--out", str(out), "--no-log"])
    assert code == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# ClaimSight monitor: 2024-03")
    for name in ("shifts_flagged.csv", "psi.csv", "calibration.csv"):
        assert (out / name).exists()
    assert "Population stability" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["retrain", "--as-of", "2024-3"],
        ["monitor", "--month", "March"],
        ["backtest", "--from", "2024-03", "--to", "2024-01"],
    ],
)
def test_loop_commands_refuse_a_bad_month(
    small_world: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--data", str(small_world)]) == 2
    err = capsys.readouterr().err
    assert "YYYY-MM" in err or "must not be before" in err
