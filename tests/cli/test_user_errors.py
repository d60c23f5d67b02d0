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


@pytest.fixture(scope="module")
def young_denials_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve months of history: retrained as of 2023-12, the claims have the 8 mature months the denial-risk
    model needs, but the denials' 180-day windows have closed in only 6 months, not the 7 recovery needs."""
    from synthetic import generate_world, write_world

    out = tmp_path_factory.mktemp("young_denials_world")
    write_world(generate_world(claims=4_000, months=12, seed=11), out_dir=out, fmt="parquet")
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


def test_retrain_with_too_little_recovery_history_registers_nothing_and_names_the_model(
    young_denials_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The denial-risk kind could be trained, the recovery kind not: no challenger may be left registered without
    a verdict (the old run trained and registered denial-risk first, then stopped at recovery)."""
    from mlflow import MlflowClient

    from training.tracking import configure

    home = tmp_path / "home"
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(home))
    assert main(["retrain", "--data", str(young_denials_world), "--as-of", "2023-12"]) == 2
    line = one_line_error(capfd.readouterr().err)
    assert "to retrain recovery" in line and "nothing was trained or registered" in line
    assert "closed in at least 7 months" in line and "found 6" in line
    assert "--as-of" in line and "--model denial-risk" in line
    assert "denial-risk:" not in line  # its history is long enough; only the one that lacks it is named
    configure(home=home, tracking_uri=None, experiment="claimsight-retrain")
    versions = MlflowClient().search_model_versions()
    assert [(v.name, v.version) for v in versions if "gate_decision" not in v.tags] == []
    assert versions == []  # it failed before training anything


@pytest.mark.parametrize(
    ("world", "month", "kind"),
    [("young_denials_world", "2023-12", "recovery"), ("short_world", "2023-04", "denial-risk")],
)
def test_a_jobs_history_check_says_what_its_training_would(
    world: str, month: str, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`retrain` asks the check instead of training first, so the two must refuse the same history alike."""
    from features.contract.run_options import RunOptions
    from features.contract.time_cut import known_at
    from features.contract.validation import load_validated
    from models import catalog
    from training.jobs import TrainRun, job_for
    from training.retrain import month_start
    from training.splits import NotEnoughHistory

    data, as_of = request.getfixturevalue(world), month_start(month)
    job, options = job_for(catalog.kind(kind)), RunOptions(home=tmp_path)
    tables = known_at(load_validated(data, max_reject_rate=options.max_reject_rate).tables, as_of)
    with pytest.raises(NotEnoughHistory) as checked:
        job.check_history(tables, data_dir=data, options=options, as_of=as_of)
    with pytest.raises(NotEnoughHistory) as trained:
        job.train(data, options=options, run=TrainRun(as_of=as_of, register=False))
    assert str(checked.value) == str(trained.value)


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
@pytest.mark.parametrize("reuse_port", [False, True])
def test_serve_on_a_port_in_use_says_so_in_one_line(
    serve_env: None, workers: str, reuse_port: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        if reuse_port:  # a server that shares its port: serve's own workers do, but serve must not join it
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
