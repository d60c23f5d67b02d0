"""A learned modifier requirement is explained as one: the push of the plan's rate it raised is the rule's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.denial_context import FeatureSet
from features.denial_feature_defs import FEATURE_NAMES, LINE_SPECS
from models.denial_risk import credit_learned_modifier
from models.reasons import DENIAL_REASONS, group_contributions


def test_the_plan_rate_push_moves_to_the_modifier_reason_only_where_the_rule_raised_that_line() -> None:
    rng = np.random.default_rng(5)
    n = 5
    # claim k's plan x code line: 0 (raised), 1 (not), 2 (raised), none, 0 (raised)
    pointers = {spec.name: np.array([0, 1, 2, -1, 0]) for spec in LINE_SPECS}
    fs = FeatureSet(
        X=np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32),
        context={},
        claim_ids=pd.Index([f"C{i}" for i in range(n)]),
        lines={"modifier_learned": np.array([True, False, True])},
        pointers=pointers,
    )
    rows = np.array([4, 1, 3, 2])  # a selection, out of order: contributions are those rows'
    contrib = rng.normal(size=(len(rows), len(FEATURE_NAMES) + 1))
    grouped = group_contributions(contrib)
    credit_learned_modifier(grouped, contrib, fs=fs, rows=rows)

    names = list(DENIAL_REASONS.group_names)
    expected = group_contributions(contrib)
    for i, claim in enumerate(rows):  # literally: the plan_proc columns of a claim whose line was raised
        line = pointers["plan_proc"][claim]
        if line >= 0 and fs.lines["modifier_learned"][line]:
            share = sum(contrib[i, j] for j, name in enumerate(FEATURE_NAMES) if name.startswith("plan_proc_"))
            expected[i, names.index("payer_procedure")] -= share
            expected[i, names.index("modifier_policy")] += share
    np.testing.assert_allclose(grouped, expected)
    np.testing.assert_allclose(grouped.sum(axis=1), contrib[:, :-1].sum(axis=1))  # nothing lost or made up
    untouched = [1, 2]  # claims 1 (line not raised) and 3 (no line)
    np.testing.assert_array_equal(grouped[untouched], group_contributions(contrib)[untouched])


def test_without_line_flags_nothing_moves() -> None:
    contrib = np.random.default_rng(6).normal(size=(2, len(FEATURE_NAMES) + 1))
    fs = FeatureSet(
        X=np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32),
        context={},
        claim_ids=pd.Index(["A", "B"]),
        pointers={spec.name: np.array([-1, -1]) for spec in LINE_SPECS},
    )
    grouped = group_contributions(contrib)
    credit_learned_modifier(grouped, contrib, fs=fs, rows=np.arange(2))
    np.testing.assert_array_equal(grouped, group_contributions(contrib))
