"""New claims that resubmit a denied one, found without a pointer in the data (issue 18).

An MA130 ("claim unprocessable: submit a new claim") or N142 ("the original claim was denied: submit a new
claim, not a replacement") remark tells the practice to send a NEW original claim (frequency 1), so nothing
links it back through original_claim_id. Left unlinked, the denied claim looks unrecovered although the
recommended route worked, and the KPIs count a second claim. The rule that links them:

a later claim with frequency_code 1 for the same patient_id, payer_id, billing_npi and service_from, with the
same set of procedure codes, submitted on or after the denied claim's first remit date and within the
maturity window, where that first remit was a denial carrying MA130 or N142 on any of its adjustments
(claim or line level). Denied claims are served in submission order, each taking the earliest-submitted
candidate no earlier denied claim took: a claim is linked at most once, and a new claim that is denied again
can itself be followed by the next one (a chain).

Everything is vectorised over the candidate pairs; the only loop is over matching rounds, each of which
settles at least one link (see `_match`), and candidate groups are a handful of claims.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.contract.adjudication import DEFAULT_MATURITY_DAYS, denial_adjustments, first_remits
from features.contract.codes import CodeTables
from features.contract.frames import member

NEW_CLAIM_REMARKS = ("MA130", "N142")
_SAME = ["patient_id", "payer_id", "billing_npi", "service_from"]
_REMARK_PATTERN = r"(?:^|\|)\s*(?:" + "|".join(NEW_CLAIM_REMARKS) + r")\s*(?:\||$)"


def new_claim_links(
    tables: Mapping[str, pd.DataFrame],
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    maturity_days: int = DEFAULT_MATURITY_DAYS,
    first: pd.DataFrame | None = None,
) -> pd.Series:
    """new claim_id -> the denied claim_id it resubmits (name `denied_claim_id`), one entry per linked claim.

    `first` is `first_remits(tables["remits"])` when the caller already has it.
    """
    first = first_remits(tables["remits"], tables["adjustments"]) if first is None else first
    denied_on = _unprocessable_denials(tables["adjustments"], first, codes=codes, routine=routine)
    pairs = _candidate_pairs(tables["claims"], denied_on, maturity_days=maturity_days)
    pairs = _same_procedures(pairs, tables["claim_lines"])
    matched = _match(pairs)
    return pd.Series(
        matched["denied"].to_numpy(), index=pd.Index(matched["new"].to_numpy(), name="claim_id"),
        dtype="string", name="denied_claim_id",
    ).sort_index()  # fmt: skip


def _unprocessable_denials(
    adjustments: pd.DataFrame,
    first: pd.DataFrame,
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None,
) -> pd.Series:
    """claim_id -> first remit date, for claims whose first remit is a denial that asks for a new claim."""
    index, values = pd.factorize(adjustments["remark_codes"])  # match the few distinct remark lists, not every row
    asks = pd.Series(values, dtype="string").str.upper().str.contains(_REMARK_PATTERN, regex=True).fillna(False)
    asking = adjustments["remit_id"][np.append(asks.to_numpy(dtype=bool), False)[index]]
    candidates = first[member(first["remit_id"], asking)]
    on_candidates = adjustments[member(adjustments["remit_id"], candidates["remit_id"])]
    denial_remits = denial_adjustments(on_candidates, candidates["remit_id"], codes=codes, routine=routine)["remit_id"]
    status4 = candidates["status_code"].eq("4").to_numpy(dtype=bool, na_value=False)
    return candidates.loc[status4 | member(candidates["remit_id"], denial_remits), "remit_date"]


def _candidate_pairs(claims: pd.DataFrame, denied_on: pd.Series, *, maturity_days: int) -> pd.DataFrame:
    """(denied, new) claim pairs that agree on patient, payer, provider and service date, with the new one
    an original submitted in [denial date, denial date + maturity window] and after the denied one.

    Claims are named by their rank in submission order (submitted_at, claim_id), which is also the order in
    which denied claims are served and candidates preferred."""
    ranked = claims[["claim_id", "frequency_code", "submitted_at", *_SAME]].sort_values(
        ["submitted_at", "claim_id"], kind="stable"
    )
    ranked = ranked.assign(rank=np.arange(len(ranked), dtype=np.int64)).dropna(subset=_SAME)
    denied = ranked.join(denied_on.rename("denied_on"), on="claim_id", how="inner")
    new = ranked[ranked["frequency_code"].eq("1").to_numpy(dtype=bool, na_value=False)]
    pairs = denied[["rank", "claim_id", "denied_on", *_SAME]].merge(
        new[["rank", "claim_id", "submitted_at", *_SAME]], on=_SAME, suffixes=("_denied", "_new")
    )
    window = pd.Timedelta(days=maturity_days)
    sent = pairs["submitted_at"]
    keep = (
        (sent >= pairs["denied_on"])
        & (sent <= pairs["denied_on"] + window)
        & (pairs["rank_new"] > pairs["rank_denied"])
    )
    pairs = pairs[keep.to_numpy(dtype=bool, na_value=False)]
    return pd.DataFrame(
        {
            "denied": pairs["claim_id_denied"].to_numpy(),
            "new": pairs["claim_id_new"].to_numpy(),
            "rank_denied": pairs["rank_denied"].to_numpy(),
            "rank_new": pairs["rank_new"].to_numpy(),
        }
    )


def _same_procedures(pairs: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """The pairs whose two claims bill the same SET of procedure codes (order and repeats do not matter):
    equal sets have as many shared codes as each has codes."""
    involved = pd.concat([pairs["denied"], pairs["new"]]).unique()
    billed = lines.loc[member(lines["claim_id"], involved), ["claim_id", "procedure_code"]]
    billed = billed.assign(procedure_code=billed["procedure_code"].astype("string").str.strip().str.upper())
    billed = billed.dropna().drop_duplicates()
    n_codes = billed.groupby("claim_id").size()
    pairs = pairs.assign(pair=np.arange(len(pairs)))
    shared = (
        pairs[["pair", "denied", "new"]]
        .merge(billed.rename(columns={"claim_id": "denied"}), on="denied")
        .merge(billed.rename(columns={"claim_id": "new"}), on=["new", "procedure_code"])
        .groupby("pair")
        .size()
    )
    n_denied = pairs["denied"].map(n_codes).fillna(0).to_numpy()
    n_new = pairs["new"].map(n_codes).fillna(0).to_numpy()
    n_shared = pairs["pair"].map(shared).fillna(0).to_numpy()
    return pairs[(n_denied == n_new) & (n_shared == n_denied)].drop(columns="pair")


def _match(pairs: pd.DataFrame) -> pd.DataFrame:
    """Greedy one-to-one matching: denied claims by rank, each taking its lowest-rank free candidate.

    Each round settles every pair (d, n) where n is d's best free candidate AND d is the best-ranked
    unmatched denied claim that still has n as a candidate. No earlier denied claim can then take n, and
    d's better candidates are already taken, so the sequential greedy gives d exactly n; the best-ranked
    unmatched denied claim always qualifies, so every round settles at least one link.
    """
    settled = []
    remaining = pairs
    while len(remaining):
        best_new = remaining.groupby("rank_denied")["rank_new"].transform("min")
        best_denied = remaining.groupby("rank_new")["rank_denied"].transform("min")
        won = remaining[(remaining["rank_new"] == best_new) & (remaining["rank_denied"] == best_denied)]
        settled.append(won)
        taken = remaining["rank_denied"].isin(won["rank_denied"]) | remaining["rank_new"].isin(won["rank_new"])
        remaining = remaining[~taken]
    return pd.concat(settled) if settled else pairs
