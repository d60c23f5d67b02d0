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
required modifier is missing") while the same plan's other lines are not. A bulletin names many codes, each
billed a few times a month, so a fixed count of lines per code comes too late: by the time eight bare lines of
one code are answered the practice has started adding the modifier and bare lines are scarce. So the evidence
is tested against the plan's own rate instead: a line with no modifier counts as missing a required one when, in
the last WINDOW_DAYS days, at least MODIFIER_MIN_LINES of the plan's modifier-less lines of that code were
answered, at least MIN_RATE of them (smoothed towards the plan's rate) denied for coding, and that many denials
would happen by chance at the plan's coding-denial rate over its OTHER codes' modifier-less lines in the window
with probability at most MODIFIER_ALPHA (a one-sided binomial test). Where the plan's bare lines are rarely
denied for coding (1-2%), three denials of three lines suffice; at 5%, four of four. ALPHA is the coverage rule's
"about 1 in 100,000". And it must be news: over the whole history the code's bare lines to the plan were mostly
paid (smoothed rate below MIN_RATE). A requirement in force all along is in the history rates already.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import binom

from features.declarations import AggregateSpec
from features.history import HistoryAggregates

WINDOW_DAYS = 90  # the other histories' recent window: a code is billed a few times a month, not a family
MIN_LINES = 5
MODIFIER_MIN_LINES = 3
MODIFIER_ALPHA = 1e-5
MIN_RATE = 0.5
NO_MODIFIER = "-"  # features.claim_fields.modifier_keys of a line without modifiers
PRIOR_STRENGTH = 1.0  # a light pull towards the global rate: the rule reads (denied + ~0) / (lines + 1)
SPEC = AggregateSpec(
    "coverage_evidence",
    ((), ("payer_id", "plan_type", "procedure_code")),
    "line_denied_non_covered",
    "non-covered denial rate of this payer's plan for this procedure code",
)


_PLAN_BARE = ("payer_id", "plan_type", "modifier_key")
MODIFIER_SPEC = AggregateSpec(
    "modifier_evidence",
    ((), _PLAN_BARE, ("payer_id", "plan_type", "procedure_code", "modifier_key")),
    "line_denied_coding",
    "coding denial rate of this payer's plan for this procedure code billed with these modifiers",
)
MODIFIER_PLAN_SPEC = AggregateSpec(
    "modifier_plan",
    ((), _PLAN_BARE),
    "line_denied_coding",
    "coding denial rate of this payer's plan over all its lines billed with these modifiers (the code's parent)",
)
MODIFIER_ROOT_SPEC = AggregateSpec("modifier_root", ((),), "line_denied_coding", "coding denial rate of all lines")
MODIFIER_EVIDENCE_SPECS = (MODIFIER_SPEC, MODIFIER_PLAN_SPEC, MODIFIER_ROOT_SPEC)


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
    return HistoryAggregates(specs=MODIFIER_EVIDENCE_SPECS, window_days=WINDOW_DAYS, prior_strength=PRIOR_STRENGTH).fit(
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
    # a change: the code's bare lines to the plan were mostly paid over the whole history (a requirement in force
    # all along is no news, and the history rates beside this rule already hold it)
    news = answer[f"{MODIFIER_SPEC.name}_rate"] < MIN_RATE
    learned = bare & (lines >= MODIFIER_MIN_LINES) & (rate >= MIN_RATE) & news
    at = np.flatnonzero(learned)  # few lines: the test only where the counts already say "maybe"
    if len(at):
        denied, others = _window_counts({k: v[at] for k, v in answer.items()}, code_lines=lines[at], code_rate=rate[at])
        chance = binom.sf(denied - 1, lines[at], np.clip(others, 1e-9, 1.0))  # P(X >= denied) at the others' rate
        learned[at] = chance <= MODIFIER_ALPHA
    return learned, lines, rate


def _window_counts(
    answer: Mapping[str, np.ndarray], *, code_lines: np.ndarray, code_rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The code's coding denials in the window, and the plan's coding-denial rate there over its OTHER codes'
    lines with the same modifiers (lightly pulled towards the global rate, by one pseudo-line). The code's own
    lines are left out, or a plan whose few codes all changed would set its own bar. Counts are read back from
    the shrunk rates (features/history.py: r = (d + m * parent) / (n + m) at each level)."""
    m = PRIOR_STRENGTH
    root = answer[f"{MODIFIER_ROOT_SPEC.name}_rate_recent"]
    plan_n = answer[f"{MODIFIER_PLAN_SPEC.name}_n_recent"]
    plan_rate = answer[f"{MODIFIER_PLAN_SPEC.name}_rate_recent"]
    plan_d = plan_rate * (plan_n + m) - m * root
    code_d = np.rint(code_rate * (code_lines + m) - m * plan_rate)
    others = (plan_d - code_d + m * root) / np.maximum(plan_n - code_lines + m, m)
    return code_d, np.clip(others, 0.0, 1.0)
