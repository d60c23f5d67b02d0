"""``recommend_plan`` + ``deadline_for`` for many denials at once, the way the queue and the models need it.

Why a second version: the queue, the recovery features and the API decide hundreds of thousands of denials
per run, and a per-row Python loop (with its pandas calls) would take minutes. The rules are the same
ones (``features.decisions.actions.decide_unit``), run once per distinct (payer rule, unit category,
ordered adjustment sequence) and broadcast back; a test holds every column equal to the row version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.contract.codes import CodeTables
from features.contract.payer_rules import PayerRules, ResolvedRule
from features.decisions.actions import PAYER_WORK, ActionDecision, decide_unit, unit_label
from features.decisions.deadlines import check_level, deadline_columns
from features.decisions.normalise import norm_code, norm_remarks, routine_set

__all__ = ["FRAME_COLUMNS", "recommend_frame"]

FRAME_COLUMNS: tuple[str, ...] = (
    "claim_id",
    "action",
    "appeal_rights",
    "action_rule",
    "clock",
    "action_group",
    "deadline",
    "deadline_rule",
    "window_days",
    "patient_amount",
    "payer_amount",
    "write_off_amount",
    "line_plan",
)
_DENIAL_COLUMNS = (
    "claim_id",
    "payer_id",
    "plan_type",
    "denial_category",
    "first_remit_id",
    "first_remit_date",
    "service_from",
)
# read when present: a claim without them has no through date, no claim type, no second payer on file
_OPTIONAL_COLUMNS = ("service_to", "claim_type", "secondary_payer_id", "previous_decision_date")
_ADJUSTMENT_COLUMNS = ("claim_id", "remit_id", "line_number", "group_code", "carc", "amount", "remark_codes")
_Triple = tuple[str, str, str | None]


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _normalised_codes(values: pd.Series, fn: Callable[[object], str | None]) -> npt.NDArray[np.object_]:
    """Apply a scalar normaliser once per distinct value, then broadcast back."""
    index, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=object)
    return mapped[index]


def _rule_groups(
    payers: pd.Series, plans: pd.Series, rules: PayerRules
) -> tuple[npt.NDArray[np.intp], list[ResolvedRule]]:
    payer = payers.astype("string").str.strip()
    plan = plans.astype("string").str.strip().str.lower()
    groups, resolved = rules.resolve_groups(payer, plan)
    return np.asarray(groups, dtype=np.intp), resolved


def _signatures(
    n_units: int, unit_index: npt.NDArray[np.intp], triple_index: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Exact id per unit of its ordered triple sequence (rows already sorted by unit, largest first).

    Repeats of a triple within a unit are dropped first (they cannot change a first-match decision).
    The id is built position by position: id_k = factorize(id_{k-1}, triple at k), each step vectorised
    over the units that are that long, with fresh ids per step so prefixes of different lengths differ.
    Returns (signature per unit, row positions that were kept).
    """
    key = unit_index.astype(np.int64) * (int(triple_index.max(initial=0)) + 1) + triple_index
    kept = np.flatnonzero(~pd.Series(key).duplicated().to_numpy())
    units = unit_index[kept]
    triples = triple_index[kept].astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(units)) + 1]
    lengths = np.diff(np.r_[starts, len(units)])
    position = np.arange(len(units)) - np.repeat(starts, lengths)
    signature = np.zeros(n_units, dtype=np.int64)  # 0 = no adjustments
    next_id = 1
    n_triples = int(triples.max(initial=0)) + 1
    for k in range(int(position.max(initial=-1)) + 1):
        at = position == k
        who = units[at]
        pair = signature[who] * n_triples + triples[at]
        codes, uniques = pd.factorize(pair)
        signature[who] = np.asarray(codes, dtype=np.int64) + next_id
        next_id += len(uniques)
    return signature, kept


def _check_denials(denials: pd.DataFrame, adjustments: pd.DataFrame, codes: CodeTables) -> pd.Series:
    _require(denials, _DENIAL_COLUMNS, "denials")
    _require(adjustments, [c for c in _ADJUSTMENT_COLUMNS if c != "line_number"], "adjustments")
    if denials["claim_id"].duplicated().any():
        raise ValueError("denials must have one row per claim_id")
    categories = denials["denial_category"].astype("string")
    if categories.isna().any():
        raise ValueError(f"denial_category is missing for {int(categories.isna().sum())} denials")
    unknown = sorted(set(categories.unique()) - set(codes.categories.index))
    if unknown:
        raise ValueError(f"unknown denial categories {unknown}")
    return categories


def _first_remit_rows(denials: pd.DataFrame, adjustments: pd.DataFrame) -> pd.DataFrame:
    first = pd.DataFrame(
        {
            "claim_id": denials["claim_id"].to_numpy(),
            "remit_id": denials["first_remit_id"].to_numpy(),
            "_claim": np.arange(len(denials), dtype=np.intp),
        }
    )
    adj = adjustments.reindex(columns=list(_ADJUSTMENT_COLUMNS)).reset_index(drop=True)
    adj = adj.assign(_pos=np.arange(len(adj), dtype=np.int64))
    return adj.merge(first, on=["claim_id", "remit_id"], how="inner").sort_values("_pos", kind="stable")


def recommend_frame(
    denials: pd.DataFrame,
    adjustments: pd.DataFrame,
    *,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    appeal_level: int = 1,
) -> pd.DataFrame:
    """``recommend_plan`` + ``deadline_for`` for many denials, vectorised.

    ``denials``: one row per claim_id with payer_id, plan_type, denial_category, first_remit_id,
    first_remit_date, service_from (and, when known, service_to, claim_type, secondary_payer_id,
    previous_decision_date). ``adjustments``: the DATA.md table (only rows of each claim's first remit are
    used). Returns FRAME_COLUMNS, one row per denial in the input order: ``appeal_rights`` nullable boolean,
    ``deadline`` datetime64 (NaT = no payer deadline), ``window_days`` nullable Int64, the money split as
    floats, ``action_group`` the group code of the adjustment the leading decision rests on ("" = none),
    ``line_plan`` one "line N: action $x" part per unit when the units do not all agree, else "".
    """
    check_level(appeal_level)
    categories = _check_denials(denials, adjustments, codes)
    n = len(denials)
    denials = denials.reindex(columns=[*_DENIAL_COLUMNS, *_OPTIONAL_COLUMNS])

    # Adjustments of each claim's first remit, normalised; routine and non-positive ones dropped unless
    # nothing else is left on the claim.
    adj = _first_remit_rows(denials, adjustments)
    group = _normalised_codes(adj["group_code"], norm_code)
    carc = _normalised_codes(adj["carc"], norm_code)
    remarks = _normalised_codes(adj["remark_codes"], norm_remarks)
    routine_pairs = routine_set(codes, routine)
    pair_index, pair_uniques = pd.factorize(pd.Series(group, dtype=object) + "\x1f" + pd.Series(carc, dtype=object))
    pair_routine = np.array([tuple(p.split("\x1f")) in routine_pairs for p in pair_uniques] + [False])
    amount = pd.to_numeric(adj["amount"], errors="coerce").to_numpy(dtype=float)
    is_denial = ~pair_routine[pair_index] & (amount > 0)  # the labels' rule (features.contract.adjudication)
    claim = adj["_claim"].to_numpy(dtype=np.intp)
    has_denial = np.zeros(n, dtype=bool)
    has_denial[claim[is_denial]] = True
    keep = is_denial | ~has_denial[claim]
    line = pd.to_numeric(adj["line_number"], errors="coerce").to_numpy(dtype=float)
    line_key = np.where(np.isnan(line), -1.0, line)

    # Units: (claim, line) with claim-level adjustments first; rows largest amount first within a unit.
    sort_amount = np.where(np.isnan(amount), np.inf, -amount)
    order = np.lexsort((adj["_pos"].to_numpy(), sort_amount, line_key, claim))
    order = order[keep[order]]
    unit_key = pd.MultiIndex.from_arrays([claim[order], line_key[order]])
    unit_of_row, unit_keys = pd.factorize(unit_key, sort=False)
    unit_of_row = np.asarray(unit_of_row, dtype=np.intp)
    # Claims with no adjustment left get one empty unit: the claim's category decides.
    empty = np.setdiff1d(np.arange(n), claim[order])
    unit_claim = np.r_[unit_keys.get_level_values(0).to_numpy(dtype=np.intp), empty].astype(np.intp)
    unit_line = np.r_[unit_keys.get_level_values(1).to_numpy(dtype=float), np.full(len(empty), -1.0)]
    n_units = len(unit_claim)

    triple_keys = (
        pd.Series(group[order], dtype=object)
        + "\x1f"
        + carc[order]
        + "\x1f"
        + pd.Series(remarks[order], dtype=object).fillna("\x00")
    )
    triple_index, triple_uniques = pd.factorize(triple_keys)
    triple_index = np.asarray(triple_index, dtype=np.intp)
    signature, kept = _signatures(n_units, unit_of_row, triple_index)
    triple_table: list[_Triple] = []
    for key in triple_uniques:
        g, c, r = str(key).split("\x1f")
        triple_table.append((g, c, None if r == "\x00" else r))
    kept_units = unit_of_row[kept]
    kept_triples = triple_index[kept]
    distinct, representative = np.unique(signature, return_index=True)
    lo = np.searchsorted(kept_units, representative, side="left")
    hi = np.searchsorted(kept_units, representative, side="right")
    sequences: dict[int, list[_Triple]] = {
        int(sig): [triple_table[t] for t in kept_triples[a:b].tolist()]
        for sig, a, b in zip(distinct.tolist(), lo.tolist(), hi.tolist(), strict=True)
    }

    # Unit category: that of its largest adjustment; an empty unit takes the claim's.
    first_row = np.r_[0, np.flatnonzero(np.diff(unit_of_row)) + 1] if len(unit_of_row) else np.array([], dtype=np.intp)
    row_category = codes.categorize(
        pd.Series(carc[order][first_row]), pd.Series(remarks[order][first_row], dtype=object)
    )
    unit_category = np.r_[row_category.astype(str).to_numpy(dtype=object), categories.to_numpy(dtype=object)[empty]]
    positive = np.where(amount[order] > 0, amount[order], 0.0)
    unit_money: npt.NDArray[np.float64] = np.round(np.bincount(unit_of_row, weights=positive, minlength=n_units), 2)

    # One decision per distinct (rule group, unit category, signature).
    claim_rule, resolved = _rule_groups(denials["payer_id"], denials["plan_type"], rules)
    cat_index, cat_uniques = pd.factorize(unit_category)
    combo = pd.MultiIndex.from_arrays([claim_rule[unit_claim], np.asarray(cat_index), signature])
    combo_index, combo_uniques = pd.factorize(combo)
    decisions: list[ActionDecision] = [
        decide_unit(
            category=str(cat_uniques[ci]), triples=sequences[int(sig)], rule=resolved[gi], rules=rules, codes=codes
        )
        for gi, ci, sig in combo_uniques
    ]
    unit_action = np.array([d.action for d in decisions], dtype=object)[combo_index]

    # The leading unit of each claim: most dollars, ties to the claim level, then the lower line.
    lead_order = np.lexsort((unit_line, -unit_money, unit_claim))
    leads = (
        lead_order[np.r_[True, unit_claim[lead_order][1:] != unit_claim[lead_order][:-1]]] if n_units else lead_order
    )
    lead = np.empty(n, dtype=np.intp)
    lead[unit_claim[leads]] = leads
    lead_decision = np.asarray(combo_index)[lead] if n else np.array([], dtype=np.intp)
    action = np.array([d.action for d in decisions], dtype=object)[lead_decision]
    rights = pd.array([d.appeal_rights for d in decisions], dtype="boolean")[lead_decision]
    action_rule = np.array([d.rule for d in decisions], dtype=object)[lead_decision]
    clock = np.array([d.clock for d in decisions], dtype=object)[lead_decision]
    action_group = np.array([d.group for d in decisions], dtype=object)[lead_decision]

    def split(keep_actions: frozenset[str]) -> npt.NDArray[np.float64]:
        mask = np.isin(unit_action, list(keep_actions))
        return np.round(np.bincount(unit_claim, weights=np.where(mask, unit_money, 0.0), minlength=n), 2)

    other_rule, other_resolved = _rule_groups(
        denials["secondary_payer_id"], pd.Series(pd.NA, index=denials.index, dtype="string"), rules
    )
    inputs = pd.DataFrame(
        {
            "action": action,
            "clock": clock,
            "denial_date": denials["first_remit_date"].to_numpy(),
            "service_from": denials["service_from"].to_numpy(),
            "service_to": denials["service_to"].to_numpy(),
            "claim_type": denials["claim_type"].to_numpy(),
            "previous_decision_date": denials["previous_decision_date"].to_numpy(),
        }
    )
    due, window_days, deadline_rule = deadline_columns(
        inputs=inputs,
        rule_group=claim_rule,
        resolved=resolved,
        other_group=other_rule,
        other_resolved=other_resolved,
        appeal_level=appeal_level,
    )
    return pd.DataFrame(
        {
            "claim_id": denials["claim_id"].to_numpy(),
            "action": action,
            "appeal_rights": rights,
            "action_rule": action_rule,
            "clock": clock,
            "action_group": action_group,
            "deadline": pd.to_datetime(due).as_unit("ns") if len(due) else pd.to_datetime(due),
            "deadline_rule": deadline_rule,
            "window_days": window_days,
            "patient_amount": split(frozenset({"bill_patient"})),
            "payer_amount": split(PAYER_WORK),
            "write_off_amount": split(frozenset({"write_off"})),
            "line_plan": _line_plans(n, unit_claim, unit_line, unit_action, unit_money),
        },
        columns=list(FRAME_COLUMNS),
    )


def _line_plans(
    n: int,
    unit_claim: npt.NDArray[np.intp],
    unit_line: npt.NDArray[np.float64],
    unit_action: npt.NDArray[np.object_],
    unit_money: npt.NDArray[np.float64],
) -> npt.NDArray[np.object_]:
    """ "line 1: appeal $5,000.00; line 2: verify_status $20.00" for claims whose units differ in action."""
    plans = np.full(n, "", dtype=object)
    if not len(unit_claim):
        return plans
    frame = pd.DataFrame({"claim": unit_claim, "line": unit_line, "action": unit_action, "money": unit_money})
    mixed = frame.groupby("claim")["action"].transform("nunique").to_numpy() > 1
    frame = frame[mixed].sort_values(["claim", "line"], kind="stable")
    if frame.empty:
        return plans
    labels = [unit_label(None if line < 0 else int(line)) for line in frame["line"].tolist()]
    parts = pd.Series(
        [
            f"{label}: {act} ${money:,.2f}"
            for label, act, money in zip(labels, frame["action"], frame["money"], strict=True)
        ],
        index=frame["claim"].to_numpy(),
    )
    joined = parts.groupby(level=0, sort=False).agg("; ".join)
    plans[joined.index.to_numpy(dtype=np.intp)] = joined.to_numpy(dtype=object)
    return plans
