"""LightGBM on a Dask cluster: the early-stopping round it keeps is the one `lgb.early_stopping` keeps."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from models.boosting import early_stopped_rounds, train_time_ordered_on_cluster


@pytest.mark.parametrize("objective", ["binary", "multiclass"])
def test_the_round_kept_is_the_one_early_stopping_keeps(objective: str) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 6))
    signal = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=1.5, size=len(X))
    y = (signal > 0.8).astype(float) if objective == "binary" else np.digitize(signal, [-1.0, 0.5, 1.5]).astype(float)
    params: dict[str, Any] = {"objective": objective, "learning_rate": 0.3, "num_leaves": 31, "verbose": -1, "seed": 1}
    if objective == "multiclass":
        params["num_class"] = 4
    train, valid = lgb.Dataset(X[:2400], y[:2400]), lgb.Dataset(X[2400:], y[2400:])
    stopped = lgb.train(params, train, 300, valid_sets=[valid], callbacks=[lgb.early_stopping(10, verbose=False)])
    full = lgb.train(params, lgb.Dataset(X[:2400], y[:2400]), 300)
    assert stopped.best_iteration < 300  # it did stop early, so the rule is exercised
    assert early_stopped_rounds(full, X[2400:], y[2400:], params=params, rounds=10) == stopped.best_iteration


def test_a_small_cluster_fit_is_cut_back_to_its_best_round(dask_client: Any) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4000, 5)).astype(np.float32)
    y = ((X[:, 0] + rng.normal(size=len(X))) > 0).astype(float)
    params = {"objective": "binary", "learning_rate": 0.3, "num_leaves": 7, "verbose": -1, "seed": 2}
    booster = train_time_ordered_on_cluster(
        X, y, params, client=dask_client, feature_names=[f"f{i}" for i in range(5)], categorical=[],
        n_estimators=200, early_stopping_rounds=10, valid_fraction=0.2,
    )  # fmt: skip
    assert 1 <= booster.num_trees() < 200
    p = booster.predict(X[3200:])
    assert np.corrcoef(p, X[3200:, 0])[0, 1] > 0.5  # it learned the signal
