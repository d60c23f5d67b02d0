"""The owners map: every category routed, team-file overrides per payer and per code, bad files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract.codes import CATEGORIES
from features.prevention.owners import FILE_NAME, OwnersFileError, load_owners, owners_from_text


def test_the_shipped_map_routes_every_category_and_names_its_source() -> None:
    owners = load_owners()
    assert "ClaimSight's guidance" in owners.source
    for category in CATEGORIES:
        owner = owners.resolve(category=category)
        assert owner.team in owners.teams and owner.fix and owner.rule == "category"
    assert owners.resolve(category="eligibility").team == "registration_eligibility"
    assert owners.resolve(category="medical_necessity").team == "clinical_documentation"


def test_a_payer_override_routes_only_that_payer() -> None:
    owners = owners_from_text("payers:\n  P7:\n    coding: {team: billing, fix: Use the payer's own modifier list.}\n")
    assert owners.resolve(category="coding", payer_id="P7").team == "billing"
    assert owners.resolve(category="coding", payer_id="P7").rule == "payer P7"
    assert owners.resolve(category="coding", payer_id="P8").team == "coding"
    assert owners.resolve(category="eligibility", payer_id="P7").team == "registration_eligibility"


def test_a_code_override_matches_the_code_a_range_or_a_group() -> None:
    text = (
        "teams:\n  pharmacy: Pharmacy\n"
        "codes:\n  J9035: {authorization: {team: pharmacy}}\n"
        "  97110-97546: {authorization: {fix: Check the therapy visit count.}}\n"
        "  rad_diagnostic: {authorization: {team: billing}}\n"
    )
    owners = owners_from_text(text)
    drug = owners.resolve(category="authorization", code="J9035")
    assert (drug.team, drug.rule) == ("pharmacy", "code J9035")
    therapy = owners.resolve(category="authorization", code="97112")
    assert therapy.team == "authorization" and therapy.fix == "Check the therapy visit count."  # field by field
    assert owners.resolve(category="authorization", code="97600").fix != "Check the therapy visit count."
    assert owners.resolve(category="authorization", code="70450", group="rad_diagnostic").team == "billing"


def test_payer_beats_code_beats_category() -> None:
    text = "payers:\n  P1: {coding: {team: billing}}\ncodes:\n  '99213': {coding: {team: clinical_documentation}}\n"
    owners = owners_from_text(text)
    assert owners.resolve(category="coding", payer_id="P1", code="99213").team == "billing"
    assert owners.resolve(category="coding", payer_id="P2", code="99213").team == "clinical_documentation"


def test_a_team_file_in_the_data_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("categories:\n  timely_filing: {team: payer_relations}\n")
    owners = load_owners(data_dir=tmp_path)
    assert owners.resolve(category="timely_filing").team == "payer_relations"
    assert owners.resolve(category="timely_filing").fix == load_owners().resolve(category="timely_filing").fix
    assert load_owners(data_dir=tmp_path / "elsewhere").resolve(category="timely_filing").team == "billing"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories:\n  eligibilty: {team: billing}\n", "key 'categories.eligibilty': unknown category"),
        ("categories:\n  coding: {team: coders}\n", "key 'categories.coding.team': unknown team 'coders'"),
        ("payers:\n  P1: {coding: {team: coders}}\n", "key 'payers.P1.coding.team': unknown team"),
        ("codes:\n  '9711': {coding: {team: billing}}\n", "key 'codes.9711': not a code"),
        ("owners: {}\n", "key 'owners': unknown section"),
        ("categories:\n  coding: {owner: billing}\n", "unknown field 'owner'"),
        ("categories:\n  coding: {fix: ''}\n", "key 'categories.coding.fix': must be non-empty text"),
        ("teams: [a, b]\n", "key 'teams': must be a mapping"),
        ("categories: [\n", "not valid YAML"),
    ],
)
def test_bad_team_files_are_refused_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / FILE_NAME).write_text(text)
    with pytest.raises(OwnersFileError) as caught:
        load_owners(data_dir=tmp_path)
    assert str(tmp_path / FILE_NAME) in str(caught.value) and message in str(caught.value)
