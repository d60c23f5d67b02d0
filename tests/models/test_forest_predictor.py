"""ForestPredictor gives LightGBM's own sums to the bit: numerical and categorical splits, every missing-value
rule, values a categorical split never saw, either dtype, one thread or several."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.forest_predictor import ForestPredictor

N_FEATURES = 6
CATEGORICAL = [0, 1]


def _matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two categorical columns (codes 0-39, with NaN, negatives, fractions and codes no split saw) and four
    numerical ones (NaN, exact zeros, tiny values near LightGBM's zero threshold)."""
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 0] = rng.integers(0, 40, size=n)
    X[:, 1] = rng.integers(0, 12, size=n)
    X[:, 2] = np.where(rng.random(n) < 0.3, 0.0, X[:, 2])
    X[rng.random((n, N_FEATURES)) < 0.08] = np.nan
    odd = rng.random(n) < 0.05
    X[odd, 0] = rng.choice([-1.0, -0.5, 0.5, 63.0, 1e12, 3e9], size=odd.sum())
    X[rng.random(n) < 0.02, 3] = 1e-36
    return X


def _target(rng: np.random.Generator, X: np.ndarray, classes: int) -> np.ndarray:
    cat = np.nan_to_num(X[:, 0]) % 7
    score = cat + 2 * np.nan_to_num(X[:, 2]) - np.nan_to_num(X[:, 4]) + np.isnan(X[:, 5]) + rng.normal(size=len(X))
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return np.searchsorted(edges, score)


def _booster(*, classes: int, zero_as_missing: bool = False, seed: int = 0, **params: object) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    X = _matrix(rng, 3000)
    X[:, 4] = np.nan_to_num(X[:, 4], nan=0.7)  # never missing in training: LightGBM reads a later NaN as 0.0
    y = _target(rng, X, classes)
    objective = {"objective": "binary"} if classes == 2 else {"objective": "multiclass", "num_class": classes}
    data = lgb.Dataset(X, y, categorical_feature=CATEGORICAL, free_raw_data=False)
    return lgb.train(
        {**objective, "num_leaves": 15, "min_data_in_leaf": 20, "min_data_per_group": 10, "cat_smooth": 1,
         "zero_as_missing": zero_as_missing, "verbose": -1, "seed": seed, **params},
        data, num_boost_round=30,
    )  # fmt: skip


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_scores_equal_lightgbm_to_the_bit(classes: int, zero_as_missing: bool, dtype: type) -> None:
    booster = _booster(classes=classes, zero_as_missing=zero_as_missing)
    forest = ForestPredictor.from_booster(booster)
    assert forest.categorical.any(), "the fixture must grow categorical splits"
    X = _matrix(np.random.default_rng(1), 5000).astype(dtype)
    expected = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    np.testing.assert_array_equal(forest.raw_scores(X), expected)
    np.testing.assert_allclose(forest.predict(X), booster.predict(X), rtol=0, atol=1e-12)


def test_the_fixture_grows_every_kind_of_missing_rule() -> None:
    forest = ForestPredictor.from_booster(_booster(classes=2, zero_as_missing=True))
    assert forest.zero_missing.any()
    plain = ForestPredictor.from_booster(_booster(classes=2))
    never_missing = plain.feature == 4
    assert never_missing.any()
    # missing type "none" with a NaN sent left by the value 0.0 at some split and right at another
    assert len(set(plain.special_left[never_missing & ~plain.categorical])) == 2


def test_threads_change_nothing() -> None:
    forest = ForestPredictor.from_booster(_booster(classes=3))
    X = _matrix(np.random.default_rng(2), 9000)
    one = forest.raw_scores(X, threads=1)
    np.testing.assert_array_equal(forest.raw_scores(X, threads=2), one)
    np.testing.assert_array_equal(forest.raw_scores(X, threads=3), one)
    np.testing.assert_array_equal(forest.raw_scores(X[4321:4322]), one[4321:4322])


def test_one_leaf_trees_and_an_empty_matrix() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, N_FEATURES))
    booster = lgb.train({"objective": "binary", "min_data_in_leaf": 500, "verbose": -1},
                        lgb.Dataset(X, rng.integers(0, 2, 200)), num_boost_round=3)  # fmt: skip
    forest = ForestPredictor.from_booster(booster)
    assert (forest.roots < 0).all()
    np.testing.assert_allclose(forest.predict(X), booster.predict(X), rtol=0, atol=1e-12)
    assert forest.predict(np.empty((0, N_FEATURES))).shape == (0,)


def test_a_matrix_of_other_width_is_refused() -> None:
    forest = ForestPredictor.from_booster(_booster(classes=2))
    with pytest.raises(ValueError, match="6 feature columns"):
        forest.raw_scores(np.zeros((3, N_FEATURES - 1)))
    with pytest.raises(ValueError, match="6 feature columns"):
        forest.raw_scores(np.zeros(N_FEATURES))


def test_an_objective_without_its_transform_is_refused() -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 2))
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, X[:, 0]), num_boost_round=3)
    forest = ForestPredictor.from_booster(booster)
    np.testing.assert_array_equal(forest.raw_scores(X)[:, 0], booster.predict(X))
    with pytest.raises(ValueError, match="'regression'"):
        forest.predict(X)


def test_linear_trees_are_refused() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 3))
    booster = lgb.train({"objective": "regression", "linear_tree": True, "verbose": -1},
                        lgb.Dataset(X, X[:, 0] * 2 + rng.normal(size=500)), num_boost_round=3)  # fmt: skip
    with pytest.raises(ValueError, match="linear trees"):
        ForestPredictor.from_booster(booster)


def test_a_read_only_install_compiles_without_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba refuses `cache=True` when no cache folder is writable; the module must still import and score."""
    import importlib

    import numba

    import models.forest_predictor as module

    real = numba.njit

    def no_cache_folder(*args: object, **kwargs: object) -> object:
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_walk': no locator available")
        return real(*args, **kwargs)

    booster = _booster(classes=2)
    X = _matrix(np.random.default_rng(5), 300)
    monkeypatch.setattr(numba, "njit", no_cache_folder)
    try:
        reloaded = importlib.reload(module)
        forest = reloaded.ForestPredictor.from_booster(booster)
        np.testing.assert_array_equal(forest.raw_scores(X)[:, 0], booster.predict(X, raw_score=True))
    finally:
        monkeypatch.undo()
        importlib.reload(module)
