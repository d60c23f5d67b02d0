"""`claimsight prevent` end to end: the synthetic world, a tiny book with nothing to report, a bad owners file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import History

from claimsight.cli import main
from features.prevention.patterns import PATTERN_COLUMNS


def test_prevent_on_the_small_world_prints_and_writes_the_patterns(
    small_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "patterns.csv"
    assert main(["prevent", "--data", str(small_world), "--csv", str(out), "--top", "5"]) == 0
    printed = capsys.readouterr().out
    assert "Denial patterns by projected avoidable $" in printed and "Fisher exact" in printed
    table = pd.read_csv(out)
    assert list(table.columns) == list(PATTERN_COLUMNS) and len(table) >= 1
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["projected_avoidable_dollars"].is_monotonic_decreasing
    assert (table["q_value"] <= 0.05).all() and table["owner_team"].notna().all()
    assert f"wrote {len(table):,} patterns" in printed


def book(tmp_path: Path) -> Path:
    h = History()
    for i in range(20):
        h.claim(f"C{i}", payer=f"P{i % 3}", patient_id=f"SECRET-PATIENT-{i}")
        r = h.remit(f"C{i}", date="2024-02-01", status="4" if i % 4 == 0 else "1", paid=0.0 if i % 4 == 0 else 100.0)
        if i % 4 == 0:
            h.adj(f"C{i}", r, "CO", "197", 100.0)
    return h.write_csv(tmp_path / "data")


def test_prevent_with_nothing_standing_out_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "patterns.csv"
    assert main(["prevent", "--data", str(book(tmp_path)), "--csv", str(out), "--as-of", "2024-03-01"]) == 0
    printed = capsys.readouterr().out
    assert "no denial pattern stands out" in printed and "SECRET-PATIENT" not in printed
    assert list(pd.read_csv(out).columns) == list(PATTERN_COLUMNS)


def test_prevent_refuses_a_bad_owners_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = book(tmp_path)
    (data / "prevention_owners.yaml").write_text("categories:\n  coding: {team: coders}\n")
    assert main(["prevent", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "prevention_owners.yaml" in err and "categories.coding.team" in err
