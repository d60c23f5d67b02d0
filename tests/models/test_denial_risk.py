"""DenialRiskModel: reproducible, round-trips through its files, explains in a biller's terms."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from features.contract.codes import CATEGORIES
from features.contract.run_options import RunOptions
from models.denial_risk import DenialRiskModel
from training.denial_job import Dataset, build_dataset, training_slice

pytestmark = pytest.mark.slow  # fits on the 30k-claim session world (tiny-data twin: test_tiny_world.py)


@pytest.fixture(scope="module")
def dataset(small_world: Path) -> Dataset:
    return build_dataset(small_world, options=RunOptions(max_reject_rate=0.0), reasons=True)


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> DenialRiskModel:
    return DenialRiskModel(seed=11).fit(
        builder=dataset.builder, learn=training_slice(dataset, "learn"), calibrate=training_slice(dataset, "calibrate")
    )


def test_same_data_and_seed_give_the_same_model(dataset: Dataset, model: DenialRiskModel) -> None:
    again = DenialRiskModel(seed=11).fit(
        builder=dataset.builder, learn=training_slice(dataset, "learn"), calibrate=training_slice(dataset, "calibrate")
    )
    assert again.binary_.model_to_string() == model.binary_.model_to_string()
    assert again.category_.model_to_string() == model.category_.model_to_string()
    assert again.calibrator_.to_state() == model.calibrator_.to_state()


def test_probabilities_and_categories(dataset: Dataset, model: DenialRiskModel) -> None:
    X = training_slice(dataset, "evaluate").features.X
    p = model.predict_proba(X)
    cats = model.predict_categories(X)
    assert p.shape == (len(X),) and ((p >= 0) & (p <= 1)).all()
    assert cats.shape == (len(X), len(CATEGORIES))
    np.testing.assert_allclose(cats.sum(axis=1), 1.0, rtol=1e-6)
    assert model.calibrator_.method in ("isotonic", "platt")
    assert set(model.calibrator_.scores) == {"isotonic", "platt"}


def test_the_heads_are_lightgbms_and_follow_a_replaced_booster(dataset: Dataset, model: DenialRiskModel) -> None:
    """Scores come from the compiled tree walk (`predict_head`): LightGBM's own answers, and a head whose booster
    is replaced answers with the new one, not a walk cached from the old."""
    X = training_slice(dataset, "evaluate").features.X
    np.testing.assert_allclose(model.predict_head("binary", X), model.binary_.predict(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_categories(X), model.category_.predict(X), rtol=0, atol=1e-12)
    other = DenialRiskModel(seed=11, n_estimators=5, early_stopping_rounds=5).fit(
        builder=dataset.builder, learn=training_slice(dataset, "learn"), calibrate=training_slice(dataset, "calibrate")
    )
    before = model.predict_head("binary", X)
    original = model.binary_
    try:
        model.binary_ = other.binary_
        np.testing.assert_allclose(model.predict_head("binary", X), other.binary_.predict(X), rtol=0, atol=1e-12)
        assert not np.allclose(model.predict_head("binary", X), before)
    finally:
        model.binary_ = original
    np.testing.assert_array_equal(model.predict_head("binary", X), before)


def test_save_load_round_trip_is_identical(dataset: Dataset, model: DenialRiskModel, tmp_path: Path) -> None:
    evl = training_slice(dataset, "evaluate").features
    model.save(tmp_path / "m")
    loaded = DenialRiskModel.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(evl.X), model.predict_proba(evl.X))
    np.testing.assert_array_equal(loaded.predict_categories(evl.X), model.predict_categories(evl.X))
    assert loaded.explain(evl, rows=np.arange(20)).equals(model.explain(evl, rows=np.arange(20)))


def test_explanations_name_payer_code_and_action(dataset: Dataset, model: DenialRiskModel) -> None:
    evl = training_slice(dataset, "evaluate")
    p = model.predict_proba(evl.features.X)
    top = np.argsort(-p)[:50]
    reasons = model.explain(evl.features, rows=top)
    assert reasons["reason_1"].notna().all() and reasons["action_1"].notna().all()
    text = " ".join(reasons[["reason_1", "reason_2", "reason_3"]].fillna("").to_numpy().ravel())
    assert "unknown" not in text.split() or text.count("unknown") < 5
    payers = set(evl.features.context["payer_id"][top])
    assert any(pid in text for pid in payers)  # reasons name the claim's own payer
    assert "PT" not in text and "patient_id" not in text  # never a patient key


def test_contributions_are_lightgbms_and_add_up_to_the_raw_score(dataset: Dataset, model: DenialRiskModel) -> None:
    X = training_slice(dataset, "evaluate").features.X[:200]
    contrib = model.contributions(X)
    np.testing.assert_allclose(contrib, model.binary_.predict(X, pred_contrib=True), rtol=0, atol=1e-12)
    raw = model.binary_.predict(X, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=1e-6, atol=1e-6)


def test_a_copy_sent_elsewhere_leaves_the_flat_trees_behind(dataset: Dataset, model: DenialRiskModel) -> None:
    """A pickled model (what a Dask worker receives) carries its boosters, not the flat trees and tables read from
    them: the copy reads its own and answers the same."""
    X = training_slice(dataset, "evaluate").features.X[:300]
    p, contrib = model.predict_proba(X), model.contributions(X)
    assert model.__dict__.get("_forests")
    copy = pickle.loads(pickle.dumps(model))
    assert "_forests" not in copy.__dict__
    np.testing.assert_array_equal(copy.predict_proba(X), p)
    np.testing.assert_array_equal(copy.contributions(X), contrib)


def test_leaves_shrink_with_a_small_history_but_not_below_lightgbms_default() -> None:
    model = DenialRiskModel()
    assert [model.leaf_minimum(n) for n in (5_000, 20_000, 60_000, 100_000, 2_000_000)] == [20, 20, 60, 100, 100]
    assert DenialRiskModel(min_child_samples=50).leaf_minimum(2_000_000) == 50


def test_a_head_bags_its_rows_only_above_bag_rows() -> None:
    model = DenialRiskModel(bag_rows=1_000, valid_fraction=0.2)
    assert model.bagging(1_250) == {}  # 1,000 rows grow the trees: all of them, every tree
    assert model.bagging(2_500) == {"bagging_fraction": 0.5, "bagging_freq": 1}
    assert DenialRiskModel().bagging(2_000_000) == {}


def test_a_bagged_fit_is_reproducible_and_differs_from_the_full_one(dataset: Dataset, model: DenialRiskModel) -> None:
    learn, cal = training_slice(dataset, "learn"), training_slice(dataset, "calibrate")
    bag = len(learn.denied) // 2
    bagged = DenialRiskModel(seed=11, bag_rows=bag).fit(builder=dataset.builder, learn=learn, calibrate=cal)
    again = DenialRiskModel(seed=11, bag_rows=bag).fit(builder=dataset.builder, learn=learn, calibrate=cal)
    assert again.binary_.model_to_string() == bagged.binary_.model_to_string()
    assert "[bagging_fraction: 0.58" in bagged.binary_.model_to_string()  # 1/2 of the rows over 0.85 grown on
    assert bagged.binary_.model_to_string() != model.binary_.model_to_string()
    # the category head learns from the denied rows, fewer than the bag: fitted as before
    assert bagged.category_.model_to_string() == model.category_.model_to_string()
    evl = training_slice(dataset, "evaluate")
    full_auc = roc_auc_score(evl.denied, model.predict_proba(evl.features.X))
    assert abs(roc_auc_score(evl.denied, bagged.predict_proba(evl.features.X)) - full_auc) < 0.02  # a model still
