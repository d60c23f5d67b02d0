"""Learned edits: each planted kind found with its evidence, noise proposes nothing, the counts and test of one
kind against a slow literal version, point in time, and rules already written or decided not proposed."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from edit_worlds import AS_OF, FILING_LIMIT, PLANTED, history, tables_and_labels

from features.contract.codes import load_code_tables
from features.contract.payer_rule_model import RuleOverrides
from features.contract.payer_rules import PayerRules, load_payer_rules, load_rule_library, merge_rule_libraries
from features.contract.time_cut import known_at
from features.prevention.edits import EDIT_COLUMNS, learn_edits


@pytest.fixture(scope="module")
def planted() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return tables_and_labels(history(seed=3))


def learn(tables: dict[str, pd.DataFrame], labels: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    rules = kwargs.pop("rules", None) or load_payer_rules()
    return learn_edits(tables, labels, codes=load_code_tables(), rules=rules, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]


def test_every_planted_edit_is_found_with_its_evidence(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    edits = learn(*planted)
    assert list(edits.columns) == list(EDIT_COLUMNS)
    assert set(edits["edit_id"]) == set(PLANTED)  # nothing else: the 3% background is noise
    by_id = edits.set_index("edit_id")
    expected_carc = {"auth": "CO-197", "modifier": "CO-4", "pair": "CO-97", "dx": "CO-50", "filing": "CO-29"}
    for ident, row in by_id.iterrows():
        assert row["carcs"].startswith(expected_carc[row["kind"]]), ident
        assert row["q_value"] <= 0.05 and row["denial_rate"] >= 0.4 and row["lift"] >= 3
        assert row["first_seen"] <= row["last_seen"] <= AS_OF.date().isoformat()
        assert row["status"] == "new"
    assert by_id.loc["filing:P1", "detail"] == str(FILING_LIMIT)
    assert by_id.loc["filing:P1", "rule_in_force"].startswith("90 ")
    assert by_id.loc["auth:P1:93306", "field"] == "auth_required"


def test_noise_proposes_nothing() -> None:
    for seed in (4, 5):
        assert learn(*tables_and_labels(history(seed=seed, plant=False))).empty


def literal_fisher(x: int, n: int, parent_x: int, parent_n: int) -> float:
    total = math.comb(parent_n, n)
    return (
        sum(math.comb(parent_x, i) * math.comb(parent_n - parent_x, n - i) for i in range(x, min(n, parent_x) + 1))
        / total
    )


def test_modifier_counts_and_test_match_a_literal_count(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    """Loop over the raw tables: each line's claim, its first remit, its modifiers and its CO-4 on that remit."""
    tables, _ = planted
    start = AS_OF - pd.DateOffset(months=12)
    claims = {r.claim_id: r for r in tables["claims"].itertuples(index=False)}
    first: dict[str, tuple[pd.Timestamp, str]] = {}
    for r in tables["remits"].itertuples(index=False):
        if r.claim_id not in first or (r.remit_date, r.remit_id) < first[r.claim_id]:
            first[r.claim_id] = (r.remit_date, r.remit_id)
    carc4 = {
        (a.claim_id, int(a.line_number))
        for a in tables["adjustments"].itertuples(index=False)
        if a.carc == "4" and a.remit_id == first[a.claim_id][1] and not pd.isna(a.line_number)
    }
    cell = rest = cell_x = rest_x = 0
    for line in tables["claim_lines"].itertuples(index=False):
        claim = claims[line.claim_id]
        if claim.payer_id != "P2" or line.procedure_code != "97110" or line.claim_id not in first:
            continue
        if not (start < first[line.claim_id][0] <= AS_OF):
            continue
        denied = (line.claim_id, int(line.line_number)) in carc4
        mods = [] if pd.isna(line.modifiers) else str(line.modifiers).split("|")
        if "GP" in mods:
            rest, rest_x = rest + 1, rest_x + denied
        else:
            cell, cell_x = cell + 1, cell_x + denied
    row = learn(*planted).set_index("edit_id").loc["modifier:P2:97110:GP"]
    assert (row["seen"], row["denied"], row["reference_seen"]) == (cell, cell_x, rest)
    assert row["reference_rate"] == pytest.approx(rest_x / rest)
    assert row["p_value"] == pytest.approx(literal_fisher(cell_x, cell, cell_x + rest_x, cell + rest), rel=1e-9)


def test_only_remits_known_by_as_of_count(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    tables, _ = planted
    day = pd.Timestamp("2024-07-31")
    from features.contract.labels import compute_labels

    full = learn_edits(tables, planted[1], codes=load_code_tables(), rules=load_payer_rules(), as_of=day)
    cut = dict(known_at(tables, day + pd.Timedelta(days=1)))
    known = learn_edits(
        cut,
        compute_labels(cut, codes=load_code_tables()),
        codes=load_code_tables(),
        rules=load_payer_rules(),
        as_of=day,
    )
    pd.testing.assert_frame_equal(full, known)
    assert (full["last_seen"] <= day.date().isoformat()).all()
    assert full["seen"].sum() < learn(*planted)["seen"].sum()


def test_rules_already_written_and_decisions_are_not_new(planted: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> None:
    written = RuleOverrides.model_validate(
        {
            "payers": {
                "P2": {"modifier_required": {"97110": ["GP"]}},
                "P3": {"denied_together": [["97530", "97140"]]},
                "P4": {"dx_not_supporting": {"20610": ["M545"]}},  # a code inside the learned category counts
            }
        }
    )
    rules = PayerRules(merge_rule_libraries(load_rule_library(), written))
    edits = learn(*planted, rules=rules)
    assert set(edits["edit_id"]) == {"auth:P1:93306", "filing:P1"}
    decided = learn(*planted, decisions={"auth:P1:93306": "rejected", "filing:P1": "accepted"})
    status = decided.set_index("edit_id")["status"]
    assert status["auth:P1:93306"] == "rejected" and status["filing:P1"] == "accepted"
    assert status["modifier:P2:97110:GP"] == "new"
