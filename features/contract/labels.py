"""The label rules of DATA.md, in one place, vectorised over millions of remits.

Both models learn from these labels and the KPI report counts them, so a change to what "denied" or
"recovered" means happens here once. The routine-adjustment set is a parameter because a team may
define its own denials.

Choices DATA.md leaves open, made explicit (README "Labels and KPIs"):
- the first remit is the first ADJUDICATION (features/contract/adjudication.py): a status-22 reversal
  or a status-25 predetermination never is, and a claim with only those is not adjudicated yet.
- only POSITIVE non-routine adjustments are denials: a negative one (a MIPS incentive, the reversal
  of an earlier adjustment) gives money back, so it never makes a paid claim denied.
- recovered_amount is the NET of later payments (a status-22 reversal's negative paid_amount takes
  back a payment), and recovered means that net is above zero: money taken back was not recovered.
  A status-25 predetermination is never a payment.
- a status-4 first remit with no positive denial adjustment is treated like one with no adjustments:
  denied_amount = total_charge - paid_amount, category `other`.
- a NEW claim sent after an MA130/N142 denial is that denial's resubmission
  (features/contract/resubmissions.py): its payments are the denial's recovery and it has no row of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.contract.adjudication import (
    DEFAULT_MATURITY_DAYS,
    PREDETERMINATION_STATUS,
    denial_adjustments,
    first_remits,
    largest_first,
)
from features.contract.codes import CodeTables
from features.contract.frames import distinct_values, key_rows
from features.contract.resubmissions import new_claim_links

__all__ = ["DEFAULT_MATURITY_DAYS", "LABEL_COLUMNS", "chain_roots", "claim_roots", "compute_labels", "data_as_of"]

_MAX_CHAIN_DEPTH = 32
_RESOLVING_ACTIONS = ("write_off", "bill_patient")

LABEL_COLUMNS = (
    "claim_id",
    "first_remit_id",
    "first_remit_date",
    "initial_denial",
    "denied_amount",
    "denial_category",
    "mature",
    "recovered",
    "recovered_amount",
    "recovered_to_date",
    "resolved_at",
)


def data_as_of(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    """The latest date anywhere in the history: what the team knew when it exported."""
    dates = [tables["claims"]["submitted_at"].max(), tables["remits"]["remit_date"].max()]
    if "followups" in tables and len(tables["followups"]):
        dates += [tables["followups"]["action_date"].max(), tables["followups"]["outcome_date"].max()]
    return pd.Timestamp(max(d for d in dates if pd.notna(d)))


def chain_roots(claims: pd.DataFrame, *, links: pd.Series | None = None) -> pd.Series:
    """For every claim, the original (frequency 1) claim its replacement/void chain leads back to.

    Originals map to themselves; a chain that does not reach an original in the data maps to NA.
    `links` (new claim_id -> denied claim_id, from `new_claim_links`) makes a new claim sent after an
    MA130/N142 denial one more link of its denied claim's chain instead of an original of its own.
    """
    ids = pd.Index(claims["claim_id"]).rename(None)  # the claims table's key: unique
    links = _no_links() if links is None else links
    points_at, new, denied = key_rows(claims["claim_id"], claims["original_claim_id"], links.index, links)
    root = _root_rows(claims, points_at=points_at, new=new, denied=denied)
    reached = root >= 0
    out = pd.Series(pd.NA, index=ids, dtype="string")
    out[reached] = ids[root[reached]].to_numpy()
    return out


def _no_links() -> pd.Series:
    return pd.Series([], index=pd.Index([], dtype="string"), dtype="string")


def _root_rows(claims: pd.DataFrame, *, points_at: np.ndarray, new: np.ndarray, denied: np.ndarray) -> np.ndarray:
    """`chain_roots` by row: each claim's root claim's row, -1 where its chain reaches no original.
    `points_at`: the row of each claim's original_claim_id; `new`, `denied`: the rows of each link's two claims
    (all -1 where not a claim)."""
    is_original = claims["frequency_code"].eq("1").to_numpy(dtype=bool, na_value=False)
    step = np.where(is_original, np.arange(len(claims)), points_at)  # -1: points at no claim in the data
    known = new >= 0
    step[new[known]] = denied[known]
    is_original[new[known]] = False
    root = step
    for _ in range(_MAX_CHAIN_DEPTH):
        up = np.where(root >= 0, step[root], -1)
        if np.array_equal(up, root):
            break
        root = up
    return np.where((root >= 0) & is_original[np.maximum(root, 0)], root, -1)


def claim_roots(
    tables: Mapping[str, pd.DataFrame],
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    maturity_days: int = DEFAULT_MATURITY_DAYS,
) -> pd.Series:
    """`chain_roots` with new claims linked to the MA130/N142 denials they resubmit: the claim whose label
    row each claim's remits count toward."""
    links = new_claim_links(tables, codes=codes, routine=routine, maturity_days=maturity_days)
    return chain_roots(tables["claims"], links=links)


def compute_labels(
    tables: Mapping[str, pd.DataFrame],
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    maturity_days: int = DEFAULT_MATURITY_DAYS,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per original claim that has been adjudicated at least once, with every DATA.md label.

    A new claim linked to the MA130/N142 denial it resubmits is not an original here: its remits count
    toward that denial's row.

    `recovered` and `recovered_amount` are NA unless the claim was initially denied AND its maturity
    window has closed by `as_of` (an immature denial is never a negative example).
    `recovered_to_date` and `resolved_at` serve the KPI report: what has come back so far, and when
    the denial reached an endpoint (a later payment, a write-off, or a bill to the patient).
    """
    claims, remits, adj = tables["claims"], tables["remits"], tables["adjustments"]
    as_of = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    window = pd.Timedelta(days=maturity_days)

    first = first_remits(remits, adj)
    links = new_claim_links(tables, codes=codes, routine=routine, maturity_days=maturity_days, first=first)
    followups = tables.get("followups")
    follow_ids = followups["claim_id"] if followups is not None else pd.Series([], dtype="string")
    # every claim reference as a row of the claims table, hashed once: what follows joins on row numbers
    first_at, points_at, new, denied, remit_at, follow_at = key_rows(
        claims["claim_id"], first.index, claims["original_claim_id"], links.index, links, remits["claim_id"], follow_ids
    )
    n_claims = len(claims)
    first_of = np.full(n_claims, -1, dtype=np.int64)  # per claims row: its first remit's row in `first`, -1: none
    first_of[first_at[first_at >= 0]] = np.flatnonzero(first_at >= 0)
    original = claims["frequency_code"].eq("1").to_numpy(dtype=bool)
    original[new[new >= 0]] = False  # a new claim resubmitting a denial counts toward the denial's row
    kept = np.flatnonzero(original & (first_of >= 0))  # the label rows: adjudicated originals, in claims order
    picked = first.iloc[first_of[kept]]
    out = pd.concat(
        [
            claims[["claim_id", "total_charge"]].iloc[kept].reset_index(drop=True),
            picked[["remit_id", "remit_date", "status_code", "paid_amount"]].reset_index(drop=True),
        ],
        axis=1,
    ).rename(columns={"remit_id": "first_remit_id", "remit_date": "first_remit_date"})
    out_of = np.full(n_claims, -1, dtype=np.int64)  # per claims row: its label row, -1: none
    out_of[kept] = np.arange(len(kept))
    del first, picked  # ten million claims' frames: each let go once used

    # Denial adjustments (non-routine, amount > 0) on the first remit.
    denial = denial_adjustments(adj, out["first_remit_id"], codes=codes, routine=routine)
    # remits by their place among the label rows' first remits (`remit_of`: each label row's own), hashed once
    first_ids = distinct_values(out["first_remit_id"])
    remit_of, denial_at, remit_first = key_rows(
        first_ids, out["first_remit_id"], denial["remit_id"], remits["remit_id"]
    )
    denial = denial.assign(remit_id=denial_at)
    by_remit = denial.groupby("remit_id", sort=False)["amount"].agg(["sum", "size"])
    denial_sum = _per_row(by_remit["sum"], remit_of, fill=0.0)
    denial_n = _per_row(by_remit["size"], remit_of, fill=0).astype(int)

    status4 = out["status_code"].eq("4")
    out["initial_denial"] = status4 | (denial_n > 0)
    no_adj_amount = (out["total_charge"] - out["paid_amount"]).clip(lower=0.0)
    from_adj = denial_sum.clip(upper=out["total_charge"])
    out["denied_amount"] = np.where(out["initial_denial"], np.where(denial_n > 0, from_adj, no_adj_amount), 0.0)

    largest = largest_first(denial)  # by remit position instead of remit id: the same row wins within a remit
    largest_cat = pd.Series(
        codes.categorize(largest["carc"], largest["remark_codes"]).to_numpy(), index=largest["remit_id"].to_numpy()
    )
    category = _per_row(largest_cat, remit_of, fill=None).astype("string")
    category = category.where(denial_n > 0, "other").where(out["initial_denial"])
    out["denial_category"] = category
    del denial, by_remit, largest, largest_cat, category, denial_sum, denial_n

    # Everything paid after the first remit, on this claim, on any replacement chaining back to it, or on a
    # new claim resubmitting it; a predetermination is never a payment. `root`: the label row it counts toward.
    root_of = _root_rows(claims, points_at=points_at, new=new, denied=denied)
    label_of_root = np.append(np.where(root_of >= 0, out_of[np.maximum(root_of, 0)], -1), -1)  # [-1]: no claim
    keep = ~remits["status_code"].eq(PREDETERMINATION_STATUS).to_numpy(dtype=bool, na_value=False)
    keep &= remit_first < 0  # not a first remit
    later = remits[keep].assign(root=label_of_root[remit_at[keep]])
    later = later[later["root"].to_numpy() >= 0]
    at_root = later["root"].to_numpy()
    later = later.assign(
        first_remit_date=out["first_remit_date"].to_numpy()[at_root],
        initial_denial=out["initial_denial"].to_numpy()[at_root],
    )
    later = later[later["initial_denial"] & (later["remit_date"] >= later["first_remit_date"])]
    in_window = later["remit_date"] <= later["first_remit_date"] + window
    within = later[in_window].groupby("root")["paid_amount"].sum()
    to_date = later.groupby("root")["paid_amount"].sum()

    out["mature"] = out["initial_denial"] & (out["first_remit_date"] + window <= as_of)
    amount = _per_row(within, np.arange(len(out)), fill=0.0).round(2)
    out["recovered_amount"] = amount.where(out["mature"])
    out["recovered"] = (amount > 0).astype("boolean").where(out["mature"])
    out["recovered_to_date"] = _per_row(to_date, np.arange(len(out)), fill=0.0).round(2).where(out["initial_denial"])
    out["resolved_at"] = _resolution_dates(out, later, followups, label_of_root[follow_at])
    return out[list(LABEL_COLUMNS)]


def _per_row(values: pd.Series, keys: np.ndarray, *, fill: float | None) -> pd.Series:
    """`pd.Series(keys).map(values).fillna(fill)` for integer keys (what a map by id gave, without the ids)."""
    mapped = pd.Series(keys).map(values)
    return mapped if fill is None else mapped.fillna(fill)


def _resolution_dates(
    out: pd.DataFrame, later: pd.DataFrame, followups: pd.DataFrame | None, follow_root: np.ndarray
) -> pd.Series:
    """Earliest endpoint of a denial: a later payment, or a write-off / bill-to-patient follow-up.
    `follow_root`: each follow-up's label row (`root` of `later`), -1 for none."""
    paid = later[later["paid_amount"] > 0].groupby("root")["remit_date"].min()
    ends = [paid]
    if followups is not None and len(followups):
        closing = followups.assign(root=follow_root)
        closing = closing[closing["action"].isin(_RESOLVING_ACTIONS).to_numpy(dtype=bool) & (follow_root >= 0)]
        closing = closing.assign(first_remit_date=out["first_remit_date"].to_numpy()[closing["root"].to_numpy()])
        closing = closing[closing["action_date"] >= closing["first_remit_date"]]
        ends.append(closing.groupby("root")["action_date"].min())
    end = pd.concat(ends).groupby(level=0).min()
    resolved = pd.to_datetime(end.reindex(np.arange(len(out))))
    return resolved.where(out["initial_denial"])
