"""The appeal queue of a data directory: open denials -> recovery scores -> a capacity-aware plan.

An open denial is one with no endpoint yet (no later payment, no write-off, no bill to the patient)
that nobody has worked (no follow-up, no corrected or voided claim chaining back): a denial already
appealed is waiting for the payer, and queueing it again would spend the same minutes twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.codes import CodeTables
from features.contract.labels import compute_labels
from features.contract.payer_rules import PayerRules
from features.contract.resubmissions import new_claim_links
from features.contract.run_options import RunOptions
from features.decisions.queue_plan import QueueSettings, plan_queue
from features.recovery_features import denial_frame
from models.recovery import RecoveryModel, worked_mask

QUEUE_COLUMNS = (
    "rank",
    "claim_id",
    "status",
    "planned_day",
    "action",
    "expected_recovery",
    "p_recover",
    "denied_amount",
    "minutes",
    "net_value",
    "deadline",
    "deadline_rule",
    "why",
    "payer_id",
    "denial_category",
    "action_rule",
    "action_group",
    "line_plan",
    "patient_amount",
    "payer_amount",
    "write_off_amount",
    "reason_1",
    "reason_2",
    "reason_3",
)


@dataclass(frozen=True)
class OpenDenials:
    denials: pd.DataFrame  # denial_frame rows of the denials to queue
    open_total: int  # denials with no endpoint yet
    in_progress: int  # of those, already worked and waiting for the payer


def open_denials(
    tables: Mapping[str, pd.DataFrame],
    *,
    codes: CodeTables,
    rules: PayerRules,
    options: RunOptions,
) -> OpenDenials:
    routine = options.routine
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=options.maturity_days)
    frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
    resolved = frame["claim_id"].map(labels.set_index("claim_id")["resolved_at"])
    is_open = resolved.isna().to_numpy()
    links = new_claim_links(tables, codes=codes, routine=routine, maturity_days=options.maturity_days)
    worked = worked_mask(tables, frame, links=links)
    keep = is_open & ~worked
    return OpenDenials(
        denials=frame[keep].reset_index(drop=True),
        open_total=int(is_open.sum()),
        in_progress=int((is_open & worked).sum()),
    )


def rank_queue(model: RecoveryModel, denials: pd.DataFrame, *, today: dt.date, settings: QueueSettings) -> pd.DataFrame:
    """Score the denials, plan the work within capacity, and join the reasons: QUEUE_COLUMNS, in rank order."""
    scored = model.score(denials, explain=True)
    plan = plan_queue(
        scored[["claim_id", "expected_recovery", "recommended_action", "deadline"]].rename(
            columns={"recommended_action": "action"}
        ),
        today=today,
        settings=settings,
    )
    extra = [c for c in QUEUE_COLUMNS if c in scored.columns and c not in plan.columns]
    out = plan.merge(scored[["claim_id", *extra]], on="claim_id", how="left", validate="one_to_one")
    for column in QUEUE_COLUMNS:
        if column not in out:
            out[column] = np.nan
    return out[list(QUEUE_COLUMNS)]
