"""RecoveryModel: learns from worked denials, ranks recoveries, reproducible, round-trips through its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.recovery_features import RecoveryFeatureBuilder, denial_frame, recovery_events
from models.recovery import PAYER_ACTIONS, RecoveryModel, worked_mask

pytestmark = pytest.mark.slow  # fits on the 30k-claim session world (tiny-data twin: test_tiny_world.py)


@dataclass
class Denials:
    builder: RecoveryFeatureBuilder
    events: pd.DataFrame  # mature denials in first_remit_date order
    X: np.ndarray
    recovered: np.ndarray
    share: np.ndarray
    worked: np.ndarray
    evaluate_from: int  # rows from here on are the evaluation slice (last 25%)
    calibrate_from: int  # rows [calibrate_from, evaluate_from) are the calibration slice (15% before it)

    def fit(self, model: RecoveryModel) -> RecoveryModel:
        e, c = self.evaluate_from, self.calibrate_from
        return model.fit(
            builder=self.builder,
            X=self.X[:e],
            recovered=self.recovered[:e],
            recovered_share=self.share[:e],
            worked=self.worked[:e],
            calibrate_rows=np.arange(e) >= c,
        )


@pytest.fixture(scope="module")
def denials(small_world: Path) -> Denials:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    rules = load_payer_rules(data_dir=small_world)
    frame = denial_frame(tables, labels, codes=codes, rules=rules)
    builder = RecoveryFeatureBuilder().fit(denials=frame, labels=labels)
    events = recovery_events(frame, labels).sort_values("first_remit_date", kind="stable").reset_index(drop=True)
    X, _ = builder.transform(denials=events)
    n = len(events)
    return Denials(
        builder=builder,
        events=events,
        X=X,
        recovered=events["recovered"].to_numpy(dtype=float),
        share=events["recovered_share"].to_numpy(dtype=float),
        worked=worked_mask(tables, events),
        evaluate_from=int(n * 0.75),
        calibrate_from=int(n * 0.60),
    )


@pytest.fixture(scope="module")
def weighted(denials: Denials) -> RecoveryModel:
    return denials.fit(RecoveryModel(seed=11))


@pytest.fixture(scope="module")
def unweighted(denials: Denials) -> RecoveryModel:
    return denials.fit(RecoveryModel(seed=11, propensity_weighting=False))


def _strings(model: RecoveryModel) -> list[str]:
    return [model.propensity_.model_to_string(), model.recovery_.model_to_string(), model.amount_.model_to_string()]


def test_worked_denials_are_the_only_recovered_ones_and_enough_to_learn(denials: Denials) -> None:
    # in the synthetic world money only comes back on denials someone worked
    assert not (denials.recovered[~denials.worked] > 0).any()
    evaluate = slice(denials.evaluate_from, None)
    assert denials.worked.sum() > 500 and 0 < denials.worked.mean() < 1
    assert 0 < denials.recovered[evaluate][denials.worked[evaluate]].mean() < 1


def test_probabilities_shares_and_expected_recovery_are_bounded(denials: Denials, weighted: RecoveryModel) -> None:
    X = denials.X[denials.evaluate_from :]
    pred = weighted.predict(X)
    assert list(pred.columns) == ["p_recover", "share_if_recovered", "p_worked"] and len(pred) == len(X)
    for col in pred.columns:
        assert pred[col].between(0.0, 1.0).all(), col
    assert pred["p_recover"].nunique() > 5 and pred["share_if_recovered"].nunique() > 5
    denied = denials.events["denied_amount"].to_numpy()[denials.evaluate_from :]
    expected = weighted.expected_recovery(X, denied)
    assert ((expected >= 0) & (expected <= denied + 1e-9)).all()
    np.testing.assert_allclose(expected, pred["p_recover"] * pred["share_if_recovered"] * denied)
    assert weighted.calibrator_.method in ("isotonic", "platt")


def test_recovery_ranks_worked_evaluation_denials(
    denials: Denials, weighted: RecoveryModel, unweighted: RecoveryModel
) -> None:
    # measured on the small world: 0.805 weighted, 0.812 unweighted (270 worked evaluation denials)
    rows = np.flatnonzero(denials.worked)
    rows = rows[rows >= denials.evaluate_from]
    y = denials.recovered[rows]
    for model in (weighted, unweighted):
        auc = roc_auc_score(y, model.predict(denials.X[rows])["p_recover"])
        assert auc > 0.7, (model.propensity_weighting, auc)


def test_share_if_recovered_tracks_the_recovered_share(denials: Denials, weighted: RecoveryModel) -> None:
    # measured on the small world: correlation 0.85 on recovered evaluation denials
    rows = np.flatnonzero(denials.recovered > 0)
    rows = rows[rows >= denials.evaluate_from]
    predicted = weighted.predict(denials.X[rows])["share_if_recovered"].to_numpy()
    assert np.corrcoef(predicted, denials.share[rows])[0, 1] > 0.6


def test_weighting_changes_the_recovery_head_only(weighted: RecoveryModel, unweighted: RecoveryModel) -> None:
    assert weighted.propensity_.model_to_string() == unweighted.propensity_.model_to_string()
    assert weighted.amount_.model_to_string() == unweighted.amount_.model_to_string()
    assert weighted.recovery_.model_to_string() != unweighted.recovery_.model_to_string()


def test_same_data_and_seed_give_the_same_model(denials: Denials, weighted: RecoveryModel) -> None:
    again = denials.fit(RecoveryModel(seed=11))
    assert _strings(again) == _strings(weighted)
    assert again.calibrator_.to_state() == weighted.calibrator_.to_state()


def test_save_load_round_trip_is_identical(denials: Denials, weighted: RecoveryModel, tmp_path: Path) -> None:
    X = denials.X[denials.evaluate_from :]
    weighted.save(tmp_path / "m")
    loaded = RecoveryModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(X), weighted.predict(X))
    assert loaded.get_params() == weighted.get_params() and loaded.metadata_ == weighted.metadata_
    np.testing.assert_array_equal(loaded.features(denials=denials.events.iloc[-50:]), X[-50:])


def test_score_gives_dollars_actions_deadlines_and_reasons(denials: Denials, weighted: RecoveryModel) -> None:
    frame = denials.events.iloc[denials.evaluate_from :].reset_index(drop=True)
    scored = weighted.score(frame)
    assert scored["claim_id"].tolist() == frame["claim_id"].tolist()
    pays = frame["recommended_action"].isin(PAYER_ACTIONS).to_numpy()
    assert (scored.loc[~pays, "expected_recovery"] == 0).all()
    expected = scored["p_recover"] * scored["share_if_recovered"] * frame["denied_amount"]
    np.testing.assert_allclose(scored.loc[pays, "expected_recovery"], expected[pays])
    # reasons name the denial's own payer / category, never a placeholder
    text = scored["reason_1"].dropna()
    assert len(text) > 0.5 * len(scored)
    assert not text.str.contains(r"\{").any()
    # every first reason speaks of the denial's own payer, provider, category or code, or its money / time
    own = ("payer_id", "billing_npi", "denial_category", "top_carc")
    for i in text.index:
        mentions = [str(frame.at[i, c]) for c in own] + ["denied", "days"]
        assert any(m in text[i] for m in mentions), text[i]
