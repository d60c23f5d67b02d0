"""Probability calibration fitted on a later time slice than the booster learned from.

A billing team sets a review threshold in probability terms ("review above 40%"), so the scores must
mean what they say. Isotonic and Platt scaling are both tried; the one with the lower expected
calibration error on held-out halves of the calibration slice wins. State is plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_EPS = 1e-6
_TIE_BREAK = 1e-6


def expected_calibration_error(p: np.ndarray, y: np.ndarray, *, bins: int = 15) -> float:
    """Equal-mass bins: the weighted mean |observed rate - mean score| (robust for rare positives)."""
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, min(bins, len(p)))
    return float(sum(len(c) * abs(y[c].mean() - p[c].mean()) for c in chunks if len(c)) / len(p))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    method: Literal["isotonic", "platt", "none"] = "none"
    x: list[float] = field(default_factory=list)  # isotonic knots
    y: list[float] = field(default_factory=list)
    a: float = 1.0  # platt: sigmoid(a * logit(p) + b)
    b: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)  # held-out ECE per method, for the model card

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            # Isotonic steps tie many claims; a negligible slope inside each step keeps the raw ranking,
            # so a review list and the ROC curve are not decided by tie order.
            return np.clip(np.interp(p, self.x, self.y) + _TIE_BREAK * p, 0.0, 1.0)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))
        return p

    def to_state(self) -> dict[str, Any]:
        return {"method": self.method, "x": self.x, "y": self.y, "a": self.a, "b": self.b, "scores": self.scores}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Calibrator:
        return cls(**state)


def _fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibrator:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def _fit_platt(p: np.ndarray, y: np.ndarray) -> Calibrator:
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p).reshape(-1, 1), y)
    return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def fit_calibrator(p: np.ndarray, y: np.ndarray, *, method: str = "auto") -> Calibrator:
    """Fit on (raw score, outcome) of the calibration slice; 'auto' picks by held-out ECE.

    The slice is split in two by position (callers pass it in time order): each method is fitted on
    one half and scored on the other, both ways, and the lower mean ECE wins; the winner is then refit
    on the whole slice.
    """
    y = np.asarray(y, dtype=float)
    fitters = {"isotonic": _fit_isotonic, "platt": _fit_platt}
    if method != "auto":
        return fitters[method](p, y)
    half = len(p) // 2
    parts = [(slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))]
    scores = {
        name: float(np.mean([expected_calibration_error(fit(p[a], y[a])(p[b]), y[b]) for a, b in parts]))
        for name, fit in fitters.items()
    }
    best = min(scores, key=lambda k: (scores[k], k))
    chosen = fitters[best](p, y)
    chosen.scores = scores
    return chosen
