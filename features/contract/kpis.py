"""The denial scorecard a revenue-cycle leader reads, computed from the same labels the models learn.

Definitions (stable month to month, so a trend is a trend and not a changed definition):
- claims: original claims adjudicated at least once; billed: their total charges.
- initial denial rate: claims whose first response was a denial / claims (also in dollars: denied
  dollars / billed dollars). Grouped by the month the claim was submitted.
- avoidable share: denials in a category the practice could have prevented / all denials
  (`avoidable` column of the shipped category table).
- recovery (overturn) rate: recovered / mature denials, in claims and in dollars; denials still inside
  their maturity window are left out of both numerator and denominator.
- days to resolution: median days from the denial to its endpoint (a later payment, a write-off, or a
  bill to the patient), over resolved denials.
- open denial dollars: denied dollars not yet paid back, over denials with no endpoint yet.
"""

from __future__ import annotations

import pandas as pd

from features.contract.codes import CodeTables

DIMENSIONS = {
    "month": "submitted_month",
    "payer": "payer_id",
    "category": "denial_category",
    "provider": "billing_npi",
    "facility": "facility_id",
}
KPI_COLUMNS = (
    "claims",
    "billed",
    "denials",
    "denied_dollars",
    "denial_rate",
    "denial_rate_dollars",
    "avoidable_denials",
    "avoidable_share",
    "mature_denials",
    "recovered",
    "recovered_dollars",
    "recovery_rate",
    "recovery_rate_dollars",
    "median_days_to_resolution",
    "open_denials",
    "open_denial_dollars",
)


def kpi_frame(labels: pd.DataFrame, claims: pd.DataFrame, *, codes: CodeTables) -> pd.DataFrame:
    """One row per adjudicated original claim with the dimension columns and per-claim KPI inputs."""
    dims = claims.set_index("claim_id")[["payer_id", "billing_npi", "facility_id", "submitted_at"]]
    df = labels.join(dims, on="claim_id")
    df["submitted_month"] = df["submitted_at"].dt.strftime("%Y-%m")
    df["facility_id"] = df["facility_id"].fillna("(none)")
    denied = df["initial_denial"].astype(bool)
    avoidable_cats = [c for c in codes.categories.index if codes.is_avoidable(c)]
    df["avoidable"] = denied & df["denial_category"].isin(avoidable_cats).fillna(False)
    df["mature_denial"] = df["mature"].astype(bool)
    df["recovered_flag"] = df["recovered"].fillna(False).astype(bool)
    df["mature_denied_dollars"] = df["denied_amount"].where(df["mature_denial"], 0.0)
    df["recovered_dollars"] = df["recovered_amount"].fillna(0.0)
    resolved = denied & df["resolved_at"].notna()
    df["days_to_resolution"] = (df["resolved_at"] - df["first_remit_date"]).dt.days.where(resolved)
    df["open"] = denied & ~resolved
    df["open_dollars"] = (
        (df["denied_amount"] - df["recovered_to_date"].fillna(0.0)).clip(lower=0.0).where(df["open"], 0.0)
    )
    return df


def _summarise(g: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:  # type: ignore[name-defined]
    out = g.agg(
        claims=("claim_id", "size"),
        billed=("total_charge_", "sum"),
        denials=("initial_denial", "sum"),
        denied_dollars=("denied_amount", "sum"),
        avoidable_denials=("avoidable", "sum"),
        mature_denials=("mature_denial", "sum"),
        mature_denied_dollars=("mature_denied_dollars", "sum"),
        recovered=("recovered_flag", "sum"),
        recovered_dollars=("recovered_dollars", "sum"),
        median_days_to_resolution=("days_to_resolution", "median"),
        open_denials=("open", "sum"),
        open_denial_dollars=("open_dollars", "sum"),
    )
    return out


def _rates(out: pd.DataFrame) -> pd.DataFrame:
    def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
        return (num / den.where(den > 0)).astype("float64")

    out["denial_rate"] = ratio(out["denials"], out["claims"])
    out["denial_rate_dollars"] = ratio(out["denied_dollars"], out["billed"])
    out["avoidable_share"] = ratio(out["avoidable_denials"], out["denials"])
    out["recovery_rate"] = ratio(out["recovered"], out["mature_denials"])
    out["recovery_rate_dollars"] = ratio(out["recovered_dollars"], out["mature_denied_dollars"])
    return out


def compute_kpis(
    labels: pd.DataFrame,
    claims: pd.DataFrame,
    *,
    codes: CodeTables,
    by: tuple[str, ...] = tuple(DIMENSIONS),
) -> pd.DataFrame:
    """Long table: one row per (dimension, group), plus an `all` row, with every KPI in KPI_COLUMNS.

    For the `category` dimension the claims and billed denominators are the whole book, so a
    category's denial rate is its share of all claims and the categories add up to the total.
    """
    unknown = [b for b in by if b not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown KPI dimension {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    df = kpi_frame(labels, claims, codes=codes)
    df["total_charge_"] = df["claim_id"].map(claims.set_index("claim_id")["total_charge"])
    parts = [_summarise(df.assign(_all="all").groupby("_all")).assign(dimension="all")]
    for dim in by:
        col = DIMENSIONS[dim]
        if dim == "category":
            part = _summarise(df[df["initial_denial"]].groupby(col))
            part["claims"] = len(df)
            part["billed"] = df["total_charge_"].sum()
        else:
            part = _summarise(df.groupby(col))
        parts.append(part.assign(dimension=dim))
    out = pd.concat(parts)
    out.index.name = "group"
    out = _rates(out.reset_index())
    for col in ("billed", "denied_dollars", "recovered_dollars", "open_denial_dollars"):
        out[col] = out[col].round(2)
    ints = ["claims", "denials", "avoidable_denials", "mature_denials", "recovered", "open_denials"]
    out[ints] = out[ints].astype("int64")
    out["group"] = out["group"].astype(str)
    return out[["dimension", "group", *KPI_COLUMNS]].reset_index(drop=True)


def top_groups(kpis: pd.DataFrame, *, dimension: str, limit: int) -> pd.DataFrame:
    """The groups a leader looks at first: months in order, everything else by denied dollars."""
    part = kpis[kpis["dimension"] == dimension]
    if dimension == "month":
        return part.sort_values("group").tail(limit)
    return part.sort_values(["denied_dollars", "group"], ascending=[False, True]).head(limit)
