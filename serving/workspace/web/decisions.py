"""The dashboard's prevention decisions: a manager accepts or rejects a learned edit and marks a pattern's fix
done (or undoes it) on the dashboard page, as `claimsight edits accept/reject` and `claimsight prevent done/undo`
do on the command line, through the same functions (features.prevention.edit_files and .fixes).

Where they are written: the team's data directory (`WorkspaceOptions.data_dir`: CLAIMSIGHT_WORKSPACE_DATA_DIR,
else the `--data` of `claimsight serve`), into payer_rules.yaml, edit_decisions.yaml and
prevention_decisions.yaml, each entry with the day and the deciding username (`by`): the files are the
decisions' record, and the server log gets one PHI-free line per decision. Without a data directory the forms
are not shown and the page says how to enable them. An edit is accepted from the report's own export
(REPORT/edits/learned_edits.yaml, `claimsight report --edits`), so only what the page showed can be accepted.

The dashboard is prebuilt: a decision shows at once as the row's recorded state (the YAML files are read on
each page, which is cheap), and in the figures after the next `claimsight report`.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from features.contract.payer_rules import PayerRulesError
from features.prevention.edit_files import (
    EDITS_CSV,
    EDITS_YAML,
    EditFileError,
    accept_edits,
    load_decisions,
    record_decisions,
)
from features.prevention.fixes import MAX_NOTE, Fix, FixFileError, load_fixes, mark_done, undo_done
from serving.dashboard import EDITS_FOLDER, Manifest
from serving.workspace.web.backend import Session
from serving.workspace.web.security import read_form

if TYPE_CHECKING:
    from serving.workspace.web.app import Workspace

log = logging.getLogger(__name__)

PERMISSION = "decide_prevention"
EDITS_SECTION, EDIT_COLUMN = "prevention-edits", "edit id"
PATTERNS_SECTION, PATTERN_COLUMN = "prevention-patterns", "pattern key"
REBUILD = "rebuild the report (`claimsight report --data DIR --out REPORT`) to see it in the figures."
RECORDED = {
    "accepted": "Edit accepted into payer_rules.yaml",
    "rejected": "Edit rejected",
    "done": "Fix marked done",
    "undone": "Fix no longer marked done",
}
HOW_TO_ENABLE = (
    "Decisions on this page are off: the workspace does not know the team's data directory. Start it with "
    "`claimsight serve --data DIR` or set CLAIMSIGHT_WORKSPACE_DATA_DIR=DIR (where payer_rules.yaml, "
    "edit_decisions.yaml and prevention_decisions.yaml live); until then use `claimsight edits accept/reject` "
    "and `claimsight prevent done/undo`."
)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_writing = threading.Lock()  # one decision at a time in this process: each is a read-modify-write of a file


class Refused(ValueError):
    """A decision the page refuses; the message names the field and says nothing was recorded."""


@dataclass(frozen=True)
class DecisionState:
    """What the page shows about decisions: whether the forms are on, and what is recorded (read per request)."""

    enabled: bool  # the person may decide and a data directory is set
    allowed: bool  # the person may decide (then, without a data directory, the page says how to enable it)
    today: str
    edits: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # edit id -> {decision, date[, by]}
    fixes: Mapping[str, Fix] = field(default_factory=dict)
    offered: frozenset[str] = frozenset()  # edit ids the report's export holds
    problem: str | None = None  # an unreadable decisions file

    def column(self, section: Mapping[str, Any]) -> int | None:
        """The index of the id column of a section whose rows take a decision, else None."""
        wanted = {EDITS_SECTION: EDIT_COLUMN, PATTERNS_SECTION: PATTERN_COLUMN}.get(str(section.get("key")))
        table = section.get("table")
        if not self.allowed or wanted is None or not table or wanted not in table["columns"]:
            return None
        return int(table["columns"].index(wanted))


def offered_edits(report_dir: Path | None) -> frozenset[str]:
    """The edit ids in the report's export (REPORT/edits/learned_edits.csv); empty without one."""
    if report_dir is None:
        return frozenset()
    path = report_dir / EDITS_FOLDER / EDITS_CSV
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return frozenset(row["edit_id"] for row in csv.DictReader(fh) if row.get("edit_id"))
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return frozenset()


def decision_state(ws: Workspace, session: Session) -> DecisionState:
    allowed = session.user.can(PERMISSION)
    today = ws.options.today().isoformat()
    data_dir = ws.options.data_dir
    if not allowed or data_dir is None:
        return DecisionState(enabled=False, allowed=allowed, today=today)
    problem = None
    edits: dict[str, dict[str, str]] = {}
    fixes: dict[str, Fix] = {}
    try:
        edits = load_decisions(data_dir=data_dir)
        fixes = load_fixes(data_dir=data_dir)
    except (EditFileError, FixFileError) as exc:
        problem = f"{exc}. Decisions cannot be recorded until the file is mended."
    return DecisionState(enabled=True, allowed=True, today=today, edits=edits, fixes=fixes,
                         offered=offered_edits(ws.options.report_dir), problem=problem)  # fmt: skip


def parse_day(value: str | None, *, field_name: str) -> pd.Timestamp:
    text = (value or "").strip()
    try:
        if not DAY.match(text):
            raise ValueError
        return pd.Timestamp(dt.date.fromisoformat(text))
    except ValueError:
        raise Refused(f"{field_name}: the date must be a real day written YYYY-MM-DD") from None


Page = Callable[..., Awaitable[Response]]


def add_decision_routes(
    router: APIRouter,
    ws: Workspace,
    *,
    forbidden: Callable[[Session, str], HTMLResponse],
    page: Page,
    manifest: Callable[[], tuple[Manifest | None, str | None]],
) -> None:
    """The four decision forms' routes on `router` (the protected one: a session and the CSRF token are checked).
    `page(session, status=, error=)` renders the dashboard with a refusal."""

    def pattern_keys() -> frozenset[str]:
        found, _ = manifest()
        if found is None:
            return frozenset()
        keys: set[str] = set()
        for part in found.parts:
            for s in part["sections"]:
                table = s.get("table")
                if s.get("key") == PATTERNS_SECTION and table and PATTERN_COLUMN in table["columns"]:
                    col = table["columns"].index(PATTERN_COLUMN)
                    keys.update(str(row[col]) for row in table["rows"])
        return frozenset(keys)

    async def decide(request: Request, action: str, work: Callable[[Path, dict[str, str], str], str]) -> Response:
        session: Session = request.state.workspace_session
        form = await read_form(request)
        if not session.user.can(PERMISSION):
            return forbidden(session, PERMISSION)
        data_dir = ws.options.data_dir
        if data_dir is None:
            return await page(session, status=409, error=HOW_TO_ENABLE)
        username = session.user.username

        def locked() -> str:
            with _writing:
                return work(data_dir, form, username)

        try:
            what = await run_in_threadpool(locked)
        except Refused as exc:
            return await page(session, status=422, error=f"{exc}. Nothing was recorded.")
        except (EditFileError, FixFileError, PayerRulesError) as exc:
            return await page(session, status=422, error=f"{str(exc).rstrip('.')}. Nothing was recorded.")
        log.info("dashboard decision: %s %s by %s", action, what, username)
        return RedirectResponse(ws.url("/dashboard", recorded=action) + "#prevention", status_code=303)

    def edit_of(form: dict[str, str]) -> str:
        ident = form.get("edit_id", "").strip()
        if not ident or ident not in offered_edits(ws.options.report_dir):
            raise Refused("Edit: not one of the learned edits in this report (rebuild it with --edits)")
        return ident

    def accept(data_dir: Path, form: dict[str, str], username: str) -> str:
        day = parse_day(form.get("on"), field_name="Accept from")
        ident = edit_of(form)
        report_dir = ws.options.report_dir
        assert report_dir is not None  # edit_of found the report's export
        done = accept_edits(edits_file=report_dir / EDITS_FOLDER / EDITS_YAML, data_dir=data_dir, only=[ident],
                            day=day, by=username)  # fmt: skip
        if not done.ids:
            raise Refused(f"Edit: {ident} is already in force")
        return ident

    def reject(data_dir: Path, form: dict[str, str], username: str) -> str:
        ident = edit_of(form)
        record_decisions(data_dir=data_dir, ids=[ident], decision="rejected",
                         day=pd.Timestamp(ws.options.today()), by=username)  # fmt: skip
        return ident

    def done(data_dir: Path, form: dict[str, str], username: str) -> str:
        day = parse_day(form.get("on"), field_name="Fix done on")
        note = form.get("note", "").strip()
        if len(note) > MAX_NOTE:
            raise Refused(f"Note: at most {MAX_NOTE} characters")
        key = form.get("pattern_key", "").strip()
        if key not in pattern_keys() and key not in load_fixes(data_dir=data_dir):
            raise Refused("Pattern: not one of the patterns in this report")
        mark_done(data_dir=data_dir, key=key, day=day, note=note, by=username)
        return key

    def undo(data_dir: Path, form: dict[str, str], username: str) -> str:
        key = form.get("pattern_key", "").strip()
        if key not in load_fixes(data_dir=data_dir):
            raise Refused("Pattern: its fix is not marked done")
        undo_done(data_dir=data_dir, key=key)
        return key

    @router.post("/dashboard/edits/accept", response_class=HTMLResponse, include_in_schema=False)
    async def accept_edit(request: Request) -> Response:
        return await decide(request, "accepted", accept)

    @router.post("/dashboard/edits/reject", response_class=HTMLResponse, include_in_schema=False)
    async def reject_edit(request: Request) -> Response:
        return await decide(request, "rejected", reject)

    @router.post("/dashboard/fixes/done", response_class=HTMLResponse, include_in_schema=False)
    async def fix_done(request: Request) -> Response:
        return await decide(request, "done", done)

    @router.post("/dashboard/fixes/undo", response_class=HTMLResponse, include_in_schema=False)
    async def fix_undo(request: Request) -> Response:
        return await decide(request, "undone", undo)
