"""The denial and recovery sections: the KPI definitions of `features.contract.kpis`, by month and broken down.

Why these come from `compute_kpis` and not a second implementation: a leader compares the dashboard with the
`claimsight kpis` table, and the two must never disagree. The month-by-group breakdowns (which compute_kpis
does not make) use the same per-claim inputs (`kpi_frame`) and the same definitions, and the tests check them
against compute_kpis run on one month at a time.
"""

from __future__ import annotations

import pandas as pd

from features.contract.codes import CodeTables
from features.contract.kpis import DIMENSIONS, compute_kpis, kpi_frame, top_groups
from serving.dashboard.sections import Chart, Section

# dimension -> (its column in the charts and CSVs, how the page names it)
BREAKDOWNS: dict[str, tuple[str, str]] = {
    "payer": ("payer_id", "payers"),
    "category": ("denial_category", "denial categories"),
    "provider": ("billing_npi", "billing providers"),
    "facility": ("facility_id", "locations"),
}
TOP_GROUPS = 5  # lines per breakdown chart: more is unreadable


def month_rows(kpis: pd.DataFrame) -> pd.DataFrame:
    """compute_kpis' month rows, oldest first, the group renamed `month`."""
    part = kpis[kpis["dimension"] == "month"].sort_values("group")
    return part.rename(columns={"group": "month"}).drop(columns="dimension").reset_index(drop=True)


def monthly_breakdown(frame: pd.DataFrame, *, dimension: str, groups: list[str]) -> pd.DataFrame:
    """Initial denial rate by month for each of `groups` of `dimension`, long: month, <column>, denial_rate.

    As compute_kpis defines it: denials / adjudicated claims of that group in that month; for a category the
    denominator is every claim of the month (a category's rate is its share of the book)."""
    column = DIMENSIONS[dimension]
    month = frame["submitted_month"]
    denied = frame["initial_denial"].astype(bool)
    if dimension == "category":
        claims = month.value_counts()
        counts = frame[denied & frame[column].isin(groups)].groupby(["submitted_month", column]).size()
        every = pd.MultiIndex.from_product([sorted(claims.index), groups], names=counts.index.names)
        counts = counts.reindex(every, fill_value=0)  # a month without a category's denial is 0, not a gap
        denominators = claims.reindex(counts.index.get_level_values(0)).to_numpy()
        rate: pd.Series = counts / denominators
    else:
        part = frame[frame[column].astype(str).isin(groups)]
        g = part.assign(_denied=denied[part.index]).groupby(["submitted_month", part[column].astype(str)])["_denied"]
        rate = g.sum() / g.size()
    out = rate.astype("float64").rename("denial_rate").reset_index()
    out.columns = ["month", column, "denial_rate"]
    out[column] = out[column].astype(str)
    order = {g: n for n, g in enumerate(groups)}
    out = out.sort_values(["month", column], key=lambda s: s.map(order) if s.name == column else s)
    return out.reset_index(drop=True)


def kpi_sections(
    labels: pd.DataFrame, claims: pd.DataFrame, *, codes: CodeTables
) -> tuple[list[Section], pd.DataFrame]:
    """The denials and recovery parts, and the full KPI table they come from (also written as a CSV)."""
    kpis = compute_kpis(labels, claims, codes=codes)
    frame = kpi_frame(labels, claims, codes=codes)
    months = month_rows(kpis)
    sections: list[Section] = [
        Section(
            key="denial-rate-by-month",
            title="Initial denial rate by month",
            part="denials",
            data=months[["month", "denial_rate", "denial_rate_dollars"]],
            chart=Chart(
                kind="line",
                x="month",
                y=("denial_rate", "denial_rate_dollars"),
                fmt="percent",
                labels={"denial_rate": "of claims", "denial_rate_dollars": "of billed dollars"},
            ),
            note="Claims whose first answer from the payer was a denial, out of the claims answered, by the month "
            "the claim was sent; and the denied dollars out of the billed dollars. The latest months hold only the "
            "claims already answered.",
        )  # fmt: skip
    ]
    for dimension, (column, name) in BREAKDOWNS.items():
        groups = top_groups(kpis, dimension=dimension, limit=TOP_GROUPS)["group"].astype(str).tolist()
        sections.append(
            Section(
                key=f"denial-rate-by-{'location' if dimension == 'facility' else dimension}-and-month",
                title=f"Initial denial rate by month: the {len(groups)} {name} with the most denied dollars",
                part="denials",
                data=monthly_breakdown(frame, dimension=dimension, groups=groups),
                chart=Chart(kind="line", x="month", y=("denial_rate",), series=column, fmt="percent"),
                note=(
                    "A category's rate is its denials out of all claims of the month, so the categories add up to "
                    "the total."
                    if dimension == "category"
                    else "Denials out of the claims answered in each group, by the month the claim was sent."
                ),
            )  # fmt: skip
        )
    sections += [
        Section(
            key="avoidable-share-by-month",
            title="Avoidable share of denials by month",
            part="denials",
            data=months[["month", "avoidable_share"]],
            chart=Chart(
                kind="line",
                x="month",
                y=("avoidable_share",),
                fmt="percent",
                labels={"avoidable_share": "avoidable share"},
            ),
            note="Denials in a category the practice could have prevented before sending the claim (eligibility, "
            "authorization, coding, missing information, ...), out of all denials: the money prevention can win.",
        ),  # fmt: skip
        Section(
            key="denied-dollars-by-month",
            title="Denied and still-open denial dollars by month",
            part="denials",
            data=months[["month", "denied_dollars", "open_denial_dollars"]],
            chart=Chart(
                kind="bar",
                x="month",
                y=("denied_dollars", "open_denial_dollars"),
                fmt="dollars",
                labels={"denied_dollars": "denied", "open_denial_dollars": "still open"},
            ),
            note="Dollars denied on the first answer, and of those the dollars not yet paid back on denials that "
            "have reached no endpoint (payment, write-off, bill to the patient).",
        ),  # fmt: skip
    ]
    recovery = months[months["mature_denials"] > 0]
    resolved = months[months["median_days_to_resolution"].notna()]
    categories = kpis[kpis["dimension"] == "category"].sort_values(["open_denial_dollars", "group"],
                                                                   ascending=[False, True])  # fmt: skip
    sections += [
        Section(
            key="recovery-rate-by-month",
            title="Overturn (recovery) rate by month",
            part="recovery",
            data=recovery[["month", "recovery_rate", "recovery_rate_dollars"]].reset_index(drop=True),
            chart=Chart(
                kind="line",
                x="month",
                y=("recovery_rate", "recovery_rate_dollars"),
                fmt="percent",
                labels={"recovery_rate": "of denials", "recovery_rate_dollars": "of denied dollars"},
            ),
            note="Denials that were later paid within the maturity window, out of the denials old enough to know; "
            "months whose denials are all younger than the window are left out.",
        ),  # fmt: skip
        Section(
            key="days-to-resolution-by-month",
            title="Days to resolution by month",
            part="recovery",
            data=resolved[["month", "median_days_to_resolution"]].reset_index(drop=True),
            chart=Chart(
                kind="line",
                x="month",
                y=("median_days_to_resolution",),
                fmt="days",
                labels={"median_days_to_resolution": "median days"},
            ),
            note="Median days from the denial to its endpoint (a later payment, a write-off or a bill to the "
            "patient), over the denials resolved so far: recent months look faster until their slow ones end.",
        ),  # fmt: skip
        Section(
            key="open-denial-dollars-by-category",
            title="Open denial dollars by denial category",
            part="recovery",
            data=categories.rename(columns={"group": "denial_category"})[
                ["denial_category", "open_denial_dollars"]
            ].reset_index(drop=True),
            chart=Chart(
                kind="barh",
                x="denial_category",
                y=("open_denial_dollars",),
                fmt="dollars",
                labels={"open_denial_dollars": "open dollars"},
            ),
            note="Dollars still waiting on denials with no endpoint yet, by the root cause of the denial.",
        ),  # fmt: skip
        Section(
            key="kpis",
            title="Every KPI by month, payer, category, provider and location",
            part="recovery",
            data=kpis,
            note="The table `claimsight kpis --csv` writes: download it for every group; the page shows the months.",
        ),
    ]
    return sections, kpis
