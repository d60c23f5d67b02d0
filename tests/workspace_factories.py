"""Seeded builders for workspace tests: people, queue rows and a clock that moves only when told."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from serving.workspace.passwords import ScryptParams
from serving.workspace.users import User, create_user

# Cheap scrypt for tests that are not about the cost: verification reads the parameters from the hash.
FAST = ScryptParams(n=2**4, r=1, p=1)
PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def person(engine: Engine, role: str = "specialist", *, name: str | None = None, now: dt.datetime = T0) -> User:
    return create_user(engine, username=name or f"{role}-1", password=PASSWORD, role=role, params=FAST, now=now)


@dataclass
class QueueRows:
    """Queue rows as serving.appeal_queue.rank_queue makes them (plus the denying remit), seeded."""

    seed: int = 7
    _rng: random.Random = field(init=False)
    _n: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def row(self, claim_id: str | None = None, **fields: Any) -> dict[str, Any]:
        self._n += 1
        rng = self._rng
        denied = round(rng.uniform(80, 4000), 2)
        p = round(rng.uniform(0.05, 0.95), 3)
        action = rng.choice(["appeal", "correct_and_resubmit", "verify_status", "write_off", "bill_patient"])
        row: dict[str, Any] = {
            "rank": self._n,
            "claim_id": claim_id or f"CLM{self._n:05d}",
            "remit_id": f"RMT{self._n:05d}",
            "status": "work_today",
            "planned_day": dt.date(2026, 3, 2),
            "action": action,
            "expected_recovery": round(denied * p, 2),
            "p_recover": p,
            "denied_amount": denied,
            "minutes": 45.0 if action == "appeal" else 15.0,
            "net_value": round(denied * p - 20, 2),
            "deadline": dt.date(2026, 3, 2) + dt.timedelta(days=rng.randint(10, 120)),
            "deadline_rule": "payer P1: appeal within 120 days of the remit",
            "why": "best net dollars per minute",
            "payer_id": rng.choice(["P1", "P2", "P3"]),
            "denial_category": rng.choice(["authorization", "coding", "medical_necessity"]),
            "payer_amount": denied,
            "reason_1": "payer P1 denies 38% of 97110 without GP",
            "reason_2": None,
            "reason_3": float("nan"),
        }
        row.update(fields)
        return row

    def rows(self, n: int) -> list[dict[str, Any]]:
        return [self.row() for _ in range(n)]
