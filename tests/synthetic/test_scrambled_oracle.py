"""The scrambled world's knowable oracle: exact where the mechanism allows, and ranked between naive and clairvoyant."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthetic.knowable import rank_auc
from synthetic.scrambled import Simulation, simulate
from synthetic.scrambled.claims import AUTH_MISMATCH_RATE, Claims, Lines
from synthetic.scrambled.hazards import (
    H_LAPSE,
    C,
    expected_keep_without_eligibility,
    realize,
    realized_keep_without_eligibility,
)


@pytest.fixture(scope="module", params=["stops_covering", "requires_modifier"])
def tiny(request: pytest.FixtureRequest) -> Simulation:
    """Both kinds of policy change: a required modifier adds a per-line coding hazard the oracle must carry."""
    return simulate(claims=1_500, months=12, seed=21, policy_change=request.param)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(claims=40_000, months=24, seed=4)


def _redraw(rng: np.random.Generator, sim: Simulation) -> tuple[Claims, Lines]:
    """The hidden flags drawn again with the generator's probabilities, every visible field kept."""
    claims, lines, products, clinicians = sim.claims, sim.lines, sim.products, sim.clinicians
    n, n_lines = len(claims), len(lines)
    new_claims = replace(
        claims,
        cob_wrong=(claims.secondary >= 0) & (rng.random(n) < products.cob_error_rate[claims.product]),
        info_error=rng.random(n) < clinicians.info_error_rate[claims.clinician],
        code_error=rng.random(n) < clinicians.code_error_rate[claims.clinician],
    )
    exposed = lines.auth_needed & claims.has_auth[lines.claim]
    new_lines = replace(lines, auth_mismatch=exposed & (rng.random(n_lines) < AUTH_MISMATCH_RATE))
    return new_claims, new_lines


def test_oracle_equals_a_literal_monte_carlo_over_the_hidden_flags(tiny: Simulation) -> None:
    rng = np.random.default_rng(0)
    draws = 4_000
    total = np.zeros(len(tiny.claims))
    for _ in range(draws):
        claims, lines = _redraw(rng, tiny)
        total += realized_keep_without_eligibility(claims, lines, visible=tiny.visible)
    mc = total / draws
    exact = expected_keep_without_eligibility(
        tiny.claims, tiny.lines, visible=tiny.visible, products=tiny.products, clinicians=tiny.clinicians
    )
    assert np.abs(mc - exact).max() < 0.03  # 4,000 draws: standard error at most 0.008
    assert np.abs(mc - exact).mean() < 0.003


def test_oracle_reads_no_hidden_flag(tiny: Simulation) -> None:
    claims, lines = _redraw(np.random.default_rng(1), tiny)
    again = expected_keep_without_eligibility(
        claims, lines, visible=tiny.visible, products=tiny.products, clinicians=tiny.clinicians
    )
    exact = expected_keep_without_eligibility(
        tiny.claims, tiny.lines, visible=tiny.visible, products=tiny.products, clinicians=tiny.clinicians
    )
    np.testing.assert_array_equal(again, exact)


def test_a_revealed_lapse_is_a_real_one_and_unrevealed_cells_are_calibrated(sim: Simulation) -> None:
    revealed = sim.revealed
    assert revealed.sum() > 20
    assert sim.claims.lapsed[revealed].all()
    assert (sim.h_eligibility_knowable[revealed] == H_LAPSE).all()
    assert (sim.h_eligibility_knowable[sim.claims.verified] == 0.0).all()
    h = sim.outcome.hazard[:, C["eligibility"]]
    np.testing.assert_allclose(sim.h_eligibility_knowable.mean(), h.mean(), rtol=1e-9)


def test_realized_denials_follow_the_hazards_and_the_oracle_is_calibrated(sim: Simulation) -> None:
    denied = sim.outcome.denied
    se = np.sqrt(denied.mean() * (1 - denied.mean()) / len(denied))
    assert abs(denied.mean() - sim.outcome.p_denial.mean()) < 4 * se
    assert abs(denied.mean() - sim.knowable.mean()) < 4 * se + 0.003


def test_knowable_auc_lies_between_a_naive_rate_and_the_clairvoyant(sim: Simulation) -> None:
    denied = sim.outcome.denied
    product = sim.claims.product
    naive = (np.bincount(product, weights=denied, minlength=len(sim.products)) / np.bincount(product))[product]
    auc_naive = rank_auc(naive, denied)
    auc_knowable = rank_auc(sim.knowable, denied)
    auc_clairvoyant = rank_auc(sim.outcome.p_denial, denied)
    assert auc_naive + 0.1 < auc_knowable < auc_clairvoyant - 0.02


def test_oracle_given_the_lapse_equals_the_frequency_of_literal_denials(tiny: Simulation) -> None:
    """The whole draw again (hidden flags, then every hazard's event) with the patients' lapses fixed: the
    denial frequency matches 1 - (1 - lapse hazard) * E[keep] claim by claim."""
    rng = np.random.default_rng(2)
    draws = 3_000
    hits = np.zeros(len(tiny.claims))
    for _ in range(draws):
        claims, lines = _redraw(rng, tiny)
        hits += realize(rng, claims=claims, lines=lines, visible=tiny.visible).denied
    keep = expected_keep_without_eligibility(
        tiny.claims, tiny.lines, visible=tiny.visible, products=tiny.products, clinicians=tiny.clinicians
    )
    p = 1.0 - (1.0 - tiny.claims.lapsed * H_LAPSE) * keep
    err = hits / draws - p
    assert np.abs(err).max() < 0.04  # 3,000 draws: standard error at most 0.009 per claim
    assert abs(err.mean()) < 0.002


def test_the_oracle_knows_the_payer_rules_and_the_policy_change(sim: Simulation) -> None:
    lc = sim.lines.claim
    after = np.bincount(lc, weights=sim.visible.policy, minlength=len(sim.claims)) > 0
    assert after.sum() > 50
    assert (sim.knowable[after] >= 0.92).all()
    auth_missing = np.bincount(lc, weights=sim.visible.auth_missing, minlength=len(sim.claims)) > 0
    assert (sim.knowable[auth_missing] >= 0.9).all()
