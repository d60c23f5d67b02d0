"""Replay held-out denials day by day and compare appeal-queue policies side by side.

A queue policy is judged by what it would have recovered, not by how well its scores rank. So the simulator
replays a held-out period one day at a time: the denials that became known so far are open, each policy picks
the work for today within the team's minutes, and the outcome of each worked denial is drawn from the synthetic
truth (`true_p`, `true_amount`). Every policy sees the same arrivals and the same capacity, in one run, so the
summary compares like with like: oldest first, largest amount first, nearest deadline first, ClaimSight and an
oracle that plans on the true expected value.

Design choices, and why:

- Pure numpy/pandas, no model and no serving code. The ClaimSight and oracle policies run the very planner that
  serves the queue (`features.decisions.queue_plan.plan_queue`, see `standard_policies`); `planned_policy` wraps
  any planner of that shape, so tests can inject their own. Per day the engine does a few vectorised masks per
  policy; the only per-day Python is the policy call.
- Each policy keeps its own open queue: a denial worked by one policy is still open for the others.
- Common random numbers. Each denial gets one uniform draw `u` (from `default_rng(seed)`, in claim_id order) that
  all policies share; it recovers iff `u < p`. Two policies that work the same denial under the same conditions
  get the same outcome, so differences between policies are differences in choice, not in luck. The expected
  dollars (`p * true_amount`) are reported too: they have no sampling noise and are what policies are ranked on.
- Late work. `true_p` is the chance of recovering when the denial is worked on or before its deadline (a payer's
  timely-filing or appeal limit). Worked after it, a denial still recovers sometimes (a reconsideration, a payer
  that does not enforce its limit), with probability `true_p * late_factor`. `late_factor=0` makes deadlines hard.
- Missed deadlines. A denial misses its deadline if the deadline falls inside the replay period (start to
  end + tail_days) and the denial was not worked on or before it: never worked, or worked late. Deadlines after
  the period are not yet missed. `missed_value` is the true expected value (`true_p * true_amount`) of those
  denials, whatever late work recovered; `missed_worth_meeting` counts those whose true value exceeded the cost
  of the work (skipping the others is the right call, not a miss). A denial not worked by the end of the period
  is also counted as unworked.
- The tail (`tail_days` after `end`) lets work that arrived near the end be worked, without new arrivals; without
  it, the last days' arrivals would count as unworked for every policy alike.
- Days are calendar days; with `workdays_only`, work happens on numpy business days (Monday to Friday, no holiday
  calendar). Denials arriving on a weekend wait for the next working day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from features.decisions.queue_plan import QueueSettings, plan_queue

REQUIRED_COLUMNS = (
    "claim_id",
    "arrival",
    "deadline",
    "action",
    "minutes",
    "denied_amount",
    "expected_recovery",
    "true_p",
    "true_amount",
)
TRUE_VALUE_COLUMN = "true_value"  # added by the engine to the open frame: true_p * true_amount
ORACLE = "oracle"  # the summary's share_of_oracle divides by the policy of this name
SUMMARY_COLUMNS = (
    "policy",
    "worked",
    "minutes_used",
    "staff_hours",
    "recovered_dollars",
    "expected_dollars",
    "cost",
    "net_dollars",
    "dollars_per_staff_hour",
    "deadlines_missed",
    "missed_value",
    "missed_worth_meeting",
    "unworked",
    "share_of_oracle",
)
WORKED_COLUMNS = ("policy", "claim_id", "day", "late", "recovered", "expected_dollars")
PLAN_INPUT_COLUMNS = ("claim_id", "expected_recovery", "action", "deadline", "minutes")
_FIT_TOLERANCE = 1e-9  # relative to the capacity, for the baselines' first fit
_CHECK_TOLERANCE = 1e-6  # relative to the capacity, for the engine's check of every policy's picks


class Policy(Protocol):
    """Picks today's work: row positions into `open_denials`, in the order they would be worked.

    `open_denials` has every input column plus `true_value`, one row per open denial, sorted by arrival then
    claim_id, with a RangeIndex. The picked rows' `minutes` must fit in `capacity_minutes`.
    """

    def __call__(self, open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray: ...


PlanFn = Callable[[pd.DataFrame, dt.date], pd.DataFrame]


@dataclass(frozen=True)
class SimulationResult:
    """One run: `summary` has one row per policy (SUMMARY_COLUMNS, in the order the policies were given).

    `worked` has one row per denial worked (WORKED_COLUMNS), by policy, in the order it was worked. `days` is the
    number of working days replayed, `denials` the number of denials that arrived in the replay window.
    """

    summary: pd.DataFrame
    worked: pd.DataFrame
    capacity_minutes: float
    days: int
    denials: int


# ---- baseline policies -------------------------------------------------------------------------------------------


def first_fit(minutes: np.ndarray, capacity_minutes: float) -> np.ndarray:
    """Walk items in the given order and take each whose minutes fit in what is left; skip the rest.

    Returns the positions taken, in order. Vectorised: take the longest prefix of the items that still fit,
    then filter again with the minutes left (each round takes at least one item).
    """
    m = np.asarray(minutes, dtype=float)
    left = float(capacity_minutes) * (1.0 + _FIT_TOLERANCE)
    taken = np.zeros(m.size, dtype=bool)
    candidates = np.arange(m.size)
    while candidates.size:
        fits = candidates[m[candidates] <= left]
        if fits.size == 0:
            break
        used = np.cumsum(m[fits])
        k = int(np.searchsorted(used, left, side="right"))
        taken[fits[:k]] = True
        left -= float(used[k - 1])
        candidates = fits[k + 1 :]  # fits[k] did not fit after the prefix
    return np.flatnonzero(taken)


def oldest_first(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
    """Earliest arrival first (ties: claim_id), first fit."""
    arrival = _days(open_denials["arrival"]).astype("int64")
    order = _order_by(open_denials, arrival)
    return _fill(open_denials, order, capacity_minutes)


def largest_first(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
    """Largest denied amount first (ties: claim_id), first fit."""
    amount = open_denials["denied_amount"].to_numpy(dtype=float)
    order = _order_by(open_denials, -amount)
    return _fill(open_denials, order, capacity_minutes)


def deadline_first(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
    """Nearest deadline not yet passed first; then no deadline; then deadlines already passed (ties: claim_id)."""
    due = _days(open_denials["deadline"])
    has_due = ~np.isnat(due)
    live = has_due & (due >= np.datetime64(today, "D"))
    group = np.where(live, 0, np.where(has_due, 2, 1))
    key = np.where(live, due.astype("int64"), 0)
    order = _order_by(open_denials, key, group)
    return _fill(open_denials, order, capacity_minutes)


def planned_policy(*, plan_fn: PlanFn, value_column: str = "expected_recovery") -> Policy:
    """A Policy from a planner shaped like `queue_plan.plan_queue`: work its `work_today` rows, in order.

    `plan_fn(frame, today)` gets PLAN_INPUT_COLUMNS, with `expected_recovery` taken from `value_column` of the
    open frame (`true_value` for the oracle), and returns a frame with `claim_id` and `status`. The planner knows
    its own capacity (`standard_policies` gives it the minutes it passes to `simulate`); the engine checks it.
    """

    def policy(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
        if value_column not in open_denials.columns:
            raise ValueError(f"planned_policy: the open denials have no value column {value_column!r}")
        frame = pd.DataFrame(
            {
                "claim_id": open_denials["claim_id"].to_numpy(),
                "expected_recovery": open_denials[value_column].to_numpy(dtype=float),
                "action": open_denials["action"].to_numpy(),
                "deadline": open_denials["deadline"].to_numpy(),
                "minutes": open_denials["minutes"].to_numpy(dtype=float),
            }
        )
        plan = plan_fn(frame, today)
        if not {"claim_id", "status"} <= set(plan.columns):
            raise ValueError("planned_policy: the plan must have the columns claim_id and status")
        chosen = plan.loc[plan["status"].eq("work_today").to_numpy(), "claim_id"].to_numpy()
        positions = pd.Index(frame["claim_id"]).get_indexer(chosen)
        if (positions < 0).any():
            raise ValueError("planned_policy: the plan chose a claim_id that is not among the open denials")
        return positions.astype(np.int64)

    return policy


def oracle_policy(*, plan_fn: PlanFn) -> Policy:
    """`planned_policy` on the true expected value (`true_p * true_amount`) instead of the model's estimate."""
    return planned_policy(plan_fn=plan_fn, value_column=TRUE_VALUE_COLUMN)


def standard_policies(*, capacity_minutes: float) -> dict[str, Policy]:
    """The three baselines, ClaimSight (the serving planner on the model's expected dollars) and the oracle
    (the same planner on the true expected dollars), each planning `capacity_minutes` a working day."""
    settings = QueueSettings(capacity_minutes_per_day=capacity_minutes)

    def plan(frame: pd.DataFrame, today: dt.date) -> pd.DataFrame:
        return plan_queue(frame, today=today, settings=settings)

    return {
        "oldest_first": oldest_first,
        "largest_first": largest_first,
        "deadline_first": deadline_first,
        "claimsight": planned_policy(plan_fn=plan),
        "oracle": oracle_policy(plan_fn=plan),
    }


# ---- the replay --------------------------------------------------------------------------------------------------


def simulate(
    denials: pd.DataFrame,
    *,
    policies: Mapping[str, Policy],
    capacity_minutes: float,
    start: dt.date,
    end: dt.date,
    tail_days: int = 30,
    seed: int = 7,
    late_factor: float = 0.08,
    cost_per_minute: float = 0.75,
    workdays_only: bool = True,
) -> SimulationResult:
    """Replay the denials that arrived from `start` to `end` (inclusive) under each policy; see the module docstring.

    Work days run from `start` to `end + tail_days`. Each policy gets `capacity_minutes` per working day and, on
    each working day, its own open denials: every input column, with `arrival` and `deadline` truncated to the
    day, plus `true_value` (`true_p * true_amount`, replacing any input column of that name), sorted by arrival
    then claim_id. The engine checks every policy's picks (in range, no repeats, within capacity) and raises a
    ValueError naming the policy otherwise. Days with nothing open skip the policy call.
    """
    _check_arguments(
        policies=policies,
        capacity_minutes=capacity_minutes,
        start=start,
        end=end,
        tail_days=tail_days,
        seed=seed,
        late_factor=late_factor,
        cost_per_minute=cost_per_minute,
    )
    _check_denials(denials)
    start_d, end_d = np.datetime64(start, "D"), np.datetime64(end, "D")
    last_d = end_d + np.timedelta64(tail_days, "D")

    # Common random numbers: one draw per input denial, in claim_id order, whatever the window or the row order.
    ids_all = denials["claim_id"].to_numpy(dtype=str)
    u_all = np.empty(len(ids_all))
    u_all[np.argsort(ids_all, kind="stable")] = np.random.default_rng(seed).random(len(ids_all))

    arrival_all = _days(denials["arrival"])
    inside = np.flatnonzero((arrival_all >= start_d) & (arrival_all <= end_d))
    order = inside[np.lexsort((ids_all[inside], arrival_all[inside]))]
    base = denials.iloc[order].copy()
    base.index = pd.RangeIndex(len(base))
    base["arrival"] = _as_midnight(arrival_all[order])
    base["deadline"] = _as_midnight(_days(denials["deadline"])[order])
    base[TRUE_VALUE_COLUMN] = base["true_p"].to_numpy(dtype=float) * base["true_amount"].to_numpy(dtype=float)

    n = len(base)
    u = u_all[order]
    arrival = arrival_all[order]
    due = _days(base["deadline"])
    minutes = base["minutes"].to_numpy(dtype=float)
    true_p = base["true_p"].to_numpy(dtype=float)
    true_amount = base["true_amount"].to_numpy(dtype=float)
    claim_id = base["claim_id"].to_numpy()

    calendar = start_d + np.arange((last_d - start_d).astype(int) + 1)
    work_days = calendar[np.is_busday(calendar)] if workdays_only else calendar
    arrived = np.searchsorted(arrival, work_days, side="right")  # rows [0, arrived) are known on that day
    cap = float(capacity_minutes)

    day_of = {name: np.full(n, -1, dtype=np.int64) for name in policies}  # index into work_days, -1: not worked
    picked: dict[str, list[np.ndarray]] = {name: [] for name in policies}
    for d, (day, known) in enumerate(zip(work_days, arrived.tolist(), strict=True)):
        today = day.astype(dt.date)
        for name, policy in policies.items():
            worked_on = day_of[name]
            open_pos = np.flatnonzero(worked_on[:known] < 0)
            if open_pos.size == 0:
                continue
            view = base.take(open_pos)
            view.index = pd.RangeIndex(open_pos.size)
            picks = _checked_picks(
                policy(view, today, cap), name=name, n_open=open_pos.size, minutes=minutes[open_pos], capacity=cap
            )
            chosen = open_pos[picks]
            worked_on[chosen] = d
            picked[name].append(chosen)

    has_due = ~np.isnat(due)
    due_in_period = has_due & (due >= start_d) & (due <= last_d)
    rows = []
    worked_frames = []
    for name in policies:
        on = day_of[name]
        worked = on >= 0
        work_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        work_day[worked] = work_days[on[worked]]
        late = worked & has_due & (work_day > due)
        p = np.where(worked, true_p * np.where(late, late_factor, 1.0), 0.0)
        recovered = worked & (u < p)
        expected = p * true_amount
        missed = due_in_period & (~worked | late)
        used = float(minutes[worked].sum())
        hours = used / 60.0
        expected_total = float(expected.sum())
        rows.append(
            {
                "policy": name,
                "worked": int(worked.sum()),
                "minutes_used": used,
                "staff_hours": hours,
                "recovered_dollars": float(true_amount[recovered].sum()),
                "expected_dollars": expected_total,
                "cost": used * cost_per_minute,
                "net_dollars": expected_total - used * cost_per_minute,
                "dollars_per_staff_hour": expected_total / hours if hours > 0 else math.nan,
                "deadlines_missed": int(missed.sum()),
                "missed_value": float((true_p * true_amount)[missed].sum()),
                "missed_worth_meeting": int((missed & (true_p * true_amount > minutes * cost_per_minute)).sum()),
                "unworked": int((~worked).sum()),
            }
        )
        seq = np.concatenate(picked[name]) if picked[name] else np.zeros(0, dtype=np.int64)
        worked_frames.append(
            pd.DataFrame(
                {
                    "policy": pd.Series([name] * seq.size, dtype=object),
                    "claim_id": claim_id[seq],
                    "day": _as_midnight(work_day[seq]),
                    "late": late[seq],
                    "recovered": recovered[seq],
                    "expected_dollars": expected[seq],
                }
            )
        )

    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS[:-1]))
    oracle = summary.loc[summary["policy"].eq(ORACLE), "expected_dollars"]
    oracle_total = float(oracle.iloc[0]) if len(oracle) else math.nan
    summary["share_of_oracle"] = (
        summary["expected_dollars"] / oracle_total if oracle_total > 0 else pd.Series(math.nan, index=summary.index)
    )
    worked_all = pd.concat(worked_frames, ignore_index=True)
    return SimulationResult(
        summary=summary,
        worked=worked_all,
        capacity_minutes=cap,
        days=int(work_days.size),
        denials=n,
    )


# ---- helpers -----------------------------------------------------------------------------------------------------


def _days(column: pd.Series) -> np.ndarray:
    """A datetime column as datetime64[D] (NaT kept); time zones dropped."""
    values = pd.to_datetime(column)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[D]")


def _as_midnight(days: np.ndarray) -> pd.Series:
    return pd.Series(days.astype("datetime64[ns]"))


def _order_by(open_denials: pd.DataFrame, *keys: np.ndarray) -> np.ndarray:
    """Row positions sorted by the keys (last key first, as np.lexsort), then claim_id."""
    ids = open_denials["claim_id"].to_numpy(dtype=str)
    by_id = np.argsort(ids, kind="stable")
    sub = np.lexsort(tuple(k[by_id] for k in keys)) if keys else np.arange(by_id.size)
    return by_id[sub]


def _fill(open_denials: pd.DataFrame, order: np.ndarray, capacity_minutes: float) -> np.ndarray:
    minutes = open_denials["minutes"].to_numpy(dtype=float)
    return order[first_fit(minutes[order], capacity_minutes)]


def _checked_picks(picks: object, *, name: str, n_open: int, minutes: np.ndarray, capacity: float) -> np.ndarray:
    arr = np.asarray(picks)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"policy {name!r} must return a 1-D array of integer row positions")
    if arr.min() < 0 or arr.max() >= n_open:
        raise ValueError(f"policy {name!r} returned row positions outside the open denials")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"policy {name!r} picked the same denial twice on one day")
    used = float(minutes[arr].sum())
    if used > capacity * (1.0 + _CHECK_TOLERANCE):
        raise ValueError(f"policy {name!r} over-committed: {used:g} minutes picked for a {capacity:g}-minute day")
    return arr.astype(np.int64)


def _is_number(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _check_arguments(
    *,
    policies: Mapping[str, Policy],
    capacity_minutes: float,
    start: dt.date,
    end: dt.date,
    tail_days: int,
    seed: int,
    late_factor: float,
    cost_per_minute: float,
) -> None:
    if not policies:
        raise ValueError("policies must name at least one policy")
    if not all(isinstance(k, str) and k for k in policies):
        raise ValueError("policies must be keyed by non-empty names")
    bad = [k for k, v in policies.items() if not callable(v)]
    if bad:
        raise ValueError(f"policies {bad} are not callable")
    if not _is_number(capacity_minutes) or capacity_minutes <= 0:
        raise ValueError("capacity_minutes must be a positive, finite number of minutes")
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise ValueError("start and end must be dates")
    if np.datetime64(end, "D") < np.datetime64(start, "D"):
        raise ValueError("end must not be before start")
    if not _is_int(tail_days) or tail_days < 0:
        raise ValueError("tail_days must be an integer >= 0")
    if not _is_int(seed) or seed < 0:
        raise ValueError("seed must be an integer >= 0")
    if not _is_number(late_factor) or not 0 <= late_factor <= 1:
        raise ValueError("late_factor must be a number in [0, 1]")
    if not _is_number(cost_per_minute) or cost_per_minute < 0:
        raise ValueError("cost_per_minute must be a non-negative, finite number of dollars")


def _check_denials(denials: pd.DataFrame) -> None:
    """Column by column, naming the column and the rule, never the offending values (they may be PHI)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in denials.columns]
    if missing:
        raise ValueError(f"denials is missing columns {missing}")
    ids = denials["claim_id"]
    if ids.isna().any() or pd.api.types.infer_dtype(ids, skipna=False) not in ("string", "empty"):
        raise ValueError("claim_id must be a string on every row")
    if ids.duplicated().any():
        raise ValueError("claim_id must be unique")
    for column, may_be_missing in (("arrival", False), ("deadline", True)):
        values = denials[column]
        if not pd.api.types.is_datetime64_any_dtype(values):
            raise ValueError(f"{column} must be a datetime64 column")
        if not may_be_missing and values.isna().any():
            raise ValueError(f"{column} must be present on every row")
    action = denials["action"]
    if action.isna().any() or action.eq("").any() or pd.api.types.infer_dtype(action) not in ("string", "empty"):
        raise ValueError("action must be a non-empty string on every row")
    rules: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
        "minutes": ("a positive, finite number", lambda v: v > 0),
        "denied_amount": ("a finite number >= 0", lambda v: v >= 0),
        "expected_recovery": ("a finite number of dollars >= 0", lambda v: v >= 0),
        "true_p": ("a probability in [0, 1]", lambda v: (v >= 0) & (v <= 1)),
        "true_amount": ("a finite number of dollars >= 0", lambda v: v >= 0),
    }
    for column, (rule, ok) in rules.items():
        values = denials[column]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            raise ValueError(f"{column} must be numeric")
        v = values.to_numpy(dtype=float)
        if not np.all(np.isfinite(v) & ok(v)):
            raise ValueError(f"{column} must be {rule} on every row")
