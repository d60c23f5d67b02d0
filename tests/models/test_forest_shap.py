"""ForestPredictor.contributions gives LightGBM's pred_contrib: the same TreeSHAP values up to rounding and the
same bias to the bit, for every kind of split and missing-value rule, one class or several; leaves whose shares
are read from the memo and leaves worked out row by row agree."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from forest_factories import N_FEATURES, matrix, one_leaf_booster, trained_booster

import models.forest_shap as forest_shap
from models.forest_predictor import ForestPredictor

TOLERANCE = 1e-12  # the values are sums of the same terms in another order


def _assert_lightgbm_contributions(booster: lgb.Booster, forest: ForestPredictor, X: np.ndarray) -> np.ndarray:
    expected = np.asarray(booster.predict(X, pred_contrib=True))
    got = forest.contributions(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    bias = np.arange(N_FEATURES, got.shape[1], N_FEATURES + 1)
    np.testing.assert_array_equal(got[:, bias], expected[:, bias])
    return got


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contributions_equal_lightgbm(classes: int, zero_as_missing: bool, dtype: type) -> None:
    booster = trained_booster(classes=classes, zero_as_missing=zero_as_missing)
    forest = ForestPredictor.from_booster(booster)
    X = matrix(np.random.default_rng(21), 2000).astype(dtype)
    got = _assert_lightgbm_contributions(booster, forest, X)
    # each class's contributions and bias add up to its raw score
    raw = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    np.testing.assert_allclose(got.reshape(len(X), -1, N_FEATURES + 1).sum(axis=2), raw, rtol=0, atol=1e-9)


def test_deep_paths_beyond_the_memo() -> None:
    """Trees of 60 leaves over 20 features: paths of more distinct features than the memo keeps, worked out row by
    row, beside memoised short ones."""
    rng = np.random.default_rng(22)
    X = rng.normal(size=(4000, 20))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nansum(np.sin(3 * X[:, :12]), axis=1) + rng.normal(size=len(X)) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 60, "min_data_in_leaf": 3, "verbose": -1},
                        lgb.Dataset(X, y), num_boost_round=20)  # fmt: skip
    forest = ForestPredictor.from_booster(booster)
    distinct = np.diff(forest.shap_paths.unique_start)
    assert (distinct > forest_shap.MEMO_FEATURES).any() and (forest.shap_paths.memo_start >= 0).any()
    Z = rng.normal(size=(1500, 20))
    Z[rng.random(Z.shape) < 0.05] = np.nan
    expected = np.asarray(booster.predict(Z, pred_contrib=True))
    np.testing.assert_allclose(forest.contributions(Z), expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(("features", "memo_bytes"), [(0, forest_shap.MEMO_BYTES), (8, 4096)])
def test_worked_out_shares_equal_the_memo(monkeypatch: pytest.MonkeyPatch, features: int, memo_bytes: int) -> None:
    booster = trained_booster(classes=2, num_leaves=31, min_data_in_leaf=5)
    X = matrix(np.random.default_rng(23), 1500)
    memoised = ForestPredictor.from_booster(booster).contributions(X)
    monkeypatch.setattr(forest_shap, "MEMO_FEATURES", features)
    monkeypatch.setattr(forest_shap, "MEMO_BYTES", memo_bytes)
    forest = ForestPredictor.from_booster(booster)
    kept = forest.shap_paths.memo_start >= 0
    assert not kept.all() and (kept.any() if features else not kept.any())
    np.testing.assert_allclose(forest.contributions(X), memoised, rtol=0, atol=TOLERANCE)
    _assert_lightgbm_contributions(booster, forest, X)


def test_threads_change_nothing() -> None:
    forest = ForestPredictor.from_booster(trained_booster(classes=2))
    X = matrix(np.random.default_rng(24), 3000)
    one = forest.contributions(X, threads=1)
    np.testing.assert_array_equal(forest.contributions(X, threads=2), one)
    np.testing.assert_array_equal(forest.contributions(X[1234:1235]), one[1234:1235])


def test_one_leaf_trees_explain_nothing() -> None:
    rng = np.random.default_rng(25)
    X = rng.normal(size=(200, 3))
    booster = one_leaf_booster(rng, X)
    forest = ForestPredictor.from_booster(booster)
    got = forest.contributions(X)
    np.testing.assert_array_equal(got, np.asarray(booster.predict(X, pred_contrib=True)))
    assert (got[:, :-1] == 0).all()


def test_a_matrix_of_other_width_is_refused() -> None:
    forest = ForestPredictor.from_booster(trained_booster(classes=2))
    with pytest.raises(ValueError, match="6 feature columns"):
        forest.contributions(np.zeros((3, N_FEATURES + 1)))


def test_paths_longer_than_a_pattern_holds_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row's followed features are bits of one int64: a forest with longer paths is refused, not misread."""
    monkeypatch.setattr(forest_shap, "_MOST_FEATURES", 2)
    forest = ForestPredictor.from_booster(trained_booster(classes=2))
    with pytest.raises(ValueError, match="distinct features, more than 2"):
        forest.contributions(matrix(np.random.default_rng(26), 10))
