"""How many minutes a day each person has for the queue: what the planner fills and a manager sets.

The queue plan (`features.decisions.queue_plan`) takes one daily capacity for the team; `team_minutes`
is that number from the people who are active and may work items.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select, update

from serving.workspace.clock import moment
from serving.workspace.errors import InvalidChange, NotFound
from serving.workspace.roles import can
from serving.workspace.schema import capacity, users

MAX_MINUTES_PER_DAY = 24 * 60


def set_capacity(
    engine: Engine, *, user_id: int, minutes_per_day: int, by: int | None, now: dt.datetime | None = None
) -> None:
    """Set (or change) a person's daily minutes."""
    if not 0 <= minutes_per_day <= MAX_MINUTES_PER_DAY:
        raise InvalidChange(f"minutes per day must be between 0 and {MAX_MINUTES_PER_DAY}")
    at = moment(now)
    values = {"minutes_per_day": int(minutes_per_day), "updated_by": by, "updated_at": at}
    with engine.begin() as conn:
        role = conn.execute(select(users.c.role).where(users.c.id == user_id)).scalar_one_or_none()
        if role is None:
            raise NotFound(f"no user {user_id}")
        if not can(role, "work_items"):
            raise InvalidChange(f"a {role} does not work items: no capacity to set")
        if conn.execute(update(capacity).where(capacity.c.user_id == user_id).values(**values)).rowcount == 0:
            conn.execute(capacity.insert().values(user_id=user_id, **values))


def capacities(engine: Engine) -> dict[int, int]:
    """user id -> minutes per day, for active people who may work items and have a capacity set."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(capacity.c.user_id, capacity.c.minutes_per_day, users.c.role)
            .join(users, users.c.id == capacity.c.user_id)
            .where(users.c.active.is_(True))
        )
        return {r.user_id: r.minutes_per_day for r in rows if can(r.role, "work_items")}


def team_minutes(engine: Engine) -> int:
    """The team's minutes per day: the queue planner's daily capacity."""
    return sum(capacities(engine).values())


__all__ = ["capacities", "set_capacity", "team_minutes"]
