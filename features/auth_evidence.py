"""Prior-authorization requirements learned from a payer's own recent denials.

Payers add procedures to their authorization lists with little notice, and the team's payer_rules.yaml
lags behind. The model knows what a missing authorization costs from thousands of written-rule cases, but
it can only apply that to a new requirement if the requirement reaches it through the same features: a
history rate alone (payer x code x authorization) moves too slowly and the model trusts the all-history
rates beside it. So a payer x procedure family counts as needing authorization from the day the payer's
remits show it: within the last WINDOW_DAYS days, at least MIN_LINES of its lines sent without an authorization
number and at least MIN_RATE of them denied for want of one.

Point-in-time like every history feature (a claim sees only remits dated before its submission, a frozen
snapshot answers as of its day). Evidence comes from the window only, so once the team obtains the
authorizations the requirement would fade from the features; the monitor lists learned requirements
missing from the rule file so the team can write them down.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.declarations import AggregateSpec
from features.history import HistoryAggregates

WINDOW_DAYS = 30  # shorter than the other histories' 90: a new rule must show before old remits dilute it
MIN_LINES = 8
MIN_RATE = 0.4  # 0.3 also learned a family only co-billed with the changed one (README, backtest)
PRIOR_STRENGTH = 1.0  # a light pull towards the global rate: the rule reads (denied + ~0) / (lines + 1)
NO_AUTH = "no_auth"  # the `has_auth` key of a line whose claim has no authorization number
SPEC = AggregateSpec(
    "auth_evidence",
    ((), ("payer_id", "has_auth", "proc_family")),
    "line_denied_authorization",
    "authorization denial rate of this payer's lines in this procedure family sent without an authorization",
)


def fit_auth_evidence(line_events: pd.DataFrame) -> HistoryAggregates:
    """The per-(payer, authorization, family) history behind the learned requirements."""
    return HistoryAggregates(specs=(SPEC,), window_days=WINDOW_DAYS, prior_strength=PRIOR_STRENGTH).fit(line_events)


def learned_auth_needed(
    evidence: HistoryAggregates, rows: Mapping[str, np.ndarray], *, query_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line: whether the payer's recent remits say its family needs authorization, with the evidence
    (lines sent without one in the window, and the share of them denied for it)."""
    n = len(query_day)
    keys = {
        "payer_id": rows["payer_id"],
        "has_auth": np.full(n, NO_AUTH, dtype=object),
        "proc_family": rows["proc_family"],
    }
    answer = evidence.transform_arrays(keys, query_day=query_day)
    lines, rate = answer[f"{SPEC.name}_n_recent"], answer[f"{SPEC.name}_rate_recent"]
    return (lines >= MIN_LINES) & (rate >= MIN_RATE), lines, rate
