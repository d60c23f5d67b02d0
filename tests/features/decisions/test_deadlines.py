"""Deadline per denial: appeal windows by level, corrected-claim window against the timely filing limit,
the safety buffer and the rule text that names each source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.contract.payer_rules import PayerRules, load_payer_rules
from features.decisions.deadlines import NO_DEADLINE, deadline_for

DENIED = dt.date(2024, 1, 10)


LEVEL_1_DECIDED = dt.date(2024, 3, 1)


@pytest.mark.parametrize(
    ("payer_id", "plan_type", "level", "due", "window", "buffer", "rule_start"),
    [
        # payer override: level 1 from the payer (30), its own 3-day buffer
        ("P0001", None, 1, dt.date(2024, 2, 6), 30, 3, "payer:P0001 appeal_window_days.1 = 30 days from denial"),
        # same payer, level 2 not overridden: its plan type (commercial, 60) from the level-1 decision
        (
            "P0001",
            None,
            2,
            dt.date(2024, 4, 27),
            60,
            3,
            "plan_type:commercial appeal_window_days.2 = 60 days from the level-1 decision",
        ),  # fmt: skip
        # unknown payer, plan type medicare: 120 from the denial, then 180 from the redetermination
        ("NEW", "medicare", 1, dt.date(2024, 5, 2), 120, 7, "plan_type:medicare appeal_window_days.1 = 120 days"),
        (
            "NEW",
            "medicare",
            2,
            dt.date(2024, 8, 21),
            180,
            7,
            "plan_type:medicare appeal_window_days.2 = 180 days "
            "from the level-1 decision (default appeal_clock previous_decision)",
        ),  # fmt: skip
        (
            "NEW",
            "medicare",
            3,
            dt.date(2024, 4, 23),
            60,
            7,
            "plan_type:medicare appeal_window_days.3 = 60 days from the level-2 decision",
        ),  # fmt: skip
        # nothing known: conservative defaults (60 days at every level)
        ("NEW", None, 1, dt.date(2024, 3, 3), 60, 7, "default appeal_window_days.1 = 60 days"),
        ("NEW", "unheard_of", 2, dt.date(2024, 4, 23), 60, 7, "default appeal_window_days.2 = 60 days"),
    ],
)
def test_appeal_deadline(
    payer_id: str,
    plan_type: str | None,
    level: int,
    due: dt.date,
    window: int,
    buffer: int,
    rule_start: str,
    team: PayerRules,
) -> None:
    """Levels 2 and 3 count from the decision of the level before (issue 18, finding 10)."""
    previous = LEVEL_1_DECIDED if level > 1 else None
    deadline = deadline_for(
        action="appeal",
        denial_date=DENIED,
        service_from=dt.date(2023, 12, 1),
        payer_id=payer_id,
        plan_type=plan_type,
        rules=team,
        appeal_level=level,
        previous_decision_date=previous,
    )
    assert deadline.due == due
    assert deadline.due == (previous or DENIED) + dt.timedelta(days=window - buffer)
    assert (deadline.window_days, deadline.buffer_days) == (window, buffer)
    assert deadline.rule.startswith(rule_start)
    assert f"minus {buffer}-day buffer" in deadline.rule


def test_a_later_appeal_level_needs_the_decision_it_answers(shipped: PayerRules) -> None:
    with pytest.raises(ValueError, match="previous_decision_date is required: appeal level 2"):
        deadline_for(
            action="appeal", denial_date=DENIED, service_from=None, payer_id="X", plan_type="medicare", rules=shipped,
            appeal_level=2,
        )  # fmt: skip


def test_a_team_may_count_every_level_from_the_denial(tmp_path: Path) -> None:
    (tmp_path / "payer_rules.yaml").write_text("version: 1\ndefaults: {appeal_clock: denial}\n", encoding="utf-8")
    rules = load_payer_rules(data_dir=tmp_path)
    deadline = deadline_for(
        action="appeal", denial_date=DENIED, service_from=None, payer_id="X", plan_type="medicare", rules=rules,
        appeal_level=2,
    )  # fmt: skip
    assert deadline.due == DENIED + dt.timedelta(days=180 - 7)
    assert "180 days from denial" in deadline.rule


def test_buffer_source_is_named(team: PayerRules) -> None:
    own = deadline_for(
        action="appeal", denial_date=DENIED, service_from=None, payer_id="P0001", plan_type=None, rules=team
    )
    assert own.rule.endswith("minus 3-day buffer (payer:P0001)")
    other = deadline_for(
        action="appeal", denial_date=DENIED, service_from=None, payer_id="X", plan_type=None, rules=team
    )
    assert other.rule.endswith("minus 7-day buffer (default)")


def test_a_corrected_claim_counts_from_the_denial_never_before_it(shipped: PayerRules) -> None:
    """Issue 18, finding 4: min(denial + 90, service + 90) - 7 was 2025-04-03 for a denial of 2025-04-20."""
    deadline = deadline_for(
        action="correct_and_resubmit",
        denial_date=dt.date(2025, 4, 20),
        service_from=dt.date(2025, 1, 10),
        payer_id="X",
        plan_type="commercial",
        rules=shipped,
    )
    assert deadline.due == dt.date(2025, 7, 12)  # Apr 20 + 90 = Jul 19, minus 7
    assert deadline.window_days == 90
    assert deadline.rule == (
        "plan_type:commercial corrected_claim_window_days = 90 days from denial (a corrected claim of a processed "
        "claim), minus 7-day buffer (default)"
    )


def test_a_corrected_claim_window_from_the_payer(team: PayerRules) -> None:
    deadline = deadline_for(
        action="correct_and_resubmit", denial_date=DENIED, service_from=dt.date(2023, 12, 20), payer_id="P0002",
        plan_type=None, rules=team,
    )  # fmt: skip
    assert deadline.due == dt.date(2024, 2, 17)  # Jan 10 + 45 = Feb 24, minus 7
    assert deadline.rule.startswith("payer:P0002 corrected_claim_window_days = 45 days from denial")


@pytest.mark.parametrize("action", ["correct_and_resubmit", "verify_status"])
def test_a_new_claim_has_the_filing_limit_from_service(action: str, team: PayerRules) -> None:
    # P0002: timely filing 180 days (medicaid) from service; a new claim (unprocessable, or a duplicate whose
    # original the payer does not have) must be filed within it
    deadline = deadline_for(
        action=action, clock="new_claim", denial_date=DENIED, service_from=dt.date(2023, 12, 20), payer_id="P0002",
        plan_type=None, rules=team,
    )  # fmt: skip
    assert deadline.due == dt.date(2024, 6, 10)  # Dec 20 + 180 = Jun 17, minus 7
    assert deadline.window_days == 180
    assert deadline.rule == (
        "plan_type:medicaid timely_filing_days = 180 days from service (a new claim), minus 7-day buffer (default)"
    )


def test_a_new_claim_already_out_of_time_says_so(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="verify_status", denial_date=dt.date(2024, 6, 1), service_from=dt.date(2024, 1, 1), payer_id="X",
        plan_type="commercial", rules=shipped,
    )  # fmt: skip
    assert deadline.due == dt.date(2024, 3, 24)  # Jan 1 + 90 = Mar 31, minus 7: before the denial
    assert deadline.rule.startswith(
        "already out of time when the denial arrived: plan_type:commercial timely_filing_days = 90 days from service"
    )


def test_medicare_institutional_filing_counts_from_the_through_date(shipped: PayerRules) -> None:
    """Issue 18, finding 12: a span claim's filing limit counts from its "through" date for Medicare."""
    kwargs = {"action": "correct_and_resubmit", "clock": "new_claim", "denial_date": DENIED, "payer_id": "X",
              "rules": shipped, "service_from": dt.date(2023, 11, 1), "service_to": dt.date(2023, 11, 30)}  # fmt: skip
    medicare = deadline_for(**kwargs, plan_type="medicare", claim_type="institutional")  # type: ignore[arg-type]
    assert medicare.due == dt.date(2024, 11, 22)  # Nov 30 2023 + 365 = Nov 29 2024, minus 7
    assert "from the through date of service (plan_type:medicare institutional claim)" in medicare.rule
    professional = deadline_for(**kwargs, plan_type="medicare", claim_type="professional")  # type: ignore[arg-type]
    assert professional.due == dt.date(2024, 10, 24)  # Nov 1 2023 + 365 = Oct 31 2024, minus 7
    commercial = deadline_for(**kwargs, plan_type="commercial", claim_type="institutional")  # type: ignore[arg-type]
    assert commercial.due == dt.date(2024, 1, 23)  # Nov 1 + 90 = Jan 30, minus 7


def test_new_claim_without_service_date(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="verify_status", denial_date=DENIED, service_from=None, payer_id=None, plan_type="medicare",
        rules=shipped,
    )  # fmt: skip
    assert deadline.due == dt.date(2025, 1, 2)  # Jan 10 2024 + 365 = Jan 9 2025 (leap year), minus 7
    assert "no service date" in deadline.rule


def test_medicare_reopening_counts_a_year_from_the_determination(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="reopen", denial_date=DENIED, service_from=None, payer_id=None, plan_type="medicare", rules=shipped
    )
    assert deadline.due == dt.date(2025, 1, 2)
    assert deadline.rule.startswith(
        "plan_type:medicare reopening_window_days = 365 days from the initial determination"
    )


def test_the_other_payer_clock_is_that_payers_from_this_remittance(team: PayerRules, tmp_path: Path) -> None:
    """Issue 18, finding 4: the right payer's clock, from the denying payer's remittance date."""
    unknown = deadline_for(
        action="bill_other_payer", denial_date=DENIED, service_from=dt.date(2023, 6, 1), payer_id="P0001",
        plan_type=None, rules=team,
    )  # fmt: skip
    assert unknown.due == dt.date(2024, 4, 6)  # Jan 10 + 90 - 3 (P0001's buffer); not service + 90
    assert "(claim to the other payer (not named on the claim))" in unknown.rule
    (tmp_path / "payer_rules.yaml").write_text(
        'version: 1\npayers: {"S1": {other_payer_filing_days: 180}}\n', encoding="utf-8"
    )
    rules = load_payer_rules(data_dir=tmp_path)
    named = deadline_for(
        action="bill_other_payer", denial_date=DENIED, service_from=None, payer_id="P9", plan_type=None,
        rules=rules, other_payer_id="S1",
    )  # fmt: skip
    assert named.due == dt.date(2024, 7, 1)  # Jan 10 + 180 = Jul 8, minus 7
    assert named.rule.startswith("payer:S1 other_payer_filing_days = 180 days from this remittance (claim to payer S1")


def test_a_pended_claim_has_no_payer_deadline(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="verify_status", clock="none", denial_date=DENIED, service_from=None, payer_id="X", plan_type=None,
        rules=shipped,
    )  # fmt: skip
    assert deadline.due is None and deadline.rule == NO_DEADLINE


@pytest.mark.parametrize("action", ["bill_patient", "write_off"])
def test_no_payer_deadline(action: str, shipped: PayerRules) -> None:
    deadline = deadline_for(
        action=action, denial_date=DENIED, service_from=None, payer_id="X", plan_type=None, rules=shipped
    )
    assert deadline.due is None and deadline.window_days is None
    assert deadline.rule == NO_DEADLINE == "no payer deadline"


def test_deadline_accepts_timestamps(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="appeal",
        denial_date=pd.Timestamp("2024-01-10"),
        service_from=pd.NaT,
        payer_id="X",
        plan_type=None,
        rules=shipped,
    )
    assert deadline.due == dt.date(2024, 3, 3)
    assert type(deadline.due) is dt.date


def test_bad_action_or_level_is_an_error(shipped: PayerRules) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        deadline_for(action="pray", denial_date=DENIED, service_from=None, payer_id="X", plan_type=None, rules=shipped)
    with pytest.raises(ValueError, match="appeal_level"):
        deadline_for(
            action="appeal",
            denial_date=DENIED,
            service_from=None,
            payer_id="X",
            plan_type=None,
            rules=shipped,
            appeal_level=4,
        )


def test_a_deadline_before_the_denial_always_says_why(shipped: PayerRules) -> None:
    """The limit ends 3 days after the denial: the 7-day buffer puts the deadline before it, and the text says."""
    deadline = deadline_for(
        action="verify_status", denial_date=dt.date(2024, 3, 28), service_from=dt.date(2024, 1, 1), payer_id="X",
        plan_type="commercial", rules=shipped,
    )  # fmt: skip
    assert deadline.due == dt.date(2024, 3, 24) < dt.date(2024, 3, 28)
    assert deadline.rule.startswith("due when the denial arrived: plan_type:commercial timely_filing_days = 90 days")
