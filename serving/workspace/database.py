"""Opening the workspace database: an engine tuned for its backend, upgraded to the newest migration.

SQLite (a file, the default) runs in WAL mode so pages read while someone saves, with `synchronous=FULL` so
a saved change survives a power cut, foreign keys on, and a 30 s wait for the write lock instead of an
immediate "database is locked". PostgreSQL is for a team: `postgresql://` URLs use psycopg 3 (the only
PostgreSQL driver ClaimSight installs), and start-up migrations hold an advisory lock so two processes
starting together do not both create the tables.

Migrations are Alembic's, shipped inside the package and run from code (`upgrade_to_head`), so nobody has
to run a separate command before the first start, and an older database is brought forward on open.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_FILE = "workspace.db"
_SQLITE_BUSY_SECONDS = 30
# pg_advisory_xact_lock key: "CSWS" as an int, arbitrary but fixed, so concurrent start-ups queue on it.
_MIGRATION_LOCK = 0x43535753


def default_workspace_url(home: Path) -> str:
    """The embedded default: a SQLite file in ClaimSight's home (absolute, so the working directory does not
    matter)."""
    return f"sqlite:///{(home / DEFAULT_FILE).resolve()}"


def _normalised(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Switching a new file to WAL while another connection does the same can answer "database is locked"
    # at once, without waiting on the busy timeout (SQLite refuses to wait where waiting could deadlock):
    # several processes starting together hit it. Retry until the busy window has passed.
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def workspace_engine(url: str | URL) -> Engine:
    """An engine for `url`, without touching the schema (`open_workspace` also migrates)."""
    parsed = _normalised(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = parsed.database
    if not database or database == ":memory:":
        # one shared connection, or every pooled connection would see its own empty database
        engine = create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_SECONDS})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Run every migration the database has not had yet, in one transaction (both backends have
    transactional DDL), holding a lock so processes starting together migrate one after the other."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        elif connection.dialect.name == "sqlite":
            # The sqlite3 module opens a transaction only before INSERT/UPDATE/DELETE, so CREATE TABLE would
            # autocommit one by one: begin explicitly (IMMEDIATE: a second process starting waits here).
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(_alembic_config(connection), "head")


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None before the first)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest migration shipped with this version of ClaimSight."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no workspace migrations found")
    return head


def open_workspace(url: str | URL) -> Engine:
    """The workspace database at `url`, migrated to the newest schema; the caller disposes of the engine.

    `url` is a SQLAlchemy URL; `default_workspace_url(home)` is the embedded default (Settings.workspace_url()
    gives the configured one). Nothing here logs the URL: it may hold a password.
    """
    engine = workspace_engine(url)
    try:
        upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


__all__ = [
    "DEFAULT_FILE",
    "current_revision",
    "default_workspace_url",
    "head_revision",
    "open_workspace",
    "upgrade_to_head",
    "workspace_engine",
]
