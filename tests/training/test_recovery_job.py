"""The recovery training job: split, evaluation against the synthetic truth, model card, registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import load_code_tables
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from models.mlflow_model import download_model
from models.recovery import RecoveryModel
from training.recovery_job import MODEL_NAME, build_recovery_data, recovery_split, train_recovery
from training.tracking import configure


@pytest.fixture(scope="module")
def trained_recovery(small_world: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("recovery_home")
    model, report = train_recovery(small_world, options=RunOptions(home=home, seed=3))
    return model, report, home


def test_split_takes_the_latest_months_to_evaluate() -> None:
    months = pd.Series([f"2024-{m:02d}" for m in range(1, 11)] * 3)
    split = recovery_split(months)
    assert split.evaluate == ("2024-08", "2024-09", "2024-10")
    assert split.calibrate == ("2024-06", "2024-07")
    assert split.learn[0] == "2024-01" and split.learn[-1] == "2024-05"
    no_eval = recovery_split(months, eval_months=0)
    assert no_eval.evaluate == () and no_eval.calibrate == ("2024-09", "2024-10")
    with pytest.raises(ValueError, match="at least 7 months"):
        recovery_split(months[months < "2024-07"])


@pytest.mark.slow  # the 30k-claim session world
def test_history_cut_at_a_day_sees_no_later_denial_or_outcome(small_world: Path) -> None:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    day = tables["claims"]["submitted_at"].quantile(0.7).normalize()
    kw = {"codes": load_code_tables(), "rules": load_payer_rules(data_dir=small_world), "maturity_days": 180}
    cut = build_recovery_data(tables, as_of=day, **kw)
    full = build_recovery_data(tables, **kw)
    assert (cut.denials["first_remit_date"] < day).all()
    mature = cut.denials[cut.mature]
    assert (mature["first_remit_date"] + pd.Timedelta(days=180) <= day).all()
    # work recorded after the cut is invisible: worked-before-the-cut is a subset of worked-ever
    ever = full.denials.set_index("claim_id")["worked"]
    assert not (cut.denials["worked"].to_numpy() & ~ever.loc[cut.denials["claim_id"]].to_numpy()).any()
    assert (cut.denials["worked"].sum()) < ever.loc[cut.denials["claim_id"]].sum()


@pytest.mark.slow  # trains on the session world
def test_job_evaluates_against_the_oracle_and_registers(trained_recovery, small_world: Path) -> None:
    model, report, home = trained_recovery
    m = report.metrics
    # measured on the small world (252 denials worked with the payer): 0.697 weighted, 0.715 unweighted,
    # oracle 0.824; write-offs and patient bills are not worked, so no easy zeros lift these
    assert m["roc_auc"] > 0.65 and 0.0 <= m["ece"] < 0.15
    assert report.unweighted["roc_auc"] > 0.65  # the unweighted twin is evaluated on the same rows
    assert set(report.oracle) == {"oracle_auc", "oracle_gap"}
    assert report.oracle["oracle_gap"] == pytest.approx(report.oracle["oracle_auc"] - m["roc_auc"])
    # ranking denials by expected dollars puts more true dollars on top than ranking by amount
    assert report.dollars["capture_top20_model"] > report.dollars["capture_top20_largest_amount"]
    assert report.rows["evaluate"] > 0 and report.rows["mature_worked"] < report.rows["mature"]
    assert report.registry["version"] == "1" and report.registry["promoted"]
    configure(home=home, tracking_uri=None, experiment="claimsight-recovery")
    path = download_model(name=MODEL_NAME, ref="champion")
    card = (path / "MODEL_CARD.md").read_text()
    assert "Selection bias" in card and f"{m['roc_auc']:.4f}" in card
    loaded = RecoveryModel.load(path)
    X = np.random.default_rng(0).uniform(0, 5, size=(50, len(model.builder_.feature_names))).astype(np.float32)
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
