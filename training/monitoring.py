"""`claimsight monitor`: is the serving model still looking at the world it was trained on?

Three views, each answering a question a revenue-cycle analyst asks before trusting the scores:
- population stability (PSI) of the model's most important features, training data vs the latest month
  (the reference bins and shares are saved in the model at training, so no training data is needed);
- calibration by month: mean predicted denial probability vs the realised initial denial rate;
- denial-rate shifts by payer x procedure family beyond their historical noise: the early alert that a
  payer changed a policy (a new prior-authorization list, a new edit) before the model's AUC shows it.

The shift test compares a month's rate with the pooled rate of the months before it, allowing for both
binomial noise and the month-to-month wobble those earlier months showed (a random-effects z-score),
so a small payer line that always jumps around does not page anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.claim_fields import procedure_family
from features.denial_features import FEATURE_NAMES as DENIAL_FEATURES
from features.frames import member

PSI_BINS = 10
PSI_LEVELS = ((0.25, "major shift"), (0.10, "moderate shift"), (0.0, "stable"))


@dataclass(frozen=True)
class ShiftRule:
    baseline_months: int = 6  # months before the one judged
    z_threshold: float = 4.0
    min_claims: int = 15  # claims of that payer x family in the month judged
    min_lift: float = 0.10  # and the rate must rise by at least this much (absolute)


# ---- PSI ---------------------------------------------------------------------------------------------------------
def feature_profile(X: np.ndarray, names: Sequence[str], *, features: Sequence[str]) -> dict[str, Any]:
    """Reference bins for PSI: decile edges of each feature on the training rows, and the share per bin
    (plus a missing-value bin). Saved in the model's metadata."""
    out: dict[str, Any] = {}
    for name in features:
        x = X[:, list(names).index(name)].astype(float)
        finite = x[np.isfinite(x)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if len(finite) else np.array([])
        out[name] = {"edges": edges.tolist(), "shares": _shares(x, edges).tolist()}
    return out


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[finite], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, (~finite).sum()).astype(float)
    return counts / max(len(x), 1)


def psi(expected: np.ndarray, actual: np.ndarray, *, floor: float = 1e-4) -> float:
    e = np.clip(np.asarray(expected, dtype=float), floor, None)
    a = np.clip(np.asarray(actual, dtype=float), floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(profile: Mapping[str, Any], X: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for name, ref in profile.items():
        if name not in names:
            continue
        edges = np.asarray(ref["edges"], dtype=float)
        value = psi(np.asarray(ref["shares"]), _shares(X[:, list(names).index(name)].astype(float), edges))
        level = next(label for bound, label in PSI_LEVELS if value >= bound)
        rows.append({"feature": name, "psi": value, "level": level})
    return pd.DataFrame(rows, columns=["feature", "psi", "level"]).sort_values(
        "psi", ascending=False, ignore_index=True
    )


# ---- calibration by month ----------------------------------------------------------------------------------------
def calibration_by_month(months: pd.Series, denied: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"month": months.to_numpy(), "denied": denied.astype(float), "p": p})
    out = frame.groupby("month", sort=True).agg(
        claims=("p", "size"), predicted=("p", "mean"), realised=("denied", "mean")
    )
    out["gap"] = out["predicted"] - out["realised"]
    return out.reset_index()


# ---- payer x procedure family shifts -----------------------------------------------------------------------------
def payer_family_rates(tables: Mapping[str, pd.DataFrame], labels: pd.DataFrame) -> pd.DataFrame:
    """Per (payer, procedure family, month of the first remit): adjudicated original claims with a line in that
    family, and how many were initially denied. Grouped by when the answer arrived, not by submission: a team
    learns of a payer's new policy from the remits of that month, whatever month the claims were sent in."""
    claims = tables["claims"].set_index("claim_id")
    lab = labels[["claim_id", "initial_denial", "first_remit_date"]]
    lines = tables["claim_lines"]
    lines = lines[member(lines["claim_id"], lab["claim_id"])]
    per = pd.DataFrame({"claim_id": lines["claim_id"].to_numpy(), "family": procedure_family(lines["procedure_code"])})
    per = per.drop_duplicates()
    per["payer_id"] = per["claim_id"].map(claims["payer_id"]).to_numpy()
    per["month"] = per["claim_id"].map(lab.set_index("claim_id")["first_remit_date"]).dt.strftime("%Y-%m").to_numpy()
    per["denied"] = per["claim_id"].map(lab.set_index("claim_id")["initial_denial"]).to_numpy(dtype=float)
    out = per.groupby(["payer_id", "family", "month"], sort=True, observed=True)["denied"].agg(["size", "sum"])
    return out.rename(columns={"size": "claims", "sum": "denied"}).reset_index()


def payer_family_shifts(rates: pd.DataFrame, *, month: str, rule: ShiftRule | None = None) -> pd.DataFrame:
    """Payer x family lines whose denial rate in `month` rose beyond their noise, most alarming first."""
    rule = rule or ShiftRule()
    months = sorted(rates["month"].unique())
    if month not in months:
        return pd.DataFrame(columns=["payer_id", "family", "month", "claims", "rate", "baseline_rate", "z", "flagged"])
    i = months.index(month)
    base_months = months[max(0, i - rule.baseline_months) : i]
    now = rates[rates["month"] == month].set_index(["payer_id", "family"])
    base = rates[rates["month"].isin(base_months)]
    grouped = base.groupby(["payer_id", "family"], observed=True)
    pooled = grouped[["claims", "denied"]].sum()
    r_m = base["denied"] / base["claims"]
    binom = base.assign(r=r_m, v=r_m * (1 - r_m) / base["claims"])
    wobble = (binom.groupby(["payer_id", "family"], observed=True)["r"].var(ddof=1)
              - binom.groupby(["payer_id", "family"], observed=True)["v"].mean()).clip(lower=0.0)  # fmt: skip
    joined = now.join(pooled, rsuffix="_base", how="inner").join(wobble.rename("tau2"))
    r0 = (joined["denied_base"] + 0.5) / (joined["claims_base"] + 1.0)
    rate = joined["denied"] / joined["claims"]
    se = np.sqrt(r0 * (1 - r0) / joined["claims"] + joined["tau2"].fillna(0.0))
    z: pd.Series = (rate - r0) / se
    out = pd.DataFrame(
        {
            "month": month,
            "claims": joined["claims"].astype(int),
            "rate": rate,
            "baseline_rate": r0,
            "baseline_claims": joined["claims_base"].astype(int),
            "z": z,
        }
    ).reset_index()
    out["flagged"] = (
        (out["z"] >= rule.z_threshold)
        & (out["claims"] >= rule.min_claims)
        & (out["rate"] - out["baseline_rate"] >= rule.min_lift)
    )
    return out.sort_values(["flagged", "z"], ascending=[False, False], ignore_index=True)


# ---- the report ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitorReport:
    month: str
    psi: pd.DataFrame
    calibration: pd.DataFrame
    shifts: pd.DataFrame  # every payer x family line judged in `month`, flagged first

    @property
    def flagged(self) -> pd.DataFrame:
        return self.shifts[self.shifts["flagged"]]

    def markdown(self) -> str:
        lines = [f"# ClaimSight monitor: {self.month}", ""]
        lines += ["## Denial-rate shifts by payer x procedure family (month of the first remit)", ""]
        if len(self.flagged):
            lines += ["| payer | family | claims | rate | before | z |", "|---|---|---|---|---|---|"]
            for r in self.flagged.itertuples():
                lines.append(f"| {r.payer_id} | {r.family} | {r.claims} | {r.rate:.1%} | {r.baseline_rate:.1%} | "
                             f"{r.z:.1f} |")  # fmt: skip
        else:
            lines.append("No payer x family line moved beyond its noise.")
        lines += ["", "## Population stability of the model's top features (training vs this month)", ""]
        if len(self.psi):
            lines += ["| feature | PSI | |", "|---|---|---|"]
            lines += [f"| {r.feature} | {r.psi:.3f} | {r.level} |" for r in self.psi.itertuples()]
        else:
            lines.append("The model carries no training profile (trained before monitoring existed): retrain it.")
        lines += ["", "## Calibration by month of submission", "", "| month | claims | predicted | realised |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r.month} | {r.claims:,} | {r.predicted:.1%} | {r.realised:.1%} |"
                  for r in self.calibration.itertuples()]  # fmt: skip
        return "\n".join(lines) + "\n"


def latest_complete_month(as_of: pd.Timestamp) -> str:
    """The month of `as_of` if the data runs to its last day, else the month before."""
    as_of = pd.Timestamp(as_of)
    month_end = as_of + pd.offsets.MonthEnd(0)
    chosen = as_of if as_of.normalize() == month_end.normalize() else as_of - pd.DateOffset(months=1)
    return chosen.strftime("%Y-%m")


def run_monitor(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    month: str,
    model: Any | None = None,
    calibration_months: int = 6,
    rule: ShiftRule | None = None,
) -> MonitorReport:
    """`labels` from compute_labels on the same tables. `model` (a DenialRiskModel) adds PSI and calibration."""
    shifts = payer_family_shifts(payer_family_rates(tables, labels), month=month, rule=rule)
    psi_frame = pd.DataFrame(columns=["feature", "psi", "level"])
    calibration = pd.DataFrame(columns=["month", "claims", "predicted", "realised", "gap"])
    if model is not None:
        claims = tables["claims"]
        adjudicated = claims.set_index("claim_id", drop=False).loc[labels["claim_id"]].reset_index(drop=True)
        months = adjudicated["submitted_at"].dt.strftime("%Y-%m")
        recent = sorted(months.unique())
        recent = [m for m in recent if m <= month][-calibration_months:]
        keep = months.isin(recent).to_numpy()
        part = adjudicated[keep].reset_index(drop=True)
        fs = model.features(claims=part, lines=tables["claim_lines"], context_claims=claims,
                            context_lines=tables["claim_lines"])  # fmt: skip
        p = model.predict_proba(fs.X)
        denied = labels["initial_denial"].to_numpy(dtype=bool)[keep]
        calibration = calibration_by_month(months[keep].reset_index(drop=True), denied, p)
        profile = model.metadata_.get("profile") or {}
        in_month = (months[keep] == month).to_numpy()
        if profile and in_month.any():
            psi_frame = psi_table(profile, fs.X[in_month], DENIAL_FEATURES)
    return MonitorReport(month=month, psi=psi_frame, calibration=calibration, shifts=shifts)
