"""Ordinary mistakes end in one line on stderr and an exit code, never a traceback (issue 12, item 7); every
command that validates says what it quarantined (item 8)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from claimsight.cli import main


@pytest.fixture(scope="module")
def short_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four months of history: too short to train or evaluate any model kind."""
    from synthetic import generate_world, write_world

    out = tmp_path_factory.mktemp("short_world")
    write_world(generate_world(claims=3_000, months=4, seed=11), out_dir=out, fmt="parquet")
    return out


def with_duplicate_claims(world: Path, tmp_path: Path) -> Path:
    """A copy of `world` whose claims table repeats three claim ids, so validation quarantines some rows."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(world, data, ignore=shutil.ignore_patterns("quarantine"))
    claims = pd.read_parquet(data / "claims.parquet")
    pd.concat([claims, claims.head(3)], ignore_index=True).to_parquet(data / "claims.parquet", index=False)
    return data


def one_line_error(err: str) -> str:
    """The stderr of a failed command: exactly one `error: ...` line and no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(
    ("model", "needs"),
    [("denial-risk", "at least 8 mature months"), ("recovery", "closed in at least 7 months")],
)
def test_train_on_too_short_a_history_says_so_in_one_line(
    short_world: Path,
    model: str,
    needs: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    assert main(["train", "--data", str(short_world), "--model", model, "--no-register"]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert needs in line and "--data" in line


def test_retrain_on_too_short_a_history_says_so_in_one_line(
    short_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    months = sorted(pd.read_parquet(short_world / "claims.parquet")["submitted_at"].astype(str).str[:7].unique())
    assert main(["retrain", "--data", str(short_world), "--as-of", months[-1]]) == 2
    assert "mature months" in one_line_error(capfd.readouterr().err)


@pytest.fixture
def serve_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` in development mode on an empty home, whatever it sets in the environment undone afterwards."""
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "development")
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", "")
    monkeypatch.setenv("CLAIMSIGHT_SERVE_DATA", "")
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'audit.sqlite'}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_says_so_in_one_line(
    serve_env: None, workers: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--workers", workers]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert "already in use" in line and "--port" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_an_address_not_of_this_machine_says_so_in_one_line(
    serve_env: None, workers: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """192.0.2.1 is TEST-NET-1 (RFC 5737): documentation only, never an address of this machine."""
    assert main(["serve", "--host", "192.0.2.1", "--port", str(free_port()), "--workers", workers]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert "cannot listen on 192.0.2.1" in line and "--host/--port" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_ipv6_where_the_machine_has_none_says_so_in_one_line(
    serve_env: None, workers: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A kernel without IPv6 refuses the socket itself (EAFNOSUPPORT), before any bind."""
    real = socket.socket

    def without_ipv6(family: int = socket.AF_INET, *args: Any, **kwargs: Any) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        return real(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", without_ipv6)
    assert main(["serve", "--host", "::1", "--port", str(free_port()), "--workers", workers]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert "cannot listen on ::1" in line and "--host/--port" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_an_audit_database_it_cannot_open_names_the_setting_not_the_url(
    serve_env: None, workers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("CLAIMSIGHT_API_PORT", str(port))
    (tmp_path / "CANARY-a-file").write_text("")  # a file where the audit file's directory should be
    missing = tmp_path / "CANARY-a-file" / "audit.sqlite"
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_DATABASE_URL", f"sqlite:///{missing}")
    assert main(["serve", "--workers", workers]) == 2
    captured = capfd.readouterr()
    line = one_line_error(captured.err)
    assert "CLAIMSIGHT_AUDIT_DATABASE_URL" in line
    assert "CANARY" not in captured.err + captured.out
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:  # the server's socket was let go
        again.bind(("127.0.0.1", port))


def test_train_reports_what_it_quarantined(
    short_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The report comes before training starts, so even a run that then fails says what it left out."""
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    data = with_duplicate_claims(short_world, tmp_path)
    assert main(["train", "--data", str(data), "--no-register"]) == 2
    out = capfd.readouterr().out
    assert "Validation" in out and "Quarantine reasons" in out
    assert "claims" in out and "duplicate" in out


@pytest.mark.parametrize(
    "args",
    [
        ["backtest", "--from", "2024-02", "--to", "2024-03"],
        ["simulate", "--months", "1", "--no-log"],
        ["kpis"],
    ],
)
def test_other_validating_commands_report_what_they_quarantined(
    args: list[str],
    short_world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    data = with_duplicate_claims(short_world, tmp_path)
    main([*args, "--data", str(data)])  # may then fail on the short history; the report comes first
    captured = capfd.readouterr()
    assert "Quarantine reasons" in captured.out and "duplicate" in captured.out
    assert "Traceback" not in captured.err
