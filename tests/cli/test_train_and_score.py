"""`claimsight train` and `claimsight score claims` from the command line, on the small world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from claimsight.cli import main
from features.contract.validation import load_validated
from serving.batch_scoring import pending_claims, score_claims

pytestmark = pytest.mark.slow  # trains and scores through the command line on the session world


def test_train_then_score_pending_claims(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    assert main(["train", "--data", str(small_world)]) == 0
    out = capsys.readouterr().out
    assert "ClaimSight" in out and "logistic_regression" in out and "now champion" in out
    scores = tmp_path / "scores.csv"
    assert main(["score", "claims", "--data", str(small_world), "--out", str(scores), "--review-capacity", "40"]) == 0
    table = pd.read_csv(scores)
    assert (table["decision"] == "review").sum() == 40
    assert table.loc[table["decision"] == "review", "reason_1"].notna().all()
    assert "Riskiest claims" in capsys.readouterr().out


def test_cli_scores_equal_direct_scores(
    trained: tuple[Any, Any, Path], small_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = trained[0]
    saved = model.save(tmp_path / "model")
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "score",
                "claims",
                "--data",
                str(small_world),
                "--out",
                str(out),
                "--model",
                str(saved),
                "--target-precision",
                "0.6",
            ]
        )
        == 0
    )
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    direct = score_claims(
        model, claims=pending_claims(tables), tables=tables, threshold=model.threshold_for(precision=0.6)
    )
    cli = pd.read_csv(out, dtype={"claim_id": str})
    pd.testing.assert_series_equal(cli["claim_id"], direct["claim_id"].astype(str), check_names=False)
    assert (abs(cli["p_denial"].to_numpy() - direct["p_denial"].to_numpy()) < 1e-12).all()
    assert (cli["decision"].to_numpy() == direct["decision"].to_numpy()).all()


def test_score_without_a_trained_model_says_so(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "empty-home"))
    code = main(["score", "claims", "--data", str(small_world), "--out", str(tmp_path / "s.csv")])
    assert code == 2
    assert "run `claimsight train` first" in capsys.readouterr().err
