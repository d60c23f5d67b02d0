"""The one way ClaimSight trains a LightGBM head: deterministic, early-stopped on the latest rows.

Both models learn from rows in time order, so the validation rows for early stopping are the most
recent ones, never a random sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np


def deterministic_params(*, seed: int, n_jobs: int, **params: Any) -> dict[str, Any]:
    """LightGBM parameters that make the same data + seed give the same model."""
    return {"deterministic": True, "force_row_wise": True, "seed": seed, "num_threads": n_jobs, "verbose": -1, **params}


def train_time_ordered(
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    feature_names: Sequence[str],
    categorical: Sequence[int],
    n_estimators: int,
    early_stopping_rounds: int,
    valid_fraction: float,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """Fit with early stopping on the latest `valid_fraction` of rows (rows arrive in time order)."""
    cut = int(len(y) * (1 - valid_fraction))
    if cut < 1 or cut >= len(y):
        raise ValueError(f"too few rows to train a head with early stopping: {len(y)}")
    names, cats = list(feature_names), list(categorical)
    w_train = None if weight is None else weight[:cut]
    w_valid = None if weight is None else weight[cut:]
    train = lgb.Dataset(
        X[:cut], y[:cut], weight=w_train, feature_name=names, categorical_feature=cats, free_raw_data=True
    )
    valid = lgb.Dataset(
        X[cut:],
        y[cut:],
        weight=w_valid,
        reference=train,
        feature_name=names,
        categorical_feature=cats,
        free_raw_data=True,
    )
    return lgb.train(
        params,
        train,
        num_boost_round=n_estimators,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
