"""Appeal-queue policy: capacity and deadlines always hold, and it beats the common baselines where they fail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.decisions.queue_plan import (
    DEFAULT_MINUTES,
    PLAN_COLUMNS,
    STATUSES,
    QueueSettings,
    plan_queue,
    summarise,
)

MONDAY = dt.date(2026, 11, 16)
RANKED = ("work_today", "scheduled")


def frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows of (claim_id, expected_recovery, action, deadline or None[, minutes or None])."""
    out = pd.DataFrame(
        {
            "claim_id": [r[0] for r in rows],
            "expected_recovery": [float(r[1]) for r in rows],
            "action": [r[2] for r in rows],
            "deadline": pd.to_datetime(pd.Series([r[3] for r in rows], dtype=object)),
        }
    )
    if any(len(r) > 4 for r in rows):
        out["minutes"] = [r[4] if len(r) > 4 else None for r in rows]
    return out


def fill_from_today(
    open_denials: pd.DataFrame, *, today: dt.date, settings: QueueSettings, key: Callable[[pd.DataFrame], pd.Series]
) -> float:
    """Baseline: take denials in `key` order, each on the earliest working day with room; miss it if that is late.

    Returns the expected dollars it gets worked within the horizon.
    """
    df = open_denials.assign(minutes=open_denials["action"].map(dict(settings.minutes_by_action)))
    df = df.assign(k=key(df)).sort_values(["k", "claim_id"])
    days = [today + dt.timedelta(d) for d in range(settings.horizon_days)]
    days = [d for d in days if not settings.workdays_only or d.weekday() < 5]
    free = dict.fromkeys(days, settings.capacity_minutes_per_day)
    total = 0.0
    dues = [None if pd.isna(d) else d.date() for d in df["deadline"]]
    for minutes, due, amount in zip(df["minutes"].tolist(), dues, df["expected_recovery"].tolist(), strict=True):
        day = next((d for d in days if free[d] >= minutes), None)
        if day is None or (due is not None and day > due):
            continue
        free[day] -= minutes
        total += amount
    return total


def net_per_minute_first(df: pd.DataFrame) -> pd.Series:
    return -(df["expected_recovery"] - 0.75 * df["minutes"]) / df["minutes"]


def deadline_first(df: pd.DataFrame) -> pd.Series:
    return df["deadline"].fillna(pd.Timestamp.max)


# ---- random queues -------------------------------------------------------------------------------------------

ACTIONS = sorted(DEFAULT_MINUTES)


@st.composite
def queues(draw: st.DrawFn) -> tuple[pd.DataFrame, dt.date, QueueSettings]:
    today = MONDAY + dt.timedelta(days=draw(st.integers(0, 6)))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 3000),
                st.sampled_from(ACTIONS),
                st.none() | st.integers(-5, 40),
                st.none() | st.integers(1, 150),
            ),
            max_size=40,
        )
    )
    df = frame(
        [
            (f"C{i:03d}", amount, action, None if due is None else today + dt.timedelta(days=due), minutes)
            for i, (amount, action, due, minutes) in enumerate(rows)
        ]
    )
    cfg = QueueSettings(
        capacity_minutes_per_day=draw(st.integers(5, 240)),
        cost_per_minute=draw(st.sampled_from([0.0, 0.75, 3.0])),
        horizon_days=draw(st.integers(1, 21)),
        workdays_only=draw(st.booleans()),
        deadline_buffer_days=draw(st.integers(0, 3)),
    )
    return df, today, cfg


@pytest.mark.slow  # 300-example property search
@settings(max_examples=300, deadline=None)
@given(queues())
def test_never_more_minutes_on_a_day_than_capacity(case: tuple[pd.DataFrame, dt.date, QueueSettings]) -> None:
    df, today, cfg = case
    plan = plan_queue(df, today=today, settings=cfg)
    worked = plan[plan["rank"].notna()]
    per_day = worked.groupby("planned_day")["minutes"].sum()
    assert (per_day <= cfg.capacity_minutes_per_day + 1e-6).all()
    start = pd.Timestamp(today)
    assert worked["planned_day"].between(start, start + pd.Timedelta(days=cfg.horizon_days - 1)).all()
    if cfg.workdays_only:
        assert (worked["planned_day"].dt.day_of_week < 5).all()


@pytest.mark.slow  # 300-example property search
@settings(max_examples=300, deadline=None)
@given(queues())
def test_never_plans_an_item_after_its_deadline(case: tuple[pd.DataFrame, dt.date, QueueSettings]) -> None:
    df, today, cfg = case
    plan = plan_queue(df, today=today, settings=cfg)
    dated = plan[plan["rank"].notna() & plan["deadline"].notna()]
    latest = dated["deadline"] - pd.Timedelta(days=cfg.deadline_buffer_days)
    assert (dated["planned_day"] <= latest).all()


@pytest.mark.slow  # 300-example property search
@settings(max_examples=300, deadline=None)
@given(queues())
def test_plan_is_complete_consistent_and_explained(case: tuple[pd.DataFrame, dt.date, QueueSettings]) -> None:
    df, today, cfg = case
    plan = plan_queue(df, today=today, settings=cfg)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    assert sorted(plan["claim_id"]) == sorted(df["claim_id"])
    assert set(plan["status"]) <= set(STATUSES)

    ranked = plan["rank"].notna()
    assert (ranked == plan["status"].isin(RANKED)).all()
    assert (ranked == plan["planned_day"].notna()).all()
    assert sorted(plan.loc[ranked, "rank"]) == list(range(1, ranked.sum() + 1))
    on_today = plan.loc[ranked, "planned_day"].eq(pd.Timestamp(today))
    assert (on_today == plan.loc[ranked, "status"].eq("work_today")).all()
    in_rank_order = plan[ranked].sort_values("rank")
    assert in_rank_order["planned_day"].is_monotonic_increasing

    # Nothing worth <= 0 and nothing past its deadline is ever ranked.
    assert not (ranked & (plan["net_value"] <= 0)).any()
    assert not (ranked & (plan["deadline"] < pd.Timestamp(today))).any()
    assert (plan.loc[plan["net_value"] <= 0, "status"].isin(["not_worth_working", "deadline_passed"])).all()

    for amount, minutes, why in zip(plan["expected_recovery"], plan["minutes"], plan["why"], strict=True):
        assert f"${amount:,.0f} expected" in why
        assert f"{minutes:g} min" in why


@pytest.mark.slow  # 300-example property search
@settings(max_examples=300, deadline=None)
@given(queues())
def test_nothing_left_out_would_have_fitted(case: tuple[pd.DataFrame, dt.date, QueueSettings]) -> None:
    """A worthwhile item reported no_capacity has no working day in time with enough free minutes."""
    df, today, cfg = case
    plan = plan_queue(df, today=today, settings=cfg)
    used = plan[plan["rank"].notna()].groupby(plan["planned_day"].dt.date)["minutes"].sum()
    days = [today + dt.timedelta(d) for d in range(cfg.horizon_days)]
    days = [d for d in days if not cfg.workdays_only or d.weekday() < 5]
    left_out = plan[plan["status"].eq("no_capacity")]
    for claim, due, minutes in zip(left_out["claim_id"], left_out["deadline"], left_out["minutes"], strict=True):
        latest = None if pd.isna(due) else due.date() - dt.timedelta(cfg.deadline_buffer_days)
        for d in days:
            if latest is None or d <= latest:
                assert cfg.capacity_minutes_per_day - used.get(d, 0.0) < minutes - 1e-6, (claim, d)


@pytest.mark.slow  # 150-example property search
@settings(max_examples=150, deadline=None)
@given(queues(), st.randoms(use_true_random=False))
def test_same_input_in_any_row_order_gives_the_same_plan(
    case: tuple[pd.DataFrame, dt.date, QueueSettings], rnd: Any
) -> None:
    df, today, cfg = case
    order = list(range(len(df)))
    rnd.shuffle(order)
    a = plan_queue(df, today=today, settings=cfg)
    b = plan_queue(df.iloc[order].reset_index(drop=True), today=today, settings=cfg)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        a.sort_values("claim_id").reset_index(drop=True), b.sort_values("claim_id").reset_index(drop=True)
    )


def test_ties_are_broken_by_claim_id_not_row_order() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=45, horizon_days=1)  # room for 3 of the 10 identical denials
    df = frame([(f"c{i}", 100, "correct_and_resubmit", None) for i in range(10)])
    for rows in (df, df.iloc[::-1], df.sample(frac=1.0, random_state=7)):
        plan = plan_queue(rows.reset_index(drop=True), today=MONDAY, settings=cfg)
        assert list(plan.loc[plan["rank"].notna(), "claim_id"]) == ["c0", "c1", "c2"]


# ---- crafted cases against the baselines -------------------------------------------------------------------------


def test_keeps_a_tight_deadline_that_value_per_minute_first_would_miss() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=60, horizon_days=2)  # Monday and Tuesday
    df = frame(
        [("tight", 1000, "appeal", MONDAY)]  # 45 min, due today, $21.47 net per minute
        + [(f"v{i}", 600, "correct_and_resubmit", None) for i in range(4)]  # 15 min each, $39.25 net per minute
    )
    baseline = fill_from_today(df, today=MONDAY, settings=cfg, key=net_per_minute_first)
    assert baseline == 2400  # the four quick ones fill today; the appeal is due today and is lost

    plan = plan_queue(df, today=MONDAY, settings=cfg)
    summary = summarise(plan)
    assert summary.expected_in_horizon == 3400
    assert summary.net_in_horizon == pytest.approx(3400 - 0.75 * (45 + 4 * 15))
    by_id = plan.set_index("claim_id")
    assert by_id.loc["tight", "status"] == "work_today"
    assert "fits before its deadline" in str(by_id.loc["tight", "why"])
    # Today's spare 15 minutes are used, not left idle while work waits for Tuesday.
    assert summary.minutes_today == 60
    assert summary.count_by_status["work_today"] == 2
    assert summary.count_by_status["scheduled"] == 3


def test_does_not_spend_capacity_on_low_value_work_because_it_is_due_first() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=45, horizon_days=2)
    df = frame(
        [(f"low{i}", 20, "correct_and_resubmit", MONDAY) for i in range(3)]  # $8.75 net each, due today
        + [(f"high{i}", 2000, "appeal", MONDAY + dt.timedelta(days=1)) for i in range(2)]  # due Tuesday
    )
    baseline = fill_from_today(df, today=MONDAY, settings=cfg, key=deadline_first)
    assert baseline == 2060  # three low ones fill Monday, one appeal on Tuesday, the other is lost

    plan = plan_queue(df, today=MONDAY, settings=cfg)
    summary = summarise(plan)
    assert summary.expected_in_horizon == 4000
    assert summary.count_by_status["no_capacity"] == 3
    by_id = plan.set_index("claim_id")
    assert set(by_id.index[by_id["rank"].notna()]) == {"high0", "high1"}
    assert "no room before its deadline" in str(by_id.loc["low0", "why"])


def test_places_work_on_the_latest_day_with_room_not_the_earliest() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=45, horizon_days=5)  # Monday to Friday, one appeal a day
    df = frame(
        [
            ("a", 3000, "appeal", None),  # best per minute: Friday
            ("b", 2900, "appeal", None),  # Friday is full: Thursday, keeping Monday free
            ("tight", 1000, "appeal", MONDAY),  # only Monday will do
        ]
    )
    plan = plan_queue(df, today=MONDAY, settings=cfg).set_index("claim_id")
    assert plan.loc["tight", "status"] == "work_today"
    assert summarise(plan.reset_index()).expected_in_horizon == 6900
    # Then compacted: the rest moves up to Tuesday and Wednesday, best first.
    assert plan.loc["a", "planned_day"] == pd.Timestamp("2026-11-17")
    assert plan.loc["b", "planned_day"] == pd.Timestamp("2026-11-18")


def test_minutes_freed_by_compaction_are_offered_to_what_did_not_fit() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=60, horizon_days=2)
    df = frame(
        [
            ("p", 2000, "correct_and_resubmit", None, 20),  # Tuesday
            ("q", 1500, "correct_and_resubmit", None, 20),  # Tuesday, 20 min left
            ("w", 1000, "appeal", MONDAY, 40),  # Monday, 20 min left
            ("r", 300, "correct_and_resubmit", None, 25),  # fits neither day at first
        ]
    )
    # Compaction pulls p to Monday, which frees 40 minutes on Tuesday: r fits there.
    plan = plan_queue(df, today=MONDAY, settings=cfg).set_index("claim_id")
    assert plan["status"].to_dict() == {"p": "work_today", "w": "work_today", "q": "scheduled", "r": "scheduled"}
    assert summarise(plan.reset_index()).minutes_in_horizon == 105


def test_light_load_is_worked_today_not_deferred_to_the_horizon_end() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=480)
    df = frame(
        [(f"c{i}", 500, "appeal", None) for i in range(5)]  # $10.36 net per minute
        + [("d", 100, "verify_status", "2026-12-20"), ("e", 300, "verify_status", "2026-12-20")]  # $9.25, $29.25
    )
    plan = plan_queue(df, today=MONDAY, settings=cfg)
    assert (plan["status"] == "work_today").all()
    assert list(plan["rank"]) == [1, 2, 3, 4, 5, 6, 7]
    # Same day: deadlines first (then net per minute), then no deadline by claim_id (equal net per minute).
    assert list(plan["claim_id"]) == ["e", "d", "c0", "c1", "c2", "c3", "c4"]


def test_zero_net_value_is_not_worth_working() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=480, cost_per_minute=0.0)
    plan = plan_queue(frame([("free", 0, "verify_status", None)]), today=MONDAY, settings=cfg)
    assert plan.loc[0, "status"] == "not_worth_working"
    assert plan["rank"].isna().all()


def test_statuses_and_explanations() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=60, horizon_days=5)
    df = frame(
        [
            ("worked", 1240, "appeal", "2026-12-04"),
            ("too_cheap", 5, "correct_and_resubmit", None),  # costs $11.25 to work
            ("zero", 0, "write_off", None),
            ("late", 900, "appeal", "2026-11-13"),
            ("huge", 5000, "appeal", None, 90),  # longer than a whole day
        ]
    )
    plan = plan_queue(df, today=MONDAY, settings=cfg).set_index("claim_id")
    assert plan["status"].to_dict() == {
        "worked": "work_today",
        "too_cheap": "not_worth_working",
        "zero": "not_worth_working",
        "late": "deadline_passed",
        "huge": "no_capacity",
    }
    assert plan.loc["worked", "why"] == (
        "$1,240 expected, 45 min, due 2026-12-04: $26.81 net per minute; fits before its deadline, "
        "work today (2026-11-16)"
    )
    assert "not worth working" in str(plan.loc["too_cheap", "why"])
    assert "deadline passed" in str(plan.loc["late", "why"])
    assert "whole day's capacity" in str(plan.loc["huge", "why"])
    assert plan.loc["huge", "minutes"] == 90  # the row's minutes override the action's
    assert plan.loc["worked", "cost"] == pytest.approx(33.75)
    assert plan.loc["worked", "net_value"] == pytest.approx(1240 - 33.75)


def test_safety_buffer_and_weekends() -> None:
    saturday = MONDAY + dt.timedelta(days=5)
    cfg = QueueSettings(capacity_minutes_per_day=60, horizon_days=10, deadline_buffer_days=2)
    df = frame(
        [
            ("due_tue", 800, "appeal", "2026-11-24"),  # buffer: work by Sunday -> no working day left
            ("due_thu", 800, "appeal", "2026-11-26"),  # work by Tuesday
            ("due_sun", 800, "appeal", "2026-11-22"),  # due tomorrow, inside the buffer
        ]
    )
    plan = plan_queue(df, today=saturday, settings=cfg).set_index("claim_id")
    assert plan.loc["due_tue", "status"] == "no_capacity"
    assert "no working day left before its deadline" in str(plan.loc["due_tue", "why"])
    assert plan.loc["due_thu", "status"] == "scheduled"
    assert plan.loc["due_thu", "planned_day"] == pd.Timestamp("2026-11-23")  # Monday, not the weekend
    assert plan.loc["due_sun", "status"] == "deadline_passed"
    assert summarise(plan.reset_index()).items_today == 0


def test_empty_queue() -> None:
    plan = plan_queue(frame([]), today=MONDAY, settings=QueueSettings(capacity_minutes_per_day=60))
    assert list(plan.columns) == list(PLAN_COLUMNS) and plan.empty
    assert summarise(plan).expected_in_horizon == 0


# ---- validation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -30, float("nan"), float("inf")])
def test_capacity_must_be_positive(capacity: float) -> None:
    with pytest.raises(ValueError, match="capacity_minutes_per_day"):
        QueueSettings(capacity_minutes_per_day=capacity)


@pytest.mark.parametrize("minutes_by_action", [{**DEFAULT_MINUTES, "fax_payer": 5}, {**DEFAULT_MINUTES, "appeal": 0}])
def test_minutes_by_action_must_name_known_actions_with_positive_minutes(minutes_by_action: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="minutes_by_action"):
        QueueSettings(capacity_minutes_per_day=60, minutes_by_action=minutes_by_action)


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([("a", 100, "fax_payer", None)], "action"),
        ([("a", float("nan"), "appeal", None)], "expected_recovery"),
        ([("a", 100, "appeal", None), ("a", 200, "appeal", None)], "claim_id"),
        ([("a", 100, "appeal", None, -5)], "minutes"),
    ],
)
def test_bad_rows_name_the_field(rows: list[tuple[Any, ...]], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        plan_queue(frame(rows), today=MONDAY, settings=QueueSettings(capacity_minutes_per_day=60))


def test_missing_column_and_action_without_minutes_are_named() -> None:
    cfg = QueueSettings(capacity_minutes_per_day=60, minutes_by_action={"appeal": 45})
    with pytest.raises(ValueError, match="minutes_by_action"):
        plan_queue(frame([("a", 100, "write_off", None)]), today=MONDAY, settings=cfg)
    with pytest.raises(ValueError, match="deadline"):
        plan_queue(frame([("a", 100, "appeal", None)]).drop(columns="deadline"), today=MONDAY, settings=cfg)
    assert np.isfinite(plan_queue(frame([("a", 100, "write_off", None, 2)]), today=MONDAY, settings=cfg)["cost"]).all()
