"""The demo's people and its simulated month: realistic, within capacity, deterministic by seed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select
from workspace_factories import FAST, QueueRows

from features.contract.schema import TEAM_ACTIONS
from serving.workspace.database import open_workspace
from serving.workspace.demo import DEMO_CAPACITY, TeamMonth, create_demo_users, simulate_team_month
from serving.workspace.followups_export import followups_frame
from serving.workspace.roles import ROLE_PERMISSIONS
from serving.workspace.schema import users, work_events
from serving.workspace.users import authenticate

START = dt.date(2026, 3, 2)


def test_demo_users_one_per_role_and_their_passwords_work(engine: Engine) -> None:
    first = create_demo_users(engine, params=FAST)
    assert set(first) == set(ROLE_PERMISSIONS)
    for role, (username, password) in first.items():
        result = authenticate(engine, username=username, password=password, params=FAST)
        assert result.user is not None and result.user.role == role
    again = create_demo_users(engine, params=FAST)  # resets: the old passwords stop working
    username, old = first["manager"]
    assert authenticate(engine, username=username, password=old, params=FAST).user is None
    assert authenticate(engine, username=username, password=again["manager"][1], params=FAST).user is not None
    with engine.connect() as conn:
        assert conn.execute(select(users.c.id)).all().__len__() == 4


def _month(engine: Engine, *, seed: int) -> tuple[TeamMonth, pd.DataFrame]:
    create_demo_users(engine, params=FAST)
    month = simulate_team_month(engine, QueueRows(seed=11).rows(120), seed=seed, start=START)
    return month, followups_frame(engine)


def test_a_simulated_month_works_sends_and_resolves_within_capacity(engine: Engine) -> None:
    month, followups = _month(engine, seed=1)
    assert month.items_worked >= 60 and month.sent >= 20
    assert month.resolved.get("paid", 0) > 0 and month.resolved.get("upheld", 0) > 0
    assert month.resolved.get("written_off", 0) + month.resolved.get("billed_patient", 0) > 0
    assert 0 < month.unresolved < 120
    assert set(followups["action"]) <= set(TEAM_ACTIONS) and len(followups) >= month.items_worked
    assert {"overturned", "pending"} <= set(followups["outcome"].dropna())
    with engine.connect() as conn:
        rows = conn.execute(select(work_events.c.user_id, work_events.c.at, work_events.c.minutes)).all()
        roles = dict(conn.execute(select(users.c.id, users.c.role)).all())
    per_day: dict[tuple[int, dt.date], float] = defaultdict(float)
    for user_id, at, minutes in rows:
        if minutes is not None:
            assert at.weekday() < 5  # people work on weekdays
            per_day[(user_id, at.date())] += minutes
    assert per_day and all(total <= DEMO_CAPACITY[roles[user]] for (user, _), total in per_day.items())


def test_the_same_seed_gives_the_same_month(tmp_path: Path) -> None:
    results = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        engine = open_workspace(f"sqlite:///{tmp_path / name}.db")
        results.append(_month(engine, seed=seed))
        engine.dispose()
    (month_a, follow_a), (month_b, follow_b), (month_c, follow_c) = results
    assert month_a == month_b
    pd.testing.assert_frame_equal(follow_a, follow_b)
    assert month_c != month_a
