"""The payers' true rules over time, and the team's (partly out-of-date) payer rule file.

The world is adjudicated by the TRUE rules, which change: one large commercial payer adds a procedure
family to its prior-authorization list part-way through history (drift). The rule file handed to the team
is written from what the team knew before that change, so a model that trusts the file alone misses the
new denials, while one that learns from recent history catches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic.code_catalog import NEVER, SUB, SUBFAMILIES, ProcedureCatalog, range_text
from synthetic.entities import PLAN, PLAN_TYPES, Payers
from synthetic.timeline import Timeline, iso

DRIFT_SUBFAMILY = "pt_therapy"


@dataclass(frozen=True)
class Drift:
    payer: int
    subfamily: int
    month: int  # history month index (0-based) from which the new rule applies
    effective_day: int  # first service date the new rule applies to

    def describe(self, payers: Payers, timeline: Timeline) -> dict[str, Any]:
        sub = SUBFAMILIES[self.subfamily]
        return {
            "payer_id": payers.ids[self.payer],
            "month_index": self.month,
            "effective_date": iso(self.effective_day),
            "family": sub.name,
            "codes": range_text(sub),
            "change": "added to the payer's prior-authorization list; payer_rules.yaml keeps the old list",
        }


def make_drift(*, payers: Payers, timeline: Timeline) -> Drift:
    commercial = np.flatnonzero(payers.plan == PLAN["commercial"])
    month = min(int(round(0.65 * timeline.months)), timeline.months - 1)
    return Drift(
        payer=int(commercial[0]),
        subfamily=SUB[DRIFT_SUBFAMILY],
        month=month,
        effective_day=int(timeline.month_starts[month]),
    )


def true_auth_required(
    *, payers: Payers, drift: Drift, payer: np.ndarray, subfamily: np.ndarray, service_day: np.ndarray
) -> np.ndarray:
    """Whether each line needs prior authorization under the payer's TRUE rules on its service date."""
    required = payers.auth_subfamilies[payer, subfamily]
    changed = (payer == drift.payer) & (subfamily == drift.subfamily) & (service_day >= drift.effective_day)
    return required | changed


def team_payer_rules(payers: Payers, procedures: ProcedureCatalog) -> dict[str, Any]:
    """The team's payer rule file content (features/contract/payer_rules.py override schema), pre-drift knowledge.

    With the code set's deletions (`code_terminated`): a retired code is announced by its publisher before
    it lapses, and a team loads the list (the CMS HCPCS file's termination dates), so it is written whole."""
    entries: dict[str, Any] = {}
    for i, payer_id in enumerate(payers.ids):
        auth: list[str] = []
        for s_idx in np.flatnonzero(payers.auth_subfamilies[i]):
            auth.extend(range_text(SUBFAMILIES[int(s_idx)]))
        entries[payer_id] = {
            "plan_type": PLAN_TYPES[int(payers.plan[i])],
            "timely_filing_days": int(payers.timely_filing_days[i]),
            "corrected_claim_window_days": int(payers.corrected_window_days[i]),
            "appeal_window_days": {level + 1: int(payers.appeal_window_days[i, level]) for level in range(3)},
            "auth_required": sorted(auth),
        }
    retired = np.flatnonzero(procedures.retired_day < NEVER)
    terminated = {str(procedures.codes[i]): iso(int(procedures.retired_day[i])) for i in retired}
    return {"version": 1, "defaults": {"code_terminated": dict(sorted(terminated.items()))}, "payers": entries}
