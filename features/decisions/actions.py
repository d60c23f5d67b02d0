"""The recommended next step for a denial (its deadline: ``features.decisions.deadlines``).

Why this exists: a denial is only worth money if someone does the right thing before the payer's
window closes. The right thing is not always the category's usual follow-up: some CARC/RARC
combinations carry no appeal rights (CO-16 with N211/MA130: correct and resubmit), some are the
patient's share (PR-1/2/3: bill the patient), some must be checked before anything is resent
(duplicates: verify status). Those exceptions are data (payer-rule guardrails, RARC guidance in the code
tables). Every answer says which rule produced it, so a biller (and an auditor) can see why ClaimSight
said "correct and resubmit" and fix the rule if it is wrong.

Action, in order (first that applies wins):

1. guardrails (the payer's own first, then the shared ones): adjustments are checked largest amount
   first, and for each adjustment the guardrails in order; the first match decides (its action and its
   ``appeal_rights``);
2. RARC guidance: the first remark code (adjustments largest first, remarks in list order) whose code
   table row sets an action;
3. a PR-1/2/3 adjustment (patient deductible, coinsurance, copay): ``bill_patient``;
4. the denial category's usual follow-up.

Then liability (``_liable_party``): ``bill_patient`` stands only when the adjustment it rests on is group PR
(for the category's follow-up: the largest denial adjustment, the money at stake); a CO, PI or OA amount is the
provider's, so the recommendation becomes ``appeal`` (``write_off`` when there are no appeal rights) and says
why.

Only the denial adjustments of the first remit take part: routine adjustments (DATA.md; ``codes.routine``
unless a team passes its own set) are dropped unless the remit carries nothing else, so a routine PR-2
next to a CO-50 does not turn a medical-necessity appeal into a patient bill. Appeal rights outside a
guardrail come from the remark codes: ``False`` if any remark says there are none, else ``True`` if any
says there are, else ``None`` (unknown). Steps 2 and 4 never recommend ``appeal`` when a remark says there
are no appeal rights: they recommend ``write_off`` and say so.

``recommend_frame`` gives the action and its deadline for many denials at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.contract.codes import CodeTables
from features.contract.payer_rule_model import Guardrail
from features.contract.payer_rules import PayerRules, ResolvedRule
from features.decisions.deadlines import check_level, deadline_columns
from features.decisions.normalise import is_missing, norm_code, norm_remarks, routine_set

__all__ = [
    "FRAME_COLUMNS",
    "ActionDecision",
    "recommend_action",
    "recommend_frame",
]

FRAME_COLUMNS: tuple[str, ...] = (
    "claim_id",
    "action",
    "appeal_rights",
    "action_rule",
    "deadline",
    "deadline_rule",
    "window_days",
)
_PATIENT_CARCS = frozenset({"1", "2", "3"})

# A normalised adjustment as far as the decision is concerned: (group code, CARC, remark codes or None).
_Triple = tuple[str, str, str | None]


@dataclass(frozen=True)
class ActionDecision:
    """What to do about a denial. ``appeal_rights`` None = the remit does not say."""

    action: str
    appeal_rights: bool | None
    rule: str


# --------------------------------------------------------------------------------------------------
# Action
# --------------------------------------------------------------------------------------------------


def _adjustment_text(group: str, carc: str) -> str:
    return f"{group}-{carc}" if group else carc


def _guardrail_text(guardrail: Guardrail, triple: _Triple, rule: ResolvedRule, rules: PayerRules) -> str:
    group, carc, remarks = triple
    shown = _adjustment_text(group, carc)
    if guardrail.rarcs_any:
        present = set((remarks or "").split("|"))
        matched = [r for r in guardrail.rarcs_any if r in present]
        shown = " + ".join([shown, *matched])
    entry = rules.library.payers.get(rule.payer_id) if rule.payer_id is not None else None
    own = entry is not None and any(g.name == guardrail.name for g in entry.guardrails)
    origin = f"payer:{rule.payer_id} " if own else ""
    return f"{origin}guardrail {guardrail.name} ({shown})"


def _appeal_rights(triples: Sequence[_Triple], codes: CodeTables) -> tuple[bool | None, str | None]:
    """(rights, the remark code that said there are none); False wins over True, None = no remark says."""
    rights: bool | None = None
    for _, _, remarks in triples:
        for code in (remarks or "").split("|") if remarks else ():
            _, says = codes.rarc_guidance(code)
            if says is False:
                return False, code
            if says is True:
                rights = True
    return rights, None


def _decide(
    *, category: str, triples: Sequence[_Triple], rule: ResolvedRule, rules: PayerRules, codes: CodeTables
) -> ActionDecision:
    """The decision for already normalised, filtered, largest-first adjustments, held to who is liable."""
    decision, group = _first_rule(category=category, triples=triples, rule=rule, rules=rules, codes=codes)
    return _liable_party(decision, group)


def _liable_party(decision: ActionDecision, group: str) -> ActionDecision:
    """Only a PR amount may be billed to the patient (the adjustment group decides who is liable).

    CO (contractual obligation) and PI (payer initiated) amounts are the provider's by contract: billing the
    patient for them breaks the payer contract and balance-billing rules, and OA amounts are not the
    patient's either. For Medicare a non-covered service becomes the patient's only with a signed advance
    notice, and then the payer answers PR (X12 CARC/group code definitions; CMS Medicare Claims Processing
    Manual ch. 30, limitation on liability). So a rule that would bill the patient for an adjustment of
    another group recommends working it with the payer instead: an appeal, or a write-off when the remit
    says there are no appeal rights.
    """
    if decision.action != "bill_patient" or group == "PR":
        return decision
    action = "write_off" if decision.appeal_rights is False else "appeal"
    liable = f"group {group or 'not given'}: the provider is liable, the patient may not be billed"
    return ActionDecision(action, decision.appeal_rights, f"{decision.rule}, but {liable}: {action.replace('_', ' ')}")


def _first_rule(
    *, category: str, triples: Sequence[_Triple], rule: ResolvedRule, rules: PayerRules, codes: CodeTables
) -> tuple[ActionDecision, str]:
    """(the first rule's decision, the group code of the adjustment it rests on)."""
    deciding_group = triples[0][0] if triples else ""  # the largest adjustment, when no single one decides
    for triple in triples:
        group, carc, remarks = triple
        guardrail = rule.guardrail_for(group_code=group, carc=carc, remark_codes=remarks)
        if guardrail is not None:
            text = _guardrail_text(guardrail, triple, rule, rules)
            return ActionDecision(guardrail.action, guardrail.appeal_rights, text), group

    rights, no_rights_code = _appeal_rights(triples, codes)

    def checked(action: str, why: str) -> ActionDecision:
        if action == "appeal" and rights is False:
            return ActionDecision(
                "write_off", False, f"{why} is appeal, but remark {no_rights_code} says no appeal rights: write off"
            )
        return ActionDecision(action, rights, why)

    for group, carc, remarks in triples:
        for code in (remarks or "").split("|") if remarks else ():
            action, _ = codes.rarc_guidance(code)
            if action is not None:
                return checked(action, f"remark {code} guidance ({_adjustment_text(group, carc)} + {code})"), group

    for group, carc, _ in triples:
        if group == "PR" and carc in _PATIENT_CARCS:
            return ActionDecision("bill_patient", False, f"patient responsibility ({group}-{carc})"), group

    return checked(codes.followup_action(category), f"category {category}: usual follow-up"), deciding_group


def _deciding_triples(
    adjustments: Sequence[tuple[str, str, str | None, float]], routine: frozenset[tuple[str, str]]
) -> list[_Triple]:
    rows = [(norm_code(g), norm_code(c), norm_remarks(r), a) for g, c, r, a in adjustments]
    denial = [row for row in rows if (row[0], row[1]) not in routine]
    kept = denial or rows

    def largest_first(item: tuple[int, tuple[str, str, str | None, float]]) -> tuple[float, int]:
        position, (_, _, _, amount) = item
        value = float(amount) if not is_missing(amount) else math.nan
        return (-value if not math.isnan(value) else math.inf, position)

    ordered = sorted(enumerate(kept), key=largest_first)
    return [(g, c, r) for _, (g, c, r, _) in ordered]


def recommend_action(
    *,
    category: str,
    adjustments: Sequence[tuple[str, str, str | None, float]],
    payer_id: str | None,
    plan_type: str | None,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> ActionDecision:
    """The recommended action for one denial.

    ``adjustments``: (group_code, carc, remark_codes ``|``-joined or None, amount) of the denial's first
    remit, claim and line level. Routine adjustments are ignored unless there is nothing else (see the
    module docstring); ties in amount keep the given order.
    """
    if category not in set(codes.categories.index):
        raise ValueError(f"unknown denial category {category!r}")
    rule = rules.lookup(payer_id=payer_id, plan_type=plan_type)
    triples = _deciding_triples(adjustments, routine_set(codes, routine))
    return _decide(category=category, triples=triples, rule=rule, rules=rules, codes=codes)


# --------------------------------------------------------------------------------------------------
# Frame version: loop over distinct (payer, plan type) and distinct decision inputs, never over rows
# --------------------------------------------------------------------------------------------------

_DENIAL_COLUMNS = (
    "claim_id",
    "payer_id",
    "plan_type",
    "denial_category",
    "first_remit_id",
    "first_remit_date",
    "service_from",
)
_ADJUSTMENT_COLUMNS = ("claim_id", "remit_id", "group_code", "carc", "amount", "remark_codes")


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _normalised_codes(values: pd.Series, fn: Callable[[object], str | None]) -> npt.NDArray[np.object_]:
    """Apply a scalar normaliser once per distinct value, then broadcast back."""
    index, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=object)
    return mapped[index]


def _rule_groups(denials: pd.DataFrame, rules: PayerRules) -> tuple[npt.NDArray[np.intp], list[ResolvedRule]]:
    payers = denials["payer_id"].astype("string").str.strip()
    plans = denials["plan_type"].astype("string").str.strip().str.lower()
    groups, resolved = rules.resolve_groups(payers, plans)
    return np.asarray(groups, dtype=np.intp), resolved


def _signatures(
    n_claims: int, claim_index: npt.NDArray[np.intp], triple_index: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Exact id per claim of its ordered triple sequence (rows already sorted by claim, largest first).

    Repeats of a triple within a claim are dropped first (they cannot change a first-match decision).
    The id is built position by position: id_k = factorize(id_{k-1}, triple at k), each step vectorised
    over the claims that are that long, with fresh ids per step so prefixes of different lengths differ.
    Returns (signature per claim, row positions that were kept).
    """
    key = claim_index.astype(np.int64) * (int(triple_index.max(initial=0)) + 1) + triple_index
    kept = np.flatnonzero(~pd.Series(key).duplicated().to_numpy())
    claims = claim_index[kept]
    triples = triple_index[kept].astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(claims)) + 1]
    lengths = np.diff(np.r_[starts, len(claims)])
    position = np.arange(len(claims)) - np.repeat(starts, lengths)
    signature = np.zeros(n_claims, dtype=np.int64)  # 0 = no adjustments
    next_id = 1
    n_triples = int(triples.max(initial=0)) + 1
    for k in range(int(position.max(initial=-1)) + 1):
        at = position == k
        who = claims[at]
        pair = signature[who] * n_triples + triples[at]
        codes, uniques = pd.factorize(pair)
        signature[who] = np.asarray(codes, dtype=np.int64) + next_id
        next_id += len(uniques)
    return signature, kept


def recommend_frame(
    denials: pd.DataFrame,
    adjustments: pd.DataFrame,
    *,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
    appeal_level: int = 1,
) -> pd.DataFrame:
    """``recommend_action`` + ``deadline_for`` for many denials, vectorised.

    ``denials``: one row per claim_id with payer_id, plan_type, denial_category, first_remit_id,
    first_remit_date, service_from. ``adjustments``: the DATA.md table (only rows of each claim's first
    remit are used). Returns FRAME_COLUMNS, one row per denial in the input order: ``appeal_rights`` is
    nullable boolean, ``deadline`` datetime64 (NaT = no payer deadline), ``window_days`` nullable Int64.
    """
    _require(denials, _DENIAL_COLUMNS, "denials")
    _require(adjustments, _ADJUSTMENT_COLUMNS, "adjustments")
    check_level(appeal_level)
    if denials["claim_id"].duplicated().any():
        raise ValueError("denials must have one row per claim_id")
    categories = denials["denial_category"].astype("string")
    if categories.isna().any():
        raise ValueError(f"denial_category is missing for {int(categories.isna().sum())} denials")
    unknown = sorted(set(categories.unique()) - set(codes.categories.index))
    if unknown:
        raise ValueError(f"unknown denial categories {unknown}")
    n = len(denials)

    # Adjustments of each claim's first remit, normalised, routine ones dropped unless nothing else.
    first = pd.DataFrame(
        {
            "claim_id": denials["claim_id"].to_numpy(),
            "remit_id": denials["first_remit_id"].to_numpy(),
            "_claim": np.arange(n, dtype=np.intp),
        }
    )
    adj = adjustments[list(_ADJUSTMENT_COLUMNS)].reset_index(drop=True)
    adj = adj.assign(_pos=np.arange(len(adj), dtype=np.int64)).merge(first, on=["claim_id", "remit_id"], how="inner")
    group = _normalised_codes(adj["group_code"], norm_code)
    carc = _normalised_codes(adj["carc"], norm_code)
    remarks = _normalised_codes(adj["remark_codes"], norm_remarks)
    routine_pairs = routine_set(codes, routine)
    pair_index, pair_uniques = pd.factorize(pd.Series(group, dtype=object) + "\x1f" + pd.Series(carc, dtype=object))
    pair_routine = np.array([tuple(p.split("\x1f")) in routine_pairs for p in pair_uniques] + [False])
    is_routine = pair_routine[pair_index]
    claim = adj["_claim"].to_numpy(dtype=np.intp)
    has_denial = np.zeros(n, dtype=bool)
    has_denial[claim[~is_routine]] = True
    keep = ~is_routine | ~has_denial[claim]

    amount = pd.to_numeric(adj["amount"], errors="coerce").to_numpy(dtype=float)
    sort_amount = np.where(np.isnan(amount), np.inf, -amount)
    order = np.lexsort((adj["_pos"].to_numpy(), sort_amount, claim))
    order = order[keep[order]]
    claim = claim[order]
    triple_keys = (
        pd.Series(group[order], dtype=object)
        + "\x1f"
        + carc[order]
        + "\x1f"
        + pd.Series(remarks[order], dtype=object).fillna("\x00")
    )
    triple_index, triple_uniques = pd.factorize(triple_keys)
    triple_index = np.asarray(triple_index, dtype=np.intp)
    signature, kept = _signatures(n, claim, triple_index)
    triple_table: list[_Triple] = []
    for key in triple_uniques:
        g, c, r = str(key).split("\x1f")
        triple_table.append((g, c, None if r == "\x00" else r))
    # One representative claim per signature; its kept rows are contiguous (sorted by claim).
    kept_claims = claim[kept]
    kept_triples = triple_index[kept]
    distinct, representative = np.unique(signature, return_index=True)
    lo = np.searchsorted(kept_claims, representative, side="left")
    hi = np.searchsorted(kept_claims, representative, side="right")
    sequences: dict[int, list[_Triple]] = {
        int(sig): [triple_table[t] for t in kept_triples[a:b].tolist()]
        for sig, a, b in zip(distinct.tolist(), lo.tolist(), hi.tolist(), strict=True)
    }

    # One decision per distinct (rule group, category, signature).
    rule_group, resolved = _rule_groups(denials, rules)
    cat_index, cat_uniques = pd.factorize(categories)
    combo = pd.MultiIndex.from_arrays([rule_group, np.asarray(cat_index), signature])
    combo_index, combo_uniques = pd.factorize(combo)
    decisions = [
        _decide(category=str(cat_uniques[ci]), triples=sequences[int(sig)], rule=resolved[gi], rules=rules, codes=codes)
        for gi, ci, sig in combo_uniques
    ]
    action = np.array([d.action for d in decisions], dtype=object)[combo_index]
    rights = pd.array([d.appeal_rights for d in decisions], dtype="boolean")[combo_index]
    action_rule = np.array([d.rule for d in decisions], dtype=object)[combo_index]

    due, window_days, deadline_rule = deadline_columns(
        action, denials["first_remit_date"], denials["service_from"], rule_group, resolved, appeal_level
    )

    return pd.DataFrame(
        {
            "claim_id": denials["claim_id"].to_numpy(),
            "action": action,
            "appeal_rights": rights,
            "action_rule": action_rule,
            "deadline": pd.to_datetime(due).as_unit("ns") if len(due) else pd.to_datetime(due),
            "deadline_rule": deadline_rule,
            "window_days": window_days,
        },
        columns=list(FRAME_COLUMNS),
    )
