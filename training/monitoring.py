"""`claimsight monitor`: is the serving model still looking at the world it was trained on?

Four views, each answering a question a revenue-cycle analyst asks before trusting the scores:
- population stability (PSI) of the model's most important features, training data vs the latest month
  (the reference bins and shares are saved in the model at training, so no training data is needed);
- calibration by month: mean predicted denial probability vs the observed initial denial rate (with the
  other standard metrics of training/metrics.py, under the same names);
- denial-rate shifts by payer x procedure family beyond their historical noise: the early alert that a
  payer changed a policy (a new prior-authorization list, a new edit) before the model's AUC shows it;
- authorization requirements the features learned from recent denials that payer_rules.yaml lacks: the
  model already uses them, but they fade once the team complies unless someone writes them down.

The shift test compares a month's rate with the pooled rate of the months before it, allowing for both
binomial noise and the month-to-month wobble those earlier months showed (a random-effects z-score),
so a small payer line that always jumps around does not page anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.auth_evidence import WINDOW_DAYS as AUTH_WINDOW_DAYS
from features.auth_evidence import fit_auth_evidence, learned_auth_needed
from features.claim_fields import day_number, procedure_family
from features.contract.codes import CodeTables, load_code_tables
from features.contract.frames import member
from features.contract.payer_rules import PayerRules
from features.denial_features import FEATURE_NAMES as DENIAL_FEATURES
from features.denial_features import DenialFeatureBuilder, outcome_events
from training.metrics import GAP, MEAN_P, RATE, ROWS, STANDARD, describe, standard_metrics

PSI_BINS = 10
# Values are rounded to this many decimals before binning: smoothed rates of keys that never saw a denial
# sit at 1e-11..1e-12 and creep lower as history grows, and deciles cut through that dust would report a
# major shift where nothing moved.
PSI_DECIMALS = 6
PSI_TOP_LEVELS = 30  # a categorical feature's most common levels get a bin each; the rest share one
PSI_LEVELS = ((0.25, "major shift"), (0.10, "moderate shift"), (0.0, "stable"))


@dataclass(frozen=True)
class ShiftRule:
    baseline_months: int = 6  # months before the one judged
    z_threshold: float = 4.0
    min_claims: int = 15  # claims of that payer x family in the month judged
    min_lift: float = 0.10  # and the rate must rise by at least this much (absolute)


# ---- PSI ---------------------------------------------------------------------------------------------------------
def feature_profile(
    X: np.ndarray, names: Sequence[str], *, features: Sequence[str], categorical: Sequence[str] = ()
) -> dict[str, Any]:
    """Reference bins for PSI: decile edges of each numeric feature on the training rows, and the share per
    bin (plus a missing-value bin); for a categorical feature (level codes) its most common levels, each a
    bin of its own, plus one for the rest. Saved in the model's metadata."""
    out: dict[str, Any] = {}
    for name in features:
        if name in categorical:
            codes = X[:, list(names).index(name)].astype(float)
            seen, counts = np.unique(codes[np.isfinite(codes)], return_counts=True)
            levels = np.sort(seen[np.argsort(-counts, kind="stable")[:PSI_TOP_LEVELS]])
            out[name] = {"levels": levels.tolist(), "shares": _level_shares(codes, levels).tolist()}
            continue
        x = np.round(X[:, list(names).index(name)].astype(float), PSI_DECIMALS)
        finite = x[np.isfinite(x)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if len(finite) else np.array([])
        out[name] = {"edges": edges.tolist(), "shares": _shares(x, edges).tolist()}
    return out


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    x = np.round(x, PSI_DECIMALS)
    finite = np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[finite], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, (~finite).sum()).astype(float)
    return counts / max(len(x), 1)


def _level_shares(codes: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Share of each listed level (sorted), then of every other level, then of missing."""
    finite = np.isfinite(codes)
    values = codes[finite]
    listed = np.isin(values, levels)
    counts = np.bincount(np.searchsorted(levels, values[listed]), minlength=len(levels)).astype(float)
    counts = np.append(counts, [float((~listed).sum()), float((~finite).sum())])
    return counts / max(len(codes), 1)


def psi(expected: np.ndarray, actual: np.ndarray, *, floor: float = 1e-4) -> float:
    e = np.clip(np.asarray(expected, dtype=float), floor, None)
    a = np.clip(np.asarray(actual, dtype=float), floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(profile: Mapping[str, Any], X: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for name, ref in profile.items():
        if name not in names:
            continue
        x = X[:, list(names).index(name)].astype(float)
        if "levels" in ref:
            actual = _level_shares(x, np.asarray(ref["levels"], dtype=float))
        else:
            actual = _shares(x, np.asarray(ref["edges"], dtype=float))
        value = psi(np.asarray(ref["shares"]), actual)
        level = next(label for bound, label in PSI_LEVELS if value >= bound)
        rows.append({"feature": name, "psi": value, "level": level})
    return pd.DataFrame(rows, columns=["feature", "psi", "level"]).sort_values(
        "psi", ascending=False, ignore_index=True
    )


# ---- calibration by month ----------------------------------------------------------------------------------------
CALIBRATION_COLUMNS = ["month", *STANDARD, GAP, "features"]


def calibration_by_month(
    months: pd.Series, denied: np.ndarray, p: np.ndarray, *, replayed: np.ndarray | None = None
) -> pd.DataFrame:
    """The standard metrics of each month and its `gap`, mean_p - rate. `replayed`: rows scored with
    point-in-time features because they predate the model (see run_monitor)."""
    replayed = np.zeros(len(p), dtype=bool) if replayed is None else replayed
    month = months.to_numpy()
    y, p = np.asarray(denied, dtype=float), np.asarray(p)
    rows = []
    for m in sorted(set(month)):
        at = month == m
        metrics = standard_metrics(y[at], p[at])
        served = "replayed as of submission" if replayed[at].any() else "as served"
        rows.append({"month": m, **metrics, GAP: metrics[MEAN_P] - metrics[RATE], "features": served})
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


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
    joined = now.merge(pooled, left_index=True, right_index=True, how="inner", suffixes=("", "_base"))
    joined = joined.join(wobble.rename("tau2"))
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


# ---- learned authorization requirements ------------------------------------------------------------------------
LEARNED_COLUMNS = ["payer_id", "family", "lines_without_auth", "auth_denied_share", "codes_seen", "codes_on_rule_file"]


def learned_auth_requirements(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Payer x procedure families the features treat as needing authorization (features/auth_evidence.py) on
    the morning of `as_of` (default: the day after the last remit) while payer_rules.yaml does not list every
    code of them the team has billed."""
    events, _ = outcome_events(tables, labels, codes=codes, rules=rules, routine=routine)
    if events.empty:
        return pd.DataFrame(columns=LEARNED_COLUMNS)
    evidence = fit_auth_evidence(events)
    pairs = events[["payer_id", "proc_family"]].drop_duplicates().reset_index(drop=True)
    day = labels["first_remit_date"].max() + pd.Timedelta(days=1) if as_of is None else pd.Timestamp(as_of)
    query_day = int(day_number(pd.Series([day]))[0])
    keys = {c: pairs[c].to_numpy(dtype=object) for c in ("payer_id", "proc_family")}
    learned, n, rate = learned_auth_needed(evidence, keys, query_day=np.full(len(pairs), query_day))
    found = pairs.assign(lines_without_auth=n, auth_denied_share=rate)[learned]
    billed = events[["payer_id", "plan_type", "proc_family", "procedure_code"]]
    billed = billed.drop_duplicates(["payer_id", "proc_family", "procedure_code"])
    billed = billed.merge(found[["payer_id", "proc_family"]], on=["payer_id", "proc_family"])
    billed["listed"] = rules.auth_required(billed["payer_id"], billed["plan_type"], billed["procedure_code"])
    per = billed.groupby(["payer_id", "proc_family"], observed=True)["listed"].agg(["size", "sum"])
    per = per.rename(columns={"size": "codes_seen", "sum": "codes_on_rule_file"}).reset_index()
    out = found.merge(per, on=["payer_id", "proc_family"]).rename(columns={"proc_family": "family"})
    out = out[out["codes_on_rule_file"] < out["codes_seen"]]
    return out[LEARNED_COLUMNS].sort_values("auth_denied_share", ascending=False, ignore_index=True)


# ---- the report ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitorReport:
    month: str
    psi: pd.DataFrame
    calibration: pd.DataFrame
    shifts: pd.DataFrame  # every payer x family line judged in `month`, flagged first
    learned_auth: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEARNED_COLUMNS))

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
        lines += ["", f"## Authorization requirements learned from the {AUTH_WINDOW_DAYS} days of denials to the end "
                  f"of {self.month}, missing from payer_rules.yaml", ""]  # fmt: skip
        if len(self.learned_auth):
            lines += ["The model already treats these as needing authorization; add them to payer_rules.yaml so the "
                      "rule stays once the team obtains the authorizations.", "",
                      "| payer | family | lines without auth | denied for it | codes listed |",
                      "|---|---|---|---|---|"]  # fmt: skip
            lines += [f"| {r.payer_id} | {r.family}xx | {r.lines_without_auth:.0f} | {r.auth_denied_share:.0%} | "
                      f"{r.codes_on_rule_file} of {r.codes_seen} |"
                      for r in self.learned_auth.itertuples()]  # fmt: skip
        else:
            lines.append("None: the payers' recent authorization denials match the rule file.")
        lines += ["", "## Population stability of the model's top features (training vs this month)", ""]
        if len(self.psi):
            lines += ["| feature | PSI | |", "|---|---|---|"]
            lines += [f"| {r.feature} | {r.psi:.3f} | {r.level} |" for r in self.psi.itertuples()]
        else:
            lines.append("The model carries no training profile (trained before monitoring existed): retrain it.")
        lines += ["", "## Calibration by month of submission", "",
                  "| month | rows | mean_p | rate | features |", "|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r.month} | {r.rows:,} | {r.mean_p:.1%} | {r.rate:.1%} | {r.features} |"
                  for r in self.calibration.itertuples()]  # fmt: skip
        lines += ["", describe((ROWS, MEAN_P, RATE)) + "."]
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
    rules: PayerRules | None = None,
    codes: CodeTables | None = None,
    routine: frozenset[tuple[str, str]] | None = None,
) -> MonitorReport:
    """`labels` from compute_labels on the same tables. `model` (a DenialRiskModel) adds PSI and calibration;
    `rules` and `codes` add the learned authorization requirements the rule file lacks."""
    shifts = payer_family_shifts(payer_family_rates(tables, labels), month=month, rule=rule)
    learned = (
        pd.DataFrame(columns=LEARNED_COLUMNS)
        if rules is None or codes is None
        else learned_auth_requirements(
            tables,
            labels,
            rules=rules,
            codes=codes,
            routine=routine,
            as_of=pd.Timestamp(f"{month}-01") + pd.DateOffset(months=1),
        )  # fmt: skip
    )
    psi_frame = pd.DataFrame(columns=["feature", "psi", "level"])
    calibration = pd.DataFrame(columns=CALIBRATION_COLUMNS)
    if model is not None:
        claims = tables["claims"]
        history: list[DenialFeatureBuilder] = []  # fitted once, on first need

        def features(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            """X as the model served these claims, and which rows were replayed instead: claims sent before the
            model's snapshot day were never served by it, and its snapshot would count outcomes that came after
            them (their own among them), so those get point-in-time features in the model's coding."""
            lines = tables["claim_lines"]
            snapshot = model.builder_.as_of_day_
            before = day_number(part["submitted_at"]) < (snapshot if snapshot is not None else -1)
            X = np.empty((len(part), len(DENIAL_FEATURES)), dtype=np.float32)
            if not before.all():
                served = part[~before].reset_index(drop=True)
                X[~before] = model.features(claims=served, lines=lines, context_claims=claims, context_lines=lines).X
            if before.any():
                if not history:
                    fitted = DenialFeatureBuilder().fit(
                        tables=tables, labels=labels, rules=model.builder_.rules_,
                        codes=codes or load_code_tables(), routine=routine,
                    )  # fmt: skip
                    history.append(fitted)
                replay = model.builder_.with_history_of(history[0])
                old = part[before].reset_index(drop=True)
                X[before] = replay.transform(claims=old, lines=lines, context_claims=claims, context_lines=lines).X
            return X, before

        adjudicated = claims.set_index("claim_id", drop=False).loc[labels["claim_id"]].reset_index(drop=True)
        months = adjudicated["submitted_at"].dt.strftime("%Y-%m")
        recent = [m for m in sorted(months.unique()) if m <= month][-calibration_months:]
        keep = months.isin(recent).to_numpy()
        X, replayed = features(adjudicated[keep].reset_index(drop=True))
        denied = labels["initial_denial"].to_numpy(dtype=bool)[keep]
        calibration = calibration_by_month(months[keep].reset_index(drop=True), denied, model.predict_proba(X),
                                           replayed=replayed)  # fmt: skip
        # stability over every claim sent that month, answered or not: the answered ones alone over-represent
        # the payers that answer fastest (on the demo's last month that read as a large payer-mix shift)
        profile = model.metadata_.get("profile") or {}
        sent = claims[claims["frequency_code"].eq("1") & claims["submitted_at"].dt.strftime("%Y-%m").eq(month)]
        if profile and len(sent):
            psi_frame = psi_table(profile, features(sent.reset_index(drop=True))[0], DENIAL_FEATURES)
    return MonitorReport(month=month, psi=psi_frame, calibration=calibration, shifts=shifts, learned_auth=learned)
