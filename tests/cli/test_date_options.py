"""A bad date is a usage error that names the option it came from (`queue --today` was reported as `--as-of`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import History

from claimsight.cli import main
from features.contract.run_options import RunOptions
from training.jobs import TrainRun
from training.recovery_job import train_recovery


@pytest.fixture(scope="module")
def recovery_dir(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`queue` loads its model before it reads `--today`, so the date is only judged with a real model."""
    home = tmp_path_factory.mktemp("recovery_home")
    model, _ = train_recovery(small_world, options=RunOptions(home=home), run=TrainRun(register=False))
    return model.save(tmp_path_factory.mktemp("recovery") / "model")


def test_kpis_names_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = History()
    h.claim("C1", payer="P1")
    h.remit("C1", date="2024-02-01", status="1", paid=100.0)
    assert main(["kpis", "--data", str(h.write_csv(tmp_path / "data")), "--as-of", "2024-13-45"]) == 2
    err = capsys.readouterr().err
    assert "--as-of" in err and "YYYY-MM-DD" in err


def test_queue_names_today(
    small_world: Path, recovery_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["queue", "--data", str(small_world), "--out", str(tmp_path / "q.csv"), "--model", str(recovery_dir)]
    assert main([*args, "--today", "2024-13-45"]) == 2
    err = capsys.readouterr().err
    assert "--today" in err and "YYYY-MM-DD" in err
    assert "--as-of" not in err
    assert not (tmp_path / "q.csv").exists()
