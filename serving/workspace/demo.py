"""A workspace with people in it, for the demo: one account per role and a simulated month of team work.

`create_demo_users` makes (or resets) one account per role with a fresh random password, and gives the
people who work items a daily capacity. `simulate_team_month` plays a month on the demo queue through the
same store functions the pages call, so the demo's history is one the real code could have written: each
morning the manager hands out the best-ranked unassigned denials up to each specialist's capacity; each
person works their own items in queue order until their minutes run out (an appeal is drafted one day and
sent the next; a corrected claim, call or reconsideration goes out the day it is worked; a write-off or a
bill to the patient closes the item at once); the payer answers 10 to 40 days after sending, paying in
full, in part or not at all in proportion to the item's `p_recover`, and those answers come in as remit
rows through `resolve_from_remits`. Same queue, seed, start and empty database: the same month.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from serving.workspace.capacity import capacities, set_capacity
from serving.workspace.drafts import get_draft, save_draft
from serving.workspace.passwords import DEFAULT_PARAMS, ScryptParams
from serving.workspace.queue_sync import sync_queue
from serving.workspace.remit_outcomes import resolve_from_remits
from serving.workspace.roles import can
from serving.workspace.schema import ROLES
from serving.workspace.users import User, create_user, list_users, set_active, set_password, set_role, user_by_name
from serving.workspace.work_items import (
    QueueFilter,
    WorkItem,
    assign,
    get_item,
    mark_sent,
    open_items,
    record_work,
    resolve,
)

DEMO_CAPACITY = {"specialist": 300, "manager": 120}  # minutes per day
# ClaimSight's recommended action -> what the team records doing (DATA.md followups actions), and its level
TEAM_ACTION: Mapping[str, tuple[str, int | None]] = {
    "correct_and_resubmit": ("corrected_claim", None),
    "appeal": ("appeal", 1),
    "verify_status": ("payer_call", None),
    "reopen": ("reconsideration", 1),
    "bill_other_payer": ("corrected_claim", None),
    "bill_patient": ("bill_patient", None),
    "write_off": ("write_off", None),
}
USUAL_MINUTES = {"corrected_claim": 15, "appeal": 45, "payer_call": 10, "reconsideration": 15, "bill_patient": 5}
USUAL_MINUTES["write_off"] = 2
CLOSING = {"write_off": "written_off", "bill_patient": "billed_patient"}
DAY_STARTS = dt.time(9, 0)
ANSWER_DAYS = (10, 40)
PARTIAL_SHARE = 0.2  # of the payments, the share that pays only part
_APPEAL_LETTER = (
    "To the appeals department:\n\nWe request reconsideration of the denial of the enclosed claim. "
    "The service was medically necessary and documented; the records are attached.\n"
)


def create_demo_users(engine: Engine, *, params: ScryptParams = DEFAULT_PARAMS) -> dict[str, tuple[str, str]]:
    """One active account per role ("demo-<role>"), each with a new random password: role -> (username,
    password). Run again, it resets the passwords (the old ones stop working)."""
    out: dict[str, tuple[str, str]] = {}
    for role in ROLES:
        username = f"demo-{role}"
        password = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
        existing = user_by_name(engine, username)
        if existing is None:
            user = create_user(engine, username=username, password=password, role=role, params=params)
        else:
            set_role(engine, existing.id, role=role)
            set_active(engine, existing.id, active=True)
            user = set_password(engine, existing.id, password=password, params=params)
        if role in DEMO_CAPACITY:
            set_capacity(engine, user_id=user.id, minutes_per_day=DEMO_CAPACITY[role], by=None)
        out[role] = (username, password)
    return out


@dataclass(frozen=True)
class TeamMonth:
    """What the simulated month did."""

    days: int
    items_worked: int
    sent: int
    resolved: Mapping[str, int]
    minutes: float
    unresolved: int


@dataclass
class _Sim:
    engine: Engine
    rng: random.Random
    workers: list[User]
    manager: User | None
    capacity: dict[int, int]
    pending_send: dict[int, int] = field(default_factory=dict)  # item id -> worker id: appeals drafted, not sent
    answers: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)
    worked: set[int] = field(default_factory=set)
    sent: int = 0
    minutes: float = 0.0
    remit_seq: int = 0

    def minutes_for(self, item: WorkItem, action: str) -> float:
        planned = item.minutes if item.minutes and item.minutes > 0 else USUAL_MINUTES[action]
        return float(max(1, round(planned * math.exp(self.rng.gauss(0.0, 0.35)))))

    def hand_out(self, at: dt.datetime) -> None:
        """The manager gives each specialist the best unassigned items up to their minutes for the day."""
        if self.manager is None:
            return
        pool = open_items(self.engine, viewer=None, filters=QueueFilter(owner="unassigned", states=("open",)))
        for worker in self.workers:
            if worker.role != "specialist":
                continue
            mine = open_items(
                self.engine, viewer=None, filters=QueueFilter(owner=worker.id, states=("open", "in_progress"))
            )
            load = sum(i.minutes or 0 for i in mine)
            while pool and load < self.capacity[worker.id]:
                item = pool.pop(0)
                assign(
                    self.engine, item.id, owner_id=worker.id, expected_version=item.version, by=self.manager.id, now=at
                )
                load += item.minutes or USUAL_MINUTES["appeal"]

    def answer(self, item: WorkItem, sent_on: dt.date, last_day: dt.date) -> None:
        """Schedule the payer's remit for an item just sent (within the month, or it stays pending)."""
        day = sent_on + dt.timedelta(days=self.rng.randint(*ANSWER_DAYS))
        p = item.snapshot.get("p_recover")
        p_recover = float(p) if isinstance(p, int | float) else 0.4
        asked = item.snapshot.get("payer_amount") or item.denied_amount or 0.0
        pays = self.rng.random() < p_recover
        share = (0.3 + 0.5 * self.rng.random()) if pays and self.rng.random() < PARTIAL_SHARE else float(pays)
        if day > last_day:
            return
        self.remit_seq += 1
        self.answers.setdefault(day, []).append(
            {
                "claim_id": item.claim_id,
                "remit_id": f"SIM{self.remit_seq:06d}",
                "remit_date": day,
                "status_code": "1" if pays else "4",
                "paid_amount": round(float(asked) * share, 2),
            }
        )

    def work_day(self, day: dt.date, last_day: dt.date) -> None:
        start = dt.datetime.combine(day, DAY_STARTS, tzinfo=dt.UTC)
        self.hand_out(start - dt.timedelta(minutes=30))
        for worker in self.workers:
            clock = start
            budget = float(self.capacity[worker.id])
            queue = [i for i in open_items(self.engine, viewer=worker.id) if i.state in ("open", "in_progress")]
            for item in queue:
                if budget <= 0:
                    break
                action, level = TEAM_ACTION.get(item.action or "", ("payer_call", None))
                minutes = self.minutes_for(item, action)
                if action == "appeal":  # drafted in a first sitting, finished and sent in a second
                    minutes = float(max(1, round(minutes * (0.6 if item.state == "open" else 0.4))))
                if minutes > budget and budget < self.capacity[worker.id]:
                    break  # it does not fit today
                clock += dt.timedelta(minutes=minutes)
                budget -= minutes
                self.minutes += minutes
                self.worked.add(item.id)
                self._work(item, worker, action=action, level=level, minutes=minutes, at=clock, last_day=last_day)

    def _work(
        self, item: WorkItem, worker: User, *, action: str, level: int | None, minutes: float, at: dt.datetime,
        last_day: dt.date,
    ) -> None:  # fmt: skip
        if action == "appeal" and item.state == "open":  # the first sitting drafts the letter
            record_work(
                self.engine, item.id, expected_version=item.version, by=worker.id, action=action, minutes=minutes,
                level=level, now=at,
            )  # fmt: skip
            draft = get_draft(self.engine, item_id=item.id, kind="appeal_letter")
            save_draft(
                self.engine, item_id=item.id, kind="appeal_letter", body=_APPEAL_LETTER, by=worker.id, now=at,
                expected_version=None if draft is None else draft.version,
            )  # fmt: skip
            return
        done = record_work(
            self.engine, item.id, expected_version=item.version, by=worker.id, action=action, minutes=minutes,
            level=level, now=at,
        )  # fmt: skip
        if action in CLOSING:
            resolve(
                self.engine, item.id, expected_version=done.version, by=worker.id, resolution=CLOSING[action], now=at
            )
            return
        sent = mark_sent(self.engine, item.id, expected_version=done.version, by=worker.id, now=at)
        self.sent += 1
        self.answer(sent, at.date(), last_day)

    def remits_arrive(self, day: dt.date) -> None:
        rows = self.answers.pop(day, [])
        if rows:
            resolve_from_remits(self.engine, rows, now=dt.datetime.combine(day, dt.time(7, 0), tzinfo=dt.UTC))


def simulate_team_month(
    engine: Engine,
    queue_rows: Iterable[Mapping[str, Any]] | Any,
    *,
    seed: int,
    start: dt.date,
    days: int = 30,
) -> TeamMonth:
    """Load `queue_rows` (queue rows with the denying remit, as `sync_queue` takes) and play `days` days of
    team work from `start` (weekdays only; payers answer any day). Needs the demo users (or any team with
    capacities); deterministic for the same inputs on the same database state."""
    sync_queue(engine, queue_rows, now=dt.datetime.combine(start, dt.time(7, 0), tzinfo=dt.UTC))
    team = [u for u in list_users(engine, active_only=True) if can(u.role, "work_items")]
    minutes = capacities(engine)
    workers = sorted((u for u in team if minutes.get(u.id, 0) > 0), key=lambda u: u.id)
    if not workers:
        raise ValueError("no active person who works items has a capacity: run create_demo_users first")
    manager = next((u for u in sorted(team, key=lambda u: u.id) if can(u.role, "assign_items")), None)
    sim = _Sim(engine=engine, rng=random.Random(seed), workers=workers, manager=manager, capacity=minutes)
    last_day = start + dt.timedelta(days=days - 1)
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        sim.remits_arrive(day)
        if day.weekday() < 5:
            sim.work_day(day, last_day)
    resolved: Counter[str] = Counter()
    for item_id in sorted(sim.worked):
        item = get_item(engine, item_id)
        if item.resolution:
            resolved[item.resolution] += 1
    return TeamMonth(
        days=days,
        items_worked=len(sim.worked),
        sent=sim.sent,
        resolved=dict(sorted(resolved.items())),
        minutes=sim.minutes,
        unresolved=len(open_items(engine, viewer=None)),
    )


__all__ = ["DEMO_CAPACITY", "TEAM_ACTION", "TeamMonth", "create_demo_users", "simulate_team_month"]
