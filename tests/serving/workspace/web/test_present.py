"""A first draft answers the denial, not the remit's routine lines: the contractual write-down (CO-45) and the
patient's coinsurance (PR-2) are not argued in a letter to the payer, and the denying CARC picks the template."""

from __future__ import annotations

import dataclasses

from workspace_sample import TODAY, sample_items

from features.contract.codes import load_code_tables
from serving.workspace.letters import LetterLibrary
from serving.workspace.web.backend import Adjustment, User
from serving.workspace.web.present import CodeText, first_draft

ANA = User("ana", "Ana Ruiz", "specialist")
REMIT = (
    Adjustment("CO", "45", 900.00),
    Adjustment("PR", "2", 50.00),
    Adjustment("CO", "16", 300.00, ("N290",)),
    Adjustment("CO", "197", 400.00),
)


def _draft(kind: str, codes: CodeText) -> str:
    item = sample_items()[1]
    item = dataclasses.replace(item, facts=dataclasses.replace(item.facts, adjustments=REMIT))
    return first_draft(
        kind,  # type: ignore[arg-type]
        item,
        user=ANA,
        today=TODAY,
        codes=codes,
        organisation="Riverside Medical Group",
        library=LetterLibrary(),
    )


def test_the_draft_lists_the_denying_adjustments_largest_first_and_not_the_routine_ones() -> None:
    letter = _draft("appeal_letter", CodeText(load_code_tables()))
    assert "retroactive authorization" in letter  # CO-197, the largest denial, picks its template
    listed = [line.split(" (")[0].strip(" -") for line in letter.splitlines() if line.startswith("  - CO-")]
    assert listed == ["CO-197", "CO-16"]
    assert "PR-2" not in letter and "CO-45" not in letter
    assert "The rendering provider's NPI as enrolled with this payer" in letter  # N290's evidence
    checklist = _draft("corrected_claim_checklist", CodeText(load_code_tables()))
    assert "CO-197" in checklist and "N290: Missing/incomplete/invalid rendering provider" in checklist
    assert "CO-45" not in checklist


def test_the_teams_routine_set_decides_what_is_a_denial() -> None:
    letter = _draft("appeal_letter", CodeText(load_code_tables(), routine=frozenset({("PR", "2")})))
    assert "CO-45 (Above fee schedule or contracted rate): $900.00" in letter and "PR-2" not in letter
