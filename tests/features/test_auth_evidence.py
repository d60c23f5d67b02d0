"""Authorization requirements learned from recent denials: exact, point-in-time, and only where the payer changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import auth_evidence as ae
from features.claim_fields import day_number
from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import codes_in, load_payer_rules
from features.contract.validation import load_validated
from features.denial_feature_defs import FEATURE_NAMES
from features.denial_features import DenialFeatureBuilder
from features.history import GLOBAL_PRIOR_RATE, GLOBAL_PRIOR_WEIGHT
from models.state_files import load_state, save_state


def random_events(seed: int, n: int = 3_000) -> pd.DataFrame:
    """Line outcomes over 200 days, a few payer x family pairs denied often for missing authorization."""
    rng = np.random.default_rng(seed)
    payer = rng.choice(["P1", "P2", "P3"], n)
    family = rng.choice(["971", "972", "705"], n)
    has_auth = rng.choice([ae.NO_AUTH, "auth"], n, p=[0.8, 0.2])
    hot = (payer == "P1") & (family != "705")
    p = np.where(hot, rng.uniform(0.1, 0.7), 0.02)
    return pd.DataFrame(
        {
            "payer_id": payer,
            "has_auth": has_auth,
            "proc_family": family,
            "line_denied_authorization": (rng.random(n) < p).astype(float),
            "event_day": 19_000 + rng.integers(0, 200, n),
        }
    )


def slow_rule(events: pd.DataFrame, payer: str, family: str, day: int) -> tuple[bool, int]:
    """The rule read literally: lines sent without authorization in [day - window, day), smoothed once."""
    window = events[(events["event_day"] >= day - ae.WINDOW_DAYS) & (events["event_day"] < day)]
    root = (window["line_denied_authorization"].sum() + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (
        len(window) + GLOBAL_PRIOR_WEIGHT
    )
    mine = window[
        (window["payer_id"] == payer) & (window["proc_family"] == family) & (window["has_auth"] == ae.NO_AUTH)
    ]
    n = len(mine)
    rate = (mine["line_denied_authorization"].sum() + ae.PRIOR_STRENGTH * root) / (n + ae.PRIOR_STRENGTH)
    return bool(n >= ae.MIN_LINES and rate >= ae.MIN_RATE), n


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_learned_requirement_equals_the_slow_rule(seed: int) -> None:
    events = random_events(seed)
    evidence = ae.fit_auth_evidence(events)
    rng = np.random.default_rng(seed + 100)
    q = 400
    rows = {
        "payer_id": rng.choice(["P1", "P2", "P3", "P9"], q).astype(object),
        "proc_family": rng.choice(["971", "972", "705"], q).astype(object),
    }
    days = 19_000 + rng.integers(-10, 230, q)
    learned, lines, _ = ae.learned_auth_needed(evidence, rows, query_day=days)
    queries = zip(rows["payer_id"], rows["proc_family"], days, strict=True)
    expected = [slow_rule(events, p, f, int(d)) for p, f, d in queries]
    np.testing.assert_array_equal(learned, [e[0] for e in expected])
    np.testing.assert_array_equal(lines, [e[1] for e in expected])
    assert learned.any() and not learned.all()  # the data reaches both sides of the rule


def test_events_on_or_after_the_query_day_change_nothing() -> None:
    events = random_events(7)
    day = 19_120
    rows = {
        "payer_id": np.array(["P1"] * 3, dtype=object),
        "proc_family": np.array(["971", "972", "705"], dtype=object),
    }
    days = np.full(3, day)
    before = ae.learned_auth_needed(ae.fit_auth_evidence(events), rows, query_day=days)
    late = events["event_day"] >= day
    denied = events["line_denied_authorization"]
    flipped = events.assign(line_denied_authorization=np.where(late, 1.0 - denied, denied))
    after = ae.learned_auth_needed(ae.fit_auth_evidence(flipped), rows, query_day=days)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def history(small_world: Path) -> dict[str, pd.DataFrame]:
    return load_validated(small_world, max_reject_rate=0.0).tables


@pytest.fixture(scope="module")
def builder(history: dict[str, pd.DataFrame], small_world: Path) -> DenialFeatureBuilder:
    codes = load_code_tables()
    labels = compute_labels(history, codes=codes)
    return DenialFeatureBuilder().fit(
        tables=history, labels=labels, rules=load_payer_rules(data_dir=small_world), codes=codes
    )


def _drift(small_world: Path) -> dict[str, object]:
    return json.loads((small_world / "truth" / "world.json").read_text())["drift"]


@pytest.mark.slow  # the 30k-claim session world
def test_only_the_payers_new_rule_is_learned_and_only_after_it_shows(
    history: dict[str, pd.DataFrame], builder: DenialFeatureBuilder, small_world: Path
) -> None:
    """The generator adds one family to one payer's authorization list; nothing else may be learned."""
    drift = _drift(small_world)
    claims = history["claims"][history["claims"]["frequency_code"].eq("1")]
    fs = builder.transform(claims=claims, lines=history["claim_lines"])
    learned = fs.context["auth_rule_source"] != "payer rules"
    assert learned.any()
    hit = claims[learned]
    assert set(hit["payer_id"]) == {drift["payer_id"]}
    assert (hit["submitted_at"] > pd.Timestamp(str(drift["effective_date"]))).all()
    assert codes_in(pd.Series(fs.context["auth_rule_code"][learned]), drift["codes"]).all()
    # a learned requirement reads through the same features as a written one
    without = DenialFeatureBuilder.from_state({**builder.to_state(), "auth_evidence": None})
    base = without.transform(claims=hit, lines=history["claim_lines"]).frame()
    now = fs.frame()[learned]
    assert (now["auth_required_lines"].to_numpy() > base["auth_required_lines"].to_numpy()).all()
    no_auth = hit["prior_auth_number"].isna().to_numpy()
    assert (now["auth_missing_lines"].to_numpy()[no_auth] > base["auth_missing_lines"].to_numpy()[no_auth]).all()
    assert all(s.startswith(f"learned: {drift['payer_id']} denied") for s in fs.context["auth_rule_source"][learned])


@pytest.mark.slow  # the 30k-claim session world
def test_a_snapshot_frozen_before_the_change_has_not_learned_it(
    history: dict[str, pd.DataFrame], builder: DenialFeatureBuilder, small_world: Path, tmp_path: Path
) -> None:
    effective = pd.Timestamp(str(_drift(small_world)["effective_date"]))
    save_state(builder.to_state(), tmp_path, name="features")
    early = DenialFeatureBuilder.from_state(load_state(tmp_path, name="features"))
    early.freeze(as_of_day=int(day_number(pd.Series([effective]))[0]))
    late_claims = history["claims"][history["claims"]["submitted_at"] > effective + pd.Timedelta(days=60)]
    fs = early.transform(claims=late_claims, lines=history["claim_lines"])
    assert (fs.context["auth_rule_source"] == "payer rules").all()


@pytest.mark.slow  # the 30k-claim session world
def test_a_model_saved_before_learned_requirements_still_loads(
    history: dict[str, pd.DataFrame], builder: DenialFeatureBuilder, small_world: Path
) -> None:
    """Older saved states have no evidence: they load and score as they did, with the written rules only."""
    state = builder.to_state()
    state.pop("auth_evidence")
    old = DenialFeatureBuilder.from_state(state)
    assert old.auth_evidence_ is None
    effective = pd.Timestamp(str(_drift(small_world)["effective_date"]))
    before = history["claims"][history["claims"]["submitted_at"] < effective].tail(300)
    a = old.transform(claims=before, lines=history["claim_lines"])
    b = builder.transform(claims=before, lines=history["claim_lines"])
    assert a.X.shape[1] == len(FEATURE_NAMES)
    np.testing.assert_array_equal(a.X, b.X)


@pytest.mark.slow  # the 30k-claim session world
def test_the_action_for_a_claim_without_its_authorization_is_to_obtain_it(
    history: dict[str, pd.DataFrame], builder: DenialFeatureBuilder
) -> None:
    claims = history["claims"][history["claims"]["frequency_code"].eq("1")].tail(3_000)
    fs = builder.transform(claims=claims, lines=history["claim_lines"])
    missing = fs.frame()["auth_missing_lines"].to_numpy() > 0
    assert missing.any() and (~missing).any()
    actions = fs.context["auth_action"]
    payers, codes = fs.context["payer_id"], fs.context["auth_rule_code"]
    for i in np.flatnonzero(missing):
        assert actions[i] == f"Obtain {payers[i]}'s prior authorization for {codes[i]} before release"
    assert not any(a.startswith("Obtain") for a in actions[~missing])
