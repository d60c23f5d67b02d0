"""Small LightGBM boosters whose trees hold every kind of split the fast predictors must follow: categorical
splits, every missing-value rule, values a categorical split never saw."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

N_FEATURES = 6
CATEGORICAL = [0, 1]


def matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two categorical columns (codes 0-39, with NaN, negatives, fractions and codes no split saw) and four
    numerical ones (NaN, exact zeros, tiny values near and on LightGBM's zero threshold)."""
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 0] = rng.integers(0, 40, size=n)
    X[:, 1] = rng.integers(0, 12, size=n)
    X[:, 2] = np.where(rng.random(n) < 0.3, 0.0, X[:, 2])
    X[rng.random((n, N_FEATURES)) < 0.08] = np.nan
    odd = rng.random(n) < 0.05
    X[odd, 0] = rng.choice([-1.0, -0.5, 0.5, 63.0, 1e12, 3e9], size=odd.sum())
    X[rng.random(n) < 0.02, 3] = 1e-36
    edge = float(np.float32(1e-35))  # LightGBM's zero threshold itself, either sign: still "zero"
    X[rng.random(n) < 0.02, 3] = edge
    X[rng.random(n) < 0.02, 2] = -edge
    return X


def _target(rng: np.random.Generator, X: np.ndarray, classes: int) -> np.ndarray:
    cat = np.nan_to_num(X[:, 0]) % 7
    score = cat + 2 * np.nan_to_num(X[:, 2]) - np.nan_to_num(X[:, 4]) + np.isnan(X[:, 5]) + rng.normal(size=len(X))
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return np.searchsorted(edges, score)


def trained_booster(*, classes: int, zero_as_missing: bool = False, seed: int = 0, **params: object) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    X = matrix(rng, 3000)
    X[:, 4] = np.nan_to_num(X[:, 4], nan=0.7)  # never missing in training: LightGBM reads a later NaN as 0.0
    y = _target(rng, X, classes)
    objective = {"objective": "binary"} if classes == 2 else {"objective": "multiclass", "num_class": classes}
    data = lgb.Dataset(X, y, categorical_feature=CATEGORICAL, free_raw_data=False)
    return lgb.train(
        {**objective, "num_leaves": 15, "min_data_in_leaf": 20, "min_data_per_group": 10, "cat_smooth": 1,
         "zero_as_missing": zero_as_missing, "verbose": -1, "seed": seed, **params},
        data, num_boost_round=30,
    )  # fmt: skip


def one_leaf_booster(rng: np.random.Generator, X: np.ndarray) -> lgb.Booster:
    """Trees that never split (a leaf needs more rows than there are): every tree is its one leaf."""
    return lgb.train({"objective": "binary", "min_data_in_leaf": len(X) + 1, "verbose": -1},
                     lgb.Dataset(X, rng.integers(0, 2, len(X))), num_boost_round=3)  # fmt: skip
