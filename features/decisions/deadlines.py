"""The date by which a denial's recommended action must be done, and the rule that set it.

Why this exists: a denial is only worth money if someone acts before the payer's window closes, and the
windows differ by payer, plan type and route. They come from the payer rule library, and every deadline
says which rule and which clock produced it, so a biller (and an auditor) can see why ClaimSight said
"appeal by 12 March" and fix the rule if it is wrong.

The clock (``CLOCKS``) says which date a deadline counts from and which window applies; an action has a
usual clock (``DEFAULT_CLOCK``) and a decision rule may name another (a new claim after MA130). Deadline,
minus the resolved rule's ``deadline_buffer_days``:

- ``appeal``: level 1: denial date + ``appeal_window_days[1]``; levels 2 and 3: + ``appeal_window_days[level]``
  from the decision of the level before when ``appeal_clock`` is ``previous_decision`` (Medicare: QIC 180
  days from the redetermination, ALJ 60 days from the reconsideration), else from the denial;
- ``corrected_claim`` (a replacement of a claim the payer processed): denial date +
  ``corrected_claim_window_days``. The original filing limit is not applied again: the original was
  received, and applying it produced deadlines earlier than the denial itself;
- ``new_claim`` (the payer has no processed claim: unprocessable MA130, a new claim after N142, a duplicate
  whose original is not on file): service date + ``timely_filing_days`` (an institutional claim counts from
  its "through" date where ``institutional_filing_date`` is ``service_to``, as Medicare's does). When that
  day is before the denial the rule text says the claim was already out of time when the denial arrived,
  and when only the buffer puts the deadline before the denial it says the claim was due on arrival;
  without a service date only the corrected-claim window from the denial is known, and the text says so;
- ``reopening`` (Medicare fixes a processed claim by a reopening): denial date + ``reopening_window_days``;
- ``other_payer`` (the claim goes to the liable or next payer): this remittance's date + that payer's
  ``other_payer_filing_days`` (the claim's secondary payer when it names one, else the defaults);
- ``none``: no payer deadline (bill the patient, write off, a pended claim the payer will decide).

``deadline_for`` is one denial, written to be read; ``deadline_columns`` is the same arithmetic for many
denials at once (used by ``features.decisions.actions.recommend_frame``; a test holds them equal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.contract.codes import FOLLOWUP_ACTIONS
from features.contract.payer_rule_model import APPEAL_LEVELS, CLOCKS
from features.contract.payer_rules import PayerRules, ResolvedRule
from features.decisions.normalise import as_date, is_missing

__all__ = [
    "CLOCKS",
    "DEFAULT_CLOCK",
    "NO_DEADLINE",
    "Deadline",
    "check_level",
    "deadline_columns",
    "deadline_for",
]

NO_DEADLINE = "no payer deadline"
DEFAULT_CLOCK: Mapping[str, str] = MappingProxyType(
    {
        "appeal": "appeal",
        "correct_and_resubmit": "corrected_claim",
        "verify_status": "new_claim",
        "reopen": "reopening",
        "bill_other_payer": "other_payer",
        "bill_patient": "none",
        "write_off": "none",
    }
)
# How the filing date of a new claim was found: the first day of service, the "through" day, or unknown.
_FROM, _THROUGH, _UNKNOWN = 0, 1, 2
# Where a new claim's filing limit stands when the denial arrives (the rule text says the last two).
_ON_TIME, _OUT_OF_TIME, _IN_BUFFER = 0, 1, 2


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


def _clock_of(action: str, clock: str | None) -> str:
    _check_action(action)
    chosen = DEFAULT_CLOCK[action] if clock is None else clock
    if chosen not in CLOCKS:
        raise ValueError(f"unknown deadline clock {chosen!r}; expected one of {CLOCKS}")
    return chosen


# -- rule text, shared by the row and the frame version ----------------------------------------------------


def _buffer_text(rule: ResolvedRule) -> str:
    return f"minus {rule.deadline_buffer_days}-day buffer ({rule.source['deadline_buffer_days']})"


def _field(rule: ResolvedRule, name: str) -> str:
    return f"{rule.source[name]} {name} = {getattr(rule, name)} days"


def _counts_from_previous(rule: ResolvedRule, level: int) -> bool:
    return level > 1 and rule.appeal_clock == "previous_decision"


def _appeal_text(rule: ResolvedRule, level: int) -> str:
    key = f"appeal_window_days.{level}"
    if _counts_from_previous(rule, level):
        start = f"from the level-{level - 1} decision ({rule.source['appeal_clock']} appeal_clock previous_decision)"
    else:
        start = "from denial"
    return f"{rule.source[key]} {key} = {rule.appeal_window_days[level]} days {start}, {_buffer_text(rule)}"


def _corrected_text(rule: ResolvedRule) -> str:
    head = f"{_field(rule, 'corrected_claim_window_days')} from denial (a corrected claim of a processed claim)"
    return f"{head}, {_buffer_text(rule)}"


def _new_claim_text(rule: ResolvedRule, date_kind: int, *, lateness: int) -> str:
    """``lateness``: ``_ON_TIME``; ``_OUT_OF_TIME`` (the limit ended before the denial arrived);
    ``_IN_BUFFER`` (the limit ends after the denial but within the buffer, so the deadline is before it)."""
    if date_kind == _UNKNOWN:
        head = f"{_field(rule, 'corrected_claim_window_days')} from denial (no service date: filing limit not checked)"
        return f"{head}, {_buffer_text(rule)}"
    start = "from service"
    if date_kind == _THROUGH:
        start = f"from the through date of service ({rule.source['institutional_filing_date']} institutional claim)"
    head = f"{_field(rule, 'timely_filing_days')} {start} (a new claim)"
    if lateness == _OUT_OF_TIME:
        head = f"already out of time when the denial arrived: {head} ended before the denial"
    elif lateness == _IN_BUFFER:
        head = f"due when the denial arrived: {head} ends within the buffer"
    return f"{head}, {_buffer_text(rule)}"


def _reopening_text(rule: ResolvedRule) -> str:
    return f"{_field(rule, 'reopening_window_days')} from the initial determination (reopening), {_buffer_text(rule)}"


def _other_payer_text(rule: ResolvedRule, other: ResolvedRule) -> str:
    """``other``: the rule of the payer the claim goes to (its window); ``rule``: the denying payer's (the buffer)."""
    who = (
        f"payer {other.payer_id}, the claim's secondary"
        if other.payer_id
        else "the other payer (not named on the claim)"
    )
    head = f"{_field(other, 'other_payer_filing_days')} from this remittance (claim to {who})"
    return f"{head}, {_buffer_text(rule)}"


# -- one denial ---------------------------------------------------------------------------------------------


def _filing_date(
    rule: ResolvedRule, service_from: dt.date | None, service_to: dt.date | None, claim_type: object
) -> tuple[dt.date | None, int]:
    institutional = not is_missing(claim_type) and str(claim_type).strip().lower() == "institutional"
    if institutional and rule.institutional_filing_date == "service_to" and service_to is not None:
        return service_to, _THROUGH
    if service_from is None:
        return None, _UNKNOWN
    return service_from, _FROM


def deadline_for(
    *,
    action: str,
    denial_date: dt.date,
    service_from: dt.date | None,
    payer_id: str | None,
    plan_type: str | None,
    rules: PayerRules,
    appeal_level: int = 1,
    clock: str | None = None,
    service_to: dt.date | None = None,
    claim_type: str | None = None,
    previous_decision_date: dt.date | None = None,
    other_payer_id: str | None = None,
) -> Deadline:
    """The date the action must be done by (see the module docstring), with the rule that set it.

    ``clock`` None = the action's usual clock; ``previous_decision_date``: the decision of the appeal level
    before, required for levels 2 and 3 where the rule counts from it; ``other_payer_id``: the payer a
    ``bill_other_payer`` claim goes to (the claim's secondary payer), None when not known.
    """
    chosen = _clock_of(action, clock)
    check_level(appeal_level)
    if chosen == "none":
        return Deadline(due=None, window_days=None, buffer_days=0, rule=NO_DEADLINE)
    denied = as_date(denial_date)
    if denied is None:
        raise ValueError("denial_date is required")
    rule = rules.lookup(payer_id=payer_id, plan_type=plan_type)
    buffer = rule.deadline_buffer_days

    def due(start: dt.date, window: int, text: str) -> Deadline:
        return Deadline(start + dt.timedelta(days=window - buffer), window, buffer, text)

    if chosen == "appeal":
        start = denied
        if _counts_from_previous(rule, appeal_level):
            previous = as_date(previous_decision_date)
            if previous is None:
                raise ValueError(
                    f"previous_decision_date is required: appeal level {appeal_level} counts from the decision of "
                    f"level {appeal_level - 1} ({rule.source['appeal_clock']} appeal_clock previous_decision)"
                )
            start = previous
        return due(start, rule.appeal_window_days[appeal_level], _appeal_text(rule, appeal_level))
    if chosen == "corrected_claim":
        return due(denied, rule.corrected_claim_window_days, _corrected_text(rule))
    if chosen == "reopening":
        return due(denied, rule.reopening_window_days, _reopening_text(rule))
    if chosen == "other_payer":
        other = rules.lookup(payer_id=other_payer_id, plan_type=None)
        return due(denied, other.other_payer_filing_days, _other_payer_text(rule, other))
    filed, kind = _filing_date(rule, as_date(service_from), as_date(service_to), claim_type)
    if filed is None:
        return due(denied, rule.corrected_claim_window_days, _new_claim_text(rule, kind, lateness=_ON_TIME))
    end = filed + dt.timedelta(days=rule.timely_filing_days)
    lateness = _ON_TIME
    if end < denied:
        lateness = _OUT_OF_TIME
    elif end - dt.timedelta(days=buffer) < denied:
        lateness = _IN_BUFFER
    return due(filed, rule.timely_filing_days, _new_claim_text(rule, kind, lateness=lateness))


# -- many denials -------------------------------------------------------------------------------------------


def _days(values: npt.NDArray[np.int64]) -> npt.NDArray[np.timedelta64]:
    return values.astype("timedelta64[D]")


def _dates(values: pd.Series) -> npt.NDArray[np.datetime64]:
    return pd.to_datetime(values).to_numpy(dtype="datetime64[D]")


def deadline_columns(
    *,
    inputs: pd.DataFrame,
    rule_group: npt.NDArray[np.intp],
    resolved: Sequence[ResolvedRule],
    other_group: npt.NDArray[np.intp],
    other_resolved: Sequence[ResolvedRule],
    appeal_level: int,
) -> tuple[npt.NDArray[np.datetime64], pd.api.extensions.ExtensionArray, npt.NDArray[np.object_]]:
    """``deadline_for`` per row, vectorised: (due as datetime64[D], NaT = no payer deadline; window_days as
    nullable Int64; the rule text).

    ``inputs`` columns: action, clock (already resolved, never null), denial_date, service_from, service_to,
    claim_type, previous_decision_date (read only for appeal levels 2 and 3). ``rule_group`` indexes
    ``resolved`` (each row's own payer rule); ``other_group`` indexes ``other_resolved`` (the rule of the
    payer a ``bill_other_payer`` claim goes to).
    """
    check_level(appeal_level)
    n = len(inputs)
    clock = inputs["clock"].to_numpy(dtype=object)
    unknown = sorted(set(clock.tolist()) - set(CLOCKS))
    if unknown:
        raise ValueError(f"unknown deadline clocks {unknown}; expected one of {CLOCKS}")
    denied = _dates(inputs["denial_date"])
    served = _dates(inputs["service_from"])
    through = _dates(inputs["service_to"])

    def per_rule(values: Sequence[object], groups: npt.NDArray[np.intp], dtype: type = np.int64) -> np.ndarray:
        table: np.ndarray = np.array(list(values), dtype=dtype)
        return table[groups] if n else np.array([], dtype=dtype)

    appeal_days = per_rule([r.appeal_window_days[appeal_level] for r in resolved], rule_group)
    from_previous = per_rule([_counts_from_previous(r, appeal_level) for r in resolved], rule_group, bool)
    ccw = per_rule([r.corrected_claim_window_days for r in resolved], rule_group)
    tf = per_rule([r.timely_filing_days for r in resolved], rule_group)
    reopen = per_rule([r.reopening_window_days for r in resolved], rule_group)
    buffer = per_rule([r.deadline_buffer_days for r in resolved], rule_group)
    other_days = per_rule([r.other_payer_filing_days for r in other_resolved], other_group)
    uses_through = per_rule([r.institutional_filing_date == "service_to" for r in resolved], rule_group, bool)

    institutional = inputs["claim_type"].astype("string").str.strip().str.lower().eq("institutional")
    by_through = institutional.to_numpy(dtype=bool, na_value=False) & uses_through & ~np.isnat(through)
    filed = np.where(by_through, through, served)
    kind = np.where(by_through, _THROUGH, np.where(np.isnat(served), _UNKNOWN, _FROM))

    is_appeal = clock == "appeal"
    previous = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if appeal_level > 1:
        previous = _dates(inputs["previous_decision_date"])
        missing = is_appeal & from_previous & np.isnat(previous)
        if missing.any():
            raise ValueError(
                f"previous_decision_date is required for {int(missing.sum())} appeals: appeal level {appeal_level} "
                f"counts from the decision of level {appeal_level - 1} (appeal_clock previous_decision)"
            )
    is_new = clock == "new_claim"
    new_known = is_new & (kind != _UNKNOWN)
    start = np.where(is_appeal & from_previous, previous, np.where(new_known, filed, denied))
    window = np.select(
        [is_appeal, clock == "corrected_claim", new_known, is_new, clock == "reopening", clock == "other_payer"],
        [appeal_days, ccw, tf, ccw, reopen, other_days],
        default=0,
    ).astype(np.int64)
    has_deadline = clock != "none"
    due = np.where(has_deadline, start + _days(window - buffer), np.datetime64("NaT"))
    window_days = pd.array(window, dtype="Int64")
    window_days[~has_deadline] = pd.NA
    end = filed + _days(tf)
    lateness = np.where(
        new_known & (end < denied),  # type: ignore[operator]
        _OUT_OF_TIME,
        np.where(new_known & ((end - _days(buffer)) < denied), _IN_BUFFER, _ON_TIME),  # type: ignore[operator]
    )

    text_key = pd.MultiIndex.from_arrays(
        [rule_group, other_group, pd.factorize(clock)[0], np.where(is_new, kind, 0), lateness]
    )
    text_index, text_uniques = pd.factorize(text_key)
    clock_names = pd.factorize(clock)[1]
    texts = []
    for gi, oi, ci, k, late in text_uniques:
        rule, name = resolved[gi], str(clock_names[ci])
        if name == "appeal":
            texts.append(_appeal_text(rule, appeal_level))
        elif name == "corrected_claim":
            texts.append(_corrected_text(rule))
        elif name == "new_claim":
            texts.append(_new_claim_text(rule, int(k), lateness=int(late)))
        elif name == "reopening":
            texts.append(_reopening_text(rule))
        elif name == "other_payer":
            texts.append(_other_payer_text(rule, other_resolved[oi]))
        else:
            texts.append(NO_DEADLINE)
    deadline_rule = np.array(texts, dtype=object)[text_index] if n else np.array([], dtype=object)
    return due, window_days, deadline_rule
