"""One vocabulary for the numbers that judge a probability score against outcomes.

Training's evaluation, the champion/challenger gate, the monitor's calibration by month and the backtest
all describe (outcomes y, probabilities p) with the same numbers; they use these names, and
`standard_metrics` computes the shared set, so a column means one thing in every table, CSV and MLflow
run and can be compared across them. Extras that one module computes (recall at 80% precision and
top-decile lift in evaluation, the gate's ECE noise allowance, ...) stay there and are named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.calibration import expected_calibration_error

ROWS: Final = "rows"
POSITIVES: Final = "positives"
RATE: Final = "rate"
MEAN_P: Final = "mean_p"
ROC_AUC: Final = "roc_auc"
PR_AUC: Final = "pr_auc"
BRIER: Final = "brier"
ECE: Final = "ece"
# computed where they are needed, named here
RECALL_AT_80_PRECISION: Final = "recall_at_80_precision"
RECALL_AT_95_PRECISION: Final = "recall_at_95_precision"
LIFT_TOP_DECILE: Final = "lift_top_decile"
ROC_AUC_REWEIGHTED: Final = "roc_auc_reweighted"
ECE_NOISE_Q95: Final = "ece_noise_q95"
GAP: Final = "gap"
HEAD_RECALL: Final = "head_recall"
CATEGORY_HEAD_ACCURACY: Final = "category_head_accuracy"
CATEGORY_TOP3_ACCURACY: Final = "category_top3_accuracy"
WORKED_SHARE: Final = "worked_share"

MEANING: Final[Mapping[str, str]] = {
    ROWS: "rows judged (claims for denial risk, worked denials for recovery)",
    POSITIVES: "rows whose outcome happened (denied, recovered)",
    RATE: "observed share of positives (positives / rows)",
    MEAN_P: "mean predicted probability (calibrated in the large when it matches rate)",
    ROC_AUC: "ROC AUC, the chance a random positive outranks a random negative (NaN with one class)",
    PR_AUC: "PR AUC as average precision (NaN with one class)",
    BRIER: "Brier score, the mean squared error of the probability",
    ECE: "expected calibration error over 15 equal-mass bins of p",
    RECALL_AT_80_PRECISION: "share of positives caught at the loosest threshold with precision >= 80%",
    RECALL_AT_95_PRECISION: "share of positives caught at the loosest threshold with precision >= 95% (Deep Claim)",
    LIFT_TOP_DECILE: "rate among the 10% highest-scored rows over rate overall",
    ROC_AUC_REWEIGHTED: "ROC AUC with worked denials weighted by 1 / P(worked), as if judged on all denials",
    ECE_NOISE_Q95: "95th percentile of the ECE a perfectly calibrated model shows on the same rows",
    GAP: "mean_p - rate (above zero the model over-predicts)",
    HEAD_RECALL: "share of one root cause's denials the category head names as that cause",
    CATEGORY_HEAD_ACCURACY: "share of denied claims whose cause the category head names right (top-1)",
    CATEGORY_TOP3_ACCURACY: "share of denied claims whose cause is among the category head's three likeliest",
    WORKED_SHARE: "share of the evaluated denials the team worked (the rest have no outcome)",
}

# the set every table built from (y, p) carries, in this order
STANDARD: Final = (ROWS, POSITIVES, RATE, MEAN_P, ROC_AUC, PR_AUC, BRIER, ECE)


def standard_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The STANDARD metrics of probabilities `p` for 0/1 outcomes `y`. Ranking metrics need both outcomes
    and are NaN otherwise; the rest are NaN only without rows."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p)
    if p.dtype.kind != "f":  # a float32 score (a feature as a baseline) is judged in its own precision
        p = p.astype(float)
    n = len(y)
    both = len(np.unique(y)) == 2
    nan = float("nan")
    return {
        ROWS: n,
        POSITIVES: int(y.sum()),
        RATE: float(y.mean()) if n else nan,
        MEAN_P: float(p.mean()) if n else nan,
        ROC_AUC: float(roc_auc_score(y, p)) if both else nan,
        PR_AUC: float(average_precision_score(y, p)) if both else nan,
        BRIER: float(brier_score_loss(y, p)) if n else nan,
        ECE: expected_calibration_error(p, y) if n else nan,
    }


def describe(names: Iterable[str]) -> str:
    """A legend line for a table showing these columns: `name: meaning; ...`."""
    return "; ".join(f"{name}: {MEANING[name]}" for name in names)
