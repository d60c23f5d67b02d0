"""`claimsight workspace`: the team workspace's database from the command line.

- `init`: create (or bring up to date) the workspace database; `--demo-users` adds one account per role and
  prints their passwords, once;
- `user add USERNAME --role ROLE`: an account (the password is asked for, never taken on the command line);
- `sync --data DIR`: load today's appeal queue (ranked as `claimsight queue` ranks it, with the remit that
  denied each claim) into work items, close the items the data's later remits answer, and with `--review FILE`
  load the claims `claimsight score claims` flagged for pre-release review;
- `export-followups --data DIR`: write the recorded work into DIR's followups table for retraining
  (`train` and `retrain` read it from the workspace by themselves; this is for a team that keeps the file);
- `letters copy DIR` / `letters check [DIR]`: start a team's own appeal letter and checklist templates from
  the shipped ones, and render every template against sample facts (CLAIMSIGHT_WORKSPACE_LETTERS_DIR).

The database is CLAIMSIGHT_WORKSPACE_DATABASE_URL, or workspace.db in CLAIMSIGHT_HOME.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claimsight import shell
from claimsight.commands.models import RankedQueue, ranked_queue
from claimsight.errors import UsageProblem
from claimsight.shell import DataDir
from claimsight.team_workspace import open_configured, replacement_links, review_rows, training_data

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

workspace_app = typer.Typer(no_args_is_help=True, help="The team workspace's database: accounts, queue, followups.")
user_app = typer.Typer(no_args_is_help=True, help="Workspace accounts.")
workspace_app.add_typer(user_app, name="user")
letters_app = typer.Typer(no_args_is_help=True, help="Appeal letter and corrected-claim checklist templates.")
workspace_app.add_typer(letters_app, name="letters")


def print_logins(console: Console, logins: dict[str, tuple[str, str]]) -> None:
    """The demo accounts' sign-ins, one per role (shown once: only their hashes are stored)."""
    from rich.table import Table

    table = Table(title="workspace sign-ins (shown once; only their hashes are stored)")
    for column in ("role", "username", "password"):
        table.add_column(column)
    for role, (username, password) in logins.items():
        table.add_row(role, username, password)
    console.print(table)


@workspace_app.command("init")
def init_command(
    demo_users: Annotated[
        bool, typer.Option("--demo-users", help="also make one demo account per role and print their passwords")
    ] = False,
) -> None:
    """Create the workspace database, or bring it to the newest schema."""
    from serving.workspace.database import current_revision
    from serving.workspace.demo import create_demo_users

    console = shell.console()
    engine = open_configured(shell.settings())
    try:
        console.print(f"workspace database ready (schema {current_revision(engine)})")
        if demo_users:
            print_logins(console, create_demo_users(engine))
    finally:
        engine.dispose()


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="the sign-in name (no spaces)")],
    role: Annotated[str, typer.Option(help="specialist, reviewer, manager or admin")],
    name: Annotated[str | None, typer.Option(help="the name shown and signed under letters")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="asked for when not given (at least 12 characters)",
        ),
    ] = None,
) -> None:
    """Add an account. The password is asked for twice without echo."""
    from serving.workspace.errors import InvalidChange
    from serving.workspace.users import create_user

    engine = open_configured(shell.settings())
    try:
        user = create_user(engine, username=username, password=password or "", role=role, display_name=name)
    except InvalidChange as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        engine.dispose()
    shell.console().print(f"added {user.username} ({user.role})")


def sync_ranked(
    engine: Engine, ranked: RankedQueue, *, review: Path | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Load a ranked queue (and the review list) into the workspace; what `sync` and the demo both do."""
    import pandas as pd

    from serving.appeal_queue import workspace_rows
    from serving.workspace.queue_sync import sync_queue
    from serving.workspace.remit_outcomes import resolve_from_remits
    from serving.workspace.reviews import sync_review_claims

    rows = workspace_rows(ranked.frame, ranked.found.denials, ranked.tables)
    synced = sync_queue(engine, rows, now=now)
    replaces = replacement_links(ranked.tables, shell.settings())
    answered = resolve_from_remits(engine, ranked.tables["remits"], replaces=replaces, now=now)
    flagged = 0
    if review is not None:
        scores = pd.read_csv(review, dtype={"claim_id": str})
        flagged = sync_review_claims(engine, review_rows(scores, ranked.tables), now=now)
    return {"rows": rows, "synced": synced, "answered": len(answered), "flagged": flagged}


@workspace_app.command("sync")
def sync_command(
    data: DataDir,
    model: Annotated[str, typer.Option(help="claimsight-recovery alias/version or a saved model directory")] = (
        "champion"
    ),
    capacity_minutes: Annotated[
        float | None, typer.Option(min=1.0, help="team minutes per day; default: the workspace's capacities, or 480")
    ] = None,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
    review: Annotated[
        Path | None, typer.Option(help="the CSV `claimsight score claims --out` wrote: its review claims are loaded")
    ] = None,
) -> None:
    """Load today's appeal queue into work items (idempotent), close what later remits answer, load the review list.

    Each open denial becomes one item keyed on its claim and the remit that denied it; a second sync refreshes
    the ranking and keeps what people did. `--review` loads the claims `claimsight score claims` flagged."""
    from serving.workspace.capacity import team_minutes

    if review is not None and not review.is_file():
        raise typer.BadParameter("not a file", param_hint="--review")
    console = shell.console()
    settings = shell.settings()
    engine = open_configured(settings)
    try:
        capacity = capacity_minutes or float(team_minutes(engine) or 480)
        # ranked with the workspace's recorded work merged into followups: an item being worked is not
        # planned again, so today's capacity goes to the denials nobody has touched
        with console.status("ranking the open denials"), training_data(data, settings) as source:
            ranked = ranked_queue(source, model=model, capacity_minutes=capacity, today=today)
        with console.status("loading them into the workspace"):
            done = sync_ranked(engine, ranked, review=review)
    finally:
        engine.dispose()
    synced = done["synced"]
    console.print(
        f"queue of {ranked.day} ({capacity:,.0f} team minutes a day): {synced.added:,} new items, "
        f"{synced.refreshed:,} refreshed, {synced.unchanged:,} unchanged; {done['answered']:,} items closed by "
        f"later remits" + (f"; {done['flagged']:,} claims in pre-release review" if review is not None else "")
    )


@workspace_app.command("export-followups")
def export_followups_command(data: DataDir) -> None:
    """Write the recorded work into DATA's followups table (merged with the rows already there)."""
    from serving.workspace.followups_export import export_followups, followups_frame

    engine = open_configured(shell.settings())
    try:
        rows = len(followups_frame(engine))
        written = export_followups(engine, data)
    finally:
        engine.dispose()
    shell.console().print(f"wrote {written}: {rows:,} rows of recorded work merged in")


@letters_app.command("copy")
def letters_copy_command(
    folder: Annotated[Path, typer.Argument(help="an empty or new folder for the team's templates")],
) -> None:
    """Copy the shipped templates and evidence list into FOLDER to edit; then point
    CLAIMSIGHT_WORKSPACE_LETTERS_DIR at it."""
    from serving.workspace.letters import TemplateProblem, copy_templates

    try:
        written = copy_templates(folder)
    except TemplateProblem as exc:
        raise UsageProblem(str(exc)) from None
    shell.console().print(
        f"copied {len(written)} files into {folder}; set CLAIMSIGHT_WORKSPACE_LETTERS_DIR={folder} to use them"
    )


@letters_app.command("check")
def letters_check_command(
    folder: Annotated[
        Path | None,
        typer.Argument(help="the team's templates; default CLAIMSIGHT_WORKSPACE_LETTERS_DIR, else the shipped ones"),
    ] = None,
) -> None:
    """Render every template (the team's first, then the shipped ones) against sample facts."""
    from serving.workspace.letters import LetterLibrary, TemplateProblem

    chosen = folder or shell.settings().workspace_letters_dir
    try:
        checked = LetterLibrary(chosen).check()
    except TemplateProblem as exc:
        raise UsageProblem(str(exc)) from None
    where = f"{chosen} over the shipped templates" if chosen else "the shipped templates"
    shell.console().print(f"{len(checked)} templates render ({where})")


def register(app: typer.Typer) -> None:
    app.add_typer(workspace_app, name="workspace")


__all__ = ["print_logins", "register", "sync_ranked"]
