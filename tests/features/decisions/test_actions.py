"""Recommended action per denial: guardrails, RARC guidance, follow-ups; the frame version with its deadlines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import FOLLOWUP_ACTIONS, CodeTables
from features.contract.payer_rules import PayerRules
from features.decisions.action_frame import FRAME_COLUMNS, recommend_frame
from features.decisions.actions import ActionDecision, Adjustment, recommend_action, recommend_plan, unit_label
from features.decisions.deadlines import DEFAULT_CLOCK, NO_DEADLINE, deadline_for


def _action(
    adjustments: Sequence[Adjustment],
    *,
    category: str,
    rules: PayerRules,
    codes: CodeTables,
    payer_id: str | None = "ANY",
    plan_type: str | None = "commercial",
) -> ActionDecision:
    return recommend_action(
        category=category, adjustments=adjustments, payer_id=payer_id, plan_type=plan_type, rules=rules, codes=codes
    )


# --------------------------------------------------------------------------------------------------
# Guardrails
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("remarks", ["N211", "MA130", "M20|N211", " ma130 "])
def test_co16_without_appeal_rights_is_corrected_not_appealed(
    remarks: str, shipped: PayerRules, codes: CodeTables
) -> None:
    decision = _action([("CO", "16", remarks, 120.0)], category="missing_information", rules=shipped, codes=codes)
    assert decision.action == "correct_and_resubmit"
    assert decision.appeal_rights is False
    assert decision.rule.startswith("guardrail missing_info_no_appeal (CO-16 + ")
    assert remarks.strip().upper().split("|")[-1] in decision.rule


def test_ma130_on_another_carc_is_unprocessable(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", "252", "MA130", 80.0)], category="missing_information", rules=shipped, codes=codes)
    assert decision == ActionDecision(
        "correct_and_resubmit", False, "guardrail unprocessable_claim (CO-252 + MA130)", "new_claim"
    )


@pytest.mark.parametrize("carc", ["1", "2", "3"])
def test_patient_responsibility_is_billed_to_the_patient(carc: str, shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("PR", carc, None, 75.0)], category="other", rules=shipped, codes=codes)
    assert decision == ActionDecision("bill_patient", False, f"guardrail patient_responsibility (PR-{carc})", "none")


def test_co_deductible_is_not_patient_responsibility(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", "2", None, 75.0)], category="other", rules=shipped, codes=codes)
    assert decision.action == "appeal"  # the "other" category's follow-up, not bill_patient
    assert decision.rule == "category other: usual follow-up"


@pytest.mark.parametrize("group", ["CO", "OA"])
def test_duplicate_checks_status_first(group: str, shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([(group, "18", None, 200.0)], category="duplicate", rules=shipped, codes=codes)
    assert decision == ActionDecision("verify_status", False, f"guardrail duplicate_claim ({group}-18)", "new_claim")


def test_timely_filing_follows_the_shipped_guardrail(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", "29", None, 200.0)], category="timely_filing", rules=shipped, codes=codes)
    guardrail = next(g for g in shipped.library.guardrails if g.name == "timely_filing")
    assert decision.action == guardrail.action == "appeal"
    assert decision.appeal_rights is guardrail.appeal_rights is True
    assert decision.rule == "guardrail timely_filing (CO-29)"


@pytest.mark.parametrize("carc", ["22", "109"])
def test_wrong_payer_is_sent_to_the_liable_payer(carc: str, shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", carc, None, 300.0)], category="coordination_of_benefits", rules=shipped, codes=codes)
    assert decision == ActionDecision("bill_other_payer", False, f"guardrail wrong_payer (CO-{carc})", "other_payer")


def test_payer_guardrail_overrides_the_shipped_one(team: PayerRules, codes: CodeTables) -> None:
    adjustments = [("CO", "29", None, 200.0)]
    own = _action(adjustments, category="timely_filing", rules=team, codes=codes, payer_id="P0001")
    assert own == ActionDecision(
        "write_off", False, "payer:P0001 guardrail p0001_no_timely_filing_appeals (CO-29)", "none"
    )
    other = _action(adjustments, category="timely_filing", rules=team, codes=codes, payer_id="P0002")
    assert other == ActionDecision("appeal", True, "guardrail timely_filing (CO-29)", "appeal")


def test_pr_deductible_without_a_guardrail_still_bills_the_patient(team: PayerRules, codes: CodeTables) -> None:
    # The team replaced the shipped patient_responsibility guardrail with one for PR-1 only.
    assert _action([("PR", "1", None, 50.0)], category="other", rules=team, codes=codes).rule.startswith("guardrail")
    decision = _action([("PR", "2", None, 50.0)], category="other", rules=team, codes=codes)
    assert decision == ActionDecision(
        "bill_patient", False, "patient responsibility (PR-2: Patient coinsurance)", "none"
    )


def test_largest_adjustment_is_checked_first(shipped: PayerRules, codes: CodeTables) -> None:
    # the remark of one line says nothing about another line's appeal rights
    small_n211 = [("CO", "16", "N211", 50.0, 2), ("CO", "29", None, 300.0, 1)]
    assert _action(small_n211, category="timely_filing", rules=shipped, codes=codes).action == "appeal"
    large_n211 = [("CO", "16", "N211", 500.0), ("CO", "29", None, 300.0)]
    assert _action(large_n211, category="missing_information", rules=shipped, codes=codes).action == (
        "correct_and_resubmit"
    )


def test_a_smaller_guardrail_applies_when_the_largest_has_none(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action(
        [("CO", "50", None, 500.0), ("CO", "18", None, 20.0)], category="medical_necessity", rules=shipped, codes=codes
    )
    assert decision.rule == "guardrail duplicate_claim (CO-18)"


def test_routine_patient_share_does_not_hijack_a_denial(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action(
        [("PR", "2", None, 900.0), ("CO", "50", None, 100.0)], category="medical_necessity", rules=shipped, codes=codes
    )
    assert decision == ActionDecision("appeal", None, "category medical_necessity: usual follow-up", "appeal")


# --------------------------------------------------------------------------------------------------
# RARC guidance and category follow-up
# --------------------------------------------------------------------------------------------------


def test_rarc_guidance_beats_the_category(shipped: PayerRules, codes: CodeTables) -> None:
    assert codes.followup_action("non_covered") == "bill_patient"
    decision = _action([("CO", "96", "N130|N56", 100.0)], category="non_covered", rules=shipped, codes=codes)
    assert decision == ActionDecision(
        "correct_and_resubmit",
        None,
        "remark N56 guidance (CO-96 + N56: Procedure code wrong for the service or date)",
        "corrected_claim",
    )


def test_no_appeal_rights_remark_turns_appeal_into_write_off(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", "50", "MA44", 100.0)], category="medical_necessity", rules=shipped, codes=codes)
    assert decision.action == "write_off"
    assert decision.appeal_rights is False
    assert "MA44" in decision.rule and "no appeal rights" in decision.rule


def test_appeal_rights_notice_is_reported(shipped: PayerRules, codes: CodeTables) -> None:
    decision = _action([("CO", "50", "MA01", 100.0)], category="medical_necessity", rules=shipped, codes=codes)
    assert decision == ActionDecision("appeal", True, "category medical_necessity: usual follow-up", "appeal")


@pytest.mark.parametrize(
    ("carc", "category", "action"),
    [
        ("50", "medical_necessity", "appeal"),
        ("197", "authorization", "appeal"),
        ("96", "non_covered", "bill_patient"),
        ("4", "coding", "correct_and_resubmit"),
    ],
)
def test_without_guardrail_the_category_follow_up_applies(
    carc: str, category: str, action: str, shipped: PayerRules, codes: CodeTables
) -> None:
    group = "PR" if action == "bill_patient" else "CO"  # only a PR amount may go to the patient
    decision = _action([(group, carc, None, 100.0)], category=category, rules=shipped, codes=codes)
    assert decision == ActionDecision(action, None, f"category {category}: usual follow-up", DEFAULT_CLOCK[action])
    assert codes.followup_action(category) == action


def test_a_non_covered_co_amount_is_worked_with_the_payer_not_billed_to_the_patient(
    shipped: PayerRules, codes: CodeTables
) -> None:
    """CO-96 (non-covered charge) and CO-B7 are the provider's by contract (issue 18, the liability defect)."""
    for carc in ("96", "B7"):
        decision = _action([("CO", carc, None, 500.0)], category="non_covered", rules=shipped, codes=codes)
        assert decision.action == "appeal"
        assert decision.rule == (
            "category non_covered: usual follow-up, but group CO: the provider is liable, the patient may not be "
            "billed: appeal"
        )
    n425 = _action([("CO", "96", "N425", 500.0)], category="non_covered", rules=shipped, codes=codes)
    assert n425.action != "bill_patient" and "group CO" in n425.rule
    # the largest amount decides: a small PR-96 beside a large CO-96 is not a patient bill for the claim
    mixed = _action([("PR", "96", None, 50.0), ("CO", "96", None, 500.0)], category="non_covered", rules=shipped,
                    codes=codes)  # fmt: skip
    assert mixed.action == "appeal"
    assert _action([("PR", "96", None, 500.0)], category="non_covered", rules=shipped, codes=codes).action == (
        "bill_patient"
    )


def test_no_adjustments_falls_back_to_the_category(shipped: PayerRules, codes: CodeTables) -> None:
    assert _action([], category="other", rules=shipped, codes=codes).rule == "category other: usual follow-up"


def test_unknown_category_is_an_error(shipped: PayerRules, codes: CodeTables) -> None:
    with pytest.raises(ValueError, match="unknown denial category"):
        _action([("CO", "50", None, 1.0)], category="nonsense", rules=shipped, codes=codes)


# --------------------------------------------------------------------------------------------------
# Frame version
# --------------------------------------------------------------------------------------------------

GUARDRAIL_ADJUSTMENTS = [
    ("CO", "16", "N211"),
    ("CO", "16", "MA130"),
    ("PR", "1", None),
    ("PR", "2", None),
    ("PR", "3", None),
    ("CO", "18", None),
    ("OA", "18", "N111"),
    ("CO", "29", None),
    ("CO", "22", None),
    ("CO", "109", None),
    ("CO", "50", "MA44"),
    ("CO", "96", "N56"),
    ("CO", "45", None),
    ("CO", "50", "MA01"),
]


def _random_world(codes: CodeTables, *, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    carcs = codes.carc.index.to_numpy()
    rarcs = codes.rarc.index.to_numpy()
    categories = codes.categories.index.to_numpy()
    payers = np.array(["P0001", "P0002", "P0003", "P0004", None], dtype=object)
    plans = np.array(["commercial", "medicare", "medicaid", "Medicare ", None, "unheard_of"], dtype=object)
    remit_dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    service = remit_dates - pd.to_timedelta(rng.integers(0, 400, n) * (rng.random(n) > 0.1), unit="D")
    through = service + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    denials = pd.DataFrame(
        {
            "claim_id": [f"C{i:05d}" for i in range(n)],
            "payer_id": rng.choice(payers, n),
            "plan_type": rng.choice(plans, n),
            "denial_category": rng.choice(categories, n),
            "first_remit_id": [f"R{i:05d}" for i in range(n)],
            "first_remit_date": remit_dates,
            "service_from": service.where(rng.random(n) > 0.1),
            "service_to": through.where(rng.random(n) > 0.2),
            "claim_type": rng.choice(np.array(["professional", "institutional", None], dtype=object), n),
            "secondary_payer_id": rng.choice(np.array(["P0002", "P0003", None, None], dtype=object), n),
        }
    )
    rows = []
    for i in range(n):
        for _ in range(int(rng.integers(0, 7))):
            if rng.random() < 0.4:
                group, carc, remarks = GUARDRAIL_ADJUSTMENTS[int(rng.integers(len(GUARDRAIL_ADJUSTMENTS)))]
            else:
                group = str(rng.choice(["CO", "PR", "OA", "PI", "CR"]))
                carc = str(rng.choice(carcs))
                k = int(rng.integers(0, 3))
                remarks = "|".join(rng.choice(rarcs, k)) if k else None
            if remarks is not None and rng.random() < 0.1:
                remarks = f" {remarks.lower()} "
            amount = float(rng.choice([25.0, 50.0, 100.0, -30.0, 0.0, float(rng.integers(1, 900))]))
            # some adjustments sit on a later remit of the same claim and must be ignored
            remit = f"R{i:05d}" if rng.random() < 0.85 else f"L{i:05d}"
            rows.append((f"C{i:05d}", remit, group, carc, amount, remarks))
    adjustments = pd.DataFrame(rows, columns=["claim_id", "remit_id", "group_code", "carc", "amount", "remark_codes"])
    lines = pd.array(rng.integers(1, 4, len(adjustments)), dtype="Int64")
    lines[rng.random(len(adjustments)) < 0.25] = pd.NA  # claim-level adjustments
    adjustments.insert(2, "line_number", lines)
    return denials, adjustments


def _optional(value: object) -> object:
    return None if pd.isna(value) else value


@pytest.mark.parametrize("seed", [0, 1])
def test_frame_equals_row_by_row(seed: int, team: PayerRules, codes: CodeTables) -> None:
    denials, adjustments = _random_world(codes, n=600, seed=seed)
    out = recommend_frame(denials, adjustments, rules=team, codes=codes)
    assert list(out.columns) == list(FRAME_COLUMNS)
    assert out["claim_id"].tolist() == denials["claim_id"].tolist()
    assert str(out["deadline"].dtype).startswith("datetime64")
    assert out["window_days"].dtype == "Int64"

    first = adjustments.merge(
        denials[["claim_id", "first_remit_id"]],
        left_on=["claim_id", "remit_id"],
        right_on=["claim_id", "first_remit_id"],
    )
    by_claim = {
        c: list(g[["group_code", "carc", "remark_codes", "amount", "line_number"]].itertuples(index=False, name=None))
        for c, g in first.groupby("claim_id", sort=False)
    }
    for row, got in zip(denials.itertuples(index=False), out.itertuples(index=False), strict=True):
        plan = recommend_plan(
            category=row.denial_category,
            adjustments=by_claim.get(row.claim_id, []),
            payer_id=row.payer_id,
            plan_type=row.plan_type,
            rules=team,
            codes=codes,
        )
        decision = plan.primary
        deadline = deadline_for(
            action=decision.action,
            clock=decision.clock,
            denial_date=row.first_remit_date,
            service_from=_optional(row.service_from),
            service_to=_optional(row.service_to),
            claim_type=_optional(row.claim_type),
            other_payer_id=_optional(row.secondary_payer_id),
            payer_id=row.payer_id,
            plan_type=row.plan_type,
            rules=team,
        )
        assert (got.action, got.action_rule, got.clock) == (decision.action, decision.rule, decision.clock), (
            row.claim_id
        )
        assert got.action_group == decision.group, row.claim_id
        assert (None if pd.isna(got.appeal_rights) else bool(got.appeal_rights)) == decision.appeal_rights
        assert (None if pd.isna(got.deadline) else got.deadline.date()) == deadline.due, row.claim_id
        assert got.deadline_rule == deadline.rule, row.claim_id
        assert (None if pd.isna(got.window_days) else int(got.window_days)) == deadline.window_days
        split = (got.patient_amount, got.payer_amount, got.write_off_amount)
        assert split == pytest.approx((plan.patient_amount, plan.payer_amount, plan.write_off_amount)), row.claim_id
        mixed = len({u.decision.action for u in plan.lines}) > 1
        expected_plan = "; ".join(
            f"{unit_label(u.line_number)}: {u.decision.action} ${u.amount:,.2f}" for u in plan.lines
        )
        assert got.line_plan == (expected_plan if mixed else ""), row.claim_id
    # the random world exercises every action and every kind of rule
    assert set(out["action"]) == set(FOLLOWUP_ACTIONS)
    for kind in ("guardrail", "payer:P0001 guardrail", "remark", "patient responsibility", "category", "reopen"):
        assert out["action_rule"].str.contains(kind, regex=False).any(), kind
    for kind in (
        "already out of time",
        "due when the denial arrived",
        "through date",
        "no service date",
        "payer:P0001 appeal",
        "the claim's secondary",
        "not named on the claim",
        "(reopening)",
        "a corrected claim of a processed claim",
        NO_DEADLINE,
    ):
        assert out["deadline_rule"].str.contains(kind, regex=False).any(), kind
    assert (out["line_plan"] != "").any()
    # no deadline earlier than the denial without saying why (issue 18, finding 4)
    early = out["deadline"] < denials["first_remit_date"]
    assert early.any()
    said = out["deadline_rule"].str.startswith(("already out of time", "due when the denial arrived"))
    assert said[early].all()


def test_frame_rejects_duplicate_and_missing_inputs(shipped: PayerRules, codes: CodeTables) -> None:
    denials, adjustments = _random_world(codes, n=5, seed=3)
    with pytest.raises(ValueError, match="one row per claim_id"):
        recommend_frame(pd.concat([denials, denials]), adjustments, rules=shipped, codes=codes)
    with pytest.raises(ValueError, match="missing"):
        recommend_frame(denials.assign(denial_category=None), adjustments, rules=shipped, codes=codes)
    with pytest.raises(ValueError, match="missing columns"):
        recommend_frame(denials.drop(columns="service_from"), adjustments, rules=shipped, codes=codes)


def test_frame_empty(shipped: PayerRules, codes: CodeTables) -> None:
    denials, adjustments = _random_world(codes, n=3, seed=4)
    out = recommend_frame(denials.iloc[:0], adjustments.iloc[:0], rules=shipped, codes=codes)
    assert list(out.columns) == list(FRAME_COLUMNS) and out.empty
