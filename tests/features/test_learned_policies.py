"""Coverage withdrawn, learned from recent denials: exact, point-in-time, and on the scrambled world found for
the payer plan's withdrawn codes only after the change, and otherwise only for codes the plans deny as not
covered."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import History

from features import learned_policies as ce
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.denial_feature_defs import FEATURE_NAMES
from features.denial_features import DenialFeatureBuilder
from features.history import GLOBAL_PRIOR_RATE, GLOBAL_PRIOR_WEIGHT

KEYS = ("payer_id", "plan_type", "procedure_code")


def random_events(seed: int, n: int = 3_000) -> pd.DataFrame:
    """Line outcomes over 300 days; one plan stops covering two codes on day 150."""
    rng = np.random.default_rng(seed)
    payer = rng.choice(["P1", "P2"], n)
    plan = rng.choice(["commercial", "medicare"], n)
    code = rng.choice(["11111", "22222", "33333", "44444"], n)
    day = 19_000 + rng.integers(0, 300, n)
    withdrawn = (payer == "P1") & (plan == "commercial") & np.isin(code, ["11111", "22222"]) & (day >= 19_150)
    p = np.where(withdrawn, 0.9, 0.01)
    return pd.DataFrame(
        {"payer_id": payer, "plan_type": plan, "procedure_code": code,
         "line_denied_non_covered": (rng.random(n) < p).astype(float), "event_day": day}
    )  # fmt: skip


def slow_rule(events: pd.DataFrame, key: tuple[str, str, str], day: int) -> tuple[bool, int]:
    """The rule read literally: the plan's lines of the code answered in [day - window, day), smoothed once."""
    window = events[(events["event_day"] >= day - ce.WINDOW_DAYS) & (events["event_day"] < day)]
    root = (window["line_denied_non_covered"].sum() + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (
        len(window) + GLOBAL_PRIOR_WEIGHT
    )
    mine = window[np.logical_and.reduce([window[k] == v for k, v in zip(KEYS, key, strict=True)])]
    rate = (mine["line_denied_non_covered"].sum() + ce.PRIOR_STRENGTH * root) / (len(mine) + ce.PRIOR_STRENGTH)
    return bool(len(mine) >= ce.MIN_LINES and rate >= ce.MIN_RATE), len(mine)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_learned_withdrawal_equals_the_slow_rule(seed: int) -> None:
    events = random_events(seed)
    evidence = ce.fit_coverage_evidence(events)
    rng = np.random.default_rng(seed + 100)
    q = 300
    rows = {
        "payer_id": rng.choice(["P1", "P2", "P9"], q).astype(object),
        "plan_type": rng.choice(["commercial", "medicare"], q).astype(object),
        "procedure_code": rng.choice(["11111", "22222", "33333"], q).astype(object),
    }
    days = 19_000 + rng.integers(-10, 330, q)
    learned, lines, _ = ce.learned_not_covered(evidence, rows, query_day=days)
    keys = zip(rows["payer_id"], rows["plan_type"], rows["procedure_code"], strict=True)
    expected = [slow_rule(events, key, int(d)) for key, d in zip(keys, days, strict=True)]
    np.testing.assert_array_equal(learned, [e[0] for e in expected])
    np.testing.assert_array_equal(lines, [e[1] for e in expected])
    assert learned.any() and not learned.all()  # the data reaches both sides of the rule


def test_events_on_or_after_the_query_day_change_nothing() -> None:
    events = random_events(7)
    day = 19_260  # the whole window after the withdrawal on day 19,150
    rows = {
        "payer_id": np.array(["P1"] * 3, dtype=object),
        "plan_type": np.array(["commercial"] * 3, dtype=object),
        "procedure_code": np.array(["11111", "22222", "33333"], dtype=object),
    }
    days = np.full(3, day)
    before = ce.learned_not_covered(ce.fit_coverage_evidence(events), rows, query_day=days)
    late = events["event_day"] >= day
    denied = events["line_denied_non_covered"]
    flipped = events.assign(line_denied_non_covered=np.where(late, 1.0 - denied, denied))
    after = ce.learned_not_covered(ce.fit_coverage_evidence(flipped), rows, query_day=days)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert before[0][:2].all()  # the withdrawn codes are learned by then


@pytest.mark.slow  # a 100k-claim scrambled world
def test_on_the_scrambled_world_the_withdrawn_codes_are_learned_after_the_change_and_only_real_ones(
    scrambled_world: Path,
) -> None:
    tables = load_validated(scrambled_world, max_reject_rate=0.0).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    builder = DenialFeatureBuilder().fit(
        tables=tables, labels=labels, rules=load_payer_rules(data_dir=scrambled_world), codes=codes
    )
    claims = tables["claims"][tables["claims"]["frequency_code"].eq("1")]
    fs = builder.transform(claims=claims, lines=tables["claim_lines"])
    flagged = fs.X[:, FEATURE_NAMES.index("noncovered_learned_lines")] > 0
    hit = claims[flagged].assign(code=fs.context["coverage_code"][flagged])
    change = json.loads((scrambled_world / "truth" / "world.json").read_text())["policy_change"]
    mine = (hit["payer_id"] == change["payer_id"]) & (hit["plan_type"] == change["plan_type"])
    withdrawn = hit[mine & hit["code"].isin(change["codes"])]
    assert withdrawn["code"].nunique() >= 3  # found for several of the withdrawn codes
    assert (withdrawn["submitted_at"] > pd.Timestamp(change["effective_date"])).all()  # and only after the change
    # every flag is a code the plan denies as not covered: the flagged claims are denied for it most of the time
    category = labels.set_index("claim_id")["denial_category"].reindex(hit["claim_id"])
    assert (category == "non_covered").mean() > 0.8
    everyone = labels.set_index("claim_id")["denial_category"].reindex(claims["claim_id"])
    assert (everyone == "non_covered").mean() < 0.1
    assert all("denied as not covered in the last 90 days" in t for t in fs.context["coverage_text"][flagged])


CHANGED_CODES = ["11111", "33333"]  # the plan's bulletin: one code billed often, one a few times a month
STEADY_CODE = "44444"  # the plan has always denied it bare: a requirement in force all along is no news
MODIFIER_CODES = [*CHANGED_CODES, STEADY_CODE, *(f"2{i:04d}" for i in range(19))]


def modifier_events(seed: int, n: int = 4_000) -> pd.DataFrame:
    """Line outcomes of 22 codes over 300 days; from day 150 one plan denies codes 11111 and 33333 (billed a few
    times a month) for coding when sent bare, as it has always denied 44444."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["commercial", "medicare"], n)
    code = rng.choice(MODIFIER_CODES, n, p=[0.1, 0.02, 0.05, *[0.83 / 19] * 19])
    modifier = rng.choice([ce.NO_MODIFIER, "KX", "25"], n, p=[0.7, 0.2, 0.1])
    day = 19_000 + rng.integers(0, 300, n)
    changed = np.isin(code, CHANGED_CODES)
    required = (
        (plan == "commercial") & (modifier == ce.NO_MODIFIER) & ((changed & (day >= 19_150)) | (code == STEADY_CODE))
    )
    p = np.where(required, 0.85, 0.04)
    return pd.DataFrame(
        {"payer_id": "P1", "plan_type": plan, "procedure_code": code, "modifier_key": modifier,
         "line_denied_coding": (rng.random(n) < p).astype(float), "event_day": day}
    )  # fmt: skip


def slow_modifier_rule(events: pd.DataFrame, key: tuple[str, str, str, str], day: int) -> tuple[bool, int]:
    """The modifier rule read literally: only a bare line can miss a modifier; its plan's bare lines of the
    code answered in [day - window, day), their rate smoothed once toward the plan's bare lines' rate (itself
    smoothed toward the window's global coding rate), a binomial test of the code's denials against the
    plan's other codes' bare lines, and the code's bare lines mostly paid over the whole history (news)."""
    if key[3] != ce.NO_MODIFIER:
        return False, 0
    window = events[(events["event_day"] >= day - ce.WINDOW_DAYS) & (events["event_day"] < day)]
    root = (window["line_denied_coding"].sum() + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (
        len(window) + GLOBAL_PRIOR_WEIGHT
    )
    m = ce.PRIOR_STRENGTH
    plan = window[(window["payer_id"] == key[0]) & (window["plan_type"] == key[1]) & (window["modifier_key"] == key[3])]
    plan_rate = (plan["line_denied_coding"].sum() + m * root) / (len(plan) + m)
    mine = plan[plan["procedure_code"] == key[2]]
    others = plan[plan["procedure_code"] != key[2]]
    denied = int(mine["line_denied_coding"].sum())
    rate = (denied + m * plan_rate) / (len(mine) + m)
    others_rate = (others["line_denied_coding"].sum() + m * root) / (len(others) + m)
    chance = sum(  # P(X >= denied) for X ~ Binomial(len(mine), others_rate), summed term by term
        math.comb(len(mine), k) * others_rate**k * (1 - others_rate) ** (len(mine) - k)
        for k in range(denied, len(mine) + 1)
    )
    # news: over the whole history before the day, the code's bare lines to the plan were mostly paid
    before = events[events["event_day"] < day]
    root_all = (before["line_denied_coding"].sum() + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (
        len(before) + GLOBAL_PRIOR_WEIGHT
    )
    plan_all = before[
        (before["payer_id"] == key[0]) & (before["plan_type"] == key[1]) & (before["modifier_key"] == key[3])
    ]
    plan_all_rate = (plan_all["line_denied_coding"].sum() + m * root_all) / (len(plan_all) + m)
    mine_all = plan_all[plan_all["procedure_code"] == key[2]]
    all_rate = (mine_all["line_denied_coding"].sum() + m * plan_all_rate) / (len(mine_all) + m)
    learned = (
        len(mine) >= ce.MODIFIER_MIN_LINES
        and rate >= ce.MIN_RATE
        and chance <= ce.MODIFIER_ALPHA
        and all_rate < ce.MIN_RATE
    )
    return bool(learned), len(mine)


@pytest.mark.parametrize("seed", [1, 2])
def test_learned_modifier_requirement_equals_the_slow_rule(seed: int) -> None:
    events = modifier_events(seed)
    evidence = ce.fit_modifier_evidence(events)
    rng = np.random.default_rng(seed + 200)
    q = 600
    rows = {
        "payer_id": np.array(["P1"] * q, dtype=object),
        "plan_type": rng.choice(["commercial", "medicare"], q).astype(object),
        "procedure_code": rng.choice(MODIFIER_CODES[:4], q).astype(object),
        "modifier_key": rng.choice([ce.NO_MODIFIER, "KX"], q).astype(object),
    }
    days = 19_000 + rng.integers(-10, 330, q)
    learned, lines, _ = ce.learned_modifier_missing(evidence, rows, query_day=days)
    keys = zip(rows["payer_id"], rows["plan_type"], rows["procedure_code"], rows["modifier_key"], strict=True)
    expected = [slow_modifier_rule(events, key, int(d)) for key, d in zip(keys, days, strict=True)]
    np.testing.assert_array_equal(learned, [e[0] for e in expected])
    np.testing.assert_array_equal(lines, [e[1] for e in expected])
    assert learned.any() and not learned.all()
    # learned only where the plan changed its policy, only after the change, never for a line with a modifier
    hit = np.flatnonzero(learned)
    assert set(rows["plan_type"][hit]) == {"commercial"} and set(rows["procedure_code"][hit]) == set(CHANGED_CODES)
    assert (days[hit] > 19_150).all() and set(rows["modifier_key"][hit]) == {ce.NO_MODIFIER}


def test_a_bare_line_of_a_code_the_plan_now_denies_without_a_modifier_is_flagged_with_its_evidence() -> None:
    h = History()
    for i in range(30):  # a year before: 97110 sent bare was paid
        cid = h.claim(f"OLD{i}", submitted="2023-03-04", service="2023-03-01", procedures=("97110",))
        h.remit(cid, date="2023-03-20", status="1", paid=80.0)
    for i in range(30):  # the plan's other codes sent bare are paid
        cid = h.claim(f"P{i}", submitted="2024-03-04", service="2024-03-01", procedures=("99213",))
        h.remit(cid, date="2024-03-20", status="1", paid=80.0)
    for i in range(4):  # March: four bare 97110 lines, each denied CO-4 (a required modifier is missing)
        cid = h.claim(f"D{i}", submitted="2024-03-04", service="2024-03-01", procedures=("97110",))
        r = h.remit(cid, date="2024-03-20", status="1")
        h.adj(cid, r, "CO", "4", 100.0, line=1)
    for i in range(10):  # the same code with its modifier is paid
        cid = h.claim(f"K{i}", submitted="2024-03-04", service="2024-03-01", procedures=("97110",))
        h.rows["claim_lines"][-1]["modifiers"] = "KX"
        h.remit(cid, date="2024-03-20", status="1", paid=80.0)
    h.claim("BARE", submitted="2024-04-15", service="2024-04-10", procedures=("97110",))
    h.claim("WITH_KX", submitted="2024-04-15", service="2024-04-10", procedures=("97110",))
    h.rows["claim_lines"][-1]["modifiers"] = "KX"
    h.claim("TOO_EARLY", submitted="2024-03-15", service="2024-03-10", procedures=("97110",))
    fs = h.denial_features(["BARE", "WITH_KX", "TOO_EARLY"], as_of="2024-06-30")
    flagged = dict(zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("modifier_learned_lines")], strict=True))
    assert flagged == {"BARE": 1.0, "WITH_KX": 0.0, "TOO_EARLY": 0.0}
    at = list(fs.claim_ids).index("BARE")
    assert fs.context["modifier_policy_code"][at] == "97110"
    # the evidence is the plan's denial rate for the code as this line is sent: all history it was 4 of 34 lines
    rate = dict(zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("plan_proc_rate")], strict=True))
    assert rate["BARE"] >= 0.8 > 0.2 > rate["TOO_EARLY"]
    assert (
        "4 lines sent without a modifier denied for coding in the last 90 days"
        in fs.context["modifier_policy_text"][at]
    )
