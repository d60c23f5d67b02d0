"""Both models and batch scoring on a tiny synthetic history, for the quick test run (`make test-fast`).

The properties here hold at any size: same data and seed give the same model, outputs are bounded, a saved
model predicts exactly as the fitted one, contributions add up. How well the models rank and explain is
measured on the 30k-claim session world (test_denial_risk.py, test_recovery_model.py, tests/training).
One LightGBM thread: on a few hundred rows a second thread only waits, and on a busy machine it spins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import CATEGORIES, load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from features.recovery_features import RecoveryFeatureBuilder, denial_frame, recovery_events
from models.denial_risk import DenialRiskModel
from models.recovery import RecoveryModel, worked_mask
from serving.batch_scoring import pending_claims, score_claims
from training.denial_job import Dataset, build_dataset, training_slice


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthetic import generate_world, write_world

    out = tmp_path_factory.mktemp("tiny_world")
    write_world(generate_world(claims=3_000, months=15, seed=5), out_dir=out, fmt="parquet")
    return out


@pytest.fixture(scope="module")
def dataset(tiny_world: Path) -> Dataset:
    return build_dataset(tiny_world, options=RunOptions(max_reject_rate=0.0), reasons=True)


def _fit_denial(dataset: Dataset) -> DenialRiskModel:
    return DenialRiskModel(seed=11, n_jobs=1).fit(
        builder=dataset.builder, learn=training_slice(dataset, "learn"), calibrate=training_slice(dataset, "calibrate")
    )


@pytest.fixture(scope="module")
def denial_model(dataset: Dataset) -> DenialRiskModel:
    return _fit_denial(dataset)


def test_denial_model_is_reproducible_bounded_and_round_trips(
    dataset: Dataset, denial_model: DenialRiskModel, tmp_path: Path
) -> None:
    again = _fit_denial(dataset)
    assert again.binary_.model_to_string() == denial_model.binary_.model_to_string()
    assert again.calibrator_.to_state() == denial_model.calibrator_.to_state()

    evl = training_slice(dataset, "evaluate").features
    p = denial_model.predict_proba(evl.X)
    assert p.shape == (len(evl.X),) and ((p >= 0) & (p <= 1)).all()
    cats = denial_model.predict_categories(evl.X)
    assert cats.shape == (len(evl.X), len(CATEGORIES))
    np.testing.assert_allclose(cats.sum(axis=1), 1.0, rtol=1e-6)
    raw = denial_model.binary_.predict(evl.X, raw_score=True)
    np.testing.assert_allclose(denial_model.contributions(evl.X).sum(axis=1), raw, rtol=1e-6, atol=1e-6)

    loaded = DenialRiskModel.load(denial_model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(evl.X), p)
    assert loaded.explain(evl, rows=np.arange(10)).equals(denial_model.explain(evl, rows=np.arange(10)))


def test_batch_scoring_decides_by_the_threshold(tiny_world: Path, denial_model: DenialRiskModel) -> None:
    tables = load_validated(tiny_world, max_reject_rate=0.0).tables
    pending = pending_claims(tables)
    assert len(pending) > 0
    scored = score_claims(denial_model, claims=pending, tables=tables, threshold=0.3)
    assert len(scored) == len(pending) and scored["p_denial"].is_monotonic_decreasing
    review = scored["decision"] == "review"
    assert (scored.loc[review, "p_denial"] >= 0.3).all() and (scored.loc[~review, "p_denial"] < 0.3).all()
    assert scored.loc[review, "reason_1"].notna().all() and scored.loc[~review, "reason_1"].isna().all()


def test_recovery_model_is_bounded_and_round_trips(tiny_world: Path, tmp_path: Path) -> None:
    tables = load_validated(tiny_world, max_reject_rate=0.0).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    frame = denial_frame(tables, labels, codes=codes, rules=load_payer_rules(data_dir=tiny_world))
    builder = RecoveryFeatureBuilder().fit(denials=frame, labels=labels)
    events = recovery_events(frame, labels).sort_values("first_remit_date", kind="stable").reset_index(drop=True)
    X, _ = builder.transform(denials=events)
    n = len(events)
    model = RecoveryModel(seed=11, n_jobs=1).fit(
        builder=builder,
        X=X,
        recovered=events["recovered"].to_numpy(dtype=float),
        recovered_share=events["recovered_share"].to_numpy(dtype=float),
        worked=worked_mask(tables, events),
        calibrate_rows=np.arange(n) >= int(n * 0.8),
    )
    pred = model.predict(X)
    assert list(pred.columns) == ["p_recover", "share_if_recovered", "p_worked"] and len(pred) == n
    assert all(pred[col].between(0.0, 1.0).all() for col in pred.columns)
    denied = events["denied_amount"].to_numpy()
    expected = model.expected_recovery(X, denied)
    assert ((expected >= 0) & (expected <= denied + 1e-9)).all()

    loaded = RecoveryModel.load(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(X), pred)
