"""The knowable oracle: the exact expected denial probability given what a model could ever learn.

``truth.claims.p_denial`` is computed from the REALIZED hidden flags (stale coverage, wrong payer order,
some other field missing, an auth that does not match the service, a missing attachment). No model sees
those, so its AUC is a clairvoyant ceiling. ``p_denial_knowable`` is the Bayes-optimal score instead: the
hidden flags are replaced by their expectation given the written tables plus entity latents history can
reveal (payer strictness and rules incl. the drift, provider/facility propensities), with the patient's
lapse latent integrated out over its population law (``hidden.expected_p_stale``).

Why this is exact and analytic: the flags are independent across causes, claims and lines, and every
component of ``hazards.hazard_components`` (a max over parts, then the CAP) depends on at most ONE hidden
flag: eligibility on ``stale``, COB on ``cob_wrong``, claim-level missing information on
``generic_missing``, line-level authorization on ``auth_mismatch`` (its other part, auth missing, is
mutually exclusive with it: it needs the auth NOT obtained) and line-level missing information on
``attach_missing``. So evaluating the very same component code once with every flag False (h0) and once
with every flag True (h1) gives, per component with flag probability q,
E[1 - h] = (1 - q) (1 - h0) + q (1 - h1) — the max-then-CAP of each case, kept exact — and
E[1 - p] = prod over claim components and line components of those factors. No random draws are made.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from synthetic.books import ClaimBook, LineBook
from synthetic.claims import World0
from synthetic.entities import PLAN
from synthetic.hazards import CAUSES, C, combine, hazard_components, p_denial_of
from synthetic.hidden import (
    AUTH_MISMATCH_RATE,
    LAPSE_SHAPE,
    expected_p_stale,
    p_cob_wrong,
    p_generic_missing,
    p_stale,
    season_factor,
)

_CLAIM_FLAGS = ("stale", "cob_wrong", "generic_missing")
_LINE_FLAGS = ("auth_mismatch", "attach_missing")


def _season(claims: ClaimBook, world: World0) -> np.ndarray:
    tl = world.timeline
    return season_factor(tl.calendar_month[tl.month_index(claims.service_from)])


def _components(claims: ClaimBook, lines: LineBook, world: World0) -> tuple[np.ndarray, np.ndarray]:
    claim_h, _, line_h, _ = hazard_components(
        claims=claims,
        lines=lines,
        payers=world.payers,
        providers=world.providers,
        facilities=world.facilities,
        procedures=world.procedures,
    )
    return claim_h, line_h


def _with_flags(claims: ClaimBook, lines: LineBook, value: bool) -> tuple[ClaimBook, LineBook]:
    c = replace(claims, **{f: np.full(len(claims), value) for f in _CLAIM_FLAGS})
    ln = replace(lines, **{f: np.full(len(lines), value) for f in _LINE_FLAGS})
    return c, ln


def flag_probabilities(claims: ClaimBook, lines: LineBook, world: World0) -> tuple[np.ndarray, np.ndarray]:
    """P(hidden flag) per claim and per line, placed in the column of the cause component it feeds."""
    n = len(claims)
    l_prov = claims.provider[lines.claim]
    medicare_primary = np.isin(world.payers.plan[claims.payer], [PLAN["medicare"], PLAN["medicare_advantage"]])
    q_claim = np.zeros((n, len(CAUSES)))
    q_claim[:, C["eligibility"]] = expected_p_stale(_season(claims, world))
    q_claim[:, C["coordination_of_benefits"]] = np.where(
        claims.secondary >= 0,
        np.clip(p_cob_wrong(world.facilities.p_cob_error[claims.facility], medicare_primary), 0.0, 1.0),
        0.0,
    )
    q_claim[:, C["missing_information"]] = np.clip(
        p_generic_missing(world.providers.propensity[claims.provider]), 0.0, 1.0
    )
    q_line = np.zeros((len(lines), len(CAUSES)))
    q_line[:, C["authorization"]] = np.where(lines.auth_true & lines.auth_obtained, AUTH_MISMATCH_RATE, 0.0)
    q_line[:, C["missing_information"]] = np.where(
        world.procedures.needs_attachment[lines.code],
        1.0 - np.clip(world.providers.attach_diligence[l_prov], 0, 1),
        0.0,
    )
    return q_claim, q_line


def p_denial_knowable(claims: ClaimBook, lines: LineBook, world: World0) -> np.ndarray:
    """E[p_denial | observables, entity latents], hidden flags and the patient lapse latent integrated out."""
    q_claim, q_line = flag_probabilities(claims, lines, world)
    claim0, line0 = _components(*_with_flags(claims, lines, False), world)
    claim1, line1 = _components(*_with_flags(claims, lines, True), world)
    keep_claim = (1.0 - q_claim) * (1.0 - claim0) + q_claim * (1.0 - claim1)
    keep_line = (1.0 - q_line) * (1.0 - line0) + q_line * (1.0 - line1)
    log_keep = np.log(keep_claim).sum(axis=1) + np.bincount(
        lines.claim, weights=np.log(keep_line).sum(axis=1), minlength=len(claims)
    )
    return -np.expm1(log_keep)


def redraw_hidden(
    rng: np.random.Generator, claims: ClaimBook, lines: LineBook, world: World0
) -> tuple[ClaimBook, LineBook]:
    """Fresh hidden flags (and a fresh patient lapse latent per claim) drawn as the claim stage draws them.

    For checking the oracle by simulation: everything observable and every entity latent stays as is.
    """
    n, n_lines = len(claims), len(lines)
    lapse = rng.gamma(LAPSE_SHAPE, 1 / LAPSE_SHAPE, n)
    stale = rng.random(n) < p_stale(lapse, _season(claims, world))
    medicare_primary = np.isin(world.payers.plan[claims.payer], [PLAN["medicare"], PLAN["medicare_advantage"]])
    cob_wrong = (claims.secondary >= 0) & (
        rng.random(n) < p_cob_wrong(world.facilities.p_cob_error[claims.facility], medicare_primary)
    )
    generic = rng.random(n) < p_generic_missing(world.providers.propensity[claims.provider])
    mismatch = lines.auth_obtained & (rng.random(n_lines) < AUTH_MISMATCH_RATE)
    attach = world.procedures.needs_attachment[lines.code] & (
        rng.random(n_lines) >= world.providers.attach_diligence[claims.provider[lines.claim]]
    )
    return (
        replace(claims, stale=stale, cob_wrong=cob_wrong, generic_missing=generic),
        replace(lines, auth_mismatch=mismatch, attach_missing=attach),
    )


def realized_p_denial(claims: ClaimBook, lines: LineBook, world: World0) -> np.ndarray:
    """p_denial from the books' own (realized) hidden flags: the generator's code path."""
    claim_h, line_h = _components(claims, lines, world)
    return p_denial_of(combine(claim_h, line_h, lines.claim))


def rank_auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; NaN without both classes."""
    label = np.asarray(label, dtype=bool)
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # average 1-based rank per tie group
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
