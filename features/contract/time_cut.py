"""The history as the team saw it on a given day: every table cut to what had happened before it.

Retraining "as of" a month, the backtest and the policy simulator all train on the past and judge on
the future; cutting the tables once, here, means no label, feature or worked-flag can see the future.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from features.contract.frames import member


def known_at(tables: Mapping[str, pd.DataFrame], day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Rows dated strictly before `day`: claims by submission, remits by remit date, adjustments of those
    remits, lines of those claims, follow-ups by action date (an outcome recorded on or after `day` is
    blanked: the action had happened, its result was not yet known)."""
    day = pd.Timestamp(day)
    claims = tables["claims"][tables["claims"]["submitted_at"] < day]
    remits = tables["remits"]
    remits = remits[(remits["remit_date"] < day) & member(remits["claim_id"], claims["claim_id"])]
    out = {
        "claims": claims,
        "claim_lines": tables["claim_lines"][member(tables["claim_lines"]["claim_id"], claims["claim_id"])],
        "remits": remits,
        "adjustments": tables["adjustments"][member(tables["adjustments"]["remit_id"], remits["remit_id"])],
    }
    followups = tables.get("followups")
    if followups is not None:
        kept = followups[(followups["action_date"] < day) & member(followups["claim_id"], claims["claim_id"])].copy()
        if "outcome_date" in kept:
            later = kept["outcome_date"].notna() & (kept["outcome_date"] >= day)
            for col in ("outcome", "outcome_date"):
                if col in kept:
                    kept.loc[later, col] = None
        out["followups"] = kept
    return {name: frame.reset_index(drop=True) for name, frame in out.items()}
