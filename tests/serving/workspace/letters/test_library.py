"""Letter and checklist templates: the most specific one is chosen, a team's folder wins, and a broken or
unsafe template is refused by name before any letter is drafted from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract.codes import CATEGORIES
from serving.workspace.letters import SAMPLE_FACTS, LetterLibrary, TemplateProblem, copy_templates

SHIPPED = LetterLibrary()


def test_every_shipped_template_renders_against_the_sample_facts() -> None:
    checked = SHIPPED.check()
    assert {"appeal/default.txt", "checklist/default.txt", "appeal/carc-197.txt"} <= set(checked)


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != "other"])
def test_each_denial_category_has_its_own_appeal_letter(category: str) -> None:
    name = SHIPPED.template_name(kind="appeal_letter", carcs=[], category=category)
    assert name == f"appeal/{category}.txt"
    letter = SHIPPED.render(name, SAMPLE_FACTS)
    assert "claim CLM-1002" in letter and "Ana Diaz" in letter  # the frame's facts and signature


def test_the_denying_carc_beats_the_category_and_the_default_comes_last() -> None:
    pick = SHIPPED.template_name
    assert pick(kind="appeal_letter", carcs=["45", "197"], category="authorization") == "appeal/carc-197.txt"
    assert pick(kind="appeal_letter", carcs=["15"], category="authorization") == "appeal/authorization.txt"
    assert pick(kind="appeal_letter", carcs=[], category="other") == "appeal/default.txt"
    assert pick(kind="corrected_claim_checklist", carcs=["16"], category="coding") == "checklist/coding.txt"
    assert pick(kind="corrected_claim_checklist", carcs=[], category="timely_filing") == "checklist/default.txt"
    with pytest.raises(ValueError, match="unknown draft kind"):
        pick(kind="fax_cover", carcs=[], category="coding")


def test_the_letter_is_filled_with_the_denials_facts_deadline_and_evidence() -> None:
    letter = SHIPPED.render("appeal/carc-197.txt", SAMPLE_FACTS)
    assert "retroactive authorization" in letter
    assert "CO-197 (Authorization or notification absent): $1,200.00; remarks N54" in letter
    assert "ends on 2026-08-09" in letter
    assert "  - A copy of the authorization approval\n" in letter
    checklist = SHIPPED.render("checklist/default.txt", SAMPLE_FACTS)
    assert "Send by 2026-08-09 (158 days left): BCBS: 180 days from the denial" in checklist
    assert "Frequency code 7" in checklist and "REF*F8" in checklist


def test_evidence_lists_the_remark_codes_documents_first_without_repeats() -> None:
    evidence = SHIPPED.evidence_for(category="coordination_of_benefits", carcs=["22"], rarcs=["N479", "MA04"])
    assert evidence[0] == "The primary payer's remittance (EOB)"
    assert evidence[1].startswith("The primary payer's name")
    assert "Proof the other coverage ended, or the patient's coordination of benefits statement" in evidence
    assert len({e.lower() for e in evidence}) == len(evidence)
    assert SHIPPED.evidence_for(category="other", carcs=["X9"], rarcs=["ZZ1"]) == (
        "The contract term or payer policy the adjustment breaks",
    )


def _team(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_teams_folder_overrides_a_template_adds_a_carc_and_extends_the_evidence(tmp_path: Path) -> None:
    team = LetterLibrary(
        _team(
            tmp_path,
            {
                "appeal/authorization.txt": "Our own authorization letter for {{ claim_id }}\n",
                "appeal/carc-50.txt": '{% extends "appeal/_letter.txt" %}\n',
                "evidence.yaml": "rarc:\n  N54: [Our payer portal screenshot]\ncategories:\n  coding: [Coder's note]\n",
            },
        )
    )
    assert team.render("appeal/authorization.txt", SAMPLE_FACTS) == "Our own authorization letter for CLM-1002\n"
    assert team.template_name(kind="appeal_letter", carcs=["50"], category="medical_necessity") == "appeal/carc-50.txt"
    assert team.template_name(kind="appeal_letter", carcs=[], category="coding") == "appeal/coding.txt"  # shipped
    assert team.evidence_for(category="coding", carcs=[], rarcs=["N54"]) == (
        "Our payer portal screenshot",
        "Coder's note",
    )
    assert team.evidence_for(category="authorization", carcs=[], rarcs=[])[0].startswith("A copy of the authorization")
    assert "appeal/carc-50.txt" in team.check()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"appeal/coding.txt": "Dear {{ payer_name }}\n"}, r"appeal/coding.txt.*'payer_name' is undefined"),
        ({"appeal/coding.txt": "line one\n{% if %}\n"}, r"appeal/coding.txt line 2"),
        ({"appeal/coding.txt": "{{ claim_id.__class__.__mro__ }}\n"}, r"appeal/coding.txt.*unsafe"),
        ({"appeal/codng.txt": "typo\n"}, r"appeal/codng.txt: a template is named default, a category"),
        ({"checklist/_checklist.txt": "{% block fix %}\n"}, r"checklist/_checklist.txt"),
        ({"evidence.yaml": "categorys: {}\n"}, r"evidence.yaml: unknown section 'categorys'"),
        ({"evidence.yaml": "categories:\n  codnig: [x]\n"}, r"categories.codnig is not a category"),
        ({"evidence.yaml": "rarc:\n  N54: the record\n"}, r"rarc.N54 must be a list"),
    ],
)
def test_a_broken_or_unsafe_team_template_is_refused_by_name(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    with pytest.raises(TemplateProblem, match=expected):
        LetterLibrary(_team(tmp_path, files)).check()


def test_a_missing_team_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="does not exist"):
        LetterLibrary(tmp_path / "nowhere")


def test_copy_starts_a_team_folder_that_checks_and_never_overwrites(tmp_path: Path) -> None:
    written = copy_templates(tmp_path / "letters")
    assert (tmp_path / "letters" / "evidence.yaml") in written
    assert LetterLibrary(tmp_path / "letters").check() == SHIPPED.check()
    (tmp_path / "letters" / "appeal" / "coding.txt").write_text("edited\n")
    with pytest.raises(TemplateProblem, match="exists"):
        copy_templates(tmp_path / "letters")
    assert (tmp_path / "letters" / "appeal" / "coding.txt").read_text() == "edited\n"
