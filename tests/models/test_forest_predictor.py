"""ForestPredictor gives LightGBM's own sums to the bit: numerical and categorical splits, every missing-value
rule, values a categorical split never saw, either dtype, one thread or several; through the leaf tables and
through the node-by-node walk they fall back to."""

from __future__ import annotations

from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pytest
from forest_factories import N_FEATURES, matrix, one_leaf_booster, trained_booster

from models.forest_predictor import ForestPredictor

ROUTES = ["leaf tables", "leaf tables, searched slots", "node walk"]


def raw_scores_by(route: str, forest: ForestPredictor, X: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """The forest's raw scores through one route: its leaf tables (slots counted, or searched as for features with
    many thresholds) or the node-by-node walk it falls back to."""
    if route == "node walk":
        return replace(forest, tables=None).raw_scores(X, threads=threads)
    assert forest.tables is not None
    if route == "leaf tables":
        return forest.raw_scores(X, threads=threads)
    out = np.zeros((len(X), forest.num_class))
    forest.tables.add_scores(np.ascontiguousarray(X), out, count_edges=0)
    return out


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_scores_equal_lightgbm_to_the_bit(route: str, classes: int, zero_as_missing: bool, dtype: type) -> None:
    booster = trained_booster(classes=classes, zero_as_missing=zero_as_missing)
    forest = ForestPredictor.from_booster(booster)
    assert forest.categorical.any(), "the fixture must grow categorical splits"
    X = matrix(np.random.default_rng(1), 5000).astype(dtype)
    expected = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    np.testing.assert_array_equal(raw_scores_by(route, forest, X), expected)
    np.testing.assert_allclose(forest.predict(X), booster.predict(X), rtol=0, atol=1e-12)


def test_the_fixture_grows_every_kind_of_missing_rule() -> None:
    forest = ForestPredictor.from_booster(trained_booster(classes=2, zero_as_missing=True))
    assert forest.zero_missing.any()
    plain = ForestPredictor.from_booster(trained_booster(classes=2))
    never_missing = plain.feature == 4
    assert never_missing.any()
    # missing type "none" with a NaN sent left by the value 0.0 at some split and right at another
    assert len(set(plain.special_left[never_missing & ~plain.categorical])) == 2


@pytest.mark.parametrize("route", ["leaf tables", "node walk"])
def test_threads_change_nothing(route: str) -> None:
    forest = ForestPredictor.from_booster(trained_booster(classes=3))
    X = matrix(np.random.default_rng(2), 9000)
    one = raw_scores_by(route, forest, X, threads=1)
    np.testing.assert_array_equal(raw_scores_by(route, forest, X, threads=2), one)
    np.testing.assert_array_equal(raw_scores_by(route, forest, X, threads=3), one)
    np.testing.assert_array_equal(raw_scores_by(route, forest, X[4321:4322]), one[4321:4322])


def test_one_leaf_trees_and_an_empty_matrix() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, N_FEATURES))
    booster = one_leaf_booster(rng, X)
    forest = ForestPredictor.from_booster(booster)
    assert (forest.roots < 0).all()
    np.testing.assert_allclose(forest.predict(X), booster.predict(X), rtol=0, atol=1e-12)
    assert forest.predict(np.empty((0, N_FEATURES))).shape == (0,)


def test_a_matrix_of_other_width_is_refused() -> None:
    forest = ForestPredictor.from_booster(trained_booster(classes=2))
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
    """numba refuses `cache=True` when no cache folder is writable; the modules must still import and score."""
    import importlib

    import numba

    import models.forest_predictor as predictor_module
    import models.forest_tables as tables_module

    real = numba.njit

    def no_cache_folder(*args: object, **kwargs: object) -> object:
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_walk': no locator available")
        return real(*args, **kwargs)

    booster = trained_booster(classes=2)
    X = matrix(np.random.default_rng(5), 300)
    monkeypatch.setattr(numba, "njit", no_cache_folder)
    try:
        importlib.reload(tables_module)
        reloaded = importlib.reload(predictor_module)
        forest = reloaded.ForestPredictor.from_booster(booster)
        expected = booster.predict(X, raw_score=True)
        np.testing.assert_array_equal(forest.raw_scores(X)[:, 0], expected)
        np.testing.assert_array_equal(replace(forest, tables=None).raw_scores(X)[:, 0], expected)
    finally:
        monkeypatch.undo()
        importlib.reload(tables_module)
        importlib.reload(predictor_module)
