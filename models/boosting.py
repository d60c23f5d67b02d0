"""The one way ClaimSight trains a LightGBM head: deterministic, early-stopped on the latest rows.

Both models learn from rows in time order, so the validation rows for early stopping are the most
recent ones, never a random sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np


def deterministic_params(*, seed: int, n_jobs: int, **params: Any) -> dict[str, Any]:
    """LightGBM parameters that make the same data + seed give the same model.

    `deterministic` asks for a fixed histogram layout: column-wise, whose trees are the same as row-wise's (checked
    tree by tree on the 1M world) and which grew them 12-27% faster on 2 cores, by head and size (README,
    "Training speed (eleventh session)")."""
    return {"deterministic": True, "force_col_wise": True, "seed": seed, "num_threads": n_jobs, "verbose": -1, **params}


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


def train_time_ordered_on_cluster(
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    client: Any,
    feature_names: Sequence[str],
    categorical: Sequence[int],
    n_estimators: int,
    early_stopping_rounds: int,
    valid_fraction: float,
) -> lgb.Booster:
    """`train_time_ordered` with LightGBM's data-parallel training on a Dask cluster (`lightgbm.dask`).

    `lightgbm.dask` has no early stopping (LightGBM issues #3712, #2302), so all `n_estimators` rounds are
    trained on the earlier rows, and the model is cut back to the round early stopping would have chosen: the
    validation loss of the latest `valid_fraction` of rows is computed here, one round at a time, with the rule of
    `lgb.early_stopping` (stop after `early_stopping_rounds` rounds without a lower loss; keep the best round).
    The workers bin their own rows, so the trees differ from one process's; the stated tolerance is in the README.
    """
    from lightgbm import DaskLGBMRegressor

    cut = int(len(y) * (1 - valid_fraction))
    if cut < 1 or cut >= len(y):
        raise ValueError(f"too few rows to train a head with early stopping: {len(y)}")
    # lightgbm.dask gives each worker's LightGBM that worker's threads (and warns about any other count)
    local = {k: v for k, v in params.items() if k != "num_threads"}
    X_parts, y_parts = _scattered_rows(client, X[:cut]), _scattered_rows(client, y[:cut])
    # a regressor wrapper: the objective in `params` decides (a classifier would re-number the classes it sees)
    model = DaskLGBMRegressor(client=client, n_estimators=n_estimators, **local)
    with warnings.catch_warnings():
        # the estimator always carries n_jobs, and lightgbm.dask always says it sets the threads itself
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(X_parts, y_parts, feature_name=list(feature_names), categorical_feature=list(categorical))
    booster: lgb.Booster = model.booster_
    best = early_stopped_rounds(booster, X[cut:], y[cut:], params=params, rounds=early_stopping_rounds)
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _scattered_rows(client: Any, a: np.ndarray) -> Any:
    """`a` as a Dask array whose row blocks were sent to the workers (not written into the task graph)."""
    import dask.array as da

    blocks = max(1, 2 * len(client.nthreads()))
    bounds = np.linspace(0, len(a), blocks + 1).astype(int)
    pieces = [a[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
    futures = client.scatter(pieces)
    arrays = [da.from_delayed(f, shape=p.shape, dtype=p.dtype) for f, p in zip(futures, pieces, strict=True)]
    return client.persist(da.concatenate(arrays))


def early_stopped_rounds(
    booster: lgb.Booster, X: np.ndarray, y: np.ndarray, *, params: dict[str, Any], rounds: int
) -> int:
    """The number of rounds `lgb.early_stopping(rounds)` would keep, from the loss on (X, y) after each round:
    the binary or multiclass log loss LightGBM's metric computes."""
    multiclass = params.get("objective") == "multiclass"
    raw = np.zeros((len(y), int(params["num_class"])) if multiclass else len(y))
    best, best_round = np.inf, 0
    for i in range(booster.current_iteration()):
        raw += booster.predict(X, start_iteration=i, num_iteration=1, raw_score=True)
        if multiclass:
            shifted = raw - raw.max(axis=1, keepdims=True)
            p = np.exp(shifted[np.arange(len(y)), y.astype(int)]) / np.exp(shifted).sum(axis=1)
            loss = float(-np.mean(np.log(np.clip(p, 1e-15, None))))
        else:
            p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
            loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        if loss < best:
            best, best_round = loss, i
        elif i - best_round >= rounds:
            break
    return best_round + 1
