"""The date by which a denial's recommended action must be done, and the rule that set it.

Why this exists: a denial is only worth money if someone acts before the payer's window closes, and the
windows differ by payer and plan type. They come from the payer rule library, and every deadline says
which rule produced it, so a biller (and an auditor) can see why ClaimSight said "appeal by 12 March" and
fix the rule if it is wrong.

Deadline (``deadline_for``), minus the resolved rule's ``deadline_buffer_days``:

- ``appeal``: denial date + ``appeal_window_days[level]``;
- ``correct_and_resubmit`` and ``verify_status`` (a claim the payer has no record of must be resubmitted
  in time): min(denial date + ``corrected_claim_window_days``, service date + ``timely_filing_days``);
  without a service date only the first bound is known, and the rule text says so;
- ``bill_patient`` and ``write_off``: no payer deadline.

``Deadline.window_days`` is the length of the binding window, counted from the date the rule text names
("from denial" or "from service"). ``deadline_columns`` is the same arithmetic for many denials at once
(the frame version in ``features.decisions.actions``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.contract.codes import FOLLOWUP_ACTIONS
from features.contract.payer_rule_model import APPEAL_LEVELS
from features.contract.payer_rules import PayerRules, ResolvedRule
from features.decisions.normalise import as_date

__all__ = ["NO_DEADLINE", "Deadline", "check_level", "deadline_columns", "deadline_for"]

NO_DEADLINE = "no payer deadline"
_RESUBMIT_ACTIONS = frozenset({"correct_and_resubmit", "verify_status"})
_NO_DEADLINE_ACTIONS = frozenset({"bill_patient", "write_off"})


@dataclass(frozen=True)
class Deadline:
    """When it must be done by (already minus the buffer); ``due`` None = no payer deadline."""

    due: dt.date | None
    window_days: int | None
    buffer_days: int
    rule: str


def _check_action(action: str) -> None:
    if action not in FOLLOWUP_ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {FOLLOWUP_ACTIONS}")


def check_level(appeal_level: int) -> None:
    if appeal_level not in APPEAL_LEVELS:
        raise ValueError(f"appeal_level must be one of {APPEAL_LEVELS}")


def _buffer_text(rule: ResolvedRule) -> str:
    return f"minus {rule.deadline_buffer_days}-day buffer ({rule.source['deadline_buffer_days']})"


def _appeal_text(rule: ResolvedRule, level: int) -> str:
    key = f"appeal_window_days.{level}"
    return f"{rule.source[key]} {key} = {rule.appeal_window_days[level]} days from denial, {_buffer_text(rule)}"


def _ccw_text(rule: ResolvedRule) -> str:
    src = rule.source["corrected_claim_window_days"]
    return f"{src} corrected_claim_window_days = {rule.corrected_claim_window_days} days from denial"


def _tf_text(rule: ResolvedRule) -> str:
    return f"{rule.source['timely_filing_days']} timely_filing_days = {rule.timely_filing_days} days from service"


def _resubmit_text(rule: ResolvedRule, binding: str) -> str:
    """``binding``: "corrected" (corrected-claim window ends first or same day), "filing", or "unknown"."""
    if binding == "filing":
        head = f"{_tf_text(rule)} (timely filing limit binding: earlier than {_ccw_text(rule)})"
    elif binding == "corrected":
        head = f"{_ccw_text(rule)} (not later than the timely filing limit, {_tf_text(rule)})"
    else:
        head = f"{_ccw_text(rule)} (no service date: timely filing limit not checked)"
    return f"{head}, {_buffer_text(rule)}"


def deadline_for(
    *,
    action: str,
    denial_date: dt.date,
    service_from: dt.date | None,
    payer_id: str | None,
    plan_type: str | None,
    rules: PayerRules,
    appeal_level: int = 1,
) -> Deadline:
    """The date the action must be done by (see the module docstring), with the rule that set it."""
    _check_action(action)
    check_level(appeal_level)
    if action in _NO_DEADLINE_ACTIONS:
        return Deadline(due=None, window_days=None, buffer_days=0, rule=NO_DEADLINE)
    denied = as_date(denial_date)
    if denied is None:
        raise ValueError("denial_date is required")
    rule = rules.lookup(payer_id=payer_id, plan_type=plan_type)
    buffer = dt.timedelta(days=rule.deadline_buffer_days)
    if action == "appeal":
        window = rule.appeal_window_days[appeal_level]
        due = denied + dt.timedelta(days=window) - buffer
        return Deadline(due, window, rule.deadline_buffer_days, _appeal_text(rule, appeal_level))

    corrected_end = denied + dt.timedelta(days=rule.corrected_claim_window_days)
    served = as_date(service_from)
    if served is None:
        binding, end, window = "unknown", corrected_end, rule.corrected_claim_window_days
    else:
        filing_end = served + dt.timedelta(days=rule.timely_filing_days)
        if filing_end < corrected_end:
            binding, end, window = "filing", filing_end, rule.timely_filing_days
        else:
            binding, end, window = "corrected", corrected_end, rule.corrected_claim_window_days
    return Deadline(end - buffer, window, rule.deadline_buffer_days, _resubmit_text(rule, binding))


def deadline_columns(
    action: npt.NDArray[np.object_],
    denial_dates: pd.Series,
    service_dates: pd.Series,
    rule_group: npt.NDArray[np.intp],
    resolved: Sequence[ResolvedRule],
    appeal_level: int,
) -> tuple[npt.NDArray[np.datetime64], pd.api.extensions.ExtensionArray, npt.NDArray[np.object_]]:
    """``deadline_for`` per row, vectorised: (due as datetime64[D], NaT = no payer deadline; window_days as
    nullable Int64; the rule text). ``rule_group`` indexes ``resolved``, the rule of each row's payer."""
    # per (rule group, action) the windows, per row the arithmetic
    denied = pd.to_datetime(denial_dates).to_numpy(dtype="datetime64[D]")
    served = pd.to_datetime(service_dates).to_numpy(dtype="datetime64[D]")
    action_index, action_uniques = pd.factorize(action)
    appeal_days = np.array([r.appeal_window_days[appeal_level] for r in resolved], dtype=np.int64)[rule_group]
    ccw_days = np.array([r.corrected_claim_window_days for r in resolved], dtype=np.int64)[rule_group]
    tf_days = np.array([r.timely_filing_days for r in resolved], dtype=np.int64)[rule_group]
    buffer_days = np.array([r.deadline_buffer_days for r in resolved], dtype=np.int64)[rule_group]
    corrected_end = denied + ccw_days.astype("timedelta64[D]")
    filing_end = served + tf_days.astype("timedelta64[D]")
    filing_binds = ~np.isnat(served) & (filing_end < corrected_end)
    is_appeal = action == "appeal"
    is_resubmit = np.isin(action, list(_RESUBMIT_ACTIONS))
    end = np.where(
        is_appeal, denied + appeal_days.astype("timedelta64[D]"), np.where(filing_binds, filing_end, corrected_end)
    )
    due = np.where(is_appeal | is_resubmit, end - buffer_days.astype("timedelta64[D]"), np.datetime64("NaT"))
    window = np.where(is_appeal, appeal_days, np.where(filing_binds, tf_days, ccw_days))
    window_days = pd.array(window, dtype="Int64")
    window_days[~(is_appeal | is_resubmit)] = pd.NA

    binding = np.where(filing_binds, 1, np.where(np.isnat(served), 2, 0))
    text_key = pd.MultiIndex.from_arrays([rule_group, np.asarray(action_index), binding])
    text_index, text_uniques = pd.factorize(text_key)
    names = {0: "corrected", 1: "filing", 2: "unknown"}
    texts = []
    for gi, ai, b in text_uniques:
        act = str(action_uniques[ai])
        if act == "appeal":
            texts.append(_appeal_text(resolved[gi], appeal_level))
        elif act in _RESUBMIT_ACTIONS:
            texts.append(_resubmit_text(resolved[gi], names[int(b)]))
        else:
            texts.append(NO_DEADLINE)
    deadline_rule = np.array(texts, dtype=object)[text_index]
    return due, window_days, deadline_rule
