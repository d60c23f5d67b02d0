"""Policy changes learned from a payer's own recent denials: coverage withdrawn, and a modifier now required.

Coverage withdrawn.

Payers stop covering services with little notice (a new medical policy, a product that drops a benefit), and
the team's payer_rules.yaml has no word for it. A history rate (payer x code) moves slowly and the model trusts
the all-history rates beside it, so, as for authorization (`features/auth_evidence.py`), a payer's plan x
procedure code counts as no longer covered from the day its remits show it: within the last WINDOW_DAYS days, at
least MIN_LINES of the code's lines to that plan answered and at least MIN_RATE of them denied as not covered
(the root cause `non_covered`: CARC 96, 204, ...). The evidence is per code and per plan, not per code prefix
or payer: a payer writes coverage policies code by code and product by product, and its groups of codes need
not follow the code's first characters.

Point-in-time like every history feature (a claim sees only remits dated before its submission; a frozen
snapshot answers as of its day). Why these thresholds: one code of one plan is billed a few times a month, so
the window is the other histories' 90 days, not authorization's 30 (there a whole family of codes is counted).
A non-covered service is denied nearly every time it is billed, while a covered code's lines are denied as not
covered about 1% of the time: at 1%, 3 or more denials in 5 lines has a chance of about 1 in 100,000, so 5 lines
with half of them (after the light smoothing) denied is strong evidence and still quick to show.

A modifier now required. Payers start requiring a modifier on a code (KX once a therapy threshold is met, 25 on
an E/M beside a procedure, a telehealth modifier) the same way, in a policy bulletin the rule file lags behind.
It shows in the remits as lines of the code sent WITHOUT any modifier being denied for coding (CARC 4: "a
required modifier is missing") while the same plan's other lines are not. So a line with no modifier counts as
missing a required one when, in the last WINDOW_DAYS days, at least MODIFIER_MIN_LINES of the plan's
modifier-less lines of that code were answered and at least MIN_RATE of them denied for coding. More lines than
for coverage: coding denials are commoner (a few percent of lines), and at 5% five or more of eight has a chance
of about 1 in 65,000.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.declarations import AggregateSpec
from features.history import HistoryAggregates

WINDOW_DAYS = 90  # the other histories' recent window: a code is billed a few times a month, not a family
MIN_LINES = 5
MODIFIER_MIN_LINES = 8
MIN_RATE = 0.5
NO_MODIFIER = "-"  # features.claim_fields.modifier_keys of a line without modifiers
PRIOR_STRENGTH = 1.0  # a light pull towards the global rate: the rule reads (denied + ~0) / (lines + 1)
SPEC = AggregateSpec(
    "coverage_evidence",
    ((), ("payer_id", "plan_type", "procedure_code")),
    "line_denied_non_covered",
    "non-covered denial rate of this payer's plan for this procedure code",
)


MODIFIER_SPEC = AggregateSpec(
    "modifier_evidence",
    ((), ("payer_id", "plan_type", "procedure_code", "modifier_key")),
    "line_denied_coding",
    "coding denial rate of this payer's plan for this procedure code billed with these modifiers",
)


def fit_coverage_evidence(line_events: pd.DataFrame) -> HistoryAggregates:
    """The per-(payer, plan, code) history behind the learned coverage withdrawals."""
    return HistoryAggregates(specs=(SPEC,), window_days=WINDOW_DAYS, prior_strength=PRIOR_STRENGTH).fit(line_events)


def learned_not_covered(
    evidence: HistoryAggregates, rows: Mapping[str, np.ndarray], *, query_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line: whether the plan's recent remits say its code is no longer covered, with the evidence (the
    code's lines to the plan answered in the window, and the share of them denied as not covered)."""
    keys = {k: rows[k] for k in ("payer_id", "plan_type", "procedure_code")}
    answer = evidence.transform_arrays(keys, query_day=query_day)
    lines, rate = answer[f"{SPEC.name}_n_recent"], answer[f"{SPEC.name}_rate_recent"]
    return (lines >= MIN_LINES) & (rate >= MIN_RATE), lines, rate


def fit_modifier_evidence(line_events: pd.DataFrame) -> HistoryAggregates:
    """The per-(payer, plan, code, modifiers) coding history behind the learned modifier requirements."""
    return HistoryAggregates(specs=(MODIFIER_SPEC,), window_days=WINDOW_DAYS, prior_strength=PRIOR_STRENGTH).fit(
        line_events
    )


def learned_modifier_missing(
    evidence: HistoryAggregates, rows: Mapping[str, np.ndarray], *, query_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line: whether it has no modifier where the plan's recent remits deny the code's modifier-less lines
    for coding, with the evidence (those lines answered in the window, and the share denied for coding)."""
    bare = np.asarray(rows["modifier_key"] == NO_MODIFIER, dtype=bool)
    keys = {k: rows[k] for k in ("payer_id", "plan_type", "procedure_code", "modifier_key")}
    answer = evidence.transform_arrays(keys, query_day=query_day)
    lines = np.where(bare, answer[f"{MODIFIER_SPEC.name}_n_recent"], 0.0)
    rate = np.where(bare, answer[f"{MODIFIER_SPEC.name}_rate_recent"], 0.0)
    return bare & (lines >= MODIFIER_MIN_LINES) & (rate >= MIN_RATE), lines, rate
