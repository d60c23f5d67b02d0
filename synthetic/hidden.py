"""Probabilities of the hidden per-claim and per-line flags, shared by the generator and the knowable oracle.

The claim stage draws each hidden flag (stale coverage, wrong payer order, some other field missing, an
auth that does not match, a missing attachment) as a Bernoulli with the probabilities defined here, and
``knowable.py`` replaces each flag by that same probability. Keeping the one definition in this module is
what keeps the oracle exact when someone retunes the generator.

The patient's ``lapse_propensity`` is a latent no model sees (no patient-history features), so the oracle
integrates it out over its population law, Gamma(shape=LAPSE_SHAPE, scale=1/LAPSE_SHAPE) (mean 1), drawn
independently of plan, payer and everything else in the data. ``expected_p_stale`` does that in closed form
with the regularized incomplete gamma function, deterministic and free of random draws.
"""

from __future__ import annotations

import math

import numpy as np

LAPSE_SHAPE = 0.6  # patients' lapse_propensity ~ Gamma(LAPSE_SHAPE, 1 / LAPSE_SHAPE)
STALE_BASE = 0.035  # P(stale) per unit of lapse propensity and season factor
STALE_MAX = 0.9
COB_MEDICARE_FACTOR = 1.8  # wrong payer order is likelier when Medicare is primary
GENERIC_MISSING_RATE = 0.002  # times the provider's propensity
AUTH_MISMATCH_RATE = 0.05  # of obtained authorizations


def season_factor(cal_month: np.ndarray) -> np.ndarray:
    """Coverage changes at the turn of the year: January and February see more stale payers on file."""
    return np.select([cal_month == 1, cal_month == 2], [3.5, 1.6], 1.0)


def p_stale(lapse: np.ndarray, season: np.ndarray) -> np.ndarray:
    return np.minimum(STALE_BASE * lapse * season, STALE_MAX)


def p_cob_wrong(p_cob_error: np.ndarray, medicare_primary: np.ndarray) -> np.ndarray:
    """Threshold for the wrong-order draw (claims with a secondary payer only; may exceed 1 in principle)."""
    return p_cob_error * np.where(medicare_primary, COB_MEDICARE_FACTOR, 1.0)


def p_generic_missing(provider_propensity: np.ndarray) -> np.ndarray:
    return GENERIC_MISSING_RATE * provider_propensity


def _gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its power series (converges for all x > 0)."""
    if x <= 0.0:
        return 0.0
    term = 1.0 / a
    total = term
    n = 0
    while term > total * 1e-17:
        n += 1
        term *= x / (a + n)
        total += term
    return min(total * math.exp(a * math.log(x) - x - math.lgamma(a)), 1.0)


def expected_p_stale(season: np.ndarray) -> np.ndarray:
    """E_L[min(STALE_BASE * L * s, STALE_MAX)] for L ~ Gamma(k, 1/k), per season factor s.

    With c = STALE_BASE * s and t = STALE_MAX / c: E = c * E[L; L < t] + STALE_MAX * P(L >= t), and for a
    Gamma(k, scale theta) E[L; L < t] = k * theta * P(k + 1, t / theta) with k * theta = 1.
    """
    season = np.asarray(season, dtype=np.float64)
    values, inverse = np.unique(season, return_inverse=True)
    k, theta = LAPSE_SHAPE, 1.0 / LAPSE_SHAPE
    out = np.empty(len(values))
    for i, s in enumerate(values.tolist()):
        c = STALE_BASE * s
        x = STALE_MAX / c / theta
        out[i] = c * k * theta * _gamma_p(k + 1.0, x) + STALE_MAX * (1.0 - _gamma_p(k, x))
    return out[inverse.reshape(season.shape)]
