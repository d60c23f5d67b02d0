"""`claimsight train` and `claimsight score claims` from the command line, on the small world."""

from __future__ import annotations

import json
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


def test_score_claims_of_an_837_file(
    trained: tuple[Any, Any, Path], small_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--x12`: the claims of the file, scored with the data directory as history, as the batch path scores
    the same claims typed by the API's request schema."""
    from api.x12_support import write_837, x12_expressible

    from serving.api.schemas import ClaimBatch, claim_bodies, claim_tables

    model = trained[0]
    saved = model.save(tmp_path / "model")
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    bodies = [b for b in claim_bodies(tables["claims"].tail(200), tables["claim_lines"]) if x12_expressible(b)][:8]
    for body in bodies:
        body.pop("eligibility_verified", None)
    batch = tmp_path / "held.837"
    batch.write_bytes(write_837(bodies))
    out = tmp_path / "scores.csv"
    args = ["score", "claims", "--data", str(small_world), "--out", str(out), "--model", str(saved), "--x12"]
    assert main([*args, str(batch)]) == 0
    assert f"scored {len(bodies)} claims" in capsys.readouterr().out

    new = claim_tables(ClaimBatch.model_validate_json(json.dumps({"claims": bodies})).claims)
    ids = new["claims"]["claim_id"]
    merged = {
        **tables,
        **{n: pd.concat([tables[n][~tables[n]["claim_id"].isin(ids)], new[n]], ignore_index=True) for n in new},
    }
    direct = score_claims(model, claims=new["claims"], tables=merged, threshold=model.threshold_for())
    cli = pd.read_csv(out, dtype={"claim_id": str})
    assert cli["claim_id"].tolist() == direct["claim_id"].astype(str).tolist()
    assert (abs(cli["p_denial"].to_numpy() - direct["p_denial"].to_numpy()) < 1e-12).all()


def test_a_broken_837_file_names_the_position(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    from api.support import CANARY  # a value that must not be echoed
    from api.x12_support import sample

    text = sample("lfh_837p_x222a2_example1.837").decode().replace("CLM*26463774*100.00", f"CLM*26463774*{CANARY}")
    broken = tmp_path / "broken.837"
    broken.write_text(text)
    code = main(["score", "claims", "--data", str(small_world), "--out", str(tmp_path / "s.csv"), "--x12", str(broken)])
    err = capsys.readouterr().err
    assert code == 2  # refused before any model is looked for (this home has none)
    assert "segment 25" in err and "CLM" in err and "element 02" in err
    assert CANARY not in err
