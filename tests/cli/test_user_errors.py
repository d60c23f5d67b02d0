"""Ordinary mistakes end in one line on stderr and an exit code, never a traceback (issue 12, item 7); every
command that validates says what it quarantined (item 8)."""

from __future__ import annotations

import socket
from pathlib import Path

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


def test_serve_on_a_port_in_use_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "development")
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", "")
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'audit.sqlite'}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert "already in use" in line and "--port" in line


def test_serve_with_an_audit_database_it_cannot_open_names_the_setting_not_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "development")
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", "")
    monkeypatch.setenv("CLAIMSIGHT_SERVE_DATA", "")  # so that whatever `serve` sets is undone after the test
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CLAIMSIGHT_API_PORT", str(port))
    (tmp_path / "CANARY-a-file").write_text("")  # a file where the audit file's directory should be
    missing = tmp_path / "CANARY-a-file" / "audit.sqlite"
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_DATABASE_URL", f"sqlite:///{missing}")
    assert main(["serve", "--workers", "2"]) == 2
    captured = capfd.readouterr()
    line = one_line_error(captured.err)
    assert "CLAIMSIGHT_AUDIT_DATABASE_URL" in line
    assert "CANARY" not in captured.err + captured.out


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
