"""`claimsight queue` and `claimsight simulate` from the command line, on the small world."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from claimsight.cli import main
from features.contract.run_options import RunOptions
from serving.appeal_queue import QUEUE_COLUMNS
from training.jobs import TrainRun
from training.recovery_job import train_recovery
from training.tracking import configure

pytestmark = pytest.mark.slow  # trains, queues and simulates on the session world


def test_queue_writes_the_ranked_open_denials(
    small_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _ = train_recovery(small_world, options=RunOptions(home=tmp_path / "h"), run=TrainRun(register=False))
    saved = model.save(tmp_path / "recovery")
    out = tmp_path / "queue.csv"
    code = main(["queue", "--data", str(small_world), "--out", str(out), "--model", str(saved),
                 "--capacity-minutes", "300", "--today", "2024-03-04"])  # fmt: skip
    assert code == 0
    queue = pd.read_csv(out)
    assert list(queue.columns) == list(QUEUE_COLUMNS)
    assert queue.loc[queue["status"] == "work_today", "minutes"].sum() <= 300
    text = capsys.readouterr().out
    assert "Appeal queue" in text and "open denials" in text and "work_today" in text


def test_queue_without_a_recovery_model_says_so(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "empty-home"))
    assert main(["queue", "--data", str(small_world), "--out", str(tmp_path / "q.csv")]) == 2
    assert "claimsight-recovery" in capsys.readouterr().err


def test_simulate_compares_the_policies_and_logs_them(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(home))
    code = main(["simulate", "--data", str(small_world), "--capacity-minutes", "90", "--capacity-minutes", "2000"])
    assert code == 0
    text = capsys.readouterr().out
    for policy in ("oldest_first", "largest_first", "deadline_first", "claimsight", "oracle"):
        assert text.count(policy) >= 2  # one row per capacity
    assert "of the oracle's expected dollars" in text
    configure(home=home, tracking_uri=None, experiment="claimsight-simulation")
    runs = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("claimsight-simulation").experiment_id])
    assert len(runs) == 1
    metrics = runs[0].data.metrics
    assert "cap90.claimsight.expected_dollars" in metrics and "cap2000.oracle.share_of_oracle" in metrics
    assert metrics["cap2000.oracle.share_of_oracle"] == pytest.approx(1.0)


def test_simulate_needs_the_synthetic_truth(
    small_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "no_truth"
    shutil.copytree(small_world, data, ignore=shutil.ignore_patterns("truth"))
    assert main(["simulate", "--data", str(data), "--no-log"]) == 2
    assert "truth" in capsys.readouterr().err
