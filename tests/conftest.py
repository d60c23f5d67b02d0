from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer, missing_reason, start_server, unavailable

# Session fixtures that generate or train on the 30k-claim world: a test that uses one (directly or through
# another fixture) is slow whether or not its file says so, so `make test-fast` (-m "not slow") stays quick.
SLOW_FIXTURES = frozenset({"small_world", "trained", "scrambled_world"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps tables to the terminal; tests read whole titles, so give them room."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(autouse=True)
def _own_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's CLAIMSIGHT_HOME is its own empty folder (a test sets another when it needs one): never the
    developer's `.claimsight`, whose demo workspace would otherwise merge its recorded work into a test's data."""
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path_factory.mktemp("home")))
    for name in (
        "CLAIMSIGHT_WORKSPACE_DATABASE_URL",
        "CLAIMSIGHT_WORKSPACE_REPORT_DIR",
        "CLAIMSIGHT_WORKSPACE_TODAY",
        "CLAIMSIGHT_WORKSPACE_DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic history big enough to train on (30k claims, 15 months), written as a user would hand it over."""
    from synthetic import generate_world, write_world

    out = tmp_path_factory.mktemp("small_world")
    write_world(generate_world(claims=30_000, months=15, seed=5), out_dir=out, fmt="parquet")
    return out


@pytest.fixture(scope="session")
def scrambled_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second world (`claimsight synth --structure scrambled`), big enough for per-code evidence to show."""
    from synthetic import write_world
    from synthetic.scrambled import generate_scrambled_world

    out = tmp_path_factory.mktemp("scrambled_world")
    write_world(generate_scrambled_world(claims=100_000, months=24, seed=5), out_dir=out, fmt="parquet")
    return out


@pytest.fixture(scope="session")
def trained(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object, Path]:
    """(model, report, MLflow home) from one real training run with a local SQLite registry."""
    from features.contract.run_options import RunOptions
    from training.denial_job import train_denial_risk

    home = tmp_path_factory.mktemp("claimsight_home")
    model, report = train_denial_risk(small_world, options=RunOptions(home=home, seed=3))
    return model, report, home


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (tests/pg_server.py), started on first use."""
    reason = missing_reason()
    if reason is not None:
        unavailable(reason)
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def postgresql_url(postgresql_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = postgresql_server.create_database()
    yield url
    postgresql_server.drop_database(url)


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A Dask LocalCluster of two worker processes for the session, opened as `--cluster local:2` opens it."""
    from claimsight.cluster import cluster_client

    with cluster_client("local:2") as client:
        yield client
