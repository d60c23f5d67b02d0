"""Deadline per denial: appeal windows by level, corrected-claim window against the timely filing limit,
the safety buffer and the rule text that names each source."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.contract.payer_rules import PayerRules
from features.decisions.deadlines import NO_DEADLINE, deadline_for

DENIED = dt.date(2024, 1, 10)


@pytest.mark.parametrize(
    ("payer_id", "plan_type", "level", "due", "window", "buffer", "rule_start"),
    [
        # payer override: level 1 from the payer (30), its own 3-day buffer
        ("P0001", None, 1, dt.date(2024, 2, 6), 30, 3, "payer:P0001 appeal_window_days.1 = 30 days"),
        # same payer, level 2 not overridden: its plan type (commercial, 60)
        ("P0001", None, 2, dt.date(2024, 3, 7), 60, 3, "plan_type:commercial appeal_window_days.2 = 60 days"),
        # unknown payer, plan type medicare: 120 / 180, default 7-day buffer
        ("NEW", "medicare", 1, dt.date(2024, 5, 2), 120, 7, "plan_type:medicare appeal_window_days.1 = 120 days"),
        ("NEW", "medicare", 2, dt.date(2024, 7, 1), 180, 7, "plan_type:medicare appeal_window_days.2 = 180 days"),
        # nothing known: conservative defaults (60 days at every level)
        ("NEW", None, 1, dt.date(2024, 3, 3), 60, 7, "default appeal_window_days.1 = 60 days"),
        ("NEW", "unheard_of", 2, dt.date(2024, 3, 3), 60, 7, "default appeal_window_days.2 = 60 days"),
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
    deadline = deadline_for(
        action="appeal",
        denial_date=DENIED,
        service_from=dt.date(2023, 12, 1),
        payer_id=payer_id,
        plan_type=plan_type,
        rules=team,
        appeal_level=level,
    )
    assert deadline.due == due
    assert deadline.due == DENIED + dt.timedelta(days=window - buffer)
    assert (deadline.window_days, deadline.buffer_days) == (window, buffer)
    assert deadline.rule.startswith(rule_start)
    assert f"minus {buffer}-day buffer" in deadline.rule


def test_buffer_source_is_named(team: PayerRules) -> None:
    own = deadline_for(
        action="appeal", denial_date=DENIED, service_from=None, payer_id="P0001", plan_type=None, rules=team
    )
    assert own.rule.endswith("minus 3-day buffer (payer:P0001)")
    other = deadline_for(
        action="appeal", denial_date=DENIED, service_from=None, payer_id="X", plan_type=None, rules=team
    )
    assert other.rule.endswith("minus 7-day buffer (default)")


@pytest.mark.parametrize("action", ["correct_and_resubmit", "verify_status"])
def test_corrected_claim_window_when_filing_limit_is_later(action: str, team: PayerRules) -> None:
    # P0002: corrected claims 45 days (payer), timely filing 180 days (medicaid) from service.
    deadline = deadline_for(
        action=action,
        denial_date=DENIED,
        service_from=dt.date(2023, 12, 20),
        payer_id="P0002",
        plan_type=None,
        rules=team,
    )
    assert deadline.due == dt.date(2024, 2, 17)  # Jan 10 + 45 = Feb 24, minus 7
    assert deadline.window_days == 45
    assert deadline.rule.startswith("payer:P0002 corrected_claim_window_days = 45 days from denial")
    assert "plan_type:medicaid timely_filing_days = 180" in deadline.rule


@pytest.mark.parametrize("action", ["correct_and_resubmit", "verify_status"])
def test_corrected_claim_bounded_by_timely_filing(action: str, shipped: PayerRules) -> None:
    # commercial: 90 days to correct from the denial, but only 90 days from service to file at all.
    deadline = deadline_for(
        action=action,
        denial_date=dt.date(2024, 3, 1),
        service_from=dt.date(2024, 1, 1),
        payer_id="X",
        plan_type="commercial",
        rules=shipped,
    )
    assert deadline.due == dt.date(2024, 3, 24)  # Jan 1 + 90 = Mar 31 (earlier than May 30), minus 7
    assert deadline.window_days == 90
    assert deadline.rule.startswith("plan_type:commercial timely_filing_days = 90 days from service")
    assert "timely filing limit binding" in deadline.rule


def test_equal_bounds_name_the_corrected_claim_window(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="correct_and_resubmit",
        denial_date=DENIED,
        service_from=DENIED,
        payer_id="X",
        plan_type="commercial",
        rules=shipped,
    )
    assert deadline.due == dt.date(2024, 4, 2)  # both bounds end Apr 9, minus 7
    assert deadline.rule.startswith("plan_type:commercial corrected_claim_window_days = 90 days from denial")
    assert "binding" not in deadline.rule


def test_corrected_claim_without_service_date(shipped: PayerRules) -> None:
    deadline = deadline_for(
        action="correct_and_resubmit",
        denial_date=DENIED,
        service_from=None,
        payer_id=None,
        plan_type="medicare",
        rules=shipped,
    )
    assert deadline.due == dt.date(2025, 1, 2)  # Jan 10 2024 + 365 = Jan 9 2025 (leap year), minus 7
    assert "no service date" in deadline.rule


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
