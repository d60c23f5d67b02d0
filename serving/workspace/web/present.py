"""How the pages show things: money, dates, code meanings, labels, and the facts a first draft is filled with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from features.contract.codes import CodeTables
from serving.workspace import letters
from serving.workspace.web.backend import Adjustment, DraftKind, User, WorkItem

ACTION_LABELS = {
    "correct_and_resubmit": "Correct and resubmit",
    "appeal": "Appeal",
    "verify_status": "Verify claim status",
    "reopen": "Reopen",
    "bill_other_payer": "Bill the other payer",
    "bill_patient": "Bill the patient",
    "write_off": "Write off",
    # what a person records (followups.action)
    "corrected_claim": "Corrected claim sent",
    "reconsideration": "Reconsideration requested",
    "payer_call": "Payer call",
}
DECISION_LABELS = {"pending": "Pending", "fixed": "Fixed", "released": "Released", "held": "Held"}
STATUS_LABELS = {  # an item's state and how it was resolved (serving.workspace.schema)
    "in_progress": "In progress",
    "billed_patient": "Billed to the patient",
    "partly_paid": "Partly paid",
}


def money(value: float | None) -> str:
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def label(value: str | None) -> str:
    if not value:
        return "—"
    known = ACTION_LABELS.get(value) or DECISION_LABELS.get(value) or STATUS_LABELS.get(value)
    return known or value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CodeMeaning:
    code: str  # as shown: CO-16, N290
    short: str | None  # the table's short name; None = not in the table
    description: str | None  # the published meaning


class CodeText:
    """CARC and RARC meanings from the shipped code tables; an unknown code is shown bare, never guessed.
    `routine`: the (group, CARC) pairs that are not denials (the team's set, else the shipped one)."""

    def __init__(self, codes: CodeTables, routine: frozenset[tuple[str, str]] | None = None) -> None:
        self.codes = codes
        self.routine = codes.routine if routine is None else routine

    def denying(self, adjustments: Sequence[Adjustment]) -> tuple[Adjustment, ...]:
        """The adjustments a draft answers: not the routine ones (contractual, coinsurance), largest first."""
        found = [a for a in adjustments if (a.group_code.upper(), a.carc.upper()) not in self.routine]
        return tuple(sorted(found, key=lambda a: -a.amount))

    def _short(self, table_name: str, code: str) -> str | None:
        table = self.codes.carc if table_name == "carc" else self.codes.rarc
        key = code.strip().upper()
        if key not in table.index:
            return None
        value = table.at[key, "short_name"]
        return str(value) if isinstance(value, str) and value else None

    def carc(self, adjustment: Adjustment) -> CodeMeaning:
        return CodeMeaning(
            f"{adjustment.group_code}-{adjustment.carc}",
            self._short("carc", adjustment.carc),
            self.codes.describe_carc(adjustment.carc),
        )

    def rarc(self, code: str) -> CodeMeaning:
        return CodeMeaning(code, self._short("rarc", code), self.codes.describe_rarc(code))

    def category(self, category: str) -> str:
        try:
            return self.codes.label(category)
        except ValueError:  # not a known category
            return label(category)


def days_left(deadline: dt.date | None, today: dt.date) -> int | None:
    return None if deadline is None else (deadline - today).days


def draft_facts(
    item: WorkItem,
    *,
    user: User,
    today: dt.date,
    codes: CodeText,
    organisation: str,
    evidence: tuple[str, ...],
    denying: Sequence[Adjustment],
) -> dict[str, Any]:
    """What a letter template may use (`serving.workspace.letters.SAMPLE_FACTS` names them), as text. The
    adjustments are the denying ones: a letter to the payer does not argue the contractual write-down."""
    facts = item.facts

    def code(meaning: CodeMeaning) -> letters.Code:
        return letters.Code(meaning.code, meaning.short or "", meaning.description or "")

    return {
        "today": letters.long_date(today),
        "organisation": organisation,
        "signer": user.display_name,
        "claim_id": item.claim_id,
        "payer_id": item.payer_id,
        "service_date": day(facts.service_date) if facts.service_date else "",
        "billed": money(facts.billed_amount),
        "paid": money(facts.paid_amount),
        "denied": money(facts.denied_amount),
        "patient_owes": money(facts.patient_amount),
        "remit_date": day(facts.remit_date) if facts.remit_date else "",
        "category": item.category,
        "category_label": codes.category(item.category),
        "recommended_action": label(item.recommended_action),
        "action_rule": item.action_rule,
        "deadline": day(item.deadline) if item.deadline else "",
        "deadline_rule": item.deadline_rule,
        "days_left": days_left(item.deadline, today),
        "adjustments": tuple(
            letters.Adjustment(code(codes.carc(a)), money(a.amount), tuple(code(codes.rarc(r)) for r in a.rarcs))
            for a in denying
        ),
        "evidence": evidence,
    }


def first_draft(
    kind: DraftKind,
    item: WorkItem,
    *,
    user: User,
    today: dt.date,
    codes: CodeText,
    organisation: str,
    library: letters.LetterLibrary,
) -> str:
    """The draft a person starts from: the most specific template for the denial, filled with its facts."""
    denying = codes.denying(item.facts.adjustments)
    carcs = [a.carc for a in denying]
    evidence = library.evidence_for(category=item.category, carcs=carcs, rarcs=[r for a in denying for r in a.rarcs])
    name = library.template_name(kind=kind, carcs=carcs, category=item.category)
    facts = draft_facts(
        item, user=user, today=today, codes=codes, organisation=organisation, evidence=evidence, denying=denying
    )
    return library.render(name, facts)
