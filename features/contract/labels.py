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
from features.contract.frames import member
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
    is_original = claims["frequency_code"].eq("1").to_numpy(dtype=bool, na_value=False)
    target = pd.Series(np.where(is_original, ids, claims["original_claim_id"]), dtype="string")
    if links is not None and len(links):
        linked = member(ids, links.index)
        target[linked] = links.reindex(ids[linked]).to_numpy()
        is_original = is_original & ~linked
    step = ids.get_indexer(target)  # row of the claim each claim points at; -1 when it is not in the data
    root = step
    for _ in range(_MAX_CHAIN_DEPTH):
        up = np.where(root >= 0, step[root], -1)
        if np.array_equal(up, root):
            break
        root = up
    reached = (root >= 0) & is_original[np.maximum(root, 0)]
    out = pd.Series(pd.NA, index=ids, dtype="string")
    out[reached] = ids[root[reached]].to_numpy()
    return out


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
    originals = claims[claims["frequency_code"].eq("1").to_numpy(dtype=bool) & ~member(claims["claim_id"], links.index)]
    originals = originals.set_index("claim_id")
    out = originals[["total_charge"]].join(first[["remit_id", "remit_date", "status_code", "paid_amount"]], how="inner")
    out = out.rename(columns={"remit_id": "first_remit_id", "remit_date": "first_remit_date"})
    del first, originals  # ten million claims' frames: each let go once used

    # Denial adjustments (non-routine, amount > 0) on the first remit.
    denial = denial_adjustments(adj, out["first_remit_id"], codes=codes, routine=routine)
    by_remit = denial.groupby("remit_id", sort=False)["amount"].agg(["sum", "size"])
    denial_sum = out["first_remit_id"].map(by_remit["sum"]).fillna(0.0)
    denial_n = out["first_remit_id"].map(by_remit["size"]).fillna(0).astype(int)

    status4 = out["status_code"].eq("4")
    out["initial_denial"] = status4 | (denial_n > 0)
    no_adj_amount = (out["total_charge"] - out["paid_amount"]).clip(lower=0.0)
    from_adj = denial_sum.clip(upper=out["total_charge"])
    out["denied_amount"] = np.where(out["initial_denial"], np.where(denial_n > 0, from_adj, no_adj_amount), 0.0)

    largest = largest_first(denial)
    largest_cat = pd.Series(
        codes.categorize(largest["carc"], largest["remark_codes"]).to_numpy(), index=largest["remit_id"].to_numpy()
    )
    category = out["first_remit_id"].map(largest_cat).astype("string")
    category = category.where(denial_n > 0, "other").where(out["initial_denial"])
    out["denial_category"] = category
    del denial, by_remit, largest, largest_cat, category, denial_sum, denial_n

    # Everything paid after the first remit, on this claim, on any replacement chaining back to it, or on a
    # new claim resubmitting it; a predetermination is never a payment.
    root = chain_roots(claims, links=links)
    later = remits[~remits["status_code"].eq(PREDETERMINATION_STATUS).to_numpy(dtype=bool, na_value=False)]
    later = later.assign(root=later["claim_id"].map(root))
    later = later[member(later["root"], out.index) & ~member(later["remit_id"], out["first_remit_id"])]
    later = later.join(out[["first_remit_date", "initial_denial"]], on="root")
    later = later[later["initial_denial"] & (later["remit_date"] >= later["first_remit_date"])]
    in_window = later["remit_date"] <= later["first_remit_date"] + window
    within = later[in_window].groupby("root")["paid_amount"].sum()
    to_date = later.groupby("root")["paid_amount"].sum()

    out["mature"] = out["initial_denial"] & (out["first_remit_date"] + window <= as_of)
    amount = out.index.to_series().map(within).fillna(0.0).round(2)
    out["recovered_amount"] = amount.where(out["mature"])
    out["recovered"] = (amount > 0).astype("boolean").where(out["mature"])
    out["recovered_to_date"] = out.index.to_series().map(to_date).fillna(0.0).round(2).where(out["initial_denial"])
    out["resolved_at"] = _resolution_dates(out, later, tables, root)
    return out.reset_index()[list(LABEL_COLUMNS)]


def _resolution_dates(
    out: pd.DataFrame, later: pd.DataFrame, tables: Mapping[str, pd.DataFrame], root: pd.Series
) -> pd.Series:
    """Earliest endpoint of a denial: a later payment, or a write-off / bill-to-patient follow-up."""
    paid = later[later["paid_amount"] > 0].groupby("root")["remit_date"].min()
    ends = [paid]
    followups = tables.get("followups")
    if followups is not None and len(followups):
        closing = followups[followups["action"].isin(_RESOLVING_ACTIONS)]
        closing = closing.assign(root=closing["claim_id"].map(root))
        closing = closing.join(out["first_remit_date"], on="root", how="inner")
        closing = closing[closing["action_date"] >= closing["first_remit_date"]]
        ends.append(closing.groupby("root")["action_date"].min())
    end = pd.concat(ends).groupby(level=0).min()
    resolved = pd.to_datetime(end.reindex(out.index))
    return resolved.where(out["initial_denial"])
