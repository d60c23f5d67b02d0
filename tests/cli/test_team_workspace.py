"""The team workspace from the command line: `claimsight workspace` (init, user add, export-followups), the
serve wiring, and retraining that learns from the recorded work exactly as from an exported followups table."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from workspace_factories import FAST

from claimsight.cli import main
from claimsight.settings import Settings
from claimsight.team_workspace import training_data, workspace_backend, workspace_configured
from features.contract.validation import load_validated
from serving.workspace.database import open_workspace
from serving.workspace.demo import create_demo_users, simulate_team_month
from serving.workspace.followups_export import export_followups, followups_frame
from serving.workspace.users import authenticate, user_by_name


def test_init_creates_the_database_and_prints_demo_logins_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path))
    assert not workspace_configured(Settings())
    assert main(["workspace", "init"]) == 0
    out = capsys.readouterr().out
    assert "schema 0002" in out and "demo-" not in out
    assert workspace_configured(Settings()) and (tmp_path / "workspace.db").exists()
    assert main(["workspace", "init", "--demo-users"]) == 0
    out = capsys.readouterr().out
    for role in ("specialist", "reviewer", "manager", "admin"):
        assert f"demo-{role}" in out


def test_user_add_asks_for_the_password_and_refuses_a_taken_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\nlong-enough-password\n"))
    assert main(["workspace", "user", "add", "Maria", "--role", "manager", "--name", "Maria Lopez"]) == 0
    assert "added Maria (manager)" in capsys.readouterr().out
    engine = open_workspace(Settings(home=tmp_path).workspace_url())
    maria = user_by_name(engine, "maria")
    assert maria is not None and maria.display_name == "Maria Lopez"
    assert authenticate(engine, username="maria", password="long-enough-password").user == maria
    engine.dispose()
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\nlong-enough-password\n"))
    assert main(["workspace", "user", "add", "MARIA", "--role", "admin"]) == 2
    assert "taken" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-password\nlong-enough-password\n"))
    assert main(["workspace", "user", "add", "bo", "--role", "superuser"]) == 2


def test_letters_copy_then_check_names_a_broken_team_template_and_serve_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from serving.workspace.web import MemoryBackend, WorkspaceOptions
    from serving.workspace.web.app import Workspace

    folder = tmp_path / "letters"
    assert main(["workspace", "letters", "copy", str(folder)]) == 0
    assert "CLAIMSIGHT_WORKSPACE_LETTERS_DIR" in capsys.readouterr().out
    assert main(["workspace", "letters", "copy", str(folder)]) == 2  # never over a team's edits
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_LETTERS_DIR", str(folder))
    assert main(["workspace", "letters", "check"]) == 0
    assert f"{folder} over the shipped templates" in capsys.readouterr().out
    (folder / "appeal" / "coding.txt").write_text("Dear {{ payer }}\n")
    assert main(["workspace", "letters", "check"]) == 2
    assert "appeal/coding.txt" in capsys.readouterr().err
    options = Settings().workspace_options(MemoryBackend())
    assert options.letters_dir == folder
    with pytest.raises(ValueError, match="'payer' is undefined"):
        Workspace(options)  # the service does not start on a broken template
    assert Workspace(WorkspaceOptions(backend=MemoryBackend())).letters.team_dir is None


def test_serve_mounts_the_workspace_only_when_one_is_configured(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert workspace_backend(settings) is None
    open_workspace(settings.workspace_url()).dispose()
    backend = workspace_backend(settings)
    assert backend is not None
    backend.engine.dispose()


def _recorded_month(data: Path, home: Path) -> None:
    """A month of team work on the world's open denials, recorded in the workspace of `home`."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import data_as_of
    from features.contract.payer_rules import load_payer_rules
    from features.contract.run_options import RunOptions
    from serving.appeal_queue import open_denials

    tables = load_validated(data, max_reject_rate=0.05).tables
    found = open_denials(tables, codes=load_code_tables(), rules=load_payer_rules(data_dir=data), options=RunOptions())
    denials = found.denials.head(400).reset_index(drop=True)
    rows = denials.assign(rank=denials.index + 1, action=denials["recommended_action"], minutes=15.0, p_recover=0.5)
    engine = open_workspace(Settings(home=home).workspace_url())
    create_demo_users(engine, params=FAST)
    day = data_as_of(tables).date()
    month = simulate_team_month(engine, rows, seed=3, start=day - dt.timedelta(days=30), days=30)
    assert month.items_worked > 20 and sum(month.resolved.values()) > 0
    engine.dispose()


@pytest.fixture(scope="module")
def recorded(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data dir, workspace home with a recorded month, the same data dir with the workspace exported into it)."""
    root = tmp_path_factory.mktemp("recorded")
    data, exported, home = root / "data", root / "exported", root / "home"
    shutil.copytree(small_world, data)
    shutil.copytree(small_world, exported)
    _recorded_month(data, home)
    engine = open_workspace(Settings(home=home).workspace_url())
    export_followups(engine, exported)
    engine.dispose()
    return data, home, exported


def test_training_reads_the_workspace_followups_exactly_as_the_exported_table(
    recorded: tuple[Path, Path, Path],
) -> None:
    data, home, exported = recorded
    plain = load_validated(data, max_reject_rate=0.05).tables
    want = load_validated(exported, max_reject_rate=0.05).tables
    with training_data(data, Settings(home=home)) as source:
        assert source != data and source.name == data.name
        got = load_validated(source, max_reject_rate=0.05).tables
    assert not source.exists()  # the merged view is gone, the data directory untouched
    assert set(got) == set(want)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    assert len(got["followups"]) > len(plain["followups"])  # the month's work is in it
    assert len(want["followups"]) - len(plain["followups"]) <= len(followups_frame(open_workspace(
        Settings(home=home).workspace_url())))  # fmt: skip
    with training_data(data, Settings(home=home / "none")) as untouched:  # no workspace: the data as it is
        assert untouched == data


@pytest.mark.slow
def test_a_month_of_recorded_work_changes_retraining_exactly_as_the_exported_table(
    recorded: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from features.contract.run_options import RunOptions
    from training.jobs import TrainRun
    from training.recovery_job import train_recovery
    from training.tracking import data_fingerprint

    data, home, exported = recorded
    run = TrainRun(register=False)
    with training_data(data, Settings(home=home)) as source:
        assert data_fingerprint(source) == data_fingerprint(exported) != data_fingerprint(data)
        from_workspace, _ = train_recovery(source, options=RunOptions(home=tmp_path / "a", seed=3), run=run)
    from_export, _ = train_recovery(exported, options=RunOptions(home=tmp_path / "b", seed=3), run=run)
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.payer_rules import load_payer_rules
    from features.recovery_features import denial_frame

    tables = load_validated(exported, max_reject_rate=0.05).tables
    labels = compute_labels(tables, codes=load_code_tables(), maturity_days=RunOptions().maturity_days)
    frame = denial_frame(tables, labels, codes=load_code_tables(), rules=load_payer_rules(data_dir=exported))
    sample = frame.head(500)
    a = from_workspace.score(sample, explain=False)
    b = from_export.score(sample, explain=False)
    pd.testing.assert_frame_equal(a, b)


def test_a_replacement_or_a_resent_claim_answers_the_denied_claim_a_void_answers_nothing(small_world: Path) -> None:
    from claimsight.team_workspace import replacement_links
    from features.contract.codes import load_code_tables
    from features.contract.resubmissions import new_claim_links

    tables = load_validated(small_world, max_reject_rate=0.05).tables
    claims = tables["claims"].set_index("claim_id")
    links = replacement_links(tables, Settings())
    replacements = claims.index[claims["frequency_code"].eq("7")]
    voids = claims.index[claims["frequency_code"].eq("8")]
    resent = new_claim_links(tables, codes=load_code_tables())
    assert len(replacements) and len(voids), "the small world should hold replacements and voids"
    assert {c: links[c] for c in replacements} == {c: claims.at[c, "original_claim_id"] for c in replacements}
    assert not set(voids) & set(links)
    assert {c: links[c] for c in resent.index} == resent.to_dict()
    assert set(links) == set(replacements) | set(resent.index)


@pytest.mark.slow
def test_sync_loads_the_ranked_queue_with_the_denying_remit_and_the_review_list(
    small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from features.contract.run_options import RunOptions
    from serving.workspace.reviews import flagged_claims
    from serving.workspace.web import SqlBackend
    from serving.workspace.work_items import open_items
    from training.jobs import TrainRun
    from training.recovery_job import train_recovery

    model, _ = train_recovery(small_world, options=RunOptions(home=tmp_path / "h"), run=TrainRun(register=False))
    saved = model.save(tmp_path / "recovery")
    claims = pd.read_parquet(small_world / "claims.parquet", columns=["claim_id"])["claim_id"].head(3).tolist()
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"claim_id": claims, "p_denial": [0.9, 0.7, 0.1], "decision": ["review", "review", "release"],
                  "reason_1": ["no auth on file", "modifier missing", None]}).to_csv(scores, index=False)  # fmt: skip
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    args = ["workspace", "sync", "--data", str(small_world), "--model", str(saved), "--capacity-minutes", "300",
            "--today", "2024-03-04", "--review", str(scores)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "new items" in out and "2 claims in pre-release review" in out
    engine = open_workspace(Settings(home=tmp_path / "home").workspace_url())
    items = open_items(engine, viewer=None)
    assert len(items) > 20 and all(i.remit_id for i in items)
    assert sum(bool(i.snapshot.get("adjustments")) for i in items) > len(items) // 2
    first = items[0]
    assert first.snapshot["first_remit_id"] == first.remit_id and first.queue_rank == 1
    flagged = flagged_claims(engine)
    assert [f.claim_id for f in flagged] == claims[:2] and flagged[0].payer_id and flagged[0].billed_amount
    page_item = SqlBackend(engine, secret=b"s" * 32).item(str(first.id))
    assert page_item.facts.billed_amount and page_item.facts.service_date and page_item.facts.remit_date
    assert main(args) == 0  # again: nothing new
    assert "0 new items" in capsys.readouterr().out

    # work recorded on the first item: the next sync plans today's capacity without it
    from claimsight.commands import workspace as workspace_commands
    from serving.workspace.users import create_user
    from serving.workspace.work_items import get_item, record_work

    worker = create_user(engine, username="ana", password="long-enough-password", role="specialist")
    record_work(engine, first.id, expected_version=first.version, by=worker.id, action="appeal", minutes=20, level=1,
                now=dt.datetime(2024, 3, 4, 10, tzinfo=dt.UTC))  # fmt: skip
    planned: list[pd.DataFrame] = []
    real_sync = workspace_commands.sync_ranked
    monkeypatch.setattr(
        workspace_commands, "sync_ranked", lambda e, r, **kw: planned.append(r.frame) or real_sync(e, r, **kw)
    )
    assert main(args) == 0
    assert first.claim_id not in set(planned[0]["claim_id"])  # not ranked again ...
    assert get_item(engine, first.id).owner_id == worker.id  # ... and what was done is kept
    engine.dispose()
