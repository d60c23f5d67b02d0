"""Monitoring: PSI, payer x family shifts beyond noise, and the report on a trained model."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.validation import load_validated
from training.monitoring import (
    ShiftRule,
    feature_profile,
    latest_complete_month,
    payer_family_rates,
    payer_family_shifts,
    psi,
    psi_table,
    run_monitor,
)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 2))
    X[::50, 1] = np.nan
    profile = feature_profile(X, ["a", "b"], features=["a", "b"])
    assert abs(sum(profile["b"]["shares"]) - 1) < 1e-9 and profile["b"]["shares"][-1] == pytest.approx(0.02)
    fresh = rng.normal(size=(20_000, 2))
    fresh[::50, 1] = np.nan
    same = psi_table(profile, fresh, ["a", "b"])
    assert (same["psi"] < 0.01).all() and (same["level"] == "stable").all()
    fresh[:, 1] = np.nan  # the feature stops arriving: all mass moves to the missing bin
    assert psi_table(profile, fresh, ["a", "b"]).set_index("feature").loc["b", "psi"] > 1.0
    moved = psi_table(profile, rng.normal(loc=1.0, size=(20_000, 2)), ["a", "b"])
    assert (moved["psi"] > 0.25).all() and (moved["level"] == "major shift").all()
    # the textbook formula on two bins
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(
        0.25 * np.log(0.75 / 0.5) - 0.25 * np.log(0.25 / 0.5)
    )


def _rates(series: dict[tuple[str, str], list[tuple[int, int]]]) -> pd.DataFrame:
    rows = []
    for (payer, family), months in series.items():
        for i, (claims, denied) in enumerate(months):
            rows.append({"payer_id": payer, "family": family, "month": f"2024-{i + 1:02d}", "claims": claims,
                         "denied": denied})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_steady_line_that_jumps_is_flagged_a_noisy_or_tiny_one_is_not() -> None:
    rates = _rates(
        {
            ("P1", "971"): [(100, 20)] * 6 + [(30, 18)],  # 20% for six months, then 60%
            ("P2", "971"): [(100, 10), (100, 50), (100, 12), (100, 48), (100, 15), (100, 45), (30, 18)],  # wobbles
            ("P3", "971"): [(100, 20)] * 6 + [(4, 4)],  # four claims are not evidence
            ("P4", "992"): [(100, 20)] * 7,  # nothing happened
        }
    )
    out = payer_family_shifts(rates, month="2024-07", rule=ShiftRule())
    flagged = set(out.loc[out["flagged"], "payer_id"])
    assert flagged == {"P1"}
    p1 = out.set_index("payer_id").loc["P1"]
    assert p1["z"] > 4 and p1["baseline_rate"] == pytest.approx((120 + 0.5) / 601)
    assert out.iloc[0]["payer_id"] == "P1"
    assert payer_family_shifts(rates, month="2030-01").empty


def test_latest_complete_month() -> None:
    assert latest_complete_month(pd.Timestamp("2024-12-31")) == "2024-12"
    assert latest_complete_month(pd.Timestamp("2024-12-15")) == "2024-11"
    assert latest_complete_month(pd.Timestamp("2024-02-29")) == "2024-02"


@pytest.fixture(scope="module")
def history(small_world: Path):
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    return tables, compute_labels(tables, codes=load_code_tables())


@pytest.mark.slow  # the 30k-claim session world
def test_payer_family_rates_match_a_slow_count(history) -> None:
    tables, labels = history
    fast = payer_family_rates(tables, labels).set_index(["payer_id", "family", "month"])
    payer = dict(zip(tables["claims"]["claim_id"], tables["claims"]["payer_id"], strict=True))
    lab = {r.claim_id: (r.initial_denial, r.first_remit_date) for r in labels.itertuples()}
    families: dict[str, set[str]] = defaultdict(set)
    for r in tables["claim_lines"].itertuples():
        if r.claim_id in lab:
            families[r.claim_id].add(str(r.procedure_code)[:3])
    slow: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for claim, fams in families.items():
        denied, when = lab[claim]
        for fam in fams:
            cell = slow[(payer[claim], fam, when.strftime("%Y-%m"))]
            cell[0] += 1
            cell[1] += int(bool(denied))
    assert len(slow) == len(fast)
    for key, (claims, denied) in list(slow.items())[:2000]:
        assert fast.loc[key, "claims"] == claims and fast.loc[key, "denied"] == denied


@pytest.mark.slow  # the session's trained model
def test_report_on_a_trained_model(history, trained) -> None:
    tables, labels = history
    model = trained[0]
    report = run_monitor(tables, labels, month="2024-03", model=model)
    assert 0 < len(report.psi) <= 15 and (report.psi["psi"] >= 0).all()
    assert list(report.calibration["month"]) == sorted(report.calibration["month"])[-6:]
    assert (report.calibration["mean_p"].between(0, 1)).all()
    gap = (report.calibration["mean_p"] - report.calibration["rate"]).abs()
    assert gap.iloc[:-1].max() < 0.05  # months the model has seen the answers for are calibrated
    # the model's snapshot is the end of the data: every month predates it, so none is scored through the
    # snapshot (which would count each claim's own outcome) but replayed with features as of submission
    assert set(report.calibration["features"]) == {"replayed as of submission"}
    text = report.markdown()
    assert "payer x procedure family" in text and "Population stability" in text and "Calibration" in text
    assert set(report.shifts["month"]) == {"2024-03"}


@pytest.mark.slow  # the 30k-claim session world
def test_learned_authorization_requirements_missing_from_the_rule_file(history, small_world, tmp_path) -> None:
    """The generator's new authorization rule is listed until the rule file carries it; nothing else is."""
    import json

    import yaml

    from features.contract.payer_rules import load_payer_rules
    from training.monitoring import learned_auth_requirements

    tables, labels = history
    drift = json.loads((small_world / "truth" / "world.json").read_text())["drift"]
    codes = load_code_tables()
    as_of = pd.Timestamp("2024-03-20")  # this small world's thin therapy volume clears the rule's bar on some days
    found = learned_auth_requirements(tables, labels, rules=load_payer_rules(data_dir=small_world), codes=codes,
                                      as_of=as_of)  # fmt: skip
    assert len(found) and set(found["payer_id"]) == {drift["payer_id"]}
    lo, hi = (int(x) for x in drift["codes"][0].split("-"))
    assert all(lo // 100 <= int(f) <= hi // 100 for f in found["family"])
    assert (found["auth_denied_share"] >= 0.3).all() and (found["codes_on_rule_file"] < found["codes_seen"]).all()
    text = run_monitor(tables, labels, month="2024-02", rules=load_payer_rules(data_dir=small_world),
                       codes=codes).markdown()  # fmt: skip
    listed = {f"| {drift['payer_id']} | {f}xx |" for f in range(lo // 100, hi // 100 + 1)}
    assert any(row in text for row in listed) and "add them to payer_rules.yaml" in text

    written = yaml.safe_load((small_world / "payer_rules.yaml").read_text())
    written["payers"][drift["payer_id"]]["auth_required"] += list(drift["codes"])
    (tmp_path / "payer_rules.yaml").write_text(yaml.safe_dump(written))
    fixed = load_payer_rules(data_dir=tmp_path)
    assert learned_auth_requirements(tables, labels, rules=fixed, codes=codes, as_of=as_of).empty


def test_psi_ignores_floating_point_dust_near_zero() -> None:
    """Smoothed rates of never-denied keys creep from ~1e-11 to ~1e-12 as history grows: not a shift."""
    rng = np.random.default_rng(1)
    real = rng.uniform(0.01, 0.3, size=(2_000, 1))
    train = np.vstack([10 ** rng.uniform(-11, -10, size=(18_000, 1)), real])
    later = np.vstack([10 ** rng.uniform(-12, -11, size=(18_000, 1)), real])
    profile = feature_profile(train, ["rate"], features=["rate"])
    assert psi_table(profile, later, ["rate"])["psi"].iloc[0] < 0.01
    later[:6_000] = rng.uniform(0.01, 0.3, size=(6_000, 1))  # a real move of mass off zero still shows
    assert psi_table(profile, later, ["rate"])["psi"].iloc[0] > 0.1


def test_categorical_psi_sees_levels_trade_places() -> None:
    """Payer 22 takes payer 23's volume: deciles of 50 level codes lump the two together and see nothing."""
    rng = np.random.default_rng(2)
    levels = np.arange(1.0, 51.0)
    before = np.full(50, 1.0)
    before[[21, 22]] = [0.2, 3.0]
    after = before.copy()
    after[[21, 22]] = [3.0, 0.2]
    train = rng.choice(levels, p=before / before.sum(), size=(60_000, 1))
    later = rng.choice(levels, p=after / after.sum(), size=(60_000, 1))
    as_numbers = feature_profile(train, ["payer"], features=["payer"])
    as_levels = feature_profile(train, ["payer"], features=["payer"], categorical=["payer"])
    assert len(as_levels["payer"]["levels"]) == 30 and 23.0 in as_levels["payer"]["levels"]
    assert sum(as_levels["payer"]["shares"]) == pytest.approx(1.0)
    assert psi_table(as_levels, train, ["payer"])["psi"].iloc[0] == pytest.approx(0.0)
    assert psi_table(as_numbers, later, ["payer"])["psi"].iloc[0] < 0.01
    assert psi_table(as_levels, later, ["payer"])["psi"].iloc[0] > 0.1
    unseen = np.full((1_000, 1), 99.0)  # a level the profile does not list falls in the rest
    assert psi_table(as_levels, unseen, ["payer"])["psi"].iloc[0] > 1.0
