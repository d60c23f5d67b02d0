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


# What the workspace keeps of each queued denial beyond QUEUE_COLUMNS: the remit that denied it (with the
# claim, the work item's key) and the facts a person checks before working it.
WORKSPACE_FACTS = ("first_remit_id", "first_remit_date", "service_from", "total_charge")


def workspace_rows(ranked: pd.DataFrame, denials: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """`rank_queue` rows with what the team workspace needs (`serving.workspace.queue_sync.sync_queue`): the
    denying remit (`first_remit_id`, from `open_denials(...).denials`), its date, the claim's service date and
    billed amount, what that remit paid, and its adjustments as a list of {group_code, carc, amount, rarcs}
    (the codes the item page explains)."""
    facts = denials[["claim_id", *WORKSPACE_FACTS]].drop_duplicates("claim_id")
    out = ranked.merge(facts, on="claim_id", how="left", validate="one_to_one")
    remits = tables["remits"].drop_duplicates("remit_id").set_index("remit_id")
    out["paid_amount"] = out["first_remit_id"].map(remits["paid_amount"]).astype("float64")
    adjustments = tables["adjustments"]
    wanted = adjustments[adjustments["remit_id"].isin(set(out["first_remit_id"].dropna()))]
    listed: dict[str, list[dict[str, object]]] = {}
    for remit_id, group, carc, amount, remarks in zip(
        wanted["remit_id"], wanted["group_code"], wanted["carc"], wanted["amount"], wanted["remark_codes"], strict=True
    ):
        rarcs = [c.strip().upper() for c in str(remarks).split("|") if c.strip()] if isinstance(remarks, str) else []
        listed.setdefault(str(remit_id), []).append(
            {
                "group_code": str(group).strip().upper(),
                "carc": str(carc).strip().upper(),
                "amount": round(float(amount), 2),
                "rarcs": rarcs,
            }
        )
    out["adjustments"] = pd.Series([listed.get(str(r), []) for r in out["first_remit_id"]], index=out.index)
    return out
