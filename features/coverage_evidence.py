"""Coverage withdrawn, learned from a payer's own recent denials: the non-authorization policy change.

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
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.declarations import AggregateSpec
from features.history import HistoryAggregates

WINDOW_DAYS = 90  # the other histories' recent window: a code is billed a few times a month, not a family
MIN_LINES = 5
MIN_RATE = 0.5
PRIOR_STRENGTH = 1.0  # a light pull towards the global rate: the rule reads (denied + ~0) / (lines + 1)
SPEC = AggregateSpec(
    "coverage_evidence",
    ((), ("payer_id", "plan_type", "procedure_code")),
    "line_denied_non_covered",
    "non-covered denial rate of this payer's plan for this procedure code",
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
