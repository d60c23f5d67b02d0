"""One metric vocabulary: the standard set matches sklearn, and every table built from (y, p) -- training's
evaluation, the gate, the backtest, the monitor -- names the same numbers the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from features.contract.codes import CATEGORIES
from models.calibration import expected_calibration_error
from training import evaluation
from training.backtest import metrics_rows, wide
from training.gate import judge
from training.metrics import MEANING, STANDARD, describe, standard_metrics
from training.monitoring import calibration_by_month


def scores(n: int = 3_000, seed: int = 11) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes drawn from p (calibrated), and a second, noisier score of the same rows."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 8.0, n)
    y = (rng.random(n) < p).astype(float)
    other = np.clip(p + rng.normal(0.0, 0.05, n), 0.0, 1.0)
    return y, p, other


def same(got: Mapping[Any, Any], want: Mapping[str, float]) -> None:
    """Every standard key present and equal (NaN equals NaN)."""
    assert set(STANDARD) <= set(got)
    for key in STANDARD:
        a, b = float(got[key]), float(want[key])
        assert (math.isnan(a) and math.isnan(b)) or a == b, (key, a, b)


def test_standard_metrics_agree_with_sklearn() -> None:
    y, p, _ = scores()
    m = standard_metrics(y, p)
    assert list(m) == list(STANDARD)
    assert m["rows"] == len(y) and m["positives"] == int(y.sum()) and m["rate"] == pytest.approx(y.mean())
    assert m["mean_p"] == pytest.approx(p.mean())
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["ece"] == pytest.approx(expected_calibration_error(p, y))
    # calibrated scores: the observed and predicted rates agree within binomial noise
    assert abs(m["rate"] - m["mean_p"]) < 3 * math.sqrt(m["rate"] * (1 - m["rate"]) / m["rows"])


def test_one_class_and_no_rows() -> None:
    _, p, _ = scores(200)
    none = standard_metrics(np.zeros(200), p)
    assert math.isnan(none["roc_auc"]) and math.isnan(none["pr_auc"])
    assert none["positives"] == 0 and none["rate"] == 0.0 and none["brier"] == pytest.approx(np.mean(p**2))
    assert np.isfinite([none["mean_p"], none["ece"]]).all()
    empty = standard_metrics(np.array([]), np.array([]))
    assert empty["rows"] == 0 and empty["positives"] == 0
    assert all(math.isnan(empty[k]) for k in STANDARD if k not in ("rows", "positives"))
    extras = evaluation.score_metrics(np.ones(200), p)
    assert math.isnan(extras["recall_at_80_precision"]) and math.isnan(extras["lift_top_decile"])


def test_float32_scores_are_judged_as_given() -> None:
    y, p, _ = scores()
    p32 = p.astype(np.float32)
    assert standard_metrics(y, p32)["mean_p"] == float(p32.mean())
    assert standard_metrics(y, (p > 0.2).astype(int))["roc_auc"] == roc_auc_score(y, p > 0.2)


def test_every_module_names_the_same_numbers_the_same_way() -> None:
    y, p, other = scores()
    want, want_other = standard_metrics(y, p), standard_metrics(y, other)

    same(evaluation.score_metrics(y, p), want)
    by = evaluation.metrics_by(pd.Series(["P1"] * len(y)), y, p)
    same(by.iloc[0].to_dict(), want)

    decision = judge(y=y, p_challenger=p, p_champion=other)
    same(dict(decision.challenger), want)
    same(dict(decision.champion), want_other)

    frame = pd.DataFrame({"denied": y.astype(bool), "frozen": p, "retrained": other})
    long = pd.DataFrame(metrics_rows(frame, month="2024-01", scope="all")).set_index("model")
    same(long.loc["frozen"].to_dict(), want)
    same(long.loc["retrained"].to_dict(), want_other)
    row = wide(long.reset_index()).iloc[0]
    assert row["rows"] == want["rows"] and row["rate"] == want["rate"]
    for key in ("roc_auc", "ece", "mean_p"):
        assert row[f"{key}_frozen"] == want[key] and row[f"{key}_retrained"] == want_other[key]

    calibration = calibration_by_month(pd.Series(["2024-01"] * len(y)), y.astype(bool), p)
    same(calibration.iloc[0].to_dict(), want)
    assert calibration.iloc[0]["gap"] == want["mean_p"] - want["rate"]


def test_monitor_months_are_judged_one_by_one() -> None:
    y, p, _ = scores()
    months = pd.Series(np.where(np.arange(len(y)) % 3 == 0, "2024-02", "2024-01"))
    replayed = months.eq("2024-01").to_numpy()
    table = calibration_by_month(months, y.astype(bool), p, replayed=replayed).set_index("month")
    assert list(table.index) == ["2024-01", "2024-02"]
    for month in table.index:
        at = months.eq(month).to_numpy()
        same(table.loc[month].to_dict(), standard_metrics(y[at], p[at]))
    assert list(table["features"]) == ["replayed as of submission", "as served"]


def test_every_column_is_in_the_vocabulary() -> None:
    """A metric a table adds must be declared (with its meaning) in training/metrics.py first."""
    y, p, other = scores()
    rng = np.random.default_rng(3)
    category = rng.choice(CATEGORIES, len(y))
    cat_probs = rng.dirichlet(np.ones(len(CATEGORIES)), len(y))
    frame = pd.DataFrame({"denied": y, "frozen": p, "retrained": other})
    long = pd.DataFrame(metrics_rows(frame, month="2024-01", scope="all"))
    tables = {
        "score_metrics": set(evaluation.score_metrics(y, p)),
        "metrics_by": set(evaluation.metrics_by(pd.Series(["P1"] * len(y)), y, p).columns) - {"group"},
        "category_metrics": set(evaluation.category_metrics(category, y.astype(bool), p, cat_probs).columns)
        - {"category"},
        "gate": set(judge(y=y, p_challenger=p, p_champion=other).challenger),
        "backtest": set(long.columns) - {"month", "scope", "model"},
        "backtest wide": {c.removesuffix("_frozen").removesuffix("_retrained") for c in wide(long).columns}
        - {"month", "scope"},
        "monitor": set(calibration_by_month(pd.Series(["2024-01"] * len(y)), y, p).columns) - {"month", "features"},
    }
    assert {name: sorted(cols - set(MEANING)) for name, cols in tables.items()} == {name: [] for name in tables}
    assert len(set(STANDARD)) == len(STANDARD) and set(STANDARD) <= set(MEANING)
    assert describe(["rows", "rate"]) == f"rows: {MEANING['rows']}; rate: {MEANING['rate']}"


def test_category_accuracy_top1_and_top3() -> None:
    """Top-k is whether the labelled cause is among the head's k likeliest, over denied claims only; a paid
    claim's category is never judged, and a cause the head cannot name counts as a miss."""
    k = len(CATEGORIES)
    probs = np.tile(np.arange(k, 0, -1, dtype=float), (5, 1))  # every row ranks CATEGORIES in order
    category = np.array([CATEGORIES[0], CATEGORIES[2], CATEGORIES[3], "unknown", CATEGORIES[0]], dtype=object)
    denied = np.array([True, True, True, True, False])
    got = evaluation.category_accuracy(category, denied, probs)
    assert got == {"category_head_accuracy": 0.25, "category_top3_accuracy": 0.5}
    assert evaluation.category_accuracy(category, np.zeros(5, dtype=bool), probs) == {}


def test_recall_at_95_precision_is_the_loosest_threshold_that_keeps_95_percent() -> None:
    y, p, _ = scores(n=20_000)
    got = evaluation.score_metrics(y, p)["recall_at_95_precision"]
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(y[order])
    precision = hits / np.arange(1, len(y) + 1)
    ok = precision >= 0.95
    literal = float(hits[ok].max() / y.sum()) if ok.any() else 0.0  # ties are absent in continuous p
    assert got == pytest.approx(literal)
    assert 0 < got < evaluation.score_metrics(y, p)["recall_at_80_precision"]
