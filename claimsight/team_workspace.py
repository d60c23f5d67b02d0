"""The team workspace as the commands see it: whether one is configured, opening it, and what it adds to a
training run.

A workspace is configured when `CLAIMSIGHT_WORKSPACE_DATABASE_URL` is set, or when the embedded default,
`workspace.db` in `CLAIMSIGHT_HOME`, exists (`claimsight workspace init` or `make demo` made it). Then:

- `claimsight serve` mounts the workspace's pages under /app over it (`workspace_backend`);
- `claimsight train` and `retrain` learn from the work recorded in it (`training_data`): they read a data
  directory whose followups table is the data directory's own merged with the workspace's recorded work, exactly
  as `claimsight workspace export-followups` would write it, so a month of recorded work changes the next
  retraining exactly as the exported followups table would.

Messages name the setting, never a database URL (it may hold a password).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from claimsight.errors import UsageProblem
from claimsight.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from serving.workspace.web import SqlBackend

FOLLOWUPS_FILES = ("followups.parquet", "followups.csv")


def default_file(settings: Settings) -> Path:
    from serving.workspace.database import DEFAULT_FILE

    return settings.home / DEFAULT_FILE


def workspace_configured(settings: Settings) -> bool:
    """A workspace database is configured (the URL setting) or the embedded default exists."""
    return settings.workspace_database_url is not None or default_file(settings).exists()


def open_configured(settings: Settings) -> Engine:
    """The workspace database of `settings`, migrated to the newest schema (created when it is the default
    file and missing); a database that cannot be opened is the configuration's fault (exit 2)."""
    from sqlalchemy.exc import SQLAlchemyError

    from serving.workspace.database import open_workspace

    logging.getLogger("alembic").setLevel(logging.WARNING)  # a migration's every step is not news
    try:
        return open_workspace(settings.workspace_url())
    except (SQLAlchemyError, OSError):
        setting = "CLAIMSIGHT_WORKSPACE_DATABASE_URL" if settings.workspace_database_url else "CLAIMSIGHT_HOME"
        raise UsageProblem(
            f"cannot open the workspace database: set {setting} to a reachable database, or to a writable "
            "directory that exists"
        ) from None


def workspace_backend(settings: Settings) -> SqlBackend | None:
    """The pages' store for `claimsight serve`, or None when no workspace is configured."""
    if not workspace_configured(settings):
        return None
    from serving.workspace.web import SqlBackend

    secret = settings.audit_secret.get_secret_value().encode("utf-8")
    return SqlBackend(open_configured(settings), secret=secret)


@contextmanager
def training_data(data: Path, settings: Settings) -> Iterator[Path]:
    """The data directory to train on: `data` itself without a workspace; with one, a temporary directory
    holding links to every entry of `data` (tables, payer rules, truth/, quarantine/, so what training writes
    there still lands in `data`) but the followups table, which is `data`'s merged with the workspace's recorded
    work (`serving.workspace.followups_export.export_followups`). Removed when the block ends. A workspace with
    no recorded work changes nothing: `data` itself."""
    if not workspace_configured(settings):
        yield data
        return
    from serving.workspace.followups_export import export_followups, followups_frame

    engine = open_configured(settings)
    if followups_frame(engine).empty:  # nothing recorded yet: the data directory as it is
        engine.dispose()
        yield data
        return
    staging = Path(tempfile.mkdtemp(prefix="claimsight-train-"))
    try:
        merged = staging / data.name
        merged.mkdir()
        for entry in sorted(data.iterdir()):
            if entry.name in FOLLOWUPS_FILES:
                shutil.copyfile(entry, merged / entry.name)  # export_followups replaces it with the merged one
            else:
                (merged / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        export_followups(engine, merged)
        yield merged
    finally:
        engine.dispose()
        shutil.rmtree(staging, ignore_errors=True)


def review_rows(scores: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`claimsight score claims` output rows with the claim's payer, service date and billed amount joined in:
    what `serving.workspace.reviews.sync_review_claims` loads for the pre-release review page."""
    claims = tables["claims"][["claim_id", "payer_id", "service_from", "total_charge"]].drop_duplicates("claim_id")
    scored = scores.assign(claim_id=scores["claim_id"].astype("string"))
    facts = claims.assign(claim_id=claims["claim_id"].astype("string"))
    return scored.merge(facts, on="claim_id", how="left", validate="many_to_one")


def replacement_links(tables: dict[str, pd.DataFrame], settings: Settings) -> dict[str, str]:
    """Each claim sent to answer a denial -> the denied claim it answers: a replacement (frequency 7) its
    original, and a new claim sent after an MA130/N142 denial that denial's claim (as the labels link them,
    `features.contract.resubmissions`). The workspace counts their remits as the payer's answer to the
    denied claim's work item. A void (frequency 8) answers nothing: it pays nothing back."""
    from features.contract.codes import load_code_tables
    from features.contract.resubmissions import new_claim_links

    claims = tables["claims"]
    replaced = claims[claims["frequency_code"].eq("7") & claims["original_claim_id"].notna()]
    links = dict(zip(replaced["claim_id"].astype(str), replaced["original_claim_id"].astype(str), strict=True))
    resent = new_claim_links(
        tables, codes=load_code_tables(), routine=settings.routine_set(), maturity_days=settings.maturity_days
    )
    links.update({str(k): str(v) for k, v in resent.items()})
    return links


__all__ = [
    "default_file",
    "open_configured",
    "replacement_links",
    "review_rows",
    "training_data",
    "workspace_backend",
    "workspace_configured",
]
