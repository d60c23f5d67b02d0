"""Alembic's entry point for the workspace migrations, run from code (`serving.workspace.database`).

The caller hands over an open connection in `config.attributes["connection"]`, inside its transaction, so
the migration shares the caller's lock and transaction. There is no alembic.ini and no logging setup: the
application owns its logging, and a URL (which may hold a password) is never read or printed here.
"""

from __future__ import annotations

from alembic import context

from serving.workspace.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("workspace migrations run through serving.workspace.database.upgrade_to_head")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
