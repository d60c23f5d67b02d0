"""The recommended next step for a denial, line by line (its deadline: ``features.decisions.deadlines``).

Why this exists: a denial is only worth money if someone does the right thing before the payer's
window closes, and the right thing is a billing rule, not a habit: who may be billed is decided by the
adjustment group, some CARC/RARC combinations carry no appeal rights, a Medicare claim that was processed
is fixed by a reopening and not by a new claim. Those rules are data (the guardrails of the payer rule
library, each with its source; RARC guidance in the code tables). Every answer says which rule produced
it, so a biller (and an auditor) can see why ClaimSight said "correct and resubmit" and fix the rule if it
is wrong.

Each denied line is decided on its own (a unit: one service line's adjustments, or the claim-level ones),
so a $20 duplicate line cannot turn a $5,000 medical-necessity appeal into a status check. A unit's
category is that of its largest adjustment (``CodeTables.categorize``, as the label does for the claim).
For a unit, in order (first that applies wins):

1. guardrails (the payer's own first, then the shared ones; those limited to plan types apply only to
   them): adjustments largest amount first, and for each the guardrails in order; the first match
   decides its action, its clock and its ``appeal_rights``;
2. RARC guidance: the first remark code (adjustments largest first, remarks in list order) whose code
   table row sets an action;
3. a PR-1/2/3 adjustment (patient deductible, coinsurance, copay): ``bill_patient``;
4. the unit category's usual follow-up.

Then, whatever rule spoke:

- appeal rights: a remark that says there are none (N211, MA44, N111 ...) turns ``appeal`` into
  ``write_off``, a guardrail's ``appeal`` included (a timely-filing denial with N211 has no appeal);
- liability (``_liable_party``): ``bill_patient`` stands only when the adjustment it rests on is group PR
  (for the category's follow-up: the unit's largest adjustment); a CO, PI or OA amount is the provider's,
  so it becomes ``appeal`` (``write_off`` without appeal rights) and says why;
- processed claims (``_processed_claim_fix``): where the payer's rule says a processed claim is fixed by a
  reopening (Medicare), ``correct_and_resubmit`` of a processed claim becomes ``reopen``; a claim the payer
  could not process (a new claim, MA130) is still sent again.

The claim's plan (``ClaimPlan``): the action of the unit with the most denied dollars leads (ties: claim
level, then lower line numbers), and the money is split by what each unit's action does with it (billed
to the patient, worked with a payer, written off).

Only the denial adjustments of the first remit take part: routine adjustments (DATA.md; ``codes.routine``
unless a team passes its own set) and amounts that are not positive (a bonus, a reversal of an adjustment)
are dropped unless the remit carries nothing else, so a routine PR-2 next to a CO-50 does not turn a
medical-necessity appeal into a patient bill. Appeal rights outside a guardrail come from the remark codes:
``False`` if any remark says there are none, else ``True`` if any says there are, else ``None`` (unknown).

``features.decisions.action_frame.recommend_frame`` is the same for many denials at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from features.contract.codes import CodeTables
from features.contract.payer_rule_model import Guardrail
from features.contract.payer_rules import PayerRules, ResolvedRule
from features.decisions.deadlines import DEFAULT_CLOCK
from features.decisions.normalise import is_missing, norm_code, norm_remarks, routine_set

__all__ = [
    "PAYER_WORK",
    "ActionDecision",
    "Adjustment",
    "ClaimPlan",
    "LineDecision",
    "decide_unit",
    "recommend_action",
    "recommend_plan",
    "unit_label",
]

_PATIENT_CARCS = frozenset({"1", "2", "3"})
# actions whose dollars are worked with a payer (the rest go to the patient or are written off)
PAYER_WORK = frozenset({"correct_and_resubmit", "appeal", "verify_status", "reopen", "bill_other_payer"})

# A normalised adjustment as far as the decision is concerned: (group code, CARC, remark codes or None).
_Triple = tuple[str, str, str | None]
# What a caller passes: (group, CARC, remarks, amount) at claim level, or with the line number after it.
Adjustment = tuple[str, str, str | None, float] | tuple[str, str, str | None, float, int | None]


@dataclass(frozen=True)
class ActionDecision:
    """What to do about a denied unit. ``appeal_rights`` None = the remit does not say; ``clock``: which date
    the deadline counts from (``features.decisions.deadlines.CLOCKS``)."""

    action: str
    appeal_rights: bool | None
    rule: str
    clock: str
    # the group code of the adjustment the decision rests on ("" = none): provenance, not compared
    group: str = field(default="", compare=False)


@dataclass(frozen=True)
class LineDecision:
    """One unit's decision: ``line_number`` None = the claim-level adjustments; ``amount``: its denied dollars."""

    line_number: int | None
    decision: ActionDecision
    amount: float


@dataclass(frozen=True)
class ClaimPlan:
    """Per-unit decisions and the money they split; ``primary`` leads the claim (the unit with most dollars)."""

    primary: ActionDecision
    lines: tuple[LineDecision, ...]
    patient_amount: float
    payer_amount: float
    write_off_amount: float


def unit_label(line_number: int | None) -> str:
    return "claim level" if line_number is None else f"line {line_number}"


# --------------------------------------------------------------------------------------------------
# One unit
# --------------------------------------------------------------------------------------------------


def _adjustment_text(group: str, carc: str) -> str:
    return f"{group}-{carc}" if group else carc


def _meaning(short_name: object) -> str:
    """ ": <short name>" from the code table, so a reason names what a code means; "" for an unknown code."""
    return f": {short_name}" if isinstance(short_name, str) and short_name else ""


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


def decide_unit(
    *, category: str, triples: Sequence[_Triple], rule: ResolvedRule, rules: PayerRules, codes: CodeTables
) -> ActionDecision:
    """The decision for one unit's already normalised, filtered, largest-first adjustments."""
    decision, group = _first_rule(category=category, triples=triples, rule=rule, rules=rules, codes=codes)
    decision = replace(decision, group=group)
    rights, no_rights_code = _appeal_rights(triples, codes)
    if decision.action == "appeal" and rights is False:
        decision = ActionDecision(
            "write_off",
            False,
            f"{decision.rule} is appeal, but remark {no_rights_code} says no appeal rights: write off",
            "none",
            group,
        )
    decision = _liable_party(decision, group)
    return _processed_claim_fix(decision, rule)


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
    rule = f"{decision.rule}, but {liable}: {action.replace('_', ' ')}"
    return ActionDecision(action, decision.appeal_rights, rule, DEFAULT_CLOCK[action], group)


def _processed_claim_fix(decision: ActionDecision, rule: ResolvedRule) -> ActionDecision:
    """Medicare fixes a processed claim by a reopening (Part B clerical-error reopening within a year of the
    initial determination, Part A adjustment bill, type of bill xx7): re-billing a denied claim is denied as
    a duplicate and invites program-integrity review (CMS IOM 100-04 ch. 34 §10). Only an unprocessable
    claim (new-claim clock) is sent again."""
    if decision.action != "correct_and_resubmit" or decision.clock != "corrected_claim":
        return decision
    if rule.processed_claim_fix != "reopening":
        return decision
    source = rule.source["processed_claim_fix"]
    why = (
        f"{decision.rule}, but {source} processed_claim_fix reopening: reopen the processed claim, do not send it again"
    )
    return ActionDecision("reopen", decision.appeal_rights, why, "reopening", decision.group)


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
            clock = guardrail.clock or DEFAULT_CLOCK[guardrail.action]
            return ActionDecision(guardrail.action, guardrail.appeal_rights, text, clock), group

    rights, no_rights_code = _appeal_rights(triples, codes)

    def checked(action: str, why: str) -> ActionDecision:
        if action == "appeal" and rights is False:
            return ActionDecision(
                "write_off",
                False,
                f"{why} is appeal, but remark {no_rights_code} says no appeal rights: write off",
                "none",
            )
        return ActionDecision(action, rights, why, DEFAULT_CLOCK[action])

    for group, carc, remarks in triples:
        for code in (remarks or "").split("|") if remarks else ():
            action, _ = codes.rarc_guidance(code)
            if action is not None:
                shown = f"{_adjustment_text(group, carc)} + {code}{_meaning(codes.rarc['short_name'].get(code))}"
                return checked(action, f"remark {code} guidance ({shown})"), group

    for group, carc, _ in triples:
        if group == "PR" and carc in _PATIENT_CARCS:
            why = f"patient responsibility ({group}-{carc}{_meaning(codes.carc['short_name'].get(carc))})"
            return ActionDecision("bill_patient", False, why, "none"), group

    return checked(codes.followup_action(category), f"category {category}: usual follow-up"), deciding_group


# --------------------------------------------------------------------------------------------------
# One claim
# --------------------------------------------------------------------------------------------------


def _amount(value: object) -> float:
    return math.nan if is_missing(value) else float(value)  # type: ignore[arg-type]


def _units(
    adjustments: Sequence[Adjustment], routine: frozenset[tuple[str, str]]
) -> list[tuple[int | None, list[tuple[str, str, str | None, float]]]]:
    """The deciding adjustments grouped by unit (claim level first, then lines in order), largest first.

    Dropped unless nothing else is left: routine pairs, and amounts that are not positive or not known
    (``features.contract.adjudication``: the labels' rule). Ties in amount keep the given order.
    """
    rows = []
    for position, adjustment in enumerate(adjustments):
        group, carc, remarks, amount = adjustment[:4]
        line = adjustment[4] if len(adjustment) > 4 else None
        line = None if is_missing(line) else int(line)  # type: ignore[arg-type]
        rows.append((line, position, norm_code(group), norm_code(carc), norm_remarks(remarks), _amount(amount)))
    denial = [r for r in rows if (r[2], r[3]) not in routine and r[5] > 0]
    kept = denial or rows
    units: dict[int | None, list[tuple[int, tuple[str, str, str | None, float]]]] = {}
    for line, position, group, carc, remarks, amount in kept:
        units.setdefault(line, []).append((position, (group, carc, remarks, amount)))

    def largest_first(item: tuple[int, tuple[str, str, str | None, float]]) -> tuple[float, int]:
        position, (_, _, _, amount) = item
        return (-amount if not math.isnan(amount) else math.inf, position)

    order = sorted(units, key=lambda line: -1 if line is None else line)
    return [(line, [row for _, row in sorted(units[line], key=largest_first)]) for line in order]


def _unit_category(rows: Sequence[tuple[str, str, str | None, float]], codes: CodeTables) -> str:
    _, carc, remarks, _ = rows[0]
    return codes.category_of(carc, remarks)


def recommend_plan(
    *,
    category: str,
    adjustments: Sequence[Adjustment],
    payer_id: str | None,
    plan_type: str | None,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> ClaimPlan:
    """Every denied unit's decision for one denial, the leading one, and the money split.

    ``adjustments``: (group_code, carc, remark_codes ``|``-joined or None, amount[, line_number]) of the
    denial's first remit, claim and line level (no line number, or None = claim level). ``category``: the
    claim's denial category, used for a denial without adjustments.
    """
    if category not in set(codes.categories.index):
        raise ValueError(f"unknown denial category {category!r}")
    rule = rules.lookup(payer_id=payer_id, plan_type=plan_type)
    units = _units(adjustments, routine_set(codes, routine))
    if not units:
        decision = decide_unit(category=category, triples=[], rule=rule, rules=rules, codes=codes)
        return ClaimPlan(decision, (LineDecision(None, decision, 0.0),), 0.0, 0.0, 0.0)
    lines = []
    for line, rows in units:
        triples = [(g, c, r) for g, c, r, _ in rows]
        decision = decide_unit(
            category=_unit_category(rows, codes), triples=triples, rule=rule, rules=rules, codes=codes
        )
        money = sum(a for *_, a in rows if not math.isnan(a) and a > 0)
        lines.append(LineDecision(line, decision, round(money, 2)))
    primary = max(enumerate(lines), key=lambda item: (item[1].amount, -item[0]))[1].decision

    def split(keep: frozenset[str]) -> float:
        return round(sum(u.amount for u in lines if u.decision.action in keep), 2)

    return ClaimPlan(
        primary,
        tuple(lines),
        patient_amount=split(frozenset({"bill_patient"})),
        payer_amount=split(PAYER_WORK),
        write_off_amount=split(frozenset({"write_off"})),
    )


def recommend_action(
    *,
    category: str,
    adjustments: Sequence[Adjustment],
    payer_id: str | None,
    plan_type: str | None,
    rules: PayerRules,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> ActionDecision:
    """The claim's leading recommendation (``recommend_plan(...).primary``)."""
    return recommend_plan(
        category=category,
        adjustments=adjustments,
        payer_id=payer_id,
        plan_type=plan_type,
        rules=rules,
        codes=codes,
        routine=routine,
    ).primary
