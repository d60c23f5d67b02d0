"""Did it work: planted worlds where a fix or an accepted edit is followed by the denials stopping ("worked", the
change's interval below 0), where nothing changes (not "worked"), or where too few claims came after ("too early
to tell"); the before/after counts against a slow literal version; the intervals against published values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from edit_worlds import history, tables_and_labels
from prevention_worlds import AS_OF, world

from features.contract.codes import load_code_tables
from features.prevention.effects import EFFECT_COLUMNS, EffectRule, effects, newcombe, wilson
from features.prevention.fixes import Fix
from features.prevention.groups import procedure_group
from features.prevention.patterns import PatternKeyError, parse_pattern_key, pattern_key

CODES = load_code_tables()
PLANT = {"category": "authorization", "factor": 8.0, "payer_id": "P3", "group": "physical_medicine"}
KEY = "authorization:payer=P3:plan=medicare:group=physical_medicine"
FIXED = pd.Timestamp("2024-08-01")


@pytest.fixture(scope="module")
def planted() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return world(seed=5, plant=PLANT)


def stopped(tables: dict[str, pd.DataFrame], labels: pd.DataFrame, *, on: pd.Timestamp) -> pd.DataFrame:
    """The planted world with the cell's authorization denials gone from `on` (the fix worked)."""
    claims = tables["claims"].set_index("claim_id").reindex(labels["claim_id"])
    in_cell = (claims["payer_id"].to_numpy() == "P3") & (tables["claim_lines"]["procedure_code"].to_numpy() == "97110")
    gone = in_cell & (labels["denial_category"] == "authorization").to_numpy() & (labels["first_remit_date"] >= on)
    out = labels.copy()
    out.loc[gone, "initial_denial"] = False
    out.loc[gone, "denial_category"] = pd.NA
    out.loc[gone, "denied_amount"] = 0.0
    return out


def fix_effect(
    tables: dict[str, pd.DataFrame], labels: pd.DataFrame, *, on: pd.Timestamp, as_of: pd.Timestamp = AS_OF
) -> pd.Series:
    found = effects(tables, labels, codes=CODES, edits={}, fixes={KEY: Fix(key=KEY, date=on)}, as_of=as_of)
    assert list(found.columns) == list(EFFECT_COLUMNS) and len(found) == 1
    return found.iloc[0]


def test_a_fix_followed_by_the_denials_stopping_worked(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    tables, labels = planted
    row = fix_effect(tables, stopped(tables, labels, on=FIXED), on=FIXED)
    assert row["verdict"] == "worked"
    assert row["denied_after"] == 0 and row["seen_after"] >= 30 and row["rate_before"] > 0.1
    assert row["difference_high"] < 0 < row["rate_before_low"]
    assert row["rate_after_low"] == 0 and 0 < row["rate_after_high"] < row["rate_before_low"]  # Wilson is not 0 wide
    assert row["dollars_per_month_after"] == 0 < row["dollars_per_month_before"]
    assert row["unit"] == "claims" and row["before_from"] == "2024-02-01"


def test_a_fix_with_no_change_is_rarely_called_worked() -> None:
    """Nothing changes on the day: "worked" is a false alarm, which the 95% interval allows in about 2.5% of
    worlds (one side of it); over 20 seeded worlds it may come up once, not often."""
    verdicts = []
    for seed in range(20):
        tables, labels = world(seed=100 + seed, claims=8_000, plant=PLANT)
        row = fix_effect(tables, labels, on=FIXED)
        assert row["seen_after"] >= 30
        verdicts.append(row["verdict"])
    assert verdicts.count("worked") <= 2 and verdicts.count("no change yet") >= 16, verdicts


def test_too_few_claims_after_is_too_early(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    tables, labels = planted
    on = AS_OF - pd.Timedelta(days=5)
    row = fix_effect(tables, stopped(tables, labels, on=on), on=on)
    assert row["verdict"] == "too early to tell" and 0 < row["seen_after"] < 30


def test_a_decision_after_as_of_has_no_figures_and_nothing_after_as_of_is_read(
    planted: tuple[dict[str, pd.DataFrame], pd.DataFrame],
) -> None:
    tables, labels = planted
    early = AS_OF - pd.Timedelta(days=60)
    assert fix_effect(tables, labels, on=AS_OF, as_of=early)["verdict"] == "decided after as_of"
    cut = fix_effect(tables, labels, on=FIXED, as_of=early)
    literal = literal_fix_counts(tables, labels, on=FIXED, as_of=early)
    assert (cut["seen_before"], cut["denied_before"], cut["seen_after"], cut["denied_after"]) == literal


def literal_fix_counts(
    tables: dict[str, pd.DataFrame], labels: pd.DataFrame, *, on: pd.Timestamp, as_of: pd.Timestamp
) -> tuple[int, int, int, int]:
    """Claim by claim: in the cell (payer P3, medicare, the highest-charge line's group physical medicine), its
    first remit in [on - 6 months, on) or [on, as_of], denied for authorization."""
    claims = {r["claim_id"]: r for r in tables["claims"].to_dict("records")}
    top: dict[str, tuple[float, str]] = {}
    for line in tables["claim_lines"].to_dict("records"):
        if line["claim_id"] not in top or line["charge"] > top[line["claim_id"]][0]:
            top[line["claim_id"]] = (line["charge"], line["procedure_code"])
    group_of = {code: procedure_group(pd.Series([code])).iloc[0] for code in {code for _, code in top.values()}}
    start = on - pd.DateOffset(months=6)
    counts = [0, 0, 0, 0]
    for lab in labels.to_dict("records"):
        claim = claims[lab["claim_id"]]
        group = group_of[top[lab["claim_id"]][1]]
        if (claim["payer_id"], claim["plan_type"], group) != ("P3", "medicare", "physical_medicine"):
            continue
        day = lab["first_remit_date"]
        side = 0 if start <= day < on else 2 if on <= day <= as_of else None
        if side is None:
            continue
        counts[side] += 1
        counts[side + 1] += int(bool(lab["initial_denial"]) and lab["denial_category"] == "authorization")
    return counts[0], counts[1], counts[2], counts[3]


def test_fix_counts_match_the_literal_version(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    tables, labels = planted
    labels = stopped(tables, labels, on=FIXED)
    row = fix_effect(tables, labels, on=FIXED)
    assert (row["seen_before"], row["denied_before"], row["seen_after"], row["denied_after"]) == literal_fix_counts(
        tables, labels, on=FIXED, as_of=AS_OF
    )


# ---- an accepted edit -----------------------------------------------------------------------------------------------
EDIT = "auth:P1:93306"
ACCEPTED = "2024-07-01"


@pytest.fixture(scope="module")
def edit_world() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return tables_and_labels(history(seed=3, claims=3000, auth_fixed_on=ACCEPTED))


def literal_edit_counts(
    tables: dict[str, pd.DataFrame], labels: pd.DataFrame, *, on: pd.Timestamp, as_of: pd.Timestamp
) -> tuple[int, int, int, int]:
    """Line by line from the tables: P1's 93306 lines on claims without an authorization number, their claim's
    first remit in the before or after window, hit when that remit carries an authorization-category denial
    adjustment on the line or on the whole claim."""
    lab = labels.set_index("claim_id")
    adjustments = tables["adjustments"]
    start = on - pd.DateOffset(months=6)
    counts = [0, 0, 0, 0]
    for claim in tables["claims"].to_dict("records"):
        if (
            claim["payer_id"] != "P1"
            or not pd.isna(claim.get("prior_auth_number"))
            or claim["claim_id"] not in lab.index
        ):
            continue
        day = lab.loc[claim["claim_id"], "first_remit_date"]
        if pd.isna(day):
            continue
        side = 0 if start <= day < on else 2 if on <= day <= as_of else None
        if side is None:
            continue
        remit = lab.loc[claim["claim_id"], "first_remit_id"]
        mine = adjustments[(adjustments["remit_id"] == remit) & (adjustments["amount"] > 0)]
        lines = tables["claim_lines"]
        for line in lines[lines["claim_id"] == claim["claim_id"]].to_dict("records"):
            if line["procedure_code"] != "93306":
                continue
            counts[side] += 1
            hit = False
            for adj in mine.to_dict("records"):
                on_line = pd.isna(adj["line_number"]) or int(adj["line_number"]) == int(line["line_number"])
                category = CODES.categorize(pd.Series([adj["carc"]]), pd.Series([adj["remark_codes"]])).iloc[0]
                hit |= on_line and category == "authorization"
            counts[side + 1] += int(hit)
    return counts[0], counts[1], counts[2], counts[3]


def test_an_accepted_edit_followed_by_the_denials_stopping_worked(
    edit_world: tuple[dict[str, pd.DataFrame], pd.DataFrame],
) -> None:
    tables, labels = edit_world
    decisions = {
        EDIT: {"decision": "accepted", "date": ACCEPTED},
        "modifier:P2:97110:GP": {"decision": "rejected", "date": ACCEPTED},  # rejected: not compared
    }
    found = effects(tables, labels, codes=CODES, edits=decisions, fixes={}, as_of=AS_OF)
    assert found["key"].tolist() == [EDIT]
    row = found.iloc[0]
    assert row["source"] == "edit" and row["unit"] == "lines"
    assert row["verdict"] == "worked" and row["difference_high"] < 0 and row["rate_before"] > 0.5
    assert row["dollars_per_month_before"] > row["dollars_per_month_after"]
    literal = literal_edit_counts(tables, labels, on=pd.Timestamp(ACCEPTED), as_of=AS_OF)
    assert (row["seen_before"], row["denied_before"], row["seen_after"], row["denied_after"]) == literal


def test_an_accepted_edit_with_the_denials_going_on_is_not_worked() -> None:
    """P2 keeps denying 97110 without GP after the day. (Not P1's auth edit in the unfixed world: there the
    claims adjudicated late in the year are mostly the ones sent late, which P1 denies whole for timely filing,
    so fewer of its 93306 lines reach an authorization denial and the rate falls without any fix: a before/after
    comparison is not a controlled experiment, and the README says so.)"""
    tables, labels = tables_and_labels(history(seed=3, claims=3000))
    edit = "modifier:P2:97110:GP"
    found = effects(tables, labels, codes=CODES, edits={edit: {"decision": "accepted", "date": ACCEPTED}}, fixes={},
                    as_of=AS_OF)  # fmt: skip
    row = found.iloc[0]
    assert row["verdict"] == "no change yet" and row["rate_after"] > 0.5 and row["seen_after"] >= 30


def test_nothing_decided_gives_an_empty_frame(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    tables, labels = planted
    found = effects(tables, labels, codes=CODES, edits={"auth:P1:1": {"decision": "rejected", "date": "2024-01-01"}},
                    fixes={})  # fmt: skip
    assert found.empty and list(found.columns) == list(EFFECT_COLUMNS)


# ---- the intervals --------------------------------------------------------------------------------------------------
def test_wilson_and_newcombe_match_newcombe_1998() -> None:
    z = 1.959963984540054
    # Newcombe (1998), Statistics in Medicine 17:873-890, table I and II examples
    low, high = wilson(np.array([81, 15, 0]), np.array([263, 148, 20]), z=z)
    np.testing.assert_allclose(low, [0.2553, 0.0624, 0.0], atol=5e-5)
    np.testing.assert_allclose(high, [0.3662, 0.1605, 0.1611], atol=5e-5)
    # Newcombe's table II, method 10, examples (a), (b), (d), (e): his p1 - p2 is our after - before
    d, low, high = newcombe(np.array([48, 3, 0, 0]), np.array([80, 10, 29, 20]), np.array([56, 9, 5, 0]),
                            np.array([70, 10, 56, 10]), z=z)  # fmt: skip
    np.testing.assert_allclose(d, [0.2, 0.6, 5 / 56, 0.0], atol=1e-12)
    np.testing.assert_allclose(low, [0.0524, 0.1705, -0.0381, -0.1611], atol=5e-5)
    np.testing.assert_allclose(high, [0.3339, 0.8090, 0.1926, 0.2775], atol=5e-5)


def test_effect_rule_is_checked() -> None:
    with pytest.raises(ValueError, match="before_months"):
        EffectRule(before_months=0)


# ---- the pattern key ------------------------------------------------------------------------------------------------
def test_pattern_keys_round_trip_and_bad_ones_are_named() -> None:
    values = {"payer": "P:1|commercial", "procedure_group": "em", "facility_id": "F 1%"}
    key = pattern_key("coding", values)
    assert key == "coding:payer=P%3A1:plan=commercial:group=em:location=F%201%25"
    cell = parse_pattern_key(key)
    assert cell.category == "coding" and dict(cell.values) == {
        "payer_id": "P:1", "plan_type": "commercial", "procedure_group": "em", "facility_id": "F 1%"
    }  # fmt: skip
    assert parse_pattern_key(KEY).key == KEY
    for bad, match in [
        ("nonsense:payer=P1:plan=x", "denial category"),
        ("coding:payer=P1", "with its plan"),
        ("coding:group=em:payer=P1:plan=x", "order"),
        ("coding:billing=1:location=2", "at most one"),
        ("coding:colour=red", "NAME=VALUE"),
        ("coding", "at least one"),
    ]:
        with pytest.raises(PatternKeyError, match=match):
            parse_pattern_key(bad)
