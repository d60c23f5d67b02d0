"""`claimsight prevent done / undo`: a fix marked done is remembered in DATA/prevention_decisions.yaml, `claimsight
prevent` then prints whether the accepted edits and the fixes worked, and bad keys or files are refused naming the
file and the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from edit_worlds import history

from claimsight.cli import main
from features.prevention.edit_files import record_decisions
from features.prevention.fixes import FIXES_FILE, load_fixes

KEY = "authorization:payer=P1:plan=commercial"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """P1 stops denying 93306 without an authorization on 2024-07-01 (the auth edit accepted that day)."""
    return history(seed=3, claims=3000, auth_fixed_on="2024-07-01").write_csv(tmp_path_factory.mktemp("book") / "d")


@pytest.fixture
def data(book: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    out.mkdir()
    for f in book.iterdir():
        (out / f.name).symlink_to(f)
    return out


def test_done_then_prevent_prints_did_it_work_then_undo(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["prevent", "done", KEY, "--data", str(data), "--on", "2024-07-01", "--note", "auth list at intake"]) == 0
    )
    assert "marked done on 2024-07-01" in capsys.readouterr().out
    saved = yaml.safe_load((data / FIXES_FILE).read_text())
    assert saved == {"version": 1, "fixes": {KEY: {"date": "2024-07-01", "note": "auth list at intake"}}}
    record_decisions(data_dir=data, ids=["auth:P1:93306"], decision="accepted", day=pd.Timestamp("2024-07-01"))

    assert main(["prevent", "--data", str(data), "--as-of", "2024-12-31"]) == 0
    printed = capsys.readouterr().out
    assert "Did it work: accepted edits and fixes, before and after, as of 2024-12-31" in printed
    edit_line = next(line for line in printed.splitlines() if "edit auth:P1:93306" in line)
    assert "worked" in edit_line
    assert f"fix {KEY}" in printed and "Newcombe" in printed and "PAT-" not in printed

    assert main(["prevent", "undo", KEY, "--data", str(data)]) == 0
    assert load_fixes(data_dir=data) == {}
    assert main(["prevent", "undo", KEY, "--data", str(data)]) == 2
    assert "is not marked done" in capsys.readouterr().err


def test_marking_again_moves_the_date_and_today_is_the_default(data: Path) -> None:
    assert main(["prevent", "done", KEY, "--data", str(data), "--on", "2024-05-01"]) == 0
    assert main(["prevent", "done", KEY, "--data", str(data)]) == 0
    assert load_fixes(data_dir=data)[KEY].date == pd.Timestamp.today().normalize()


def test_prevent_without_decisions_prints_no_effects_table(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prevent", "--data", str(data)]) == 0
    assert "Did it work" not in capsys.readouterr().out


def test_bad_keys_and_files_are_refused(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prevent", "done", "authorization:payer=P1", "--data", str(data)]) == 2
    assert "with its plan" in capsys.readouterr().err
    assert main(["prevent", "done", KEY, "--data", str(data), "--on", "someday"]) == 2
    assert "--on" in capsys.readouterr().err
    (data / FIXES_FILE).write_text("fixes:\n  coding:group=em: {date: 2024-01-01 10:00}\n")
    assert main(["prevent", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert FIXES_FILE in err and "coding:group=em" in err and "YYYY-MM-DD" in err
    (data / FIXES_FILE).write_text("fixes:\n  nonsense: {date: 2024-01-01}\n")
    assert main(["prevent", "done", KEY, "--data", str(data)]) == 2
    assert "fixes entry 1" in capsys.readouterr().err
    assert main(["prevent"]) == 2
    assert "--data" in capsys.readouterr().err


def test_report_shows_did_it_work_in_the_prevention_part(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", "--data", str(data), "--out", str(out), "--no-model-health"]) == 0
    assert not (out / "data" / "prevention-effects.csv").exists()  # nothing decided: the section says how
    assert "claimsight prevent done" in (out / "index.html").read_text()
    assert main(["prevent", "done", KEY, "--data", str(data), "--on", "2024-07-01"]) == 0
    assert main(["report", "--data", str(data), "--out", str(out), "--no-model-health"]) == 0
    table = pd.read_csv(out / "data" / "prevention-effects.csv")
    assert table["key"].tolist() == [KEY] and table["source"].tolist() == ["fix"]
    rates = pd.read_csv(out / "data" / "prevention-effects-rates.csv")
    assert rates["decision"].tolist() == [f"fix {KEY} (2024-07-01)"]
    assert (out / "figures" / "prevention-effects-rates.svg").is_file()


def test_report_with_edits_writes_them_for_the_workspace(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", "--data", str(data), "--out", str(out), "--no-model-health", "--edits"]) == 0
    learned = pd.read_csv(out / "edits" / "learned_edits.csv")
    assert (out / "edits" / "learned_edits.yaml").is_file()
    shown = pd.read_csv(out / "data" / "prevention-edits.csv")
    assert shown["edit_id"].tolist() == learned["edit_id"].head(len(shown)).tolist()
    assert main(["report", "--data", str(data), "--out", str(out), "--no-model-health"]) == 0
    assert not (out / "edits" / "learned_edits.yaml").exists()  # a report without edits offers none to accept
    assert "claimsight report --edits" in (out / "index.html").read_text()
