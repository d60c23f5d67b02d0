"""Who may be billed follows the adjustment group: never the patient for a CO, PI or OA amount, always for
PR-1/2/3 (issue 18). Checked over every shipped CARC and every group, with no remark and with each remark code whose guidance sets an action (the code's own category and every category whose usual
follow-up bills the patient), for the one-denial call and the frame the queue uses."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from features.contract.codes import CodeTables
from features.contract.payer_rules import PayerRules
from features.decisions.actions import recommend_action, recommend_frame

PAYERS = (("ANY", "commercial"), ("ANY", "medicare"), (None, None))


def _patient_categories(codes: CodeTables) -> list[str]:
    return [c for c in codes.categories.index if codes.followup_action(c) == "bill_patient"]


def _remarks(codes: CodeTables) -> list[str | None]:
    guided = codes.rarc.index[codes.rarc["action"].notna()].tolist()
    return [None, *(str(code) for code in guided)]


@pytest.mark.slow  # every shipped CARC x remark x payer kind: about 15 s
@pytest.mark.parametrize("group", ["CO", "PI", "OA"])
def test_no_provider_liable_amount_is_billed_to_the_patient(group: str, shipped: PayerRules, codes: CodeTables) -> None:
    billed = []
    cases = [
        (carc, category, remarks, payer)
        for carc in codes.carc.index.astype(str)
        # the code's own category, and the categories whose usual follow-up bills the patient
        for category in {codes.carc_category(carc), *_patient_categories(codes)}
        for remarks, payer in itertools.product(_remarks(codes), PAYERS)
    ]
    for carc, category, remarks, (payer, plan) in cases:
        decision = recommend_action(category=category, adjustments=[(group, carc, remarks, 100.0)], payer_id=payer,
                                    plan_type=plan, rules=shipped, codes=codes)  # fmt: skip
        if decision.action == "bill_patient":
            billed.append((carc, category, remarks, plan, decision.rule))
    assert billed == []


def test_deductible_coinsurance_and_copay_are_billed_to_the_patient(shipped: PayerRules, codes: CodeTables) -> None:
    for carc, category, (payer, plan) in itertools.product(("1", "2", "3"), codes.categories.index, PAYERS):
        decision = recommend_action(category=category, adjustments=[("PR", carc, None, 100.0)], payer_id=payer,
                                    plan_type=plan, rules=shipped, codes=codes)  # fmt: skip
        assert decision.action == "bill_patient", (carc, category, plan, decision.rule)


def test_the_frame_the_queue_uses_holds_the_same_rule(shipped: PayerRules, codes: CodeTables) -> None:
    cases = list(itertools.product(("CO", "PI", "OA", "PR"), codes.carc.index.astype(str)))
    ids = [f"C{i}" for i in range(len(cases))]
    denials = pd.DataFrame(
        {
            "claim_id": ids,
            "payer_id": "ANY",
            "plan_type": "commercial",
            "denial_category": [codes.carc_category(carc) for _, carc in cases],
            "first_remit_id": [f"R{i}" for i in range(len(cases))],
            "first_remit_date": pd.Timestamp("2025-03-01"),
            "service_from": pd.Timestamp("2025-01-10"),
        }
    )
    adjustments = pd.DataFrame(
        {
            "claim_id": ids,
            "remit_id": denials["first_remit_id"],
            "group_code": [g for g, _ in cases],
            "carc": [c for _, c in cases],
            "amount": 100.0,
            "remark_codes": None,
        }
    )
    frame = recommend_frame(denials, adjustments, rules=shipped, codes=codes)
    billed = frame[frame["action"] == "bill_patient"]["claim_id"].map(dict(zip(ids, cases, strict=True)))
    assert {group for group, _ in billed} <= {"PR"}
    assert {("PR", c) for c in ("1", "2", "3")} <= set(billed)
