"""The denial feature function: point-in-time, blind to the claim's own outcome, tolerant of the unseen."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.claim_fields import day_number
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.denial_feature_defs import FEATURE_NAMES, FEATURES, REASON_GROUPS
from features.denial_features import DenialFeatureBuilder
from models.state_files import load_state, save_state

pytestmark = pytest.mark.slow  # features of the 30k-claim session world


@pytest.fixture(scope="module")
def history(small_world: Path) -> dict[str, pd.DataFrame]:
    return load_validated(small_world, max_reject_rate=0.0).tables


def fit(tables: Mapping[str, pd.DataFrame]) -> DenialFeatureBuilder:
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    return DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=load_payer_rules(), codes=codes)


def features(builder: DenialFeatureBuilder, tables: Mapping[str, pd.DataFrame], claims: pd.DataFrame) -> np.ndarray:
    return builder.transform(
        claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"], context_lines=tables["claim_lines"]
    ).X


def one_day_of_claims(tables: Mapping[str, pd.DataFrame], *, quantile: float) -> pd.DataFrame:
    """Answered original claims all submitted on one day: none can see another's outcome, which comes later."""
    claims = tables["claims"]
    answered = claims[claims["claim_id"].isin(tables["remits"]["claim_id"]) & claims["frequency_code"].eq("1")]
    day = answered["submitted_at"].quantile(quantile).normalize()
    return answered[answered["submitted_at"] == day]


def test_declared_once_and_phrased(history: dict[str, pd.DataFrame]) -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(f.group in REASON_GROUPS and f.meaning and f.as_of for f in FEATURES)
    builder = fit(history)
    fs = builder.transform(claims=history["claims"].head(300), lines=history["claim_lines"])
    values = {**fs.frame().iloc[0].to_dict(), **fs.context_frame(np.array([0])).iloc[0].to_dict()}
    for group in REASON_GROUPS.values():  # every phrase formats against real feature names and context
        group.phrase.format(**{k: (0 if v is None or v is pd.NA else v) for k, v in values.items()})


def test_own_remits_adjustments_and_followups_are_never_read(history: dict[str, pd.DataFrame]) -> None:
    target = one_day_of_claims(history, quantile=0.7)
    assert len(target) > 20
    before = features(fit(history), history, target)
    ids = set(target["claim_id"])
    # rewrite their outcomes completely: every remit becomes a full denial, adjustments and follow-ups change
    mutated = dict(history)
    remits = history["remits"].copy()
    own = remits["claim_id"].isin(ids)
    remits.loc[own, ["status_code", "paid_amount"]] = ["4", 0.0]
    adj = history["adjustments"]
    own_adj = adj[adj["remit_id"].isin(remits.loc[own, "remit_id"])].assign(group_code="CO", carc="50", amount=1e6)
    mutated["remits"] = remits
    mutated["adjustments"] = pd.concat([adj[~adj["remit_id"].isin(own_adj["remit_id"])], own_adj], ignore_index=True)
    mutated["followups"] = history["followups"][~history["followups"]["claim_id"].isin(ids)]
    after = features(fit(mutated), mutated, target)
    np.testing.assert_array_equal(before, after)


def test_outcomes_after_submission_do_not_move_features(history: dict[str, pd.DataFrame]) -> None:
    target = one_day_of_claims(history, quantile=0.6)
    cutoff = target["submitted_at"].min()
    before = features(fit(history), history, target)
    # delete every remit (and its adjustments) that arrived on or after the submission day
    late = history["remits"]["remit_date"] >= cutoff
    mutated = dict(history)
    mutated["remits"] = history["remits"][~late]
    mutated["adjustments"] = history["adjustments"][
        ~history["adjustments"]["remit_id"].isin(history["remits"].loc[late, "remit_id"])
    ]
    after = features(fit(mutated), mutated, target)
    np.testing.assert_array_equal(before, after)


def test_unseen_payer_and_code_are_unknown_not_errors(history: dict[str, pd.DataFrame]) -> None:
    builder = fit(history)
    claim = history["claims"].head(1).assign(claim_id="NEW1", payer_id="NEVER-SEEN", facility_id="F-NEW")
    line = history["claim_lines"].head(1).assign(claim_id="NEW1", procedure_code="ZZ999", modifiers="QQ")
    fs = builder.transform(claims=claim, lines=line)
    row = fs.frame().iloc[0]
    assert np.isnan(row["payer_id"]) and np.isnan(row["facility_id"])
    assert np.isfinite(row["payer_proc_rate"]) and row["payer_proc_n"] == 0


def test_frozen_state_round_trip_gives_identical_features(history: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    builder = fit(history)
    as_of = int(day_number(pd.Series([history["remits"]["remit_date"].max()]))[0])
    builder.freeze(as_of_day=as_of)
    save_state(builder.to_state(), tmp_path, name="features")
    loaded = DenialFeatureBuilder.from_state(load_state(tmp_path, name="features"))
    pending = history["claims"][~history["claims"]["claim_id"].isin(history["remits"]["claim_id"])].head(500)
    a = builder.transform(claims=pending, lines=history["claim_lines"])
    b = loaded.transform(claims=pending, lines=history["claim_lines"])
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(a.context_frame(), b.context_frame())
