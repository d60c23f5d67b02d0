"""Recorded work as DATA.md `followups` rows, so the monthly retraining learns from what the team did.

`followups_frame` turns the work history into rows exactly like a team's own export: one row per team
action taken on a denial, in each round of work (a round ends when the item is resolved; a reopen starts
the next):

- action: the followups action recorded (`record_work` / `mark_sent`); the same action at the same level
  worked over several sittings is one action;
- action_date: the day it was sent, else the day it was first worked on;
- level: the appeal level, when one was given;
- outcome: for work with the payer (corrected claim, appeal, reconsideration, call), the payer's answer
  recorded when the round was resolved (paid -> overturned, partly paid -> partial, upheld -> upheld, or what
  the person chose), `pending` while the round is open; for a write-off or a bill to the patient, none (it is
  the team's own endpoint, as in the synthetic world and the labels);
- outcome_date: the day the answer was recorded.

`export_followups` writes them into a data directory as `followups.parquet` (or `.csv` when the directory
holds CSV), through the contract's own writer (`features.contract.tables_io.write_table`), merged with the
rows already there: a row of the team's export is kept, and a workspace row replaces an earlier export of
the same action (its outcome may have arrived since). The file is replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from features.contract.schema import FOLLOWUPS
from features.contract.tables_io import write_table
from serving.workspace.schema import work_events, work_items

TEAM_ENDPOINTS = frozenset({"write_off", "bill_patient"})  # actions that close a denial without the payer
KEY = ("claim_id", "action", "action_date", "level")


def _rows(events: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    round_rows: dict[tuple[str, int | None], dict[str, Any]] = {}
    sent: set[tuple[str, int | None]] = set()
    current: int | None = None

    def close(outcome: str | None, day: dt.date | None) -> None:
        for key, row in round_rows.items():
            payer_work = key[0] not in TEAM_ENDPOINTS
            row["outcome"] = outcome if payer_work else None
            row["outcome_date"] = day if payer_work and outcome not in (None, "pending") else None
            out.append(row)
        round_rows.clear()
        sent.clear()

    for event in events:
        if event.item_id != current:
            close("pending", None)
            current = event.item_id
        day = event.at.date()
        if event.event in ("worked", "sent") and event.action is not None:
            key = (event.action, event.level)
            if key not in round_rows:
                round_rows[key] = {
                    "claim_id": event.claim_id,
                    "action": event.action,
                    "action_date": day,
                    "level": event.level,
                }
            if event.event == "sent" and key not in sent:
                sent.add(key)
                round_rows[key]["action_date"] = day
        elif event.event == "resolved":
            close(event.outcome, day)
    close("pending", None)
    return out


def followups_frame(engine: Engine) -> pd.DataFrame:
    """The workspace's recorded work as followups rows (DATA.md columns, in order), by claim and date."""
    query = (
        select(
            work_events.c.item_id,
            work_items.c.claim_id,
            work_events.c.at,
            work_events.c.event,
            work_events.c.action,
            work_events.c.level,
            work_events.c.outcome,
        )
        .join(work_items, work_items.c.id == work_events.c.item_id)
        .where(work_events.c.event.in_(("worked", "sent", "resolved")))
        .order_by(work_events.c.item_id, work_events.c.at, work_events.c.id)
    )
    with engine.connect() as conn:
        rows = _rows(list(conn.execute(query)))
    frame = pd.DataFrame(rows, columns=FOLLOWUPS.names)
    frame["level"] = frame["level"].astype("Int64")
    for column in ("claim_id", "action", "outcome"):
        frame[column] = frame[column].astype("string")
    frame = frame.sort_values(["claim_id", "action_date", "action"], kind="stable").reset_index(drop=True)
    return frame


def _existing(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype="string", keep_default_na=True)
    else:
        frame = pd.read_parquet(path).astype("string")
    for column in FOLLOWUPS.names:
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[FOLLOWUPS.names]


def _key_text(frame: pd.DataFrame) -> pd.Series:
    dates = pd.to_datetime(frame["action_date"]).dt.strftime("%Y-%m-%d")
    level = pd.to_numeric(frame["level"]).astype("Int64").astype("string").fillna("")
    return frame["claim_id"].astype("string") + "|" + frame["action"].astype("string") + "|" + dates + "|" + level


def export_followups(engine: Engine, data_dir: Path) -> Path:
    """Write the recorded work into `data_dir`'s followups table (merged with the rows already there);
    returns the file written."""
    data_dir = Path(data_dir)
    present = [data_dir / f"followups.{s}" for s in ("parquet", "csv") if (data_dir / f"followups.{s}").exists()]
    if len(present) > 1:
        raise ValueError(f"{data_dir}: both followups.parquet and followups.csv exist; keep one")
    if present:
        fmt = present[0].suffix.lstrip(".")
    else:
        fmt = "csv" if (data_dir / "claims.csv").exists() and not (data_dir / "claims.parquet").exists() else "parquet"
    ours = followups_frame(engine)
    if present:
        theirs = _existing(present[0])
        theirs = theirs[~_key_text(theirs).isin(set(_key_text(ours)))]
        typed = theirs.assign(
            action_date=pd.to_datetime(theirs["action_date"]).dt.date,
            outcome_date=pd.to_datetime(theirs["outcome_date"]).dt.date,
            level=pd.to_numeric(theirs["level"]).astype("Int64"),
        )
        merged = pd.concat([typed, ours], ignore_index=True) if len(typed) else ours
    else:
        merged = ours
    merged = merged.sort_values(["claim_id", "action_date", "action"], kind="stable").reset_index(drop=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".followups-", dir=data_dir))  # same file system: rename is atomic
    try:
        written = write_table(merged, table="followups", data_dir=staging, fmt=fmt)  # type: ignore[arg-type]
        target = data_dir / written.name
        os.replace(written, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


__all__ = ["export_followups", "followups_frame"]
