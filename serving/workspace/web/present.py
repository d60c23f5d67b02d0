"""How the pages show things: money, dates, code meanings, labels, and the first draft of an appeal letter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from features.contract.codes import CodeTables
from serving.workspace.web.backend import Adjustment, User, WorkItem

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
    """CARC and RARC meanings from the shipped code tables; an unknown code is shown bare, never guessed."""

    def __init__(self, codes: CodeTables) -> None:
        self.codes = codes

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


def letter_text(item: WorkItem, user: User, today: dt.date, codes: CodeText, organisation: str) -> str:
    """A first draft of an appeal letter, prefilled from the item's facts; the person completes the parts in
    brackets before saving and printing it."""
    facts = item.facts
    lines = [
        today.strftime("%B %d, %Y").replace(" 0", " "),
        "",
        f"{item.payer_id}",
        "Appeals and reconsiderations",
        "",
        f"Re: request for reconsideration of claim {item.claim_id}",
        f"Date of service: {day(facts.service_date)}",
        f"Billed: {money(facts.billed_amount)}; paid: {money(facts.paid_amount)}; denied: {money(facts.denied_amount)}",
        "",
        "To whom it may concern,",
        "",
        "We ask you to reconsider the denial of the claim above."
        + (f" Your remittance of {day(facts.remit_date)} adjusted it as follows:" if facts.remit_date else ""),
    ]
    for adjustment in facts.adjustments:
        meaning = codes.carc(adjustment)
        text = f"  - {meaning.code}" + (f" ({meaning.short})" if meaning.short else "")
        text += f": {money(adjustment.amount)}"
        remarks = [codes.rarc(r) for r in adjustment.rarcs]
        if remarks:
            text += "; remarks " + ", ".join(r.code + (f" ({r.short})" if r.short else "") for r in remarks)
        lines.append(text)
    lines += [
        "",
        "[Why the denial should be reversed: what was corrected, what the medical record shows, "
        "which policy or contract term applies.]",
        "",
        "Enclosed: [corrected claim, medical records, authorization, or other documents].",
        "",
        "Sincerely,",
        "",
        user.display_name,
        organisation,
    ]
    return "\n".join(lines).rstrip() + "\n"
