"""Denial causes as independent hazards, the realized denial events, and the knowable oracle.

Mechanism. Each root cause c has a claim-level hazard (one per claim) and, for the causes payers judge per
service line (authorization, non-covered, medical necessity), a hazard per line. Each hazard depends on
visible fields and on AT MOST ONE hidden Bernoulli flag of known probability:

- eligibility: the patient's coverage with this product had lapsed on the service date -> ``H_LAPSE``;
- coordination_of_benefits: hidden ``cob_wrong`` (claims with a secondary payer) -> ``H_COB``;
- duplicate: the claim re-sends an earlier one -> ``H_DUPLICATE``;
- timely_filing: submitted - service_to > the product's filing limit -> ``H_LATE``;
- missing_information: hidden ``info_error`` (the clinician's rate) -> ``H_INFO``;
- coding: hidden ``code_error`` (the clinician's rate) -> ``H_CODE``;
- other: a flat ``H_OTHER``;
- authorization, per line: the product's true list needs it and none was obtained -> ``H_AUTH_MISSING``, or
  one was obtained and hidden ``auth_mismatch`` -> ``H_AUTH_MISMATCH`` (the two exclude each other);
- non_covered, per line: the code's group is excluded by the product, or the policy change applies ->
  ``H_NONCOVERED``;
- medical_necessity, per line: the pointed diagnosis is not on the code's LCD list -> the product's strictness.

Events. Each claim-level part fires with its hazard, each line part with its own, all independently; cause
c fires if any of its parts does, so P(c fires) = H_c = 1 - (1 - claim_h_c) * prod_lines (1 - line_h_c),
and the claim is denied if any cause fires: p_denial = 1 - prod_c (1 - H_c) exactly. The reported cause is
the first fired cause in ``PRIORITY`` (payers run front-end edits - coverage, payer order, duplicates,
filing limit, required fields - before coding and clinical review).

Oracle. ``p_denial`` (clairvoyant) uses the realized flags and the patient's lapse. ``p_denial_knowable``
replaces every hidden flag by its probability; because each H_c depends on independent flags only,
E[prod_c (1 - H_c)] = prod_c E[1 - H_c] and each factor is closed-form (lines are independent too). For
eligibility see ``eligibility_knowable``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.codes import CATEGORIES
from synthetic.scrambled.catalog import Catalog
from synthetic.scrambled.claims import AUTH_MISMATCH_RATE, POLICY_MODIFIER, Claims, Lines
from synthetic.scrambled.market import PolicyChange, Products
from synthetic.scrambled.people import Clinicians

CAUSES: tuple[str, ...] = CATEGORIES
C = {name: i for i, name in enumerate(CAUSES)}
LINE_CAUSES: tuple[int, ...] = (C["authorization"], C["non_covered"], C["medical_necessity"])
# causes with a per-line part: the line causes, and coding when a policy requires a modifier (a line lacking it
# is denied on its own; every other coding denial is the claim's)
LINE_PARTS: tuple[int, ...] = (*LINE_CAUSES, C["coding"])
PRIORITY: tuple[int, ...] = tuple(
    C[c]
    for c in (
        "eligibility",
        "coordination_of_benefits",
        "duplicate",
        "timely_filing",
        "missing_information",
        "coding",
        "authorization",
        "non_covered",
        "medical_necessity",
        "other",
    )
)
H_LAPSE = 0.95
H_COB = 0.85
H_DUPLICATE = 0.90
H_LATE = 0.95
H_INFO = 0.85
H_CODE = 0.80
H_OTHER = 0.004
H_AUTH_MISSING = 0.90
H_AUTH_MISMATCH = 0.75
H_NONCOVERED = 0.92
H_MODIFIER = 0.90  # a line of a policy code without the modifier the policy now requires


@dataclass(frozen=True)
class Visible:
    """What the claim's fields (and the payer's true rules) decide, per claim and per line."""

    late: np.ndarray
    auth_missing: np.ndarray  # per line
    auth_obtained: np.ndarray  # per line: needed and obtained (exposed to a mismatch)
    noncovered: np.ndarray  # per line (a withdrawal policy change included)
    policy: np.ndarray  # per line: the policy change applies (its product, one of its codes, from its day)
    modifier_missing: np.ndarray  # per line: the policy requires a modifier the line does not carry
    off_list: np.ndarray  # per line: pointed diagnosis not on the code's LCD list
    strictness: np.ndarray  # per line: the product's medical-necessity strictness


def visible_parts(
    claims: Claims, lines: Lines, *, catalog: Catalog, products: Products, policy: PolicyChange
) -> Visible:
    lc = lines.claim
    product = claims.product[lc]
    pointed = claims.dx[lc, lines.dx_slot]
    policy_line = policy.applies(product=product, code=lines.code, service_day=claims.service_from[lc])
    withdrawn = policy_line if policy.kind == "stops_covering" else np.zeros(len(lc), dtype=bool)
    needs_modifier = policy_line if policy.kind == "requires_modifier" else np.zeros(len(lc), dtype=bool)
    return Visible(
        late=(claims.submitted - claims.service_to) > products.filing_days[claims.product],
        auth_missing=lines.auth_needed & ~claims.has_auth[lc],
        auth_obtained=lines.auth_needed & claims.has_auth[lc],
        noncovered=products.noncovered[product, lines.code] | withdrawn,
        policy=policy_line,
        modifier_missing=needs_modifier & (lines.modifier != POLICY_MODIFIER),
        off_list=~catalog.supports(lines.code, pointed),
        strictness=products.necessity_strictness[product],
    )


def claim_hazards(claims: Claims, visible: Visible) -> np.ndarray:
    """[claims, causes] claim-level hazards from the realized flags (line causes are 0 here)."""
    h = np.zeros((len(claims), len(CAUSES)))
    h[:, C["eligibility"]] = claims.lapsed * H_LAPSE
    h[:, C["coordination_of_benefits"]] = claims.cob_wrong * H_COB
    h[:, C["duplicate"]] = (claims.duplicate_of >= 0) * H_DUPLICATE
    h[:, C["timely_filing"]] = visible.late * H_LATE
    h[:, C["missing_information"]] = claims.info_error * H_INFO
    h[:, C["coding"]] = claims.code_error * H_CODE
    h[:, C["other"]] = H_OTHER
    return h


def line_hazards(lines: Lines, visible: Visible) -> np.ndarray:
    """[lines, causes] line-level hazards from the realized flags (claim causes are 0 here)."""
    h = np.zeros((len(lines), len(CAUSES)))
    h[:, C["authorization"]] = visible.auth_missing * H_AUTH_MISSING + lines.auth_mismatch * H_AUTH_MISMATCH
    h[:, C["non_covered"]] = visible.noncovered * H_NONCOVERED
    h[:, C["medical_necessity"]] = visible.off_list * visible.strictness
    h[:, C["coding"]] = visible.modifier_missing * H_MODIFIER
    return h


def combine(claim_h: np.ndarray, line_h: np.ndarray, line_claim: np.ndarray) -> np.ndarray:
    """H_c = 1 - (1 - claim_h_c) * prod over the claim's lines (1 - line_h_c)."""
    n = len(claim_h)
    keep = 1.0 - claim_h
    for c in LINE_PARTS:
        keep[:, c] *= np.exp(np.bincount(line_claim, weights=np.log1p(-line_h[:, c]), minlength=n))
    return 1.0 - keep


@dataclass
class Outcome:
    hazard: np.ndarray  # [claims, causes] clairvoyant per-cause hazard
    p_denial: np.ndarray
    denied: np.ndarray
    cause: np.ndarray  # first fired cause by PRIORITY; argmax hazard when not denied
    line_fired: np.ndarray  # per line: the line's part of the claim's cause fired (line causes only)
    auth_kind_missing: np.ndarray  # per line: an authorization denial is for a missing (not mismatched) auth


def realize(rng: np.random.Generator, *, claims: Claims, lines: Lines, visible: Visible) -> Outcome:
    n, lc = len(claims), lines.claim
    claim_h = claim_hazards(claims, visible)
    line_h = line_hazards(lines, visible)
    hazard = combine(claim_h, line_h, lc)
    fired = rng.random(claim_h.shape) < claim_h
    line_fire = rng.random(line_h.shape) < line_h
    for c in LINE_PARTS:
        fired[:, c] |= np.bincount(lc, weights=line_fire[:, c], minlength=n) > 0
    denied: np.ndarray = np.asarray(fired.any(axis=1))
    ordered = fired[:, list(PRIORITY)]
    first = np.asarray(PRIORITY)[np.argmax(ordered, axis=1)]
    cause = np.where(denied, first, np.argmax(hazard, axis=1))
    line_fired = line_fire[np.arange(len(lc)), cause[lc]] & denied[lc]
    return Outcome(
        hazard=hazard,
        p_denial=1.0 - np.prod(1.0 - hazard, axis=1),
        denied=denied,
        cause=cause,
        line_fired=line_fired,
        auth_kind_missing=visible.auth_missing,
    )


def expected_keep_without_eligibility(
    claims: Claims, lines: Lines, *, visible: Visible, products: Products, clinicians: Clinicians
) -> np.ndarray:
    """E[prod over causes other than eligibility of (1 - H_c)] with the hidden flags integrated out (exact)."""
    n, lc = len(claims), lines.claim
    keep = np.ones(n)
    keep *= 1.0 - (claims.secondary >= 0) * products.cob_error_rate[claims.product] * H_COB
    keep *= 1.0 - (claims.duplicate_of >= 0) * H_DUPLICATE
    keep *= 1.0 - visible.late * H_LATE
    keep *= 1.0 - clinicians.info_error_rate[claims.clinician] * H_INFO
    keep *= 1.0 - clinicians.code_error_rate[claims.clinician] * H_CODE
    keep *= 1.0 - H_OTHER
    line_keep = (
        1.0 - visible.auth_missing * H_AUTH_MISSING - visible.auth_obtained * AUTH_MISMATCH_RATE * H_AUTH_MISMATCH
    )
    line_keep *= 1.0 - visible.noncovered * H_NONCOVERED
    line_keep *= 1.0 - visible.off_list * visible.strictness
    line_keep *= 1.0 - visible.modifier_missing * H_MODIFIER
    return keep * np.exp(np.bincount(lc, weights=np.log(line_keep), minlength=n))


def realized_keep_without_eligibility(claims: Claims, lines: Lines, *, visible: Visible) -> np.ndarray:
    """prod over causes other than eligibility of (1 - H_c) from the realized flags (for Monte-Carlo checks)."""
    hazard = combine(claim_hazards(claims, visible), line_hazards(lines, visible), lines.claim)
    hazard[:, C["eligibility"]] = 0.0
    return np.prod(1.0 - hazard, axis=1)


def eligibility_knowable(
    claims: Claims, *, n_products: int, denied: np.ndarray, cause: np.ndarray, remit_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's eligibility hazard, and whether the lapse was revealed, per claim.

    A lapse is *revealed* for claim i when an earlier-adjudicated claim r of the same patient to the same
    product (payer_id x plan_type) had an eligibility denial on its first remit dated strictly before i's
    submitted_at, and i's service date is on or after r's: eligibility denials come only from lapses and a
    lapse persists, so claim i is then certainly lapsed (hazard ``H_LAPSE``). Otherwise the oracle uses the
    population hazard of its cell: the mean true eligibility hazard over the not-revealed claims with the
    same product and the same eligibility_verified value (0 for verified claims: a verified claim never goes
    to a lapsed coverage). This is a defined reference, not the Bayes posterior: it ignores what else a
    patient's history says (e.g. months without a claim).
    """
    n = len(claims)
    group = claims.patient.astype(np.int64) * n_products + claims.product
    shift = np.int64(1 << 22)  # days fit in 22 bits
    reveals = np.flatnonzero(denied & (cause == C["eligibility"]) & (remit_day >= 0))
    revealed = np.zeros(n, dtype=bool)
    if len(reveals):
        key = group[reveals] * shift + remit_day[reveals]
        order = np.argsort(key, kind="stable")
        r_key, r_group = key[order], group[reveals][order]
        prefix_min = pd.Series(claims.service_from[reveals][order]).groupby(r_group).cummin().to_numpy()
        pos = np.searchsorted(r_key, group * shift + claims.submitted, side="left") - 1
        ok = pos >= 0
        same = ok & (r_group[np.maximum(pos, 0)] == group)
        revealed = same & (claims.service_from >= prefix_min[np.maximum(pos, 0)])
    truth = claims.lapsed * H_LAPSE
    cell = claims.product * 2 + claims.verified.astype(np.int64)
    hidden = ~revealed
    sums = np.bincount(cell[hidden], weights=truth[hidden], minlength=2 * n_products)
    counts = np.bincount(cell[hidden], minlength=2 * n_products)
    population = sums / np.maximum(counts, 1)
    return np.where(revealed, H_LAPSE, population[cell]), revealed
