"""Which remit is a claim's initial adjudication, and which of its adjustments are denials (DATA.md labels).

Labels, recovery features and the new-claim links all read the first remit's denial adjustments; if each
picked them its own way, a claim could be "denied" for the label and "paid" for its features. The rules:

- The initial adjudication is the earliest remit (by remit_date, then remit_id) whose CLP02 status is an
  adjudication: 1, 2, 3 processed as primary/secondary/tertiary, 4 denied, 19/20/21 processed and forwarded,
  23 not our claim, forwarded (X12 835 CLP02). A 22 reverses an earlier payment and a 25 is a
  predetermination (pricing only, no payment): neither adjudicates the claim.
- A remit whose every adjustment is CARC 133 (pending further review) is a hold, not an adjudication: the
  payer reverses it and sends its decision later (X12 CARC 133 usage: group OA, with a later reversal).
- A denial adjustment is a non-routine adjustment with a POSITIVE amount. A negative adjustment gives
  money back (a MIPS incentive, the reversal of an earlier adjustment): it never means the payer refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.codes import CodeTables
from features.contract.frames import member

DEFAULT_MATURITY_DAYS = 180
ADJUDICATION_STATUSES = ("1", "2", "3", "4", "19", "20", "21", "23")
PREDETERMINATION_STATUS = "25"
# CARC 133: "the disposition of the claim/service is pending further review" (X12 CARC list); a remit whose
# every adjustment is a 133 holds the claim and is reversed (22) before the real decision is sent.
HOLD_CARC = "133"


def holds(remits: pd.DataFrame, adjustments: pd.DataFrame) -> pd.Series:
    """Per remits row: True when the remit only holds the claim for review (every adjustment CARC 133)."""
    index, values = pd.factorize(adjustments["carc"])  # normalise the few distinct codes, not every row
    is_hold = pd.Series(values, dtype="string").str.strip().str.upper().eq(HOLD_CARC).fillna(False)
    hold_rows = np.append(is_hold.to_numpy(dtype=bool), False)[index]  # a null CARC (-1) is not a hold
    with_hold = adjustments["remit_id"][hold_rows]
    on_those = member(adjustments["remit_id"], with_hold)
    held = pd.Index(with_hold.dropna().unique()).difference(pd.Index(adjustments["remit_id"][on_those & ~hold_rows]))
    return pd.Series(member(remits["remit_id"], held), index=remits.index)


def first_remits(remits: pd.DataFrame, adjustments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each claim's initial adjudication: one remits row per claim_id (the index); claims with only
    reversals, predeterminations or holds have none, so they are not adjudicated yet. Holds are known only
    when ``adjustments`` is given."""
    adjudicates = remits["status_code"].isin(ADJUDICATION_STATUSES).to_numpy(dtype=bool, na_value=False)
    if adjustments is not None:
        adjudicates = adjudicates & ~holds(remits, adjustments).to_numpy(dtype=bool)
    adjudications = remits[adjudicates]
    # Sorted by (claim_id, remit_date, remit_id) through integer codes: the same order as sort_values, without
    # comparing strings; a missing date sorts last.
    claim = pd.factorize(adjudications["claim_id"], sort=True)[0]
    remit = pd.factorize(adjudications["remit_id"], sort=True)[0]
    day = adjudications["remit_date"].to_numpy(dtype="datetime64[ns]")
    day = np.where(np.isnat(day), np.iinfo(np.int64).max, day.view(np.int64))
    order = np.lexsort((remit, day, claim))
    first = order[np.r_[True, claim[order][1:] != claim[order][:-1]]] if len(order) else order
    return adjudications.take(first).set_index("claim_id")


def denial_adjustments(
    adjustments: pd.DataFrame,
    remit_ids: pd.Series | pd.Index,
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """The denial adjustments (non-routine, amount > 0) among the adjustments of `remit_ids`."""
    inside = member(adjustments["remit_id"], remit_ids)
    positive = adjustments["amount"].gt(0).to_numpy(dtype=bool, na_value=False)
    denial = inside & positive & ~codes.is_routine(adjustments["group_code"], adjustments["carc"], routine)
    return adjustments[denial]


def largest_first(denials: pd.DataFrame) -> pd.DataFrame:
    """The largest denial adjustment per remit (ties: claim level before lines, then line, then CARC): the
    one whose category is the denial's category."""
    return (
        denials.assign(_line=denials["line_number"].fillna(-1))
        .sort_values(["remit_id", "amount", "_line", "carc"], ascending=[True, False, True, True], kind="stable")
        .drop_duplicates("remit_id")
        .drop(columns="_line")
    )
