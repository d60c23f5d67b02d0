"""Closing work items from the payer's next 835: paid, partly paid or upheld, judged by the amounts.

The remits of a denied claim that came after the denial answer the team's work. For each unresolved item
whose claim has such remits (another remit than the one that denied it; after a reopen, only remits dated
from the reopen on), the payments are added up and compared with what was asked of the payer (the queue's
`payer_amount`, else the denied amount):

- paid at least what was asked (to the cent): `paid`;
- paid something, less than asked: `partly_paid`;
- paid nothing, and the item had been sent on or before that remit's date: `upheld` (an answer to what
  was sent; a zero remit on an item nobody sent is not an answer to anything and changes nothing).

A reversal (status 22) pays nothing back to the team and is skipped. A corrected claim is a new claim id:
`replaces` maps it to the denied claim it replaces, so its remits answer that denial. Each item is resolved
in its own transaction through `work_items.resolve` (by the system, `by=None`); if someone saves the item
at that moment, it is read again and judged again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from serving.workspace.clock import moment
from serving.workspace.errors import EditConflict, InvalidChange
from serving.workspace.queue_sync import plain
from serving.workspace.schema import work_events, work_items
from serving.workspace.work_items import resolve

REVERSAL = "22"
_CENT = 0.005
_CHUNK = 500
_RETRIES = 3


@dataclass(frozen=True)
class Remit:
    claim_id: str  # the denied claim it answers (after `replaces`)
    remit_id: str
    remit_date: dt.date
    paid: float


@dataclass(frozen=True)
class RemitResolution:
    item_id: int
    remit_id: str  # the latest remit that decided it
    resolution: str
    paid: float
    asked: float | None


def judge(*, asked: float | None, paid: float, answered_what_was_sent: bool) -> str | None:
    """The resolution the payer's money says, or None when the remits decide nothing yet."""
    if paid > 0:
        return "paid" if asked is None or asked <= 0 or paid + _CENT >= asked else "partly_paid"
    return "upheld" if answered_what_was_sent else None


def _remits(rows: Iterable[Mapping[str, Any]] | Any, replaces: Mapping[str, str]) -> list[Remit]:
    records = rows.to_dict("records") if hasattr(rows, "to_dict") and hasattr(rows, "columns") else rows
    out = []
    for position, row in enumerate(records):
        status, paid, date = plain(row.get("status_code")), plain(row.get("paid_amount")), plain(row.get("remit_date"))
        if str(status) == REVERSAL or paid is None or date is None:
            continue
        claim = str(plain(row["claim_id"]))
        try:
            day, amount = dt.date.fromisoformat(str(date)[:10]), float(paid)
        except (TypeError, ValueError):  # the message would quote the value
            raise InvalidChange(f"remit row {position}: remit_date or paid_amount unreadable") from None
        out.append(
            Remit(
                claim_id=replaces.get(claim, claim), remit_id=str(plain(row["remit_id"])), remit_date=day, paid=amount
            )
        )
    return out


def _round_starts(engine: Engine, item_ids: list[int]) -> tuple[dict[int, dt.date], dict[int, dt.date]]:
    """Per item: the day its current round began (a reopen; none for the first round) and the day it was last
    sent in that round."""
    started: dict[int, dt.date] = {}
    sent: dict[int, dt.date] = {}
    with engine.connect() as conn:
        for start in range(0, len(item_ids), _CHUNK):
            rows = conn.execute(
                select(work_events.c.item_id, work_events.c.event, work_events.c.at)
                .where(work_events.c.item_id.in_(item_ids[start : start + _CHUNK]))
                .where(work_events.c.event.in_(("reopened", "sent")))
                .order_by(work_events.c.at, work_events.c.id)
            )
            for row in rows:
                if row.event == "reopened":
                    started[row.item_id] = row.at.date()
                    sent.pop(row.item_id, None)
                else:
                    sent[row.item_id] = row.at.date()
    return started, sent


def _judge_item(
    item: Any, remits: list[Remit], *, started: dt.date | None, sent: dt.date | None
) -> RemitResolution | None:
    answers = [r for r in remits if r.remit_id != item.remit_id and (started is None or r.remit_date >= started)]
    if not answers:
        return None
    snapshot = json.loads(item.snapshot)
    asked = plain(snapshot.get("payer_amount"))
    asked = float(asked) if asked is not None else item.denied_amount
    paid = round(sum(r.paid for r in answers), 2)
    after_sending = item.state == "sent" and sent is not None and any(r.remit_date >= sent for r in answers)
    resolution = judge(asked=asked, paid=paid, answered_what_was_sent=after_sending)
    if resolution is None:
        return None
    latest = max(answers, key=lambda r: (r.remit_date, r.remit_id))
    return RemitResolution(item_id=item.id, remit_id=latest.remit_id, resolution=resolution, paid=paid, asked=asked)


def resolve_from_remits(
    engine: Engine,
    remits: Iterable[Mapping[str, Any]] | Any,
    *,
    replaces: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> list[RemitResolution]:
    """Resolve the unresolved items the remits (DATA.md remits rows, or a DataFrame of them) answer."""
    at = moment(now)
    by_claim: dict[str, list[Remit]] = defaultdict(list)
    for remit in _remits(remits, replaces or {}):
        by_claim[remit.claim_id].append(remit)
    claims = sorted(by_claim)
    items: list[Any] = []
    with engine.connect() as conn:
        for start in range(0, len(claims), _CHUNK):
            items += conn.execute(
                select(work_items)
                .where(work_items.c.claim_id.in_(claims[start : start + _CHUNK]))
                .where(work_items.c.state != "resolved")
                .order_by(work_items.c.id)
            ).all()
    started, sent = _round_starts(engine, [i.id for i in items])
    done: list[RemitResolution] = []
    for item in items:
        for _attempt in range(_RETRIES):
            decided = _judge_item(item, by_claim[item.claim_id], started=started.get(item.id), sent=sent.get(item.id))
            if decided is None:
                break
            try:
                resolve(engine, item.id, expected_version=item.version, by=None, resolution=decided.resolution, now=at)
            except EditConflict:  # someone saved it just now: judge the item as it is now
                with engine.connect() as conn:
                    item = conn.execute(select(work_items).where(work_items.c.id == item.id)).one()
                if item.state == "resolved":
                    break
                started.pop(item.id, None)
                sent.pop(item.id, None)
                fresh_start, fresh_sent = _round_starts(engine, [item.id])
                started.update(fresh_start)
                sent.update(fresh_sent)
                continue
            done.append(decided)
            break
    return done


__all__ = ["Remit", "RemitResolution", "judge", "resolve_from_remits"]
