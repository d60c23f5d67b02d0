"""Recovery features: point-in-time over other denials' maturity, blind to the denial's own outcome."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.claim_fields import day_number
from features.contract.codes import CodeTables, load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.declarations import AggregateSpec
from features.history import HistoryAggregates
from features.recovery_features import (
    FEATURE_NAMES,
    FEATURES,
    REASON_GROUPS,
    RECOVERY_SPECS,
    RecoveryFeatureBuilder,
    denial_frame,
    recovery_events,
)
from models.state_files import load_state, save_state

pytestmark = pytest.mark.slow  # features of the 30k-claim session world

MATURITY = 180


@pytest.fixture(scope="module")
def history(small_world: Path) -> dict[str, pd.DataFrame]:
    return load_validated(small_world, max_reject_rate=0.0).tables


@pytest.fixture(scope="module")
def codes() -> CodeTables:
    return load_code_tables()


@pytest.fixture(scope="module")
def labels(history: Mapping[str, pd.DataFrame], codes: CodeTables) -> pd.DataFrame:
    return compute_labels(history, codes=codes)


@pytest.fixture(scope="module")
def denials(history: Mapping[str, pd.DataFrame], labels: pd.DataFrame, codes: CodeTables) -> pd.DataFrame:
    return denial_frame(history, labels, codes=codes, rules=load_payer_rules())


def fit(tables: Mapping[str, pd.DataFrame], labels: pd.DataFrame, codes: CodeTables) -> RecoveryFeatureBuilder:
    denials = denial_frame(tables, labels, codes=codes, rules=load_payer_rules())
    return RecoveryFeatureBuilder(maturity_days=MATURITY).fit(denials=denials, labels=labels)


def busy_day(denials: pd.DataFrame) -> pd.Timestamp:
    """A late remit date with many denials, when older denials have matured (history exists)."""
    late = denials[denials["first_remit_date"] >= denials["first_remit_date"].min() + pd.Timedelta(days=300)]
    return pd.Timestamp(late["first_remit_date"].value_counts().idxmax())


def rewrite_outcomes(labels: pd.DataFrame, which: np.ndarray, *, seed: int = 0) -> pd.DataFrame:
    """Labels with a different (mature) recovery outcome for the denials in `which`."""
    out = labels.copy()
    old = out["recovered"].to_numpy(dtype="float64", na_value=np.nan)
    rng = np.random.default_rng(seed)
    new = np.where(np.isnan(old), rng.random(len(old)) < 0.5, old == 0)
    mature = out["mature"].to_numpy(dtype=bool, na_value=False) | which
    recovered = np.where(which, new, old == 1)
    denied_amount = out["denied_amount"].to_numpy(dtype="float64")
    amount = out["recovered_amount"].to_numpy(dtype="float64", na_value=np.nan)
    amount = np.where(which, np.where(recovered, denied_amount * 0.7, 0.0), amount)
    out["mature"] = mature
    out["recovered"] = pd.array(recovered, dtype="boolean")
    out["recovered"] = out["recovered"].where(mature)
    out["recovered_amount"] = pd.Series(amount, index=out.index).where(mature)
    return out


def test_features_declared_once_and_shaped(history, labels, codes, denials) -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == len(FEATURES)
    assert all(f.meaning and f.as_of for f in FEATURES)
    assert denials["claim_id"].is_unique
    assert len(denials) == int(labels["initial_denial"].to_numpy(dtype=bool).sum())
    X, names = fit(history, labels, codes).transform(denials=denials)
    assert X.dtype == np.float32 and X.shape == (len(denials), len(FEATURE_NAMES))
    assert names == list(FEATURE_NAMES)
    assert ((denials["denied_share"] > 0) & (denials["denied_share"] <= 1 + 1e-9)).all()
    groups = {f.group for f in FEATURES}
    assert groups == set(REASON_GROUPS), "every reason group has features and every feature a declared group"
    assert all(f.source for f in FEATURES)


def test_action_deadline_and_attempts_come_with_each_denial(denials) -> None:
    # the recommended action and deadline are those of decisions.actions.recommend_frame for the same denial
    assert denials["recommended_action"].notna().all()
    has_deadline = denials["deadline"].notna()
    assert has_deadline.any()
    days = (denials.loc[has_deadline, "deadline"] - denials.loc[has_deadline, "first_remit_date"]).dt.days
    np.testing.assert_array_equal(denials.loc[has_deadline, "deadline_days"].to_numpy(), days.to_numpy())
    assert denials.loc[~has_deadline, "deadline_days"].isna().all()
    no_deadline = denials.loc[~has_deadline, "recommended_action"]
    assert no_deadline.isin(["bill_patient", "write_off"]).all()
    assert (denials["service_to_denial_days"] >= 0).all()
    assert (denials["prior_followups"] >= 0).all()


def test_prior_followups_counts_only_attempts_before_the_denial(history, labels, codes, denials) -> None:
    claim = denials.iloc[0]
    before = claim["first_remit_date"] - pd.Timedelta(days=1)
    extra = pd.DataFrame(
        {"claim_id": [claim["claim_id"]] * 3, "action": ["payer_call"] * 3,
         "action_date": [before, before, claim["first_remit_date"]]}
    )  # fmt: skip
    followups = pd.concat([history["followups"], extra], ignore_index=True)
    again = denial_frame({**history, "followups": followups}, labels, codes=codes, rules=load_payer_rules())
    row = again.set_index("claim_id").loc[claim["claim_id"]]
    assert row["prior_followups"] == claim["prior_followups"] + 2  # the one on the denial day is not "before"


def test_point_in_time_over_other_denials_maturity(history, labels, codes, denials) -> None:
    day = busy_day(denials)
    on_day = denials[denials["first_remit_date"].eq(day)]
    assert len(on_day) >= 5
    base, _ = fit(history, labels, codes).transform(denials=on_day)

    denied = labels["initial_denial"].to_numpy(dtype=bool)
    maturity = labels["first_remit_date"] + pd.Timedelta(days=MATURITY)
    unknown_yet = denied & (maturity >= day).to_numpy()
    rewritten, _ = fit(history, rewrite_outcomes(labels, unknown_yet), codes).transform(denials=on_day)
    np.testing.assert_allclose(rewritten, base, rtol=1e-6, atol=1e-9)

    # an older denial whose outcome was known before `day` does move the aggregates (the test can fail)
    known = denied & (maturity < day).to_numpy() & labels["mature"].to_numpy(dtype=bool)
    assert known.any()
    one = np.zeros(len(labels), dtype=bool)
    one[np.flatnonzero(known)[0]] = True
    flipped, _ = fit(history, rewrite_outcomes(labels, one), codes).transform(denials=on_day)
    assert np.nanmax(np.abs(flipped - base)) > 1e-6


def test_own_outcome_never_changes_own_features(history, labels, codes, denials) -> None:
    # denials within one 60-day span: none can see another's outcome (maturity is 180 days), so flipping
    # all of their outcomes may only change their features if a denial sees its own
    start = denials["first_remit_date"].min() + pd.Timedelta(days=250)
    in_span = denials["first_remit_date"].between(start, start + pd.Timedelta(days=60))
    sample = denials[in_span.to_numpy()]
    assert len(sample) >= 50
    base, _ = fit(history, labels, codes).transform(denials=sample)
    which = labels["claim_id"].isin(sample["claim_id"]).to_numpy()
    flipped, _ = fit(history, rewrite_outcomes(labels, which, seed=1), codes).transform(denials=sample)
    np.testing.assert_allclose(flipped, base, rtol=1e-6, atol=1e-9)


def _parent_rate(events: pd.DataFrame, queries: pd.DataFrame, spec: AggregateSpec) -> np.ndarray:
    parent = AggregateSpec("parent", spec.levels[:-1], spec.target)
    aggs = HistoryAggregates(specs=[parent], window_days=90, prior_strength=20.0).fit(events)
    return aggs.transform(queries, query_day=day_number(queries["first_remit_date"]))["parent_rate"].to_numpy()


def test_unseen_payer_and_carc_fall_back_to_parent_rate(history, labels, codes, denials) -> None:
    builder = fit(history, labels, codes)
    day = busy_day(denials)
    unseen = denials[denials["first_remit_date"].eq(day)].assign(payer_id="P_NEW", top_carc="ZZ9", facility_id=None)
    X, names = builder.transform(denials=unseen)
    frame = pd.DataFrame(X, columns=names)
    assert frame["payer_id"].isna().all() and frame["top_carc"].isna().all()
    assert (frame["payer_recovery_n"] == 0).all() and (frame["carc_recovery_n"] == 0).all()
    events = recovery_events(denials, labels, maturity_days=MATURITY)
    specs = {s.name: s for s in RECOVERY_SPECS}
    for name in ("payer_recovery", "payer_share", "carc_recovery", "carc_share"):
        expected = _parent_rate(events, unseen, specs[name])
        np.testing.assert_allclose(frame[f"{name}_rate"].to_numpy(), expected, rtol=1e-6)


def test_frozen_state_round_trip(history, labels, codes, denials, tmp_path: Path) -> None:
    day = busy_day(denials)
    later = denials[denials["first_remit_date"] >= day]
    builder = fit(history, labels, codes)
    expected, _ = builder.transform(denials=later.assign(first_remit_date=day))  # a snapshot answers as of its day
    builder.freeze(as_of_day=int(day_number(pd.Series([day]))[0]))
    frozen, _ = builder.transform(denials=later)
    np.testing.assert_array_equal(frozen, expected)
    save_state(builder.to_state(), tmp_path, name="recovery_features")
    loaded = RecoveryFeatureBuilder.from_state(load_state(tmp_path, name="recovery_features"))
    X, names = loaded.transform(denials=later)
    np.testing.assert_array_equal(X, expected)
    assert names == list(FEATURE_NAMES)
