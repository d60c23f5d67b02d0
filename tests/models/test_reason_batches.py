"""Explaining a batch: the fast paths give what the plain ones give.

A batch of flagged claims is explained a block of rows at a time, reads each claim's values only when a phrase
asks for them, sums contributions per group a column at a time, and phrases from templates parsed once. Each is
checked here against the obvious version: one block, full dicts, `np.add.at`, `str.format`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contract.validation import load_validated
from features.denial_feature_defs import FEATURE_NAMES
from models import denial_risk
from models.denial_risk import DenialRiskModel
from models.reasons import _FMT, DENIAL_REASONS, group_contributions, render


def test_group_sums_are_the_per_feature_additions() -> None:
    rng = np.random.default_rng(11)
    contrib = rng.normal(size=(257, len(FEATURE_NAMES) + 1))
    expected = np.zeros((len(contrib), len(DENIAL_REASONS.group_names)))
    for j, g in enumerate(DENIAL_REASONS.feature_group):  # one feature at a time, in feature order
        expected[:, g] += contrib[:, j]
    np.testing.assert_array_equal(group_contributions(contrib), expected)


_ODD_VALUES: list[Any] = [None, float("nan"), pd.NA, 0.1234, 3.0, 0, "99213", "A|B", 12.5]


_TEMPLATES = sorted({t for g in DENIAL_REASONS.groups.values() for t in (g.phrase, g.action) if t})


@pytest.mark.parametrize("template", _TEMPLATES)
def test_every_declared_template_renders_as_the_formatter_does(template: str) -> None:
    names = [name for _, name, _, _ in _FMT.parse(template) if name is not None]
    for k, odd in enumerate(_ODD_VALUES):
        values = {name: _ODD_VALUES[(k + i) % len(_ODD_VALUES)] for i, name in enumerate(names)}
        values["unused"] = odd
        assert render(template, values) == _FMT.vformat(template, (), values)


def test_templates_the_fast_path_cannot_read_go_to_the_formatter() -> None:
    values = {"a": 1.5, "b": [7, 8], "c": "x", "w": 6}
    for template in ("{a!r} and {c}", "{b[1]}", "{a:>{w}}", "plain"):
        assert render(template, values) == _FMT.vformat(template, (), values)
    assert render("{a:.0%} of {missing_value}", {"a": 0.25, "missing_value": math.nan}) == "25% of unknown"
    with pytest.raises(KeyError):
        render("{not_there}", values)


@pytest.mark.slow
def test_a_batch_explained_in_blocks_is_the_batch_explained_at_once(
    trained: tuple[Any, Any, Path], small_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model: DenialRiskModel = trained[0]
    tables = load_validated(small_world, max_reject_rate=1.0).tables
    claims = tables["claims"].iloc[-3000:]
    fs = model.features(claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"])
    rows = np.flatnonzero(model.predict_proba(fs.X) >= model.threshold_for())[::-1]  # out of order on purpose
    assert len(rows) > 50
    whole = model.explain(fs, rows=rows)
    monkeypatch.setattr(denial_risk, "_EXPLAIN_ROWS", 17)
    blocks = model.explain(fs, rows=rows)
    pd.testing.assert_frame_equal(blocks, whole)
    assert whole["reason_1"].notna().mean() > 0.9  # flagged claims are explained
