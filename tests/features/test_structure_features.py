"""The structure-finding history features (issue 16) against their definition, computed literally: every
outcome of the same key known strictly before the claim was sent, shrunk level by level from the global rate.

dx_code (diagnosis code x procedure code through the ICD-10-CM category and block), plan_proc (payer plan x
code), clinician_section (the clinician's not-covered denials by CPT section), the modifier habit (the share
of a code's earlier lines sent with a modifier, read for lines sent without one), provider_late,
provider_missing (the clinician's habits), and the patient's earlier eligibility and payer-order denials
(patient_eligibility, patient_cob: counted here by the raw patient id, in the features by its keyed hash)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.claim_fields import LINE_CLAIM_COLUMNS, day_number, line_rows
from features.columns import claim_columns
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.denial_events import claim_keys, outcome_events
from features.denial_feature_defs import CLAIM_SPECS, FEATURE_NAMES, LINE_SPECS, MODIFIER_HABIT_SPEC
from features.denial_features import DenialFeatureBuilder
from features.history import GLOBAL_PRIOR_RATE, GLOBAL_PRIOR_WEIGHT

pytestmark = pytest.mark.slow  # the 30k-claim session world

NEW_LINE = ("dx_code", "plan_proc", "clinician_section")
NEW_CLAIM = ("provider_late", "provider_missing", "patient_eligibility", "patient_cob")


def literal_rate(
    events: pd.DataFrame, keys: Mapping[str, object], *, levels: tuple[tuple[str, ...], ...], target: str, day: int,
    since: int | None, m: float,
) -> float:  # fmt: skip
    """The recursion, one level after another, over a plain filter of the events."""
    known = events[(events["event_day"] < day) & events[target].notna()]
    if since is not None:
        known = known[known["event_day"] >= since]
    rate = 0.0
    for depth, level in enumerate(levels):
        same = np.ones(len(known), dtype=bool)
        for column in level:
            same &= known[column].astype(object).fillna("<null>").to_numpy() == (
                "<null>" if keys[column] is None or keys[column] is pd.NA else keys[column]
            )
        n, d = float(same.sum()), float(known.loc[same, target].sum())
        if depth == 0:
            rate = (d + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (n + GLOBAL_PRIOR_WEIGHT)
        else:
            rate = (d + m * rate) / (n + m)
    return rate


@pytest.fixture(scope="module")
def built(small_world: Path) -> tuple[dict[str, pd.DataFrame], DenialFeatureBuilder, pd.DataFrame, np.ndarray]:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    rules = load_payer_rules()
    builder = DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=codes)
    claims = tables["claims"]
    late = claims[claims["frequency_code"].eq("1") & (claims["submitted_at"] >= claims["submitted_at"].quantile(0.8))]
    sample = late.sample(40, random_state=3).reset_index(drop=True)
    X = builder.transform(claims=sample, lines=tables["claim_lines"]).X
    return tables, builder, sample, X


def test_claim_level_habits_and_plan_rates_match_the_definition(built: tuple) -> None:
    tables, builder, sample, X = built
    codes = load_code_tables()
    _, events = outcome_events(tables, compute_labels(tables, codes=codes), codes=codes, rules=load_payer_rules())
    keys = claim_keys(sample, rules=load_payer_rules())
    # the literal groups by the patient id itself: the keyed hash must group exactly the same claims
    patient_of = tables["claims"].set_index("claim_id")["patient_id"].astype(object)
    events = events.assign(patient_key=events["claim_id"].map(patient_of).to_numpy())
    keys["patient_key"] = sample["patient_id"].astype(object).to_numpy()
    days = day_number(sample["submitted_at"])
    specs = {s.name: s for s in CLAIM_SPECS}
    with_history = 0
    for name in NEW_CLAIM:
        spec = specs[name]
        for i in range(len(sample)):
            for suffix, since in (("rate", None), ("rate_recent", days[i] - builder.window_days)):
                want = literal_rate(events, keys.iloc[i].to_dict(), levels=spec.levels, target=spec.target,
                                    day=days[i], since=since, m=builder.prior_strength)  # fmt: skip
                got = X[i, FEATURE_NAMES.index(f"{name}_{suffix}")]
                assert got == pytest.approx(want, rel=1e-5), (name, suffix, i)
        if name == "patient_eligibility":  # claims whose patient has outcomes known before the claim
            patient = events["patient_key"].to_numpy()
            with_history = sum(
                bool(((patient == keys["patient_key"].iloc[i]) & (events["event_day"].to_numpy() < days[i])).any())
                for i in range(len(sample))
            )
    assert with_history >= 5  # the patient level is exercised


@pytest.fixture(scope="module")
def line_events_and_rows(built: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The world's line outcome events, and the sample's lines with their keys and submission day."""
    tables, _, sample, _ = built
    codes = load_code_tables()
    events, _ = outcome_events(tables, compute_labels(tables, codes=codes), codes=codes, rules=load_payer_rules())
    rows = pd.DataFrame(line_rows(claim_columns(sample, LINE_CLAIM_COLUMNS), [tables["claim_lines"]]))
    rows["day"] = day_number(rows["submitted_at"])
    return events, rows


def test_line_level_structure_rates_are_the_worst_line_by_the_definition(
    built: tuple, line_events_and_rows: tuple
) -> None:
    _, builder, _, X = built
    events, rows = line_events_and_rows
    specs = {s.name: s for s in LINE_SPECS}
    assert rows["dx_block"].nunique() > 3  # the block level is exercised, not all "?"
    for name in NEW_LINE:
        spec = specs[name]
        per_line = [
            literal_rate(
                events,
                row,
                levels=spec.levels,
                target=spec.target,
                day=int(row["day"]),
                since=None,
                m=builder.prior_strength,
            )  # fmt: skip
            for row in rows.to_dict("records")
        ]
        worst = pd.Series(per_line).groupby(rows["claim_pos"].to_numpy()).max()
        got = X[worst.index.to_numpy(), FEATURE_NAMES.index(f"{name}_rate")]
        np.testing.assert_allclose(got, worst.to_numpy(), rtol=1e-5)


def test_modifier_habit_is_the_highest_share_over_the_bare_lines_by_the_definition(
    built: tuple, line_events_and_rows: tuple
) -> None:
    _, builder, sample, X = built
    events, rows = line_events_and_rows
    bare = (rows["modifier_key"] == "-").to_numpy()
    assert 0 < bare.sum() < len(rows)  # both kinds of line are exercised
    for suffix, window in (("", None), ("_recent", builder.window_days)):
        per_line = [
            literal_rate(
                events,
                row,
                levels=MODIFIER_HABIT_SPEC.levels,
                target="line_has_modifier",
                day=int(row["day"]),
                since=None if window is None else int(row["day"]) - window,
                m=builder.prior_strength,
            )
            if is_bare
            else 0.0
            for row, is_bare in zip(rows.to_dict("records"), bare, strict=True)
        ]
        want = pd.Series(per_line).groupby(rows["claim_pos"].to_numpy()).max().reindex(range(len(sample)), fill_value=0)
        got = X[:, FEATURE_NAMES.index(f"modifier_habit_missing{suffix}")]
        np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-5)
    # a claim whose every line carries a modifier has nothing missing
    all_modified = ~pd.Series(bare).groupby(rows["claim_pos"].to_numpy()).any()
    assert (X[all_modified[all_modified].index.to_numpy(), FEATURE_NAMES.index("modifier_habit_missing")] == 0).all()
