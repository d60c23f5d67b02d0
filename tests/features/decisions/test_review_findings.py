"""The billing-rule defects of issue 18's review, one test each (each failed on the code before the change)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract.codes import CodeTables
from features.contract.payer_rules import PayerRules
from features.decisions.action_frame import recommend_frame
from features.decisions.actions import recommend_action, recommend_plan

DENIED = pd.Timestamp("2025-04-20")
SERVED = pd.Timestamp("2025-01-10")


def _decide(
    adjustments: list[tuple[str, str, str | None, float, int | None]],
    *,
    rules: PayerRules,
    codes: CodeTables,
    plan_type: str = "commercial",
    category: str = "other",
) -> pd.Series:
    """The frame's answer for one denial (the frame is what the queue, the API and the models use)."""
    denials = pd.DataFrame(
        {
            "claim_id": ["C1"],
            "payer_id": ["ANY"],
            "plan_type": [plan_type],
            "denial_category": [category],
            "first_remit_id": ["R1"],
            "first_remit_date": [DENIED],
            "service_from": [SERVED],
        }
    )
    adj = pd.DataFrame(
        [("C1", "R1", line, g, c, a, r) for g, c, r, a, line in adjustments],
        columns=["claim_id", "remit_id", "line_number", "group_code", "carc", "amount", "remark_codes"],
    )
    return recommend_frame(denials, adj, rules=rules, codes=codes).iloc[0]


def test_1_each_denied_line_is_worked_on_its_own(shipped: PayerRules, codes: CodeTables) -> None:
    """A $5,000 CO-50 beside a $20 CO-18 line was `verify_status`; beside a $20 CO-97 + MA44 line, `write_off`."""
    duplicate_line = _decide([("CO", "50", None, 5000.0, 1), ("CO", "18", None, 20.0, 2)], rules=shipped, codes=codes)
    assert duplicate_line["action"] == "appeal"
    assert duplicate_line["action_rule"] == "category medical_necessity: usual follow-up"
    assert duplicate_line["line_plan"] == "line 1: appeal $5,000.00; line 2: verify_status $20.00"
    assert duplicate_line["payer_amount"] == 5020.0
    no_rights_line = _decide([("CO", "50", None, 5000.0, 1), ("CO", "97", "MA44", 20.0, 2)], rules=shipped, codes=codes)
    assert no_rights_line["action"] == "appeal" and no_rights_line["appeal_rights"] is not False
    # the money is split by what each line's action does with it (PR-96: non-covered, the patient's by notice)
    split = _decide(
        [("CO", "50", None, 300.0, 1), ("PR", "96", None, 80.0, 2), ("CO", "50", "MA44", 40.0, 3)],
        rules=shipped,
        codes=codes,
    )
    assert (split["payer_amount"], split["patient_amount"], split["write_off_amount"]) == (300.0, 80.0, 40.0)


def test_2_medicare_records_not_received_go_as_a_redetermination(shipped: PayerRules, codes: CodeTables) -> None:
    got = _decide([("CO", "50", "M127", 900.0, 1)], rules=shipped, codes=codes, plan_type="medicare")
    assert got["action"] == "appeal"
    assert got["action_rule"] == "guardrail records_not_received (CO-50 + M127)"
    assert got["deadline"] == DENIED + pd.Timedelta(days=120 - 7)  # not service + 365 - 7


def test_3_a_negative_adjustment_does_not_decide(shipped: PayerRules, codes: CodeTables) -> None:
    """A MIPS bonus (negative CO-144) beside a real denial line is not the line that decides."""
    got = _decide([("CO", "50", None, 200.0, 1), ("CO", "16", "MA130", -15.0, 2)], rules=shipped, codes=codes)
    assert got["action"] == "appeal" and got["line_plan"] == ""


def test_4_no_deadline_before_the_denial_without_saying_so(shipped: PayerRules, codes: CodeTables) -> None:
    corrected = _decide([("CO", "4", None, 300.0, 1)], rules=shipped, codes=codes)
    assert corrected["action"] == "correct_and_resubmit"
    assert corrected["deadline"] == DENIED + pd.Timedelta(days=90 - 7)  # was 2025-04-03, before the denial
    late = _decide([("CO", "16", "MA130", 300.0, 1)], rules=shipped, codes=codes)
    assert late["deadline"] < DENIED and late["deadline_rule"].startswith("already out of time when the denial arrived")
    cob = _decide([("CO", "22", None, 300.0, 1)], rules=shipped, codes=codes, category="coordination_of_benefits")
    assert cob["action"] == "bill_other_payer" and cob["deadline"] == DENIED + pd.Timedelta(days=90 - 7)


@pytest.mark.parametrize("claim_type", ["professional", "institutional"])
def test_5_medicare_fixes_a_processed_claim_by_a_reopening(
    claim_type: str, shipped: PayerRules, codes: CodeTables
) -> None:
    got = _decide([("CO", "4", None, 300.0, 1)], rules=shipped, codes=codes, plan_type="medicare")
    assert got["action"] == "reopen" and got["clock"] == "reopening"
    assert "processed_claim_fix reopening" in got["action_rule"]
    assert got["deadline"] == DENIED + pd.Timedelta(days=365 - 7)
    unprocessable = _decide([("CO", "16", "MA130", 300.0, 1)], rules=shipped, codes=codes, plan_type="medicare")
    assert unprocessable["action"] == "correct_and_resubmit" and unprocessable["clock"] == "new_claim"
    commercial = _decide([("CO", "4", None, 300.0, 1)], rules=shipped, codes=codes)
    assert commercial["action"] == "correct_and_resubmit"


@pytest.mark.parametrize("carc", ["B9", "B6", "172", "222", "233", "B23"])
@pytest.mark.parametrize("group", ["CO", "PR", "OA"])
def test_6_non_covered_codes_that_are_never_the_patients(
    carc: str, group: str, shipped: PayerRules, codes: CodeTables
) -> None:
    decision = recommend_action(category="non_covered", adjustments=[(group, carc, None, 100.0)], payer_id="ANY",
                                plan_type="commercial", rules=shipped, codes=codes)  # fmt: skip
    assert decision.action != "bill_patient" and decision.rule.startswith("guardrail"), decision.rule
    n95 = recommend_action(category="non_covered", adjustments=[(group, "96", "N95", 100.0)], payer_id="ANY",
                           plan_type="commercial", rules=shipped, codes=codes)  # fmt: skip
    assert n95.action == "appeal" and n95.rule == f"guardrail provider_type_remark ({group}-96 + N95)"


def test_7_no_appeal_rights_beat_the_timely_filing_guardrail(shipped: PayerRules, codes: CodeTables) -> None:
    decision = recommend_action(category="timely_filing", adjustments=[("CO", "29", "N211", 100.0)], payer_id="ANY",
                                plan_type="commercial", rules=shipped, codes=codes)  # fmt: skip
    assert (decision.action, decision.appeal_rights) == ("write_off", False)
    assert (
        decision.rule == "guardrail timely_filing (CO-29) is appeal, but remark N211 says no appeal rights: write off"
    )


@pytest.mark.parametrize(
    ("group", "carc", "action"),
    [
        ("CO", "133", "verify_status"),
        ("PR", "257", "verify_status"),
        ("CO", "277", "verify_status"),
        ("PR", "100", "bill_patient"),
        ("OA", "100", "verify_status"),
        ("OA", "290", "verify_status"),
        ("PR", "201", "bill_patient"),
        ("PR", "275", "bill_patient"),
        ("CO", "209", "bill_other_payer"),
        ("OA", "209", "bill_other_payer"),
    ],
)
def test_8_codes_that_are_not_denials_are_not_appealed(
    group: str, carc: str, action: str, shipped: PayerRules, codes: CodeTables
) -> None:
    decision = recommend_action(category=codes.carc_category(carc), adjustments=[(group, carc, None, 100.0)],
                                payer_id="ANY", plan_type="commercial", rules=shipped, codes=codes)  # fmt: skip
    assert decision.action == action, decision.rule


def test_12_n111_says_there_are_no_appeal_rights(shipped: PayerRules, codes: CodeTables) -> None:
    assert codes.rarc_guidance("N111") == ("verify_status", False)
    decision = recommend_action(category="medical_necessity", adjustments=[("CO", "50", "N111", 100.0)],
                                payer_id="ANY", plan_type="commercial", rules=shipped, codes=codes)  # fmt: skip
    assert decision.appeal_rights is False


def test_12_the_commercial_level_1_window_is_the_providers_not_the_members(shipped: PayerRules) -> None:
    rule = shipped.lookup(payer_id=None, plan_type="commercial")
    assert rule.appeal_window_days[1] == 90 < 180


def test_the_plan_lists_every_line_once(shipped: PayerRules, codes: CodeTables) -> None:
    plan = recommend_plan(
        category="other",
        adjustments=[("CO", "50", None, 500.0, 2), ("CO", "18", None, 20.0, 1), ("CO", "16", "M51", 7.0, None)],
        payer_id="ANY",
        plan_type="commercial",
        rules=shipped,
        codes=codes,
    )
    assert [u.line_number for u in plan.lines] == [None, 1, 2]
    assert [u.decision.action for u in plan.lines] == ["correct_and_resubmit", "verify_status", "appeal"]
    assert plan.primary.action == "appeal" and plan.payer_amount == 527.0
