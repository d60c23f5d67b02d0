"""Who may be billed follows the adjustment group: never the patient for a CO, PI or OA amount, always for
PR-1/2/3 (issue 18). Checked over every shipped CARC and every group, with no remark and with each remark code
whose guidance sets an action or appeal rights, for the frame the queue uses and the one-denial call."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from features.contract.codes import CodeTables
from features.contract.payer_rules import PayerRules
from features.decisions.action_frame import recommend_frame
from features.decisions.actions import recommend_action

PAYERS = (("ANY", "commercial"), ("ANY", "medicare"), (None, None))


def _remarks(codes: CodeTables) -> list[str | None]:
    guided = codes.rarc.index[codes.rarc["action"].notna() | codes.rarc["appeal_rights"].notna()].tolist()
    return [None, *(str(code) for code in guided)]


def _every_case(codes: CodeTables) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str, str | None, str | None]]]:
    """One denial per (group, shipped CARC, remark that sets an action or appeal rights, plan kind)."""
    cases = list(itertools.product(("CO", "PI", "OA", "PR"), codes.carc.index.astype(str), _remarks(codes), PAYERS))
    ids = [f"C{i}" for i in range(len(cases))]
    denials = pd.DataFrame(
        {
            "claim_id": ids,
            "payer_id": [payer for *_, (payer, _) in cases],
            "plan_type": [plan for *_, (_, plan) in cases],
            "denial_category": [codes.carc_category(carc) for _, carc, _, _ in cases],
            "first_remit_id": [f"R{i}" for i in range(len(cases))],
            "first_remit_date": pd.Timestamp("2025-03-01"),
            "service_from": pd.Timestamp("2025-01-10"),
        }
    )
    adjustments = pd.DataFrame(
        {
            "claim_id": ids,
            "remit_id": denials["first_remit_id"],
            "line_number": 1,
            "group_code": [g for g, *_ in cases],
            "carc": [c for _, c, *_ in cases],
            "amount": 100.0,
            "remark_codes": [r for _, _, r, _ in cases],
        }
    )
    return denials, adjustments, [(g, c, r, plan) for g, c, r, (_, plan) in cases]


@pytest.mark.slow  # about 150,000 denials: every shipped CARC x group x remark x plan kind (~20 s)
def test_no_provider_liable_amount_is_billed_to_the_patient(shipped: PayerRules, codes: CodeTables) -> None:
    """Every shipped CARC x group x guiding remark x plan kind: bill_patient only ever rests on a PR amount."""
    denials, adjustments, cases = _every_case(codes)
    frame = recommend_frame(denials, adjustments, rules=shipped, codes=codes)
    billed = [case for case, action in zip(cases, frame["action"], strict=True) if action == "bill_patient"]
    assert billed and {group for group, *_ in billed} == {"PR"}
    assert (frame.loc[frame["action"] == "bill_patient", "patient_amount"] == 100.0).all()
    assert set(frame.loc[frame["action"] == "bill_patient", "action_group"]) == {"PR"}
    # a sample through the one-denial call, which the frame is tested equal to elsewhere
    for i in range(0, len(cases), 97):
        group, carc, remarks, plan = cases[i]
        decision = recommend_action(
            category=denials.at[i, "denial_category"],
            adjustments=[(group, carc, remarks, 100.0)],
            payer_id=denials.at[i, "payer_id"],
            plan_type=plan,
            rules=shipped,
            codes=codes,
        )
        assert decision.action == frame.at[i, "action"], cases[i]


def test_deductible_coinsurance_and_copay_are_billed_to_the_patient(shipped: PayerRules, codes: CodeTables) -> None:
    for carc, category, (payer, plan) in itertools.product(("1", "2", "3"), codes.categories.index, PAYERS):
        decision = recommend_action(category=category, adjustments=[("PR", carc, None, 100.0)], payer_id=payer,
                                    plan_type=plan, rules=shipped, codes=codes)  # fmt: skip
        assert decision.action == "bill_patient", (carc, category, plan, decision.rule)
