"""The code set's deletions as a feature: a line billing a code on or after the date payer_rules.yaml's
code_terminated gives is counted and named; the same code before that date, or under a payer whose own map
leaves it out, is not."""

from __future__ import annotations

from factories import History

from features.contract.payer_rule_model import RuleOverrides
from features.contract.payer_rules import PayerRules, load_rule_library, merge_rule_libraries
from features.denial_feature_defs import FEATURE_NAMES, REASON_GROUPS


def test_lines_of_a_deleted_code_are_counted_from_its_date() -> None:
    rules = PayerRules(
        merge_rule_libraries(
            load_rule_library(),
            RuleOverrides.model_validate(
                {
                    "defaults": {"code_terminated": {"G0101": "2024-03-01", "81002": "2024-03-01"}},
                    "payers": {"P2": {"code_terminated": {"81002": "2024-03-01"}}},
                }
            ),
        )
    )
    h = History()
    h.claim("BEFORE", submitted="2024-03-04", service="2024-02-29", procedures=("99213", "G0101"))
    h.claim("ON", submitted="2024-03-04", service="2024-03-01", procedures=("99213", "G0101"))
    h.claim("TWO", submitted="2024-03-12", service="2024-03-10", procedures=("G0101", "99213", "81002"))
    h.claim("P2", submitted="2024-03-12", service="2024-03-10", payer="P2", procedures=("G0101", "99213"))
    ids = ["BEFORE", "ON", "TWO", "P2"]
    fs = h.denial_features(ids, as_of="2024-06-30", rules=rules)
    count = dict(zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("rule_code_terminated")].tolist(), strict=True))
    assert count == {"BEFORE": 0.0, "ON": 1.0, "TWO": 2.0, "P2": 0.0}
    record = fs.records(rows=[list(fs.claim_ids).index("ON")])[0]
    group = REASON_GROUPS["rule_code_set"]
    assert group.phrase.format(**record) == (
        "1 line(s) bill a procedure code (G0101) deleted from the code set before the date of service"
    )
    assert "G0101" in group.action.format(**record)
