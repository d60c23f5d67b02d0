"""The champion/challenger gate: a new model serves only if it is not worse than the one serving.

Judged on the same evaluation rows for both (the latest months whose outcomes are known), with
tolerances because two good models differ by noise: a challenger may trail by `auc_tolerance` and still
win on freshness. Calibration has a tolerance and a ceiling: the queue spends staff minutes on
probabilities, so a model whose probabilities are off is refused even when it ranks well. Every check
says what it compared and the verdict, so the MLflow run and the terminal explain the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.calibration import expected_calibration_error
from training.metrics import ECE, ECE_NOISE_Q95, ROC_AUC, standard_metrics


@dataclass(frozen=True)
class GateSettings:
    auc_tolerance: float = 0.005  # the challenger's AUC may trail the champion's by at most this
    ece_tolerance: float = 0.01  # its ECE may exceed the champion's by at most this ...
    ece_ceiling: float = 0.05  # ... and never this
    min_rows: int = 200  # evaluation rows needed to judge at all
    noise_draws: int = 200  # ECE of a perfectly calibrated model on these rows: the allowance below which
    # a calibration difference is noise (a few hundred worked denials give an ECE of ~0.05 by chance alone)


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: tuple[tuple[str, bool, str], ...]  # (check, passed, what was compared)
    challenger: Mapping[str, float] = field(default_factory=dict)
    champion: Mapping[str, float] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f"{'ok' if ok else 'FAILED'} {name}: {text}" for name, ok, text in self.checks]


def calibration_noise(p: np.ndarray, *, draws: int, seed: int = 0) -> float:
    """95th percentile of the ECE a perfectly calibrated model would show on these rows: outcomes drawn as
    Bernoulli(p) `draws` times. Small evaluation sets get a larger allowance, large ones almost none."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if len(p) == 0 or draws <= 0:
        return 0.0
    rng = np.random.default_rng(seed)
    values = [expected_calibration_error(p, (rng.random(len(p)) < p).astype(float)) for _ in range(draws)]
    return float(np.quantile(values, 0.95))


def judge(
    *,
    y: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray | None,
    extra_checks: Mapping[str, tuple[bool, str]] | None = None,
    settings: GateSettings = GateSettings(),
) -> GateDecision:
    """Promote iff every check passes. With no champion, only the data, calibration-ceiling and extra checks
    apply (something must serve)."""
    y = np.asarray(y, dtype=float)
    p_challenger = np.asarray(p_challenger, dtype=float)
    finite = bool(np.isfinite(p_challenger).all())
    # a broken challenger is refused by the "predictions" check below, not by a metric raising on a NaN
    judged = p_challenger if finite else np.nan_to_num(p_challenger, nan=0.5, posinf=1.0, neginf=0.0)
    challenger = standard_metrics(y, judged)
    checks: list[tuple[str, bool, str]] = []
    enough = len(y) >= settings.min_rows and len(np.unique(y)) == 2
    checks.append(("data", enough, f"{len(y):,} evaluation rows with both outcomes (need {settings.min_rows:,})"))
    checks.append(("predictions", finite, "every challenger probability is a finite number"))
    for name, (ok, text) in (extra_checks or {}).items():
        checks.append((name, bool(ok), text))
    ece = challenger[ECE]
    noise = calibration_noise(p_challenger, draws=settings.noise_draws) if finite else 0.0
    challenger[ECE_NOISE_Q95] = noise
    ceiling = max(settings.ece_ceiling, noise)
    checks.append(
        (
            "calibration ceiling",
            bool(ece <= ceiling),
            f"challenger ECE {ece:.4f} <= {ceiling:.4f} (the larger of {settings.ece_ceiling} and the 95th "
            f"percentile {noise:.4f} of a perfectly calibrated model on these rows)",
        )
    )
    champion: dict[str, float] = {}
    if p_champion is not None:
        champion = standard_metrics(y, p_champion)
        drop = champion[ROC_AUC] - challenger[ROC_AUC]
        checks.append(
            (
                "AUC",
                bool(enough and drop <= settings.auc_tolerance),
                f"challenger {challenger[ROC_AUC]:.4f} vs champion {champion[ROC_AUC]:.4f} "
                f"(may trail by {settings.auc_tolerance})",
            )
        )
        rise = ece - champion[ECE]
        allowed = max(settings.ece_tolerance, noise)
        checks.append(
            (
                "calibration",
                bool(rise <= allowed),
                f"challenger ECE {ece:.4f} vs champion {champion[ECE]:.4f} (may exceed by {allowed:.4f})",
            )
        )
    return GateDecision(
        promote=all(ok for _, ok, _ in checks), checks=tuple(checks), challenger=challenger, champion=champion
    )
