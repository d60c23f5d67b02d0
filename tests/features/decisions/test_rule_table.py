"""The shipped decision rules, row by row: each guardrail of payer_rules.yaml has its source and a case here
that shows what it decides (issue 18: "the decision as data ... reviewed in tests row by row")."""

from __future__ import annotations

import pytest

from features.contract.codes import CodeTables
from features.contract.payer_rules import PayerRules
from features.decisions.actions import recommend_action

# guardrail name: (group, CARC, remarks, plan type, action, clock, appeal rights)
CASES: dict[str, tuple[str, str, str | None, str, str, str, bool]] = {
    "missing_info_no_appeal": ("CO", "16", "N211", "commercial", "correct_and_resubmit", "new_claim", False),
    "unprocessable_claim": ("CO", "252", "MA130", "medicare", "correct_and_resubmit", "new_claim", False),
    "new_claim_not_replacement": ("CO", "16", "N142", "medicare", "correct_and_resubmit", "new_claim", False),
    "records_not_received": ("CO", "50", "M127", "medicare", "appeal", "appeal", True),
    "patient_responsibility": ("PR", "2", None, "commercial", "bill_patient", "none", False),
    "duplicate_claim": ("CO", "18", None, "commercial", "verify_status", "new_claim", False),
    "timely_filing": ("CO", "29", None, "commercial", "appeal", "appeal", True),
    "wrong_payer": ("CO", "22", None, "commercial", "bill_other_payer", "other_payer", False),
    "next_payer": ("CO", "209", None, "commercial", "bill_other_payer", "other_payer", False),
    "patient_not_identified": ("CO", "31", None, "commercial", "correct_and_resubmit", "corrected_claim", False),
    "pended": ("CO", "133", None, "commercial", "verify_status", "none", False),
    "premium_grace_period": ("PR", "257", None, "commercial", "verify_status", "none", False),
    "paid_to_patient_pr": ("PR", "100", None, "commercial", "bill_patient", "none", False),
    "paid_to_patient": ("OA", "100", None, "commercial", "verify_status", "none", False),
    "already_forwarded": ("OA", "290", None, "commercial", "verify_status", "none", False),
    "hospice_enrollment": ("CO", "B9", None, "commercial", "correct_and_resubmit", "corrected_claim", True),
    "provider_type_not_payable": ("CO", "B6", None, "commercial", "appeal", "appeal", True),
    "provider_type_remark": ("CO", "96", "N95", "commercial", "appeal", "appeal", True),
    "contracted_unit_maximum": ("CO", "222", None, "commercial", "write_off", "none", True),
    "hospital_acquired_condition": ("CO", "233", None, "commercial", "write_off", "none", True),
    "lab_not_certified": ("CO", "B23", None, "commercial", "correct_and_resubmit", "corrected_claim", True),
}


def test_every_shipped_rule_has_a_source_and_a_case(shipped: PayerRules) -> None:
    names = [g.name for g in shipped.library.guardrails]
    assert sorted(names) == sorted(CASES)
    for guardrail in shipped.library.guardrails:
        assert guardrail.source.strip(), f"guardrail {guardrail.name} has no source"


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rule_decides_what_its_row_says(name: str, shipped: PayerRules, codes: CodeTables) -> None:
    group, carc, remarks, plan, action, clock, rights = CASES[name]
    decision = recommend_action(
        category=codes.category_of(carc, remarks),
        adjustments=[(group, carc, remarks, 100.0)],
        payer_id="ANY",
        plan_type=plan,
        rules=shipped,
        codes=codes,
    )
    assert decision.rule.startswith(f"guardrail {name} ("), decision.rule
    assert (decision.action, decision.clock, decision.appeal_rights) == (action, clock, rights)
