"""Fixtures for the workspace store: every test runs on SQLite and on a real PostgreSQL server.

`workspace_url` is a fresh empty database per test (a SQLite file in tmp_path, or a new database on the
session's PostgreSQL server, tests/pg_server.py); `engine` is that database opened and migrated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from serving.workspace.database import open_workspace

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def workspace_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workspace.db'}"
    url: str = request.getfixturevalue("postgresql_url")
    return url


@pytest.fixture
def engine(workspace_url: str) -> Iterator[Engine]:
    engine = open_workspace(workspace_url)
    yield engine
    engine.dispose()
