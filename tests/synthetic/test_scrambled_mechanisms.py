"""Each effect planted in the scrambled world is visible in its truth (hazards), as its mechanism says."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic.scrambled import Simulation, simulate
from synthetic.scrambled.claims import POLICY_MODIFIER
from synthetic.scrambled.hazards import H_LAPSE, C


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(claims=40_000, months=24, seed=9)


def _per_line(sim: Simulation, values: np.ndarray) -> np.ndarray:
    return values[sim.lines.claim]


def test_policy_groups_are_not_prefix_aligned(sim: Simulation) -> None:
    catalog = sim.catalog
    prefixes = np.array([code[:3] for code in catalog.codes])
    spans = [len(set(prefixes[catalog.group == g])) for g in range(catalog.n_groups)]
    assert min(spans) >= 25  # a group of ~40 codes spans almost as many 3-character prefixes
    # and codes that share a prefix land in different groups
    shared = [p for p in set(prefixes) if (prefixes == p).sum() >= 4]
    groups_per_prefix = [len(set(catalog.group[prefixes == p])) / (prefixes == p).sum() for p in shared]
    assert np.mean(groups_per_prefix) > 0.8


def test_lcd_lists_are_per_code_and_mix_chapters(sim: Simulation) -> None:
    catalog = sim.catalog
    sizes = np.diff(catalog.support_start)
    chapters = [
        len(
            {
                catalog.dx_codes[d][0]
                for d in catalog.support_dx[catalog.support_start[i] : catalog.support_start[i + 1]]
            }
        )
        for i in np.flatnonzero(sizes >= 30)
    ]
    assert np.median(chapters) >= 8
    # codes that share a prefix share no more of their lists than any two codes do
    lists = [set(catalog.support_dx[a:b].tolist()) for a, b in zip(sizes.cumsum() - sizes, sizes.cumsum(), strict=True)]
    prefixes = [code[:3] for code in catalog.codes]

    def overlap(i: int, j: int) -> float:
        return len(lists[i] & lists[j]) / min(len(lists[i]), len(lists[j]))

    same = [overlap(i, i + 1) for i in range(len(lists) - 1) if prefixes[i] == prefixes[i + 1]]
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(lists), (2000, 2))
    anyhow = [overlap(int(i), int(j)) for i, j in pairs if i != j]
    assert len(same) > 50
    assert np.mean(same) < 2 * np.mean(anyhow) + 0.02


def test_off_list_diagnoses_raise_the_medical_necessity_hazard(sim: Simulation) -> None:
    off = np.bincount(sim.lines.claim, weights=sim.visible.off_list, minlength=len(sim.claims)) > 0
    h = sim.outcome.hazard[:, C["medical_necessity"]]
    assert h[~off].max() == 0.0
    assert h[off].mean() > 0.25
    # strictness is the product's: the same off-list situation costs more with a stricter product
    strict = sim.products.necessity_strictness
    hi, lo = int(np.argmax(strict)), int(np.argmin(strict))
    single = off & (sim.claims.n_lines == 1)
    assert h[single & (sim.claims.product == hi)].mean() > h[single & (sim.claims.product == lo)].mean() + 0.2


def test_clinician_habits_move_missing_information_and_timely_filing(sim: Simulation) -> None:
    clin = sim.claims.clinician
    n = len(sim.clinicians)
    count = np.bincount(clin, minlength=n)
    busy = count >= 100
    info = np.bincount(clin, weights=sim.outcome.hazard[:, C["missing_information"]], minlength=n) / np.maximum(
        count, 1
    )
    late = np.bincount(clin, weights=sim.outcome.hazard[:, C["timely_filing"]], minlength=n) / np.maximum(count, 1)
    assert np.corrcoef(sim.clinicians.info_error_rate[busy], info[busy])[0, 1] > 0.8
    assert np.corrcoef(sim.clinicians.hold_rate[busy], late[busy])[0, 1] > 0.6
    assert np.quantile(info[busy], 0.9) > 4 * np.quantile(info[busy], 0.1)
    assert np.quantile(late[busy], 0.9) > 4 * max(np.quantile(late[busy], 0.1), 1e-4)


def test_a_lapse_persists_until_the_patient_changes_payer(sim: Simulation) -> None:
    claims, patients = sim.claims, sim.patients
    h = sim.outcome.hazard[:, C["eligibility"]]
    home = claims.product == patients.home[claims.patient]
    after = claims.service_from >= patients.lapse_day[claims.patient]
    # every claim to the lapsed coverage on or after the lapse has the lapse hazard, and no other claim has any
    assert (h[home & after] == H_LAPSE).all() and (home & after).sum() > 50
    assert (h[~(home & after)] == 0.0).all()
    # once the practice has the new coverage, nothing more goes to the old one
    switched = claims.service_from >= patients.switch_day[claims.patient]
    assert not (switched & home).any()
    assert (claims.product[switched] == patients.new[claims.patient[switched]]).all()


def test_rules_differ_by_plan_within_a_payer(sim: Simulation) -> None:
    products = sim.products
    multi = [p for p in range(len(products.payer_ids)) if (products.payer == p).sum() > 1]
    assert len(multi) >= 3
    for p in multi:
        a, b = np.flatnonzero(products.payer == p)[:2]
        assert products.filing_days[a] != products.filing_days[b]
        assert (products.auth_groups[a] != products.auth_groups[b]).any()
    # in the data: one payer_id, one code, and the authorization requirement depends on the plan
    p = multi[0]
    a, b = np.flatnonzero(products.payer == p)[:2]
    prod = _per_line(sim, sim.claims.product)
    need = sim.lines.auth_needed
    codes_a = set(sim.lines.code[(prod == a) & need].tolist())
    codes_b = set(sim.lines.code[(prod == b) & ~need].tolist())
    assert codes_a & codes_b


def test_the_policy_change_raises_non_coverage_only_after_it_and_only_there(sim: Simulation) -> None:
    policy = sim.policy
    lc = sim.lines.claim
    in_codes = np.isin(sim.lines.code, policy.codes)
    day = sim.claims.service_from[lc]
    prod = sim.claims.product[lc]
    nc = sim.visible.noncovered.astype(float) * 0.92
    before = in_codes & (prod == policy.product) & (day < policy.effective_day)
    after = in_codes & (prod == policy.product) & (day >= policy.effective_day)
    elsewhere = in_codes & (prod != policy.product) & (day >= policy.effective_day)
    assert before.sum() > 20 and after.sum() > 20
    assert nc[after].mean() > 0.9
    assert nc[before].mean() < 0.05 and nc[elsewhere].mean() < 0.05
    h = sim.outcome.hazard[:, C["non_covered"]]
    claim_after = np.bincount(lc, weights=after, minlength=len(sim.claims)) > 0
    claim_before = np.bincount(lc, weights=before, minlength=len(sim.claims)) > 0
    assert h[claim_after].mean() > h[claim_before].mean() + 0.8


def test_recovery_depends_on_payer_codes_amount_and_timing(sim: Simulation) -> None:
    t = sim.followup.truth
    p = t["p_recover_if_worked"]
    d = t["claim"]
    payer = sim.products.payer[sim.claims.product[d]]
    carc = sim.first.carc[d]
    cause = t["cause"]
    # within one cause, payers and CARCs differ
    m = cause == C["medical_necessity"]
    by_payer = [p[m & (payer == k)].mean() for k in np.unique(payer[m]) if (m & (payer == k)).sum() > 30]
    assert max(by_payer) - min(by_payer) > 0.1
    by_carc = [p[m & (carc == k)].mean() for k in np.unique(carc[m]) if (m & (carc == k)).sum() > 30]
    assert max(by_carc) - min(by_carc) > 0.03
    amount = sim.first.denied_amount[d]
    assert np.corrcoef(np.log(np.maximum(amount[m], 1.0)), p[m])[0, 1] > 0.0
    np.testing.assert_array_less(t["expected_recovered_amount"] - 0.01, amount * 1.0 + 0.01)


@pytest.fixture(scope="module")
def modifier_sim() -> Simulation:
    return simulate(claims=40_000, months=24, seed=9, policy_change="requires_modifier")


def test_a_required_modifier_denies_bare_policy_lines_for_coding_after_it_and_only_there(
    modifier_sim: Simulation,
) -> None:
    sim, policy = modifier_sim, modifier_sim.policy
    assert policy.kind == "requires_modifier"
    lc = sim.lines.claim
    day = sim.claims.service_from[lc]
    mine = np.isin(sim.lines.code, policy.codes) & (sim.claims.product[lc] == policy.product)
    after, before = mine & (day >= policy.effective_day), mine & (day < policy.effective_day)
    with_it = sim.lines.modifier == POLICY_MODIFIER
    missing = sim.visible.modifier_missing
    assert missing[after & ~with_it].all() and not missing[~after | with_it].any()
    assert not with_it[before].any() and with_it[after].any()  # nobody adds it before the change
    # the practice learns: later lines of the policy carry the modifier more often than the first month's
    months = (sim.claims.submitted[lc] - policy.effective_day) // 30
    assert with_it[after & (months <= 0)].mean() < 0.1 < 0.5 < with_it[after & (months >= 8)].mean()
    # a bare policy line's claim is denied for coding far more often than the policy's other claims
    n = len(sim.claims)
    bare = np.bincount(lc, weights=after & ~with_it, minlength=n) > 0
    others = (np.bincount(lc, weights=mine, minlength=n) > 0) & ~bare
    coding = sim.outcome.denied & (sim.outcome.cause == C["coding"])
    assert bare.sum() > 100 and coding[bare].mean() > 0.8 and coding[others].mean() < 0.1
    # nothing is withdrawn: the policy's lines are non-covered exactly where the product never covered them
    assert (sim.visible.noncovered[after] == sim.products.noncovered[policy.product, sim.lines.code[after]]).all()
    # the payer denies the bare lines themselves (line-level CAS), not the whole claim's other lines
    denied_lines = sim.outcome.line_fired & (sim.outcome.cause[lc] == C["coding"])
    assert denied_lines[after & ~with_it].mean() > 0.8 and not denied_lines[with_it].any()
