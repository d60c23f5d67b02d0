"""The team's work: queue throughput and dollars recovered per staff hour, from the `followups` table.

Staff time: DATA.md's followups carry no minutes, so each action counts the minutes the queue planner budgets
for the work it is (`features.decisions.queue_plan.DEFAULT_MINUTES`, the same estimate the queue spends
capacity on); a `minutes` column, where a team's export has one, replaces the estimate row by row.

Dollars per staff hour are computed by cohort, the denials whose work began in a month: all their actions'
minutes against all the money paid on them so far (`recovered_to_date` of the labels). Mixing one month's
minutes with another month's payments would credit this month's work to last month's appeals. The latest
cohorts are still being paid, so they read low until their answers arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from features.decisions.queue_plan import DEFAULT_MINUTES
from serving.dashboard.sections import Chart, Section, unavailable

# followups.action (what a team did) -> the planner's action it carries out, whose minutes it costs
TEAM_ACTION_WORK: Mapping[str, str] = MappingProxyType(
    {
        "corrected_claim": "correct_and_resubmit",
        "appeal": "appeal",
        "reconsideration": "reopen",
        "payer_call": "verify_status",
        "write_off": "write_off",
        "bill_patient": "bill_patient",
    }
)
TEAM_ACTION_MINUTES: Mapping[str, float] = MappingProxyType(
    {action: float(DEFAULT_MINUTES[work]) for action, work in TEAM_ACTION_WORK.items()}
)
NO_FOLLOWUPS = (
    "No followups table in the data: record the team's work in the workspace (or add the practice system's "
    "export as followups.csv) to see throughput and dollars per staff hour."
)


def action_minutes(followups: pd.DataFrame) -> pd.Series:
    """Minutes of each followups row: its own `minutes` where given, else the estimate for its action."""
    estimate = followups["action"].astype(str).map(TEAM_ACTION_MINUTES).astype("float64").fillna(0.0)
    if "minutes" in followups.columns:
        own = pd.to_numeric(followups["minutes"], errors="coerce")
        return own.where(own.notna() & (own >= 0), estimate).astype("float64")
    return estimate


def work_frame(followups: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per worked denial: the month its work began, its actions, its minutes and the money paid on it so far."""
    rows = followups.assign(_minutes=action_minutes(followups), _month=followups["action_date"].dt.strftime("%Y-%m"))
    per_claim = rows.groupby("claim_id", sort=True).agg(
        cohort=("_month", "min"), actions=("action", "size"), minutes=("_minutes", "sum")
    )
    paid = labels.set_index("claim_id")["recovered_to_date"]
    per_claim["recovered_dollars"] = per_claim.index.to_series().map(paid).astype("float64").fillna(0.0).to_numpy()
    return per_claim.reset_index(drop=True)


def throughput(followups: pd.DataFrame) -> pd.DataFrame:
    """By month of the action: the denials worked (distinct) and the actions taken."""
    month = followups["action_date"].dt.strftime("%Y-%m").rename("month")
    g = followups.groupby(month)
    out = pd.DataFrame({"denials_worked": g["claim_id"].nunique(), "actions": g.size()}).reset_index()
    return out.astype({"denials_worked": "int64", "actions": "int64"})


def staff_hours(followups: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """By cohort month (the month work on a denial began): denials, staff hours, dollars recovered, per hour."""
    per_claim = work_frame(followups, labels)
    g = per_claim.groupby("cohort", sort=True)
    out = pd.DataFrame(
        {
            "denials_worked": g.size(),
            "staff_hours": g["minutes"].sum() / 60.0,
            "recovered_dollars": g["recovered_dollars"].sum().round(2),
        }
    )
    hours = out["staff_hours"].where(out["staff_hours"] > 0)
    out["dollars_per_staff_hour"] = (out["recovered_dollars"] / hours).astype("float64")
    out["staff_hours"] = out["staff_hours"].round(2)
    return out.rename_axis("month").reset_index()


def work_sections(followups: pd.DataFrame | None, labels: pd.DataFrame) -> list[Section]:
    if followups is None or followups.empty:
        return [unavailable("queue-throughput-by-month", "Queue throughput", part="work", note=NO_FOLLOWUPS)]
    done = throughput(followups)
    hours = staff_hours(followups, labels)
    per_hour = hours[np.isfinite(hours["dollars_per_staff_hour"])][["month", "dollars_per_staff_hour"]]
    estimate = ", ".join(f"{a.replace('_', ' ')} {m:g}" for a, m in TEAM_ACTION_MINUTES.items())
    return [
        Section(
            key="queue-throughput-by-month",
            title="Queue throughput by month",
            part="work",
            data=done,
            chart=Chart(
                kind="bar",
                x="month",
                y=("denials_worked", "actions"),
                fmt="count",
                labels={"denials_worked": "denials worked", "actions": "actions taken"},
            ),
            note="Denials the team worked in the month (each once) and the actions it took on them (corrected "
            "claims, appeals, reconsiderations, payer calls, write-offs, bills to the patient).",
        ),  # fmt: skip
        Section(
            key="dollars-per-staff-hour-by-month",
            title="Dollars recovered per staff hour, by the month work began",
            part="work",
            data=per_hour.reset_index(drop=True),
            chart=Chart(
                kind="line",
                x="month",
                y=("dollars_per_staff_hour",),
                fmt="dollars",
                labels={"dollars_per_staff_hour": "$ per staff hour"},
            ),
            note="Money paid so far on the denials whose work began in the month, divided by the staff hours spent "
            f"on them. Minutes per action, where the data has none: {estimate}. Recent months are still being paid.",
        ),  # fmt: skip
        Section(
            key="staff-time-by-month",
            title="Staff time and dollars recovered, by the month work began",
            part="work",
            data=hours,
            note="The numbers behind dollars per staff hour.",
        ),
    ]
