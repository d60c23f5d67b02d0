"""The leaf tables hold the trees they were read from: wider trees take wider masks, trees or tables too large
for them fall back to the node walk, category codes past 65,533 take wider slots; every case LightGBM's own sums
to the bit (the common cases are in test_forest_predictor.py, through both routes)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from forest_factories import CATEGORICAL, matrix, one_leaf_booster, trained_booster

import models.forest_tables as forest_tables
from models.forest_predictor import ForestPredictor


def _assert_lightgbm_sums(booster: lgb.Booster, forest: ForestPredictor, X: np.ndarray) -> None:
    expected = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    np.testing.assert_array_equal(forest.raw_scores(X), expected)


@pytest.mark.parametrize(("leaves", "masks"), [(15, np.uint32), (32, np.uint32), (48, np.uint64), (64, np.uint64)])
def test_a_tree_of_up_to_64_leaves_fits_a_word(leaves: int, masks: type) -> None:
    booster = trained_booster(classes=2, num_leaves=leaves, min_data_in_leaf=5)
    forest = ForestPredictor.from_booster(booster)
    widest = max(t["num_leaves"] for t in booster.dump_model()["tree_info"])
    assert widest == leaves, "the fixture must grow trees of the asked width"
    assert forest.tables is not None and forest.tables.masks.dtype == masks
    _assert_lightgbm_sums(booster, forest, matrix(np.random.default_rng(11), 3000))


def test_wider_trees_are_walked_node_by_node() -> None:
    booster = trained_booster(classes=2, num_leaves=90, min_data_in_leaf=5)
    assert max(t["num_leaves"] for t in booster.dump_model()["tree_info"]) > 64
    forest = ForestPredictor.from_booster(booster)
    assert forest.tables is None
    _assert_lightgbm_sums(booster, forest, matrix(np.random.default_rng(12), 3000))


def test_tables_beyond_their_budget_are_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    booster = trained_booster(classes=3)
    monkeypatch.setattr(forest_tables, "_MAX_ENTRIES", 100)
    forest = ForestPredictor.from_booster(booster)
    assert forest.tables is None
    _assert_lightgbm_sums(booster, forest, matrix(np.random.default_rng(13), 2000))


def test_category_codes_past_the_short_slots() -> None:
    """A split whose bitset reaches code 70,000 gives its feature 70,016 slots: wider than uint16."""
    rng = np.random.default_rng(14)
    X = matrix(rng, 4000)
    codes = np.array([3.0, 17.0, 70_000.0, 70_003.0])
    X[:, 0] = rng.choice(codes, size=len(X))
    y = (np.isin(X[:, 0], codes[2:]) ^ (rng.random(len(X)) < 0.1)).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "min_data_per_group": 5, "cat_smooth": 1, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=CATEGORICAL), num_boost_round=10)
    forest = ForestPredictor.from_booster(booster)
    assert forest.tables is not None and forest.tables.slot_dtype == np.uint32
    Z = matrix(np.random.default_rng(15), 3000)
    Z[: len(Z) // 2, 0] = rng.choice(np.r_[codes, 69_999.0, 70_001.0, 70_016.0, 1e6], size=len(Z) // 2)
    _assert_lightgbm_sums(booster, forest, Z)


def test_a_forest_of_single_leaves_has_no_tables_to_read() -> None:
    rng = np.random.default_rng(16)
    X = rng.normal(size=(200, 3))
    booster = one_leaf_booster(rng, X)
    forest = ForestPredictor.from_booster(booster)
    assert forest.tables is not None and len(forest.tables.masks) == 0
    _assert_lightgbm_sums(booster, forest, X)


@pytest.mark.parametrize("count_edges", [forest_tables.COUNT_EDGES, 0])
def test_values_on_a_threshold_and_one_step_either_side(count_edges: int) -> None:
    """A value equal to a split's threshold goes left (value <= threshold), the next double up goes right: in the
    slots counted against the thresholds and in the slots searched among them."""
    booster = trained_booster(classes=2, zero_as_missing=True)
    forest = ForestPredictor.from_booster(booster)
    assert forest.tables is not None
    rng = np.random.default_rng(17)
    X = matrix(rng, 4000)
    for column in range(2, X.shape[1]):
        thresholds = forest.threshold[(forest.feature == column) & ~forest.categorical]
        assert len(thresholds), "every numerical column of the fixture is split on"
        on = rng.choice(thresholds, size=len(X))
        X[:, column] = np.select([rng.random(len(X)) < 0.4, rng.random(len(X)) < 0.5],
                                 [on, np.nextafter(on, np.inf)], np.nextafter(on, -np.inf))  # fmt: skip
    expected = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    out = np.zeros_like(expected)
    forest.tables.add_scores(X, out, count_edges=count_edges)
    np.testing.assert_array_equal(out, expected)
