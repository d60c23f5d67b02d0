"""How good is a denial-risk score, in the terms a billing team and an ML reviewer both need.

Ranking (ROC AUC, PR AUC, lift in the top decile, recall at 80% precision), probability quality
(Brier, expected calibration error), the same by payer and by category, and the two baselines any
model must beat: the payer x procedure historical rate alone, and a logistic regression. Column names
are the shared vocabulary of training/metrics.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.contract.codes import CATEGORIES
from features.denial_features import CATEGORICAL, FEATURE_NAMES
from models.calibration import expected_calibration_error
from training.metrics import (
    CATEGORY_HEAD_ACCURACY,
    CATEGORY_TOP3_ACCURACY,
    LIFT_TOP_DECILE,
    POSITIVES,
    RECALL_AT_80_PRECISION,
    RECALL_AT_95_PRECISION,
    ROWS,
    standard_metrics,
)


def recall_at_precision(y: np.ndarray, p: np.ndarray, *, precision: float) -> float:
    prec, rec, _ = precision_recall_curve(y, p)
    ok = prec[:-1] >= precision
    return float(rec[:-1][ok].max()) if ok.any() else 0.0


def lift_top_decile(y: np.ndarray, p: np.ndarray) -> float:
    k = max(1, len(p) // 10)
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The standard metrics (training/metrics.py) plus the two a review queue is planned with."""
    m = standard_metrics(y, p)
    both = 0 < m[POSITIVES] < m[ROWS]
    y = np.asarray(y, dtype=float)
    m[RECALL_AT_80_PRECISION] = recall_at_precision(y, p, precision=0.8) if both else float("nan")
    m[RECALL_AT_95_PRECISION] = recall_at_precision(y, p, precision=0.95) if both else float("nan")
    m[LIFT_TOP_DECILE] = lift_top_decile(y, p) if both else float("nan")
    return m


def metrics_by(groups: pd.Series, y: np.ndarray, p: np.ndarray, *, top: int = 10) -> pd.DataFrame:
    """Per group (the `top` largest by volume): the standard metrics."""
    frame = pd.DataFrame({"group": groups.to_numpy(), "y": y, "p": p})
    sizes = frame["group"].value_counts()
    rows = []
    for g in sizes.index[:top]:
        part = frame[frame["group"] == g]
        rows.append({"group": g, **standard_metrics(part["y"].to_numpy(), part["p"].to_numpy())})
    return pd.DataFrame(rows)


def category_accuracy(category: np.ndarray, denied: np.ndarray, cat_probs: np.ndarray) -> dict[str, float]:
    """Top-1 and top-3 accuracy of the category head on the denied claims (`category` the labelled cause, in
    CATEGORIES; `cat_probs` one column per CATEGORIES entry). Ties go to the earlier category, as argmax does."""
    if not denied.any():
        return {}
    probs, truth = cat_probs[denied], pd.Series(category[denied]).map({c: i for i, c in enumerate(CATEGORIES)})
    order = np.argsort(-probs, axis=1, kind="stable")
    known = truth.notna().to_numpy()
    want = truth.fillna(-1).to_numpy(dtype=np.int64)[:, None]
    return {
        CATEGORY_HEAD_ACCURACY: float(((order[:, :1] == want).any(axis=1) & known).mean()),
        CATEGORY_TOP3_ACCURACY: float(((order[:, :3] == want).any(axis=1) & known).mean()),
    }


def category_metrics(category: np.ndarray, denied: np.ndarray, p: np.ndarray, cat_probs: np.ndarray) -> pd.DataFrame:
    """Per root cause: how well p(denial) x P(category | denial) finds that cause's denials, and how
    often the category head names the right cause for denied claims."""
    rows = []
    top = np.array(CATEGORIES)[cat_probs.argmax(axis=1)]
    for i, c in enumerate(CATEGORIES):
        y = (denied & (category == c)).astype(float)
        if y.sum() == 0:
            continue
        is_c = category[denied] == c
        rows.append(
            {
                "category": c,
                "positives": int(y.sum()),
                "roc_auc": float(roc_auc_score(y, p * cat_probs[:, i])),
                "head_recall": float((top[denied][is_c] == c).mean()),
            }
        )
    return pd.DataFrame(rows)


def logistic_baseline(
    X_learn: np.ndarray, y_learn: np.ndarray, X_eval: np.ndarray, *, seed: int, max_rows: int = 200_000
) -> np.ndarray:
    """Logistic regression on the numeric features (category codes left out: they are not ordinal)."""
    keep = [i for i, n in enumerate(FEATURE_NAMES) if n not in CATEGORICAL]
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y_learn), size=min(max_rows, len(y_learn)), replace=False)
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=300))
    Xl = np.nan_to_num(X_learn[np.sort(rows)][:, keep], posinf=0.0, neginf=0.0)
    model.fit(Xl, y_learn[np.sort(rows)])
    return model.predict_proba(np.nan_to_num(X_eval[:, keep], posinf=0.0, neginf=0.0))[:, 1]


def pr_curve_summary(y: np.ndarray, p: np.ndarray, *, points: int = 200, seed: int = 0) -> dict[str, Any]:
    """A small PR curve and a score sample, stored with the model to set review thresholds later."""
    prec, rec, thr = precision_recall_curve(y, p)
    pick = np.unique(np.linspace(0, len(thr) - 1, min(points, len(thr))).astype(int))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(p, size=min(5000, len(p)), replace=False))
    return {
        "threshold": thr[pick].tolist(),
        "precision": prec[pick].tolist(),
        "recall": rec[pick].tolist(),
        "score_sample": sample.tolist(),
    }


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Denial risk: ROC on evaluation months")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(y: np.ndarray, p: np.ndarray, path: str, *, bins: int = 15) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, bins)
    mp = [p[c].mean() for c in chunks]
    my = [y[c].mean() for c in chunks]
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(max(mp), max(my)) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle=":")
    ax.plot(mp, my, marker="o")
    ax.set(
        xlabel="predicted denial probability",
        ylabel="observed denial rate",
        title=f"Calibration (ECE {expected_calibration_error(p, y):.4f})",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_shap_summary(contrib: np.ndarray, X: np.ndarray, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    # The dots' vertical jitter is random: a generator of its own draws the same figure for the same run, whatever
    # another library did to NumPy's global one.
    rng = np.random.default_rng(0)
    shap.summary_plot(contrib[:, :-1], X, feature_names=list(FEATURE_NAMES), show=False, max_display=20, rng=rng)
    plt.gcf().set_size_inches(8, 8)
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close("all")
