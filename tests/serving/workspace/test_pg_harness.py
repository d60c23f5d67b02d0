"""The PostgreSQL test server: found, started as the right user, skipped locally only, never in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pg_server
import psycopg
import pytest
from pg_server import INSTALL_HINT, PostgresServer, missing_reason, unavailable


def test_without_binaries_the_reason_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    assert missing_reason() == INSTALL_HINT
    assert "apt-get install postgresql" in INSTALL_HINT


def test_root_without_the_postgres_user_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_server, "find_bindir", lambda: Path("/usr/lib/postgresql/15/bin"))
    monkeypatch.setattr(pg_server, "_as_root", lambda: True)
    monkeypatch.setattr(pg_server, "SERVICE_USER", "no-such-user-claimsight")
    reason = missing_reason()
    assert reason is not None and "no-such-user-claimsight" in reason


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_server_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install postgresql"):
        unavailable(INSTALL_HINT)


def test_the_session_server_is_real_and_not_run_as_root(postgresql_server: PostgresServer, postgresql_url: str) -> None:
    with psycopg.connect(postgresql_url.replace("postgresql+psycopg", "postgresql")) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        data_dir = conn.execute("SHOW data_directory").fetchone()
    assert version is not None and int(version[0]) >= 130000
    assert listen is not None and listen[0] == "127.0.0.1"
    assert data_dir is not None and Path(data_dir[0]).is_relative_to(postgresql_server.root)
    owner = postgresql_server.data_dir.stat().st_uid
    assert owner != 0 or os.geteuid() != 0  # as root, the cluster belongs to the postgres user
    assert postgresql_server.running
