"""Appeal-queue policy: which open denials to work, on which day and in what order.

Pure numpy/pandas on purpose. The inputs are denials that were already scored upstream
(`expected_recovery` comes from the recovery model), so the policy needs no model, and it runs the same in the
nightly batch, the CLI, a future API and the held-out-month simulation that judges it against the baselines
(ARCHITECTURE.md, "The appeal queue"). It can be tested without a trained model or a web stack.

What the policy does: each open denial is worth `expected_recovery - minutes * cost_per_minute` and must be
worked on a working day no later than its deadline (less `deadline_buffer_days`). The team has the same number
of minutes every day, and the policy plans `horizon_days` calendar days ahead starting today.

1. Select. Take the denials with positive net value whose deadline has not passed, best net dollars per minute
   first (ties: earlier deadline, then claim_id). Put each on the LATEST working day on or before
   min(deadline, horizon end) that still has room. This is the classic scheduling-with-deadlines greedy, counted
   in minutes. It keeps early days free for tighter deadlines. A max segment tree over the days finds that day
   in O(log days), so the pass is O(n log n) overall, and the sort dominates.
2. Compact. Latest-day placement leaves today idle when the load is light, and re-planning every morning would
   then push the same work back forever. So, walking forward from today, each day's free minutes are filled with
   work planned for later days (best net per minute first). Moving work earlier cannot break a deadline or a day's
   capacity, so the selected set stays feasible. Minutes this frees on later days are offered again to the
   denials that did not fit, then the plan is compacted again, until nothing more fits (at most 20 rounds;
   usually one or two).
3. Rank. Order by planned day, then deadline (none last), then net per minute, then claim_id.

Why a 3-day horizon by default: the plan re-runs every morning and new denials arrive every day. A long
horizon treats the minutes of days 4..30 as free for today's open denials, so the best ones are deferred to
their deadline day and today goes to lesser ones that are about to expire; by then newer denials claim those
minutes. Replayed at a tight capacity (`training/simulation.py`), the oracle planner earned clearly more with
a 1- or 3-day horizon than with 7 or 30 days (the README's appeal-queue section has the figures).

Limits:
- This is a heuristic. With unequal minutes the problem is knapsack-like, and the greedy is not guaranteed
  optimal.
- A denial that needs more minutes than one whole day's capacity is never split across days. It is reported as
  `no_capacity`, with that reason.
- Weekends are skipped when `workdays_only`, but there is no holiday calendar.
- Capacity checks allow a 1e-9 relative float tolerance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

DEFAULT_MINUTES: Mapping[str, float] = MappingProxyType(
    {
        "correct_and_resubmit": 15,
        "appeal": 45,
        "verify_status": 10,
        "reopen": 15,
        "bill_other_payer": 15,
        "bill_patient": 5,
        "write_off": 2,
    }
)
KNOWN_ACTIONS = frozenset(DEFAULT_MINUTES)

STATUSES = ("work_today", "scheduled", "no_capacity", "deadline_passed", "not_worth_working")
REQUIRED_COLUMNS = ("claim_id", "expected_recovery", "action", "deadline")
PLAN_COLUMNS = (
    "claim_id",
    "rank",
    "status",
    "planned_day",
    "action",
    "expected_recovery",
    "minutes",
    "cost",
    "net_value",
    "net_per_minute",
    "deadline",
    "why",
)
_TOLERANCE = 1e-9  # relative to the daily capacity
_MAX_ROUNDS = 20  # select/compact rounds; usually one or two reach a plan where nothing more fits


def _is_number(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class QueueSettings:
    """The team's capacity and the cost of its time.

    `minutes_by_action` gives the minutes for each action type; a row's own `minutes` overrides it.
    `cost_per_minute` is the loaded staff cost in dollars. `deadline_buffer_days` (calendar days) plans work
    that many days before the payer's deadline.
    """

    capacity_minutes_per_day: float
    minutes_by_action: Mapping[str, float] = field(default_factory=lambda: DEFAULT_MINUTES)
    cost_per_minute: float = 0.75
    horizon_days: int = 3
    workdays_only: bool = True
    deadline_buffer_days: int = 0

    def __post_init__(self) -> None:
        cap = self.capacity_minutes_per_day
        if not _is_number(cap) or cap <= 0:
            raise ValueError(f"capacity_minutes_per_day must be a positive number of minutes, got {cap!r}")
        unknown = sorted(set(self.minutes_by_action) - KNOWN_ACTIONS)
        if unknown:
            raise ValueError(f"minutes_by_action has unknown actions {unknown}; known: {sorted(KNOWN_ACTIONS)}")
        bad = {a: m for a, m in self.minutes_by_action.items() if not _is_number(m) or m <= 0}
        if bad:
            raise ValueError(f"minutes_by_action must map each action to positive minutes, got {bad}")
        object.__setattr__(self, "minutes_by_action", MappingProxyType(dict(self.minutes_by_action)))
        if not _is_number(self.cost_per_minute) or self.cost_per_minute < 0:
            raise ValueError(f"cost_per_minute must be a non-negative number of dollars, got {self.cost_per_minute!r}")
        for name in ("horizon_days", "deadline_buffer_days"):
            value = getattr(self, name)
            low = 1 if name == "horizon_days" else 0
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class QueueSummary:
    """What the plan gets done today and within the horizon (today included), plus the count for each status."""

    expected_today: float
    net_today: float
    minutes_today: float
    items_today: int
    expected_in_horizon: float
    net_in_horizon: float
    minutes_in_horizon: float
    items_in_horizon: int
    count_by_status: Mapping[str, int]


def plan_queue(open_denials: pd.DataFrame, *, today: dt.date, settings: QueueSettings) -> pd.DataFrame:
    """Return every input row once, planned, ranked and explained (see the module docstring).

    Input columns: claim_id (unique), expected_recovery ($, >= 0), action (one of DEFAULT_MINUTES), deadline
    (datetime64; NaT means no deadline). An optional `minutes` column overrides the action's minutes where it is
    not null. Output columns are PLAN_COLUMNS. The scheduled rows come first, in rank order (`rank` is 1..k,
    NaN elsewhere). The other rows follow, grouped by status.
    """
    claim_id, expected, action, minutes = _validated_inputs(open_denials, settings)
    n = len(claim_id)
    cap = float(settings.capacity_minutes_per_day)
    tol = _TOLERANCE * cap
    cost = minutes * settings.cost_per_minute
    net = expected - cost
    per_minute = net / minutes

    deadline = pd.to_datetime(open_denials["deadline"])
    if isinstance(deadline.dtype, pd.DatetimeTZDtype):
        deadline = deadline.dt.tz_localize(None)
    due = deadline.to_numpy(dtype="datetime64[D]")
    has_due = ~np.isnat(due)
    today_d = np.datetime64(today, "D")
    latest = due - np.timedelta64(settings.deadline_buffer_days, "D")
    passed = has_due & (latest < today_d)

    days = today_d + np.arange(settings.horizon_days)
    if settings.workdays_only:
        days = days[np.is_busday(days)]
    horizon_last = today_d + np.timedelta64(settings.horizon_days - 1, "D")
    limit_day = np.where(has_due & (latest < horizon_last), latest, horizon_last)
    limit = np.searchsorted(days, limit_day, side="right") - 1  # -1: no working day in time
    too_big = minutes > cap + tol
    eligible = (net > 0) & ~passed

    # Priority: net per minute (desc), deadline (none last), claim_id.
    claim_code = pd.factorize(claim_id, sort=True)[0] if n else np.zeros(0, dtype=np.int64)
    due_key = np.where(has_due, due.astype("int64"), np.iinfo(np.int64).max)
    priority = np.lexsort((claim_code, due_key, -per_minute))
    cand = priority[eligible[priority] & (limit[priority] >= 0) & ~too_big[priority]]

    rem = np.full(len(days), cap)
    slot = np.full(cand.size, -1, dtype=np.int64)
    for _ in range(_MAX_ROUNDS):  # select, compact, offer the freed minutes to what did not fit, until stable
        unplaced = np.flatnonzero(slot < 0)
        placed_now = _place_latest(rem, limit[cand[unplaced]], minutes[cand[unplaced]], tol)
        if not (placed_now >= 0).any():
            break
        slot[unplaced] = placed_now
        _pull_forward(slot, minutes[cand], rem, tol)

    day_idx = np.full(n, -1, dtype=np.int64)
    day_idx[cand] = slot
    placed = day_idx >= 0
    status = np.full(n, "no_capacity", dtype=object)
    status[~(net > 0)] = "not_worth_working"
    status[passed] = "deadline_passed"
    status[placed] = "scheduled"
    if len(days) and days[0] == today_d:
        status[day_idx == 0] = "work_today"

    planned = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    planned[placed] = days[day_idx[placed]]
    rank = np.full(n, np.nan)
    sched = np.flatnonzero(placed)
    sched = sched[np.lexsort((claim_code[sched], -per_minute[sched], due_key[sched], day_idx[sched]))]
    rank[sched] = np.arange(1, sched.size + 1)

    why = _explain(
        status=status,
        expected=expected,
        minutes=minutes,
        cost=cost,
        net=net,
        per_minute=per_minute,
        due=due,
        planned=planned,
        limit=limit,
        too_big=too_big,
        has_due=has_due,
        capacity=cap,
        buffer_days=settings.deadline_buffer_days,
    )
    out = pd.DataFrame(
        {
            "claim_id": claim_id,
            "rank": rank,
            "status": status,
            "planned_day": pd.to_datetime(planned.astype("datetime64[ns]")),
            "action": action,
            "expected_recovery": expected,
            "minutes": minutes,
            "cost": cost,
            "net_value": net,
            "net_per_minute": per_minute,
            "deadline": pd.to_datetime(deadline.to_numpy(dtype="datetime64[ns]")),
            "why": why,
        }
    )
    group = np.where(placed, 0, pd.Series(status).map({s: i for i, s in enumerate(STATUSES)}).to_numpy())
    order = np.lexsort((claim_code, -per_minute, np.nan_to_num(rank, nan=np.inf), group))
    return out.iloc[order].reset_index(drop=True)


def summarise(plan: pd.DataFrame) -> QueueSummary:
    """Dollars, minutes and items planned for today and for the whole horizon, and the count for each status."""
    today = plan["status"].eq("work_today")
    horizon = plan["status"].isin(["work_today", "scheduled"])
    counts = plan["status"].value_counts()
    return QueueSummary(
        expected_today=float(plan.loc[today, "expected_recovery"].sum()),
        net_today=float(plan.loc[today, "net_value"].sum()),
        minutes_today=float(plan.loc[today, "minutes"].sum()),
        items_today=int(today.sum()),
        expected_in_horizon=float(plan.loc[horizon, "expected_recovery"].sum()),
        net_in_horizon=float(plan.loc[horizon, "net_value"].sum()),
        minutes_in_horizon=float(plan.loc[horizon, "minutes"].sum()),
        items_in_horizon=int(horizon.sum()),
        count_by_status=MappingProxyType({s: int(counts.get(s, 0)) for s in STATUSES}),
    )


def _validated_inputs(
    frame: pd.DataFrame, settings: QueueSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"open_denials is missing columns {missing}")
    ids = frame["claim_id"]
    if ids.isna().any() or ids.duplicated().any():
        raise ValueError("claim_id must be present and unique in open_denials")
    expected = pd.to_numeric(frame["expected_recovery"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(expected) & (expected >= 0)):
        raise ValueError("expected_recovery must be a finite, non-negative number of dollars on every row")
    action = frame["action"].to_numpy(dtype=object)
    unknown = sorted({str(a) for a in pd.unique(action)} - KNOWN_ACTIONS)
    if unknown:
        raise ValueError(f"action has unknown values {unknown}; known: {sorted(KNOWN_ACTIONS)}")
    by_action = pd.Series(action).map(dict(settings.minutes_by_action)).to_numpy(dtype=float)
    if "minutes" in frame.columns:
        given = pd.to_numeric(frame["minutes"], errors="coerce").to_numpy(dtype=float)
        minutes = np.where(np.isnan(given), by_action, given)
    else:
        minutes = by_action
    lacking = sorted({str(a) for a in action[np.isnan(minutes)]})
    if lacking:
        raise ValueError(f"minutes_by_action has no minutes for actions {lacking} and the rows give none")
    if not np.all(np.isfinite(minutes) & (minutes > 0)):
        raise ValueError("minutes must be a positive, finite number on every row")
    return ids.to_numpy(), expected, action, minutes


def _place_latest(rem: np.ndarray, limit: np.ndarray, minutes: np.ndarray, tol: float) -> np.ndarray:
    """Put each item (in the given order) on the latest day <= its limit with room; -1 if none. Updates `rem`.

    A max segment tree over the days' remaining minutes answers "rightmost day <= limit with >= m free"
    in O(log days).
    """
    n_days = len(rem)
    out = [-1] * len(limit)
    if n_days == 0:
        return np.asarray(out, dtype=np.int64)
    size = 1 << (n_days - 1).bit_length()
    tree = [-math.inf] * (2 * size)
    tree[size : size + n_days] = rem.tolist()
    for node in range(size - 1, 0, -1):
        tree[node] = max(tree[2 * node], tree[2 * node + 1])
    for k, (lim, m) in enumerate(zip(limit.tolist(), minutes.tolist(), strict=True)):
        need = m - tol
        if tree[1] < need:
            continue
        node = size + lim
        if tree[node] < need:
            # Walk up; a right child's left sibling covers the days just before. Take the first that has room.
            while node > 1 and not (node & 1 and tree[node - 1] >= need):
                node >>= 1
            if node == 1:
                continue
            node -= 1
            while node < size:  # descend, preferring the later (right) half
                node = 2 * node + 1 if tree[2 * node + 1] >= need else 2 * node
        out[k] = node - size
        tree[node] -= m
        node >>= 1
        while node:
            best = max(tree[2 * node], tree[2 * node + 1])
            if tree[node] == best:
                break
            tree[node] = best
            node >>= 1
    rem[:] = tree[size : size + n_days]
    return np.asarray(out, dtype=np.int64)


def _pull_forward(slot: np.ndarray, minutes: np.ndarray, rem: np.ndarray, tol: float) -> None:
    """Fill each day's free minutes, from the first day on, with items planned later, in the items' order.

    Sequential first fit, vectorised: take the longest prefix of the fitting items, then filter again with
    what is left. Items only ever move earlier, so deadlines and capacities still hold. Updates both arrays.
    """
    for d in range(len(rem) - 1):
        while True:
            movable = np.flatnonzero((slot > d) & (minutes <= rem[d] + tol))
            if movable.size == 0:
                break
            used = np.cumsum(minutes[movable])
            k = int(np.searchsorted(used, rem[d] + tol, side="right"))
            take = movable[:k]
            np.add.at(rem, slot[take], minutes[take])
            slot[take] = d
            rem[d] -= used[k - 1]


def _explain(
    *,
    status: np.ndarray,
    expected: np.ndarray,
    minutes: np.ndarray,
    cost: np.ndarray,
    net: np.ndarray,
    per_minute: np.ndarray,
    due: np.ndarray,
    planned: np.ndarray,
    limit: np.ndarray,
    too_big: np.ndarray,
    has_due: np.ndarray,
    capacity: float,
    buffer_days: int,
) -> list[str]:
    """One sentence per row: expected dollars, minutes, deadline, then why it has its status and place."""
    due_s = np.datetime_as_string(due, unit="D").tolist()
    planned_s = np.datetime_as_string(planned, unit="D").tolist()
    expected, minutes, cost, net, per_minute = (a.tolist() for a in (expected, minutes, cost, net, per_minute))
    limit, too_big, has_due = limit.tolist(), too_big.tolist(), has_due.tolist()
    why = []
    for i, s in enumerate(status.tolist()):
        when = f"due {due_s[i]}" if has_due[i] else "no deadline"
        head = f"${expected[i]:,.0f} expected, {minutes[i]:g} min, {when}"
        rate = f"${per_minute[i]:,.2f} net per minute"
        if s in ("work_today", "scheduled"):
            day = f"work today ({planned_s[i]})" if s == "work_today" else f"planned for {planned_s[i]}"
            fits = "fits before its deadline" if has_due[i] else "fits within the horizon"
            why.append(f"{head}: {rate}; {fits}, {day}")
        elif s == "not_worth_working":
            why.append(f"{head}: working it costs ${cost[i]:,.2f}, net ${net[i]:,.2f}; not worth working")
        elif s == "deadline_passed":
            if buffer_days:
                why.append(f"{head}: deadline passed or inside the {buffer_days}-day safety buffer")
            else:
                why.append(f"{head}: deadline passed")
        elif too_big[i]:
            why.append(f"{head}: needs more than a whole day's capacity ({capacity:g} min); work is not split")
        elif limit[i] < 0:
            end = "before its deadline" if has_due[i] else "in the horizon"
            why.append(f"{head}: {rate}; no working day left {end}")
        else:
            end = "its deadline" if has_due[i] else "the horizon ends"
            why.append(f"{head}: {rate}; no room before {end} after work worth more per minute")
    return why
