"""Loading the appeal queue into the workspace: one work item per denial, however often the queue is re-run.

The nightly queue (`serving.appeal_queue.rank_queue`) is re-planned every morning and names each denial by
its claim; the workspace keys an item on the claim AND the remit that denied it, so a second denial of the
same claim (after a corrected claim was denied again) is new work, while re-running the queue is not.

`sync_queue` is idempotent: a row whose item exists refreshes only what the queue owns (rank, expected
dollars, minutes, deadline, the snapshot shown on the page) and keeps what people did (owner, state,
version, history); a new row becomes an open item with an `opened` event. Refreshing does not bump the
version: nobody edits those fields, so a person saving a note at the same time is not told their item
changed. An item that is resolved stays resolved even if an older export still lists the denial as open.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam, insert, select, tuple_, update

from serving.workspace.clock import moment
from serving.workspace.errors import InvalidChange
from serving.workspace.schema import work_events, work_items

_CHUNK = 200
# work_items column <- the queue columns it may come from, first present wins
QUEUE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "payer_id": ("payer_id",),
    "category": ("denial_category", "category"),
    "action": ("action", "recommended_action"),
    "queue_rank": ("rank", "queue_rank"),
    "expected_dollars": ("expected_recovery", "expected_dollars"),
    "denied_amount": ("denied_amount",),
    "minutes": ("minutes",),
    "deadline": ("deadline",),
    "deadline_rule": ("deadline_rule",),
}
REMIT_COLUMNS = ("remit_id", "first_remit_id")  # denial_frame calls the denying remit first_remit_id


@dataclass(frozen=True)
class SyncResult:
    added: int
    refreshed: int
    unchanged: int


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA (pd.NA's comparison raises or is NA)
    except (TypeError, ValueError):
        return True


def plain(value: Any) -> Any:
    """A queue cell as JSON can hold it: missing -> None, numpy scalars -> Python, dates -> ISO text."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, str | bool | int):
        return value
    if _missing(value):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not isinstance(value, dt.date):  # a numpy scalar
        return plain(value.item())
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() and value.tzinfo is None else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _as_date(value: Any) -> dt.date | None:
    value = plain(value)
    return None if value is None else dt.date.fromisoformat(str(value)[:10])


def _as_float(value: Any) -> float | None:
    value = plain(value)
    return None if value is None else float(value)


def _as_text(value: Any) -> str | None:
    value = plain(value)
    return None if value is None else str(value)


_CONVERT: Mapping[str, tuple[Callable[[Any], Any], str]] = {
    "queue_rank": (_as_float, "number"),
    "expected_dollars": (_as_float, "number"),
    "denied_amount": (_as_float, "number"),
    "minutes": (_as_float, "number"),
    "deadline": (_as_date, "date"),
}


def item_values(row: Mapping[str, Any], *, position: int = 0) -> dict[str, Any]:
    """The work_items columns the queue owns, from one queue row (`position` only names it in errors)."""
    claim_id = _as_text(row.get("claim_id"))
    remit_id = next((_as_text(row.get(c)) for c in REMIT_COLUMNS if _as_text(row.get(c)) is not None), None)
    if claim_id is None or remit_id is None:
        raise InvalidChange(f"queue row {position}: needs claim_id and remit_id (the remit that denied it)")
    picked = {name: next((row[c] for c in sources if c in row), None) for name, sources in QUEUE_FIELDS.items()}
    values: dict[str, Any] = {"claim_id": claim_id, "remit_id": remit_id}
    for name, value in picked.items():
        convert, kind = _CONVERT.get(name, (_as_text, "text"))
        try:
            values[name] = convert(value)
        except (TypeError, ValueError):  # the message would quote the value
            raise InvalidChange(f"queue row {position}: {name} is not a {kind}") from None
    if values["queue_rank"] is not None:
        values["queue_rank"] = int(values["queue_rank"])
    values["snapshot"] = json.dumps({str(k): plain(v) for k, v in row.items()}, sort_keys=True)
    return values


def _records(rows: Iterable[Mapping[str, Any]] | Any) -> list[Mapping[str, Any]]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return list(rows.to_dict("records"))
    return list(rows)


def _insert_new(conn: Connection) -> Insert:
    """INSERT that skips a row whose (claim_id, remit_id) exists: a sync running at the same moment wins."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(work_items).on_conflict_do_nothing(index_elements=["claim_id", "remit_id"])
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(work_items).on_conflict_do_nothing(index_elements=["claim_id", "remit_id"])
    return insert(work_items)


def sync_queue(
    engine: Engine, rows: Iterable[Mapping[str, Any]] | Any, *, now: dt.datetime | None = None
) -> SyncResult:
    """Bring the queue's rows (mappings, or a DataFrame) into work_items in one transaction (see module doc)."""
    at = moment(now)
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for position, row in enumerate(_records(rows)):
        values = item_values(row, position=position)
        wanted[(values["claim_id"], values["remit_id"])] = values  # a repeated denial: the later row wins
    keys = list(wanted)
    added = refreshed = 0
    owned = [*QUEUE_FIELDS, "snapshot"]
    with engine.begin() as conn:
        existing: dict[tuple[str, str], Any] = {}
        for start in range(0, len(keys), _CHUNK):
            key_chunk = keys[start : start + _CHUNK]
            found = conn.execute(
                select(
                    work_items.c.id, work_items.c.claim_id, work_items.c.remit_id, *(work_items.c[c] for c in owned)
                ).where(tuple_(work_items.c.claim_id, work_items.c.remit_id).in_(key_chunk))
            )
            existing.update({(r.claim_id, r.remit_id): r for r in found})
        new = [wanted[k] for k in keys if k not in existing]
        for start in range(0, len(new), _CHUNK):
            fresh = [
                {**v, "state": "open", "version": 1, "created_at": at, "updated_at": at, "updated_by": None}
                for v in new[start : start + _CHUNK]
            ]
            ids = conn.execute(_insert_new(conn).values(fresh).returning(work_items.c.id)).scalars().all()
            if ids:
                conn.execute(
                    insert(work_events),
                    [{"item_id": i, "user_id": None, "at": at, "event": "opened", "version": 1} for i in ids],
                )
            added += len(ids)
        changed = [
            {"item_key": existing[k].id, **{c: wanted[k][c] for c in owned}}
            for k in keys
            if k in existing and any(_differs(getattr(existing[k], c), wanted[k][c]) for c in owned)
        ]
        if changed:
            # executemany: the SET clause is the parameters named like columns
            conn.execute(update(work_items).where(work_items.c.id == bindparam("item_key")), changed)
            refreshed = len(changed)
    return SyncResult(added=added, refreshed=refreshed, unchanged=len(keys) - added - refreshed)


def _differs(stored: Any, new: Any) -> bool:
    if isinstance(stored, float) and isinstance(new, float):
        return not math.isclose(stored, new, rel_tol=1e-12, abs_tol=1e-9)
    return bool(stored != new)


__all__ = ["QUEUE_FIELDS", "SyncResult", "item_values", "plain", "sync_queue"]
