"""Policy simulator: capacity, arrivals and weekends hold; outcomes share random numbers; the oracle wins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.decisions.queue_plan import DEFAULT_MINUTES, QueueSettings, plan_queue
from training.simulation import (
    SUMMARY_COLUMNS,
    WORKED_COLUMNS,
    Policy,
    SimulationResult,
    deadline_first,
    first_fit,
    largest_first,
    oldest_first,
    oracle_policy,
    planned_policy,
    simulate,
    standard_policies,
)

MONDAY = dt.date(2026, 11, 16)
BASELINES: Mapping[str, Policy] = {
    "oldest_first": oldest_first,
    "largest_first": largest_first,
    "deadline_first": deadline_first,
}


def world(n: int, *, seed: int, start: dt.date = MONDAY, days: int = 28) -> pd.DataFrame:
    """Random denials arriving over `days` calendar days from `start` (a few before and after, to be left out).

    Values vary widely: amounts are lognormal, the true chance of recovery is unrelated to the amount, and the
    model's estimate is a noisy version of the true value.
    """
    rng = np.random.default_rng(seed)
    actions = np.array(sorted(DEFAULT_MINUTES))
    action = rng.choice(actions, n)
    arrival = pd.Timestamp(start) + pd.to_timedelta(rng.integers(-3, days + 3, n), unit="D")
    deadline = (arrival + pd.to_timedelta(rng.integers(-2, 45, n), unit="D")).where(rng.random(n) > 0.2)
    amount = rng.lognormal(5.0, 1.5, n)
    true_p = rng.beta(1.0, 1.5, n)
    true_amount = amount * rng.uniform(0.3, 1.0, n)
    return pd.DataFrame(
        {
            "claim_id": [f"C{i:05d}" for i in rng.permutation(n)],
            "arrival": arrival,
            "deadline": deadline,
            "action": action,
            "minutes": pd.Series(action).map(dict(DEFAULT_MINUTES)).to_numpy(dtype=float),
            "denied_amount": amount,
            "expected_recovery": true_p * true_amount * rng.lognormal(0.0, 0.5, n),
            "true_p": true_p,
            "true_amount": true_amount,
        }
    )


def crafted(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows of (claim_id, arrival, deadline or None, minutes, denied_amount, true_p, true_amount)."""
    return pd.DataFrame(
        {
            "claim_id": [r[0] for r in rows],
            "arrival": pd.to_datetime(pd.Series([r[1] for r in rows], dtype=object)),
            "deadline": pd.to_datetime(pd.Series([r[2] for r in rows], dtype=object)),
            "action": ["appeal"] * len(rows),
            "minutes": [float(r[3]) for r in rows],
            "denied_amount": [float(r[4]) for r in rows],
            "expected_recovery": [float(r[5] * r[6]) for r in rows],
            "true_p": [float(r[5]) for r in rows],
            "true_amount": [float(r[6]) for r in rows],
        }
    )


def plan_with(capacity: float, **settings: Any) -> Callable[[pd.DataFrame, dt.date], pd.DataFrame]:
    cfg = QueueSettings(capacity_minutes_per_day=capacity, **settings)
    return lambda frame, today: plan_queue(frame, today=today, settings=cfg)


def tight_capacity(df: pd.DataFrame, *, start: dt.date, end: dt.date, share: float) -> float:
    """Minutes per working day that cover `share` of the minutes arriving in the window."""
    arrival = df["arrival"].dt.date
    inside = df.loc[(arrival >= start) & (arrival <= end), "minutes"].sum()
    return share * float(inside) / int(np.busday_count(start, end + dt.timedelta(days=1)))


def all_policies(capacity: float) -> dict[str, Policy]:
    plan = plan_with(capacity)
    return {**BASELINES, "claimsight": planned_policy(plan_fn=plan), "oracle": oracle_policy(plan_fn=plan)}


END = MONDAY + dt.timedelta(days=27)


@pytest.fixture(scope="module")
def run() -> tuple[pd.DataFrame, SimulationResult]:
    df = world(1200, seed=11)
    capacity = tight_capacity(df, start=MONDAY, end=END, share=0.4)
    return df, simulate(df, policies=all_policies(capacity), capacity_minutes=capacity, start=MONDAY, end=END)


# ---- invariants --------------------------------------------------------------------------------------------------


def test_capacity_arrivals_weekends_and_each_denial_once(run: tuple[pd.DataFrame, SimulationResult]) -> None:
    df, result = run
    worked = result.worked.merge(df[["claim_id", "arrival", "minutes"]], on="claim_id", validate="many_to_one")
    assert list(result.worked.columns) == list(WORKED_COLUMNS)
    assert set(worked["policy"]) == set(all_policies(1.0))

    per_day = worked.groupby(["policy", "day"])["minutes"].sum()
    assert (per_day <= result.capacity_minutes * (1 + 1e-9)).all()
    assert not worked.duplicated(["policy", "claim_id"]).any()
    assert (worked["day"] >= worked["arrival"].dt.normalize()).all()
    assert (worked["day"].dt.day_of_week < 5).all()
    last = pd.Timestamp(END + dt.timedelta(days=30))
    assert worked["day"].between(pd.Timestamp(MONDAY), last).all()

    replayed = df["arrival"].between(pd.Timestamp(MONDAY), pd.Timestamp(END))
    assert result.denials == int(replayed.sum())
    assert set(worked["claim_id"]) <= set(df.loc[replayed, "claim_id"])
    assert result.days == int(np.busday_count(MONDAY, last.date() + dt.timedelta(days=1)))


def test_summary_is_one_row_per_policy_in_order_and_adds_up(run: tuple[pd.DataFrame, SimulationResult]) -> None:
    df, result = run
    s = result.summary
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    assert list(s["policy"]) == list(all_policies(1.0))
    assert (s["worked"] + s["unworked"] == result.denials).all()
    by_policy = result.worked.groupby("policy", sort=False)
    pd.testing.assert_series_equal(
        s.set_index("policy")["expected_dollars"],
        by_policy["expected_dollars"].sum().reindex(s["policy"]),
        check_names=False,
    )
    assert s["staff_hours"].to_numpy() == pytest.approx(s["minutes_used"].to_numpy() / 60)
    assert s["cost"].to_numpy() == pytest.approx(s["minutes_used"].to_numpy() * 0.75)
    assert s["net_dollars"].to_numpy() == pytest.approx((s["expected_dollars"] - s["cost"]).to_numpy())
    per_hour = (s["expected_dollars"] / s["staff_hours"]).to_numpy()
    assert s["dollars_per_staff_hour"].to_numpy() == pytest.approx(per_hour)
    assert s.set_index("policy").loc["oracle", "share_of_oracle"] == 1.0


@pytest.mark.slow  # a full simulation of every policy
def test_oracle_beats_every_baseline_when_capacity_is_tight() -> None:
    for seed in (3, 4):
        df = world(1500, seed=seed)
        capacity = tight_capacity(df, start=MONDAY, end=END, share=0.25)
        result = simulate(df, policies=all_policies(capacity), capacity_minutes=capacity, start=MONDAY, end=END)
        expected = result.summary.set_index("policy")["expected_dollars"]
        for name in BASELINES:
            assert expected["oracle"] >= expected[name], (seed, name)
        # The oracle plans on the true value, so working the same hours with an estimate cannot do better by much.
        assert expected["claimsight"] <= expected["oracle"] * 1.02


# ---- the baselines -----------------------------------------------------------------------------------------------


def test_first_fit_skips_what_does_not_fit_and_goes_on() -> None:
    assert list(first_fit(np.array([30.0, 40.0, 20.0, 15.0, 5.0, 1.0]), 60)) == [0, 2, 4, 5]
    assert list(first_fit(np.array([70.0, 60.0]), 60)) == [1]
    assert list(first_fit(np.zeros(0), 60)) == []
    assert list(first_fit(np.array([0.1] * 3), 0.3)) == [0, 1, 2]  # float sums within tolerance


def test_largest_first_takes_the_largest_that_fits_then_fills() -> None:
    df = crafted(
        [
            ("a", MONDAY, None, 45, 500, 0.5, 100),
            ("b", MONDAY, None, 30, 300, 0.5, 100),  # does not fit after a
            ("c", MONDAY, None, 10, 100, 0.5, 100),
            ("e", MONDAY, None, 10, 50, 0.5, 100),  # ties with d on amount: d first
            ("d", MONDAY, None, 5, 50, 0.5, 100),
            ("f", MONDAY, None, 100, 900, 0.5, 100),  # bigger than the whole day
        ]
    )
    assert list(df["claim_id"].iloc[largest_first(df, MONDAY, 60)]) == ["a", "c", "d"]
    assert list(df["claim_id"].iloc[largest_first(df, MONDAY, 70)]) == ["a", "c", "d", "e"]


def test_oldest_first_breaks_ties_by_claim_id() -> None:
    tue = MONDAY + dt.timedelta(days=1)
    df = crafted(
        [
            ("z", tue, None, 10, 1, 0.5, 100),
            ("y", MONDAY, None, 10, 1, 0.5, 100),
            ("x", MONDAY, None, 50, 1, 0.5, 100),
            ("w", tue, None, 10, 1, 0.5, 100),
        ]
    )
    assert list(df["claim_id"].iloc[oldest_first(df, tue, 100)]) == ["x", "y", "w", "z"]
    assert list(df["claim_id"].iloc[oldest_first(df, tue, 25)]) == ["y", "w"]  # x is too big: skipped


def test_deadline_first_live_deadlines_then_none_then_passed() -> None:
    wed = MONDAY + dt.timedelta(days=2)
    df = crafted(
        [
            ("passed", MONDAY, MONDAY + dt.timedelta(days=1), 10, 1, 0.5, 100),
            ("none_b", MONDAY, None, 10, 1, 0.5, 100),
            ("later", MONDAY, MONDAY + dt.timedelta(days=9), 10, 1, 0.5, 100),
            ("today", MONDAY, wed, 10, 1, 0.5, 100),
            ("none_a", MONDAY, None, 10, 1, 0.5, 100),
            ("soon", MONDAY, wed + dt.timedelta(days=1), 50, 1, 0.5, 100),
        ]
    )
    order = list(df["claim_id"].iloc[deadline_first(df, wed, 1000)])
    assert order == ["today", "soon", "later", "none_a", "none_b", "passed"]
    assert list(df["claim_id"].iloc[deadline_first(df, wed, 35)]) == ["today", "later", "none_a"]


def test_planned_policy_works_the_plans_work_today_rows_in_plan_order() -> None:
    df = crafted([("a", MONDAY, None, 10, 1, 0.5, 100), ("b", MONDAY, None, 10, 1, 0.9, 100)])
    df["true_value"] = df["true_p"] * df["true_amount"]
    seen: list[pd.DataFrame] = []

    def plan(frame: pd.DataFrame, today: dt.date) -> pd.DataFrame:
        seen.append(frame)
        return pd.DataFrame({"claim_id": ["b", "x", "a"], "status": ["work_today", "no_capacity", "work_today"]})

    assert list(planned_policy(plan_fn=plan)(df, MONDAY, 60)) == [1, 0]
    assert list(seen[0].columns) == ["claim_id", "expected_recovery", "action", "deadline", "minutes"]
    assert list(seen[0]["expected_recovery"]) == [50, 90]
    oracle_policy(plan_fn=plan)(df, MONDAY, 60)
    assert list(seen[1]["expected_recovery"]) == pytest.approx([50, 90])

    with pytest.raises(ValueError, match="value column"):
        planned_policy(plan_fn=plan, value_column="score")(df, MONDAY, 60)

    def stranger(frame: pd.DataFrame, today: dt.date) -> pd.DataFrame:
        return pd.DataFrame({"claim_id": ["x"], "status": ["work_today"]})

    with pytest.raises(ValueError, match="not among the open denials"):
        planned_policy(plan_fn=stranger)(df, MONDAY, 60)


def test_standard_policies_plan_with_the_serving_planner() -> None:
    """The replay judges the planner that serves: same picks as `plan_queue` at the same capacity."""
    df = world(60, seed=11)
    df["true_value"] = df["true_p"] * df["true_amount"]
    policies = standard_policies(capacity_minutes=90.0)
    assert list(policies) == ["oldest_first", "largest_first", "deadline_first", "claimsight", "oracle"]
    served = planned_policy(plan_fn=plan_with(90.0))(df, MONDAY, 90.0)
    assert list(policies["claimsight"](df, MONDAY, 90.0)) == list(served)
    assert len(served) > 0


# ---- outcomes ----------------------------------------------------------------------------------------------------


def test_common_random_numbers_and_seeds() -> None:
    df = world(800, seed=5)
    capacity = tight_capacity(df, start=MONDAY, end=END, share=0.5)
    args: dict[str, Any] = {"policies": BASELINES, "capacity_minutes": capacity, "start": MONDAY, "end": END}
    a = simulate(df, seed=1, **args)
    pd.testing.assert_frame_equal(a.summary, simulate(df.sample(frac=1.0, random_state=2), seed=1, **args).summary)
    pd.testing.assert_frame_equal(a.worked, simulate(df, seed=1, **args).worked)

    # The same denial worked on time by two policies has the same outcome.
    on_time = a.worked[~a.worked["late"]]
    both = on_time[on_time["policy"].eq("oldest_first")].merge(
        on_time[on_time["policy"].eq("largest_first")], on="claim_id", suffixes=("_old", "_large")
    )
    assert len(both) > 50
    assert (both["recovered_old"] == both["recovered_large"]).all()
    assert (both["expected_dollars_old"] == both["expected_dollars_large"]).all()

    b = simulate(df, seed=2, **args)
    assert not np.array_equal(a.summary["recovered_dollars"], b.summary["recovered_dollars"])
    pd.testing.assert_series_equal(a.summary["expected_dollars"], b.summary["expected_dollars"])
    pd.testing.assert_frame_equal(a.worked.drop(columns="recovered"), b.worked.drop(columns="recovered"))


def test_late_work_uses_the_late_factor_and_counts_as_a_missed_deadline() -> None:
    df = crafted(
        [
            ("a", MONDAY, MONDAY, 45, 1, 1.0, 1000),  # worked Monday, on time
            ("b", MONDAY, MONDAY, 45, 1, 1.0, 500),  # only room on Tuesday: late
        ]
    )
    args: dict[str, Any] = {"policies": {"oldest": oldest_first}, "capacity_minutes": 45, "start": MONDAY}
    hard = simulate(df, late_factor=0.0, end=MONDAY, **args)
    row = hard.summary.iloc[0]
    assert row["expected_dollars"] == 1000 and row["recovered_dollars"] == 1000
    assert row["deadlines_missed"] == 1 and row["missed_value"] == 500
    assert list(hard.worked["late"]) == [False, True]
    assert list(hard.worked["recovered"]) == [True, False]
    assert list(hard.worked["day"]) == [pd.Timestamp(MONDAY), pd.Timestamp(MONDAY + dt.timedelta(days=1))]

    soft = simulate(df, late_factor=0.5, end=MONDAY, **args)
    assert soft.summary.loc[0, "expected_dollars"] == 1250
    assert soft.summary.loc[0, "deadlines_missed"] == 1


def test_missed_deadlines_count_unworked_and_late_inside_the_period_only() -> None:
    friday = MONDAY + dt.timedelta(days=4)
    df = crafted(
        [
            ("a_due_fri", MONDAY, friday, 30, 1, 0.5, 100),
            ("b_due_later", MONDAY, friday + dt.timedelta(days=30), 30, 1, 0.5, 100),  # after every period here
            ("c_due_mon", MONDAY, MONDAY, 30, 1, 0.4, 100),
            ("d_before_start", MONDAY - dt.timedelta(days=3), MONDAY, 30, 1, 0.5, 100),  # not replayed
        ]
    )
    args: dict[str, Any] = {"capacity_minutes": 30, "start": MONDAY, "end": MONDAY}  # one denial a day

    # Oldest first (ties by claim_id): Monday a, Tuesday b, Wednesday c, two days late.
    late = simulate(df, policies={"oldest": oldest_first}, tail_days=4, **args)
    assert late.denials == 3 and late.days == 5
    assert list(late.worked["claim_id"]) == ["a_due_fri", "b_due_later", "c_due_mon"]
    assert list(late.worked["late"]) == [False, False, True]
    row = late.summary.iloc[0]
    assert row["deadlines_missed"] == 1 and row["missed_value"] == pytest.approx(40) and row["unworked"] == 0

    # A one-day period: c is never worked and its deadline (Monday) has passed; a's (Friday) is not yet due.
    short = simulate(df, policies={"oldest": oldest_first}, tail_days=0, **args)
    row = short.summary.iloc[0]
    assert row["worked"] == 1 and row["unworked"] == 2
    assert row["deadlines_missed"] == 1 and row["missed_value"] == pytest.approx(40)

    # Nearest deadline first gets every denial in on time.
    ordered = simulate(df, policies={"deadline": deadline_first}, tail_days=4, **args)
    assert list(ordered.worked["claim_id"]) == ["c_due_mon", "a_due_fri", "b_due_later"]
    assert ordered.summary.loc[0, "deadlines_missed"] == 0


def test_weekends_wait_unless_every_day_is_a_working_day() -> None:
    saturday = MONDAY - dt.timedelta(days=2)
    df = crafted([("a", saturday, None, 10, 1, 0.5, 100)])
    args: dict[str, Any] = {"policies": BASELINES, "capacity_minutes": 60, "start": saturday, "end": saturday}
    weekdays = simulate(df, tail_days=3, **args)
    assert weekdays.days == 2 and set(weekdays.worked["day"]) == {pd.Timestamp(MONDAY)}
    every_day = simulate(df, tail_days=3, workdays_only=False, **args)
    assert every_day.days == 4 and set(every_day.worked["day"]) == {pd.Timestamp(saturday)}
    none = simulate(df, tail_days=1, **args)
    assert none.days == 0 and none.worked.empty
    assert (none.summary["unworked"] == 1).all() and none.summary["dollars_per_staff_hour"].isna().all()
    assert none.summary["share_of_oracle"].isna().all()


# ---- policies that break the rules and bad input -----------------------------------------------------------------


def test_a_policy_that_breaks_the_rules_is_named() -> None:
    df = world(200, seed=9)

    def greedy(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
        return np.arange(len(open_denials))

    def twice(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
        return np.array([0, 0])

    def outside(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
        return np.array([len(open_denials)])

    def floats(open_denials: pd.DataFrame, today: dt.date, capacity_minutes: float, /) -> np.ndarray:
        return np.array([0.0])

    for name, policy, message in [
        ("greedy", greedy, "over-committed"),
        ("twice", twice, "twice"),
        ("outside", outside, "outside"),
        ("floats", floats, "integer"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}'.*{message}"):
            simulate(df, policies={"fine": oldest_first, name: policy}, capacity_minutes=60, start=MONDAY, end=END)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda df: df.drop(columns="true_p"), "true_p"),
        (lambda df: df.assign(true_p=np.where(df.index == 3, 1.5, df["true_p"])), "true_p"),
        (lambda df: df.assign(true_amount=np.where(df.index == 3, -7.25, df["true_amount"])), "true_amount"),
        (lambda df: df.assign(minutes=np.where(df.index == 3, 0.0, df["minutes"])), "minutes"),
        (lambda df: df.assign(expected_recovery=np.where(df.index == 3, np.nan, df["expected_recovery"])), "expected"),
        (lambda df: df.assign(denied_amount=df["denied_amount"].astype(str)), "denied_amount"),
        (lambda df: df.assign(claim_id=np.where(df.index == 3, df["claim_id"].iloc[0], df["claim_id"])), "claim_id"),
        (lambda df: df.assign(claim_id=np.arange(len(df))), "claim_id"),
        (lambda df: df.assign(claim_id=df["claim_id"].where(df.index != 3)), "claim_id"),
        (lambda df: df.assign(action=df["action"].where(df.index != 3)), "action"),
        (lambda df: df.assign(arrival=df["arrival"].where(df.index != 3)), "arrival"),
        (lambda df: df.assign(deadline=df["deadline"].dt.strftime("%Y-%m-%d")), "deadline"),
        (lambda df: df.assign(action=np.where(df.index == 3, "", df["action"])), "action"),
    ],
)
def test_bad_input_names_the_column_not_the_value(change: Callable[[pd.DataFrame], pd.DataFrame], column: str) -> None:
    df = change(world(50, seed=1))
    with pytest.raises(ValueError, match=column) as info:
        simulate(df, policies=BASELINES, capacity_minutes=60, start=MONDAY, end=END)
    assert "1.5" not in str(info.value) and "7.25" not in str(info.value) and "C000" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"capacity_minutes": 0}, "capacity_minutes"),
        ({"capacity_minutes": float("nan")}, "capacity_minutes"),
        ({"end": MONDAY - dt.timedelta(days=1)}, "end"),
        ({"tail_days": -1}, "tail_days"),
        ({"late_factor": 1.5}, "late_factor"),
        ({"cost_per_minute": -1.0}, "cost_per_minute"),
        ({"policies": {}}, "policies"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"policies": BASELINES, "capacity_minutes": 60, "start": MONDAY, "end": END, **kwargs}
    with pytest.raises(ValueError, match=name):
        simulate(world(20, seed=1), **args)
