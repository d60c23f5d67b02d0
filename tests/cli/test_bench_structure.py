"""`claimsight bench --structure scrambled` measures the second world: its synth stage writes that world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claimsight.cli import main


def test_bench_synthesises_the_world_it_is_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--claims", "2000", "--months", "6", "--stage", "synth", "--workdir", str(tmp_path)]
    assert main([*args, "--structure", "scrambled"]) == 0
    assert "synthetic world (scrambled)" in capsys.readouterr().out
    meta = json.loads((tmp_path / "data" / "truth" / "world.json").read_text())
    assert meta["generator"] == "scrambled" and meta["original_claims"] == 2000
    assert main([*args, "--structure", "nope"]) == 2
    assert "must be standard or scrambled" in capsys.readouterr().err
