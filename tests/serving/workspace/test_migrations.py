"""The migrations build exactly the tables serving.workspace.schema declares, on both backends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, inspect

from serving.workspace import schema
from serving.workspace.database import (
    MIGRATIONS,
    current_revision,
    head_revision,
    open_workspace,
    workspace_engine,
)


def _differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def test_open_migrates_an_empty_database_to_head(workspace_url: str) -> None:
    bare = workspace_engine(workspace_url)
    assert current_revision(bare) is None
    bare.dispose()
    engine = open_workspace(workspace_url)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == set(schema.metadata.tables) | {"alembic_version"}
    assert _differences(engine, schema.metadata) == []
    engine.dispose()


def test_the_comparison_sees_a_drift(engine: Engine) -> None:
    """The metadata check above is not vacuous: a column the migrations lack is reported."""
    drifted = MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(Column("nickname", String(32)))
    drifted.tables["capacity"].c.minutes_per_day.type = String(8)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in _differences(engine, drifted)}  # type: ignore[index]
    assert kinds == {"add_column", "modify_type"}


def test_reopening_is_a_no_op(workspace_url: str) -> None:
    for _ in range(2):
        engine = open_workspace(workspace_url)
        assert current_revision(engine) == head_revision()
        engine.dispose()


def test_every_table_has_a_primary_key_and_constraint_names_are_fixed(engine: Engine) -> None:
    found = inspect(engine)
    for name in schema.metadata.tables:
        assert found.get_pk_constraint(name)["constrained_columns"], name
    uniques = {u["name"] for u in found.get_unique_constraints("work_items")}
    assert "uq_work_items_claim_id_remit_id" in uniques


def test_migrations_ship_as_package_data() -> None:
    """pyproject's package-data must carry env.py, the template and every version, or an installed
    ClaimSight could not open a database."""
    import tomllib

    declared = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    patterns = declared["tool"]["setuptools"]["package-data"]["serving.workspace"]
    package = MIGRATIONS.parent
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    needed = {p for p in MIGRATIONS.rglob("*") if p.is_file() and p.suffix in (".py", ".mako")}
    assert needed and needed <= shipped


def test_memory_database_works() -> None:
    engine = open_workspace("sqlite://")
    assert current_revision(engine) == head_revision()
    engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_urls_use_psycopg(scheme: str) -> None:
    engine = workspace_engine(f"{scheme}://u:pw@localhost/ws")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_processes_starting_together_migrate_once(workspace_url: str) -> None:
    """Several start-ups open a new database at the same moment: each gets a migrated database, no error."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            open_workspace(workspace_url).dispose()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    engine = workspace_engine(workspace_url)
    assert current_revision(engine) == head_revision() and _differences(engine, schema.metadata) == []
    engine.dispose()


def test_a_failed_migration_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration runs in one transaction on SQLite too: a failure half-way leaves no table."""
    import sqlalchemy as sa
    from alembic.operations import Operations

    real = Operations.create_index
    calls = {"n": 0}

    def failing(self: Operations, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full, say")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Operations, "create_index", failing)
    url = f"sqlite:///{tmp_path / 'half.db'}"
    with pytest.raises(RuntimeError, match="disk full"):
        open_workspace(url)
    engine = sa.create_engine(url)
    assert inspect(engine).get_table_names() == []
    engine.dispose()
