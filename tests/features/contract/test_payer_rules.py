"""Payer rule library: shipped file, resolution and its sources, validation, vectorised helpers, I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from features.contract.payer_rule_files import (
    PayerRulesError,
    dump_payer_rules,
    load_rule_library,
    merge_rule_libraries,
)
from features.contract.payer_rule_model import RULE_FIELDS, RuleFields, RuleLibrary, RuleOverrides
from features.contract.payer_rules import PLAN_TYPES, PayerRules, load_payer_rules

SECRET = "SECRET-VALUE-4711"

TEAM_OVERRIDES: dict[str, Any] = {
    "payers": {
        "P001": {
            "plan_type": "commercial",
            "timely_filing_days": 120,
            "appeal_window_days": {1: 30},
            "auth_required": ["97110-97546", "G0283"],
            "guardrails": [
                {
                    "name": "p001_bundling",
                    "group_codes": ["CO"],
                    "carcs": ["97"],
                    "appeal_rights": False,
                    "action": "write_off",
                    "note": "Contract: bundled services are not appealable",
                }
            ],
        },
        "P002": {"plan_type": "medicaid", "corrected_claim_window_days": 60},
        "00431": {"deadline_buffer_days": 14},
    },
}


@pytest.fixture(scope="module")
def shipped() -> RuleLibrary:
    return load_rule_library()


@pytest.fixture(scope="module")
def rules(shipped: RuleLibrary) -> PayerRules:
    return PayerRules(merge_rule_libraries(shipped, RuleOverrides.model_validate(TEAM_OVERRIDES)))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped file ----------------------------------------------------------------------------------


def test_shipped_library_loads_with_every_plan_type(shipped: RuleLibrary) -> None:
    assert shipped.version == 1
    assert set(shipped.plan_types) == set(PLAN_TYPES)
    assert shipped.payers == {}
    assert set(shipped.defaults.appeal_window_days) == {1, 2, 3}
    names = [g.name for g in shipped.guardrails]
    assert len(names) == len(set(names))


def test_plan_types_match_the_data_contract() -> None:
    from features.contract import schema

    assert set(PLAN_TYPES) == set(schema.PLAN_TYPES)


@pytest.mark.parametrize(
    ("plan_type", "filing", "appeal_l1"),
    [
        ("medicare", 365, 120),
        ("medicare_advantage", 365, 60),
        ("medicaid", 180, 90),
        ("managed_medicaid", 180, 60),
        ("commercial", 90, 90),
        ("tricare", 365, 90),
        ("workers_comp", 365, 60),
        ("other", 90, 60),
    ],
)
def test_shipped_typical_values(plan_type: str, filing: int, appeal_l1: int) -> None:
    rule = load_payer_rules().lookup(payer_id=None, plan_type=plan_type)
    assert rule.timely_filing_days == filing
    assert rule.appeal_window_days[1] == appeal_l1
    assert set(rule.appeal_window_days) == {1, 2, 3}
    assert rule.source["timely_filing_days"] == f"plan_type:{plan_type}"


def test_therapy_auth_only_for_managed_plans() -> None:
    rules = load_payer_rules()
    for plan_type in PLAN_TYPES:
        expected = plan_type in {"managed_medicaid", "medicare_advantage", "workers_comp"}
        assert rules.lookup(payer_id=None, plan_type=plan_type).requires_auth("97110") is expected, plan_type


# -- resolution and sources ----------------------------------------------------------------------------


def test_payer_override_reports_its_source(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id="P001", plan_type=None)
    assert rule.plan_type == "commercial"  # from the payer entry
    assert rule.timely_filing_days == 120
    assert rule.source["timely_filing_days"] == "payer:P001"
    assert rule.source["auth_required"] == "payer:P001"
    assert rule.corrected_claim_window_days == 90
    assert rule.source["corrected_claim_window_days"] == "plan_type:commercial"
    assert rule.deadline_buffer_days == 7
    assert rule.source["deadline_buffer_days"] == "default"
    # appeal windows merge per level
    assert rule.appeal_window_days == {1: 30, 2: 60, 3: 120}
    assert rule.source["appeal_window_days.1"] == "payer:P001"
    assert rule.source["appeal_window_days.2"] == "plan_type:commercial"
    assert rule.source["appeal_window_days"] == "payer:P001"
    assert rule.source["guardrails"] == "payer:P001"
    assert set(RULE_FIELDS) <= set(rule.source)


def test_payer_without_plan_type_uses_defaults_below_its_own_fields(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id="00431", plan_type=None)
    assert rule.deadline_buffer_days == 14
    assert rule.source["deadline_buffer_days"] == "payer:00431"
    assert rule.source["timely_filing_days"] == "default"
    assert rule.timely_filing_days == 90


def test_explicit_plan_type_wins_over_the_payer_entry(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id="P002", plan_type="medicare")
    assert rule.plan_type == "medicare"
    assert rule.corrected_claim_window_days == 60
    assert rule.source["corrected_claim_window_days"] == "payer:P002"
    assert rule.timely_filing_days == 365
    assert rule.source["timely_filing_days"] == "plan_type:medicare"
    # an unrecognised explicit plan type is no information: the payer's own plan type applies
    assert rules.lookup(payer_id="P002", plan_type="bogus").plan_type == "medicaid"


def test_unknown_payer_falls_back_to_plan_type_then_defaults(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id="NOPE", plan_type="medicaid")
    assert rule.payer_id == "NOPE"
    assert rule.timely_filing_days == 180
    assert all(rule.source[f] == "plan_type:medicaid" for f in ("timely_filing_days", "auth_required"))
    assert rule.source["deadline_buffer_days"] == "default"

    for plan_type in (None, "bogus", ""):
        rule = rules.lookup(payer_id="NOPE", plan_type=plan_type)
        assert rule.plan_type is None
        assert rule.timely_filing_days == 90
        assert rule.appeal_window_days == {1: 60, 2: 60, 3: 60}
        assert set(rule.source.values()) == {"default"}

    rule = rules.lookup(payer_id=None, plan_type=None)
    assert rule.payer_id is None
    assert set(rule.source.values()) == {"default"}


def test_lookup_normalises_and_caches(rules: PayerRules) -> None:
    a = rules.lookup(payer_id=" P001 ", plan_type=" Commercial")
    b = rules.lookup(payer_id="P001", plan_type="commercial")
    assert a is b


# -- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (f"bogus_section:\n  note: {SECRET}\n", "bogus_section: unknown key"),
        (
            f"plan_types:\n  medicare:\n    timely_filling_days: {SECRET}\n",
            "plan_types.medicare.timely_filling_days: unknown key",
        ),
        (f"payers:\n  '00431':\n    timely_filling_days: {SECRET}\n", "payers.00431.timely_filling_days: unknown key"),
        (
            "guardrails:\n  - name: g\n    carcs: ['16']\n    appeal_rights: false\n    action: appeal\n"
            f"    colour: {SECRET}\n",
            "guardrails.0.colour: unknown key",
        ),
        (
            f"payers:\n  P9:\n    guardrails:\n      - {{name: g, carcs: ['1'], appeal_rights: false, "
            f"action: appeal, severity: {SECRET}}}\n",
            "payers.P9.guardrails.0.severity: unknown key",
        ),
        (f"defaults:\n  timely_filing_days: {SECRET}\n", "defaults.timely_filing_days:"),
        (f"plan_types:\n  medicare:\n    auth_required: ['{SECRET}']\n", "plan_types.medicare.auth_required.0:"),
    ],
)
def test_bad_keys_name_the_path_not_the_value(tmp_path: Path, text: str, path: str) -> None:
    file = write(tmp_path / "payer_rules.yaml", text)
    with pytest.raises(PayerRulesError) as info:
        load_payer_rules(data_dir=tmp_path)
    message = str(info.value)
    assert message.startswith(str(file))
    assert path in message
    assert SECRET not in message
    assert SECRET.lower() not in message.lower()


def test_unknown_top_level_key_in_full_library_is_rejected(shipped: RuleLibrary) -> None:
    data = shipped.model_dump()
    data["extra"] = 1
    with pytest.raises(ValidationError):
        RuleLibrary.model_validate(data)


@pytest.mark.parametrize("spec", ["7045-70498", "B-A", "70498-70450", "70450-", "7045*", "A-B-C", " - "])
def test_malformed_code_ranges_are_rejected(spec: str) -> None:
    with pytest.raises(ValidationError):
        RuleFields.model_validate({"auth_required": [spec]})


def test_unquoted_numeric_codes_and_payer_ids_are_rejected(tmp_path: Path) -> None:
    write(tmp_path / "payer_rules.yaml", "plan_types:\n  medicare:\n    auth_required: [70450]\n")
    with pytest.raises(PayerRulesError, match=r"auth_required\.0: procedure codes must be quoted"):
        load_payer_rules(data_dir=tmp_path)
    write(tmp_path / "payer_rules.yaml", "payers:\n  00431: {timely_filing_days: 30}\n")
    with pytest.raises(PayerRulesError, match="payer ids must be quoted"):
        load_payer_rules(data_dir=tmp_path)


@pytest.mark.parametrize(
    "fields",
    [
        {"appeal_window_days": {4: 30}},
        {"appeal_window_days": {0: 30}},
        {"appeal_window_days": {}},
        {"timely_filing_days": 0},
        {"corrected_claim_window_days": -5},
        {"deadline_buffer_days": -1},
        {"timely_filing_days": True},
    ],
)
def test_bad_days_and_levels_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RuleFields.model_validate(fields)


def test_guardrail_validation(tmp_path: Path) -> None:
    base = {"name": "g", "appeal_rights": False, "action": "appeal"}
    with pytest.raises(ValidationError, match="at least one"):
        RuleOverrides.model_validate({"guardrails": [base]})
    with pytest.raises(ValidationError):
        RuleOverrides.model_validate({"guardrails": [{**base, "carcs": ["16"], "action": "pray"}]})
    with pytest.raises(ValidationError, match="duplicate guardrail name"):
        RuleOverrides.model_validate({"guardrails": [{**base, "carcs": ["16"]}, {**base, "carcs": ["18"]}]})
    ok = RuleOverrides.model_validate({"guardrails": [{**base, "group_codes": ["co"], "carcs": [16]}]})
    assert ok.guardrails[0].group_codes == ("CO",)
    assert ok.guardrails[0].carcs == ("16",)


def test_unreadable_yaml_names_the_file_without_content(tmp_path: Path) -> None:
    file = write(tmp_path / "payer_rules.yaml", f"payers:\n  P1: [{SECRET}\n  : : :\n")
    with pytest.raises(PayerRulesError) as info:
        load_payer_rules(data_dir=tmp_path)
    assert str(file) in str(info.value)
    assert "unreadable YAML" in str(info.value)
    assert SECRET not in str(info.value)


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    write(tmp_path / "payer_rules.yaml", "payers:\n  P1: {timely_filing_days: 30}\n  P1: {timely_filing_days: 60}\n")
    with pytest.raises(PayerRulesError, match="duplicate key"):
        load_payer_rules(data_dir=tmp_path)


def test_top_level_must_be_a_mapping_and_extra_file_must_exist(tmp_path: Path) -> None:
    write(tmp_path / "payer_rules.yaml", "- just\n- a list\n")
    with pytest.raises(PayerRulesError, match="expected a mapping"):
        load_payer_rules(data_dir=tmp_path)
    with pytest.raises(PayerRulesError, match="cannot read file"):
        load_payer_rules(extra_file=tmp_path / "missing.yaml")


# -- procedure codes and guardrails ---------------------------------------------------------------------


def test_requires_auth_range_edges_are_inclusive(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id=None, plan_type="commercial")
    assert "70450-70498" in rule.auth_required
    assert rule.requires_auth("70450")
    assert rule.requires_auth("70498")
    assert rule.requires_auth("70470")
    assert not rule.requires_auth("70449")
    assert not rule.requires_auth("70499")
    # different length: sorts between the bounds as a string, but is not in the range
    assert not rule.requires_auth("704500")
    assert not rule.requires_auth("7046")
    # HCPCS letter ranges, case and whitespace
    assert rule.requires_auth("E0100")
    assert rule.requires_auth(" e8002 ")
    assert not rule.requires_auth("E8003")
    assert not rule.requires_auth("")
    assert not rule.requires_auth(None)
    # single codes are exact
    p001 = rules.lookup(payer_id="P001", plan_type=None)
    assert p001.requires_auth("G0283")
    assert not p001.requires_auth("G0284")
    assert not p001.requires_auth("70450")  # the payer's list replaces the plan type's


def test_guardrails_match_first_and_payer_guardrails_win(rules: PayerRules) -> None:
    rule = rules.lookup(payer_id="NOPE", plan_type="commercial")
    g = rule.guardrail_for(group_code="CO", carc="16", remark_codes="M51|N211")
    assert g is not None
    assert g.name == "missing_info_no_appeal"
    assert g.appeal_rights is False
    assert g.action == "correct_and_resubmit"

    assert rule.guardrail_for(group_code="CO", carc="16", remark_codes=None) is None
    assert rule.guardrail_for(group_code="CO", carc="16", remark_codes="") is None
    assert rule.guardrail_for(group_code="CO", carc="16", remark_codes="M51") is None

    g = rule.guardrail_for(group_code="PR", carc="2", remark_codes=None)
    assert g is not None
    assert (g.action, g.appeal_rights) == ("bill_patient", False)
    assert rule.guardrail_for(group_code="CO", carc="2", remark_codes=None) is None

    g = rule.guardrail_for(group_code="co", carc="18", remark_codes=None)
    assert g is not None and g.action == "verify_status"
    g = rule.guardrail_for(group_code="CO", carc="29", remark_codes=None)
    assert g is not None and g.appeal_rights is True and "proof" in g.note.lower()
    for carc in ("22", "109"):
        g = rule.guardrail_for(group_code="CO", carc=carc, remark_codes=None)
        assert g is not None and g.action == "bill_other_payer" and g.clock == "other_payer"

    assert rule.guardrail_for(group_code="CO", carc="97", remark_codes=None) is None
    p001 = rules.lookup(payer_id="P001", plan_type=None)
    g = p001.guardrail_for(group_code="CO", carc="97", remark_codes=None)
    assert g is not None and g.name == "p001_bundling"
    assert p001.guardrails[0].name == "p001_bundling"
    assert len(p001.guardrails) == len(rule.guardrails) + 1


# -- vectorised helpers -----------------------------------------------------------------------------------


PAYERS: list[Any] = ["P001", "P002", "00431", "UNKNOWN", " P001", None, np.nan]
PLANS: list[Any] = [*PLAN_TYPES, "bogus", "Medicare", None, np.nan]
CODES: list[Any] = [
    "70450",
    "70498",
    "70449",
    "70499",
    "704500",
    "7045",
    "e0100",
    "E8002",
    "E8003",
    "97110",
    "97546",
    "97547",
    "G0283",
    "99213",
    "J9999",
    "J0120",
    "95811",
    "15820",
    "K0813",
    None,
    np.nan,
    "",
]


def random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "payer_id": pd.Series([PAYERS[i] for i in rng.integers(0, len(PAYERS), n)], dtype=object),
            "plan_type": pd.Series([PLANS[i] for i in rng.integers(0, len(PLANS), n)], dtype=object),
            "procedure_code": pd.Series([CODES[i] for i in rng.integers(0, len(CODES), n)], dtype=object),
        }
    )
    frame.index = rng.permutation(n) + 1000  # helpers are positional, not index-aligned
    return frame


def _as_text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


@pytest.mark.parametrize("dtype", [object, "str"])
def test_vectorised_helpers_equal_per_row_lookup(rules: PayerRules, dtype: Any) -> None:
    frame = random_frame(5_000, seed=20240601).astype(dtype)
    payers, plans, codes = frame["payer_id"], frame["plan_type"], frame["procedure_code"]

    filing = rules.timely_filing_days(payers, plans)
    auth = rules.auth_required(payers, plans, codes)

    expected_filing = []
    expected_auth = []
    for payer, plan, code in zip(payers.tolist(), plans.tolist(), codes.tolist(), strict=True):
        rule = rules.lookup(payer_id=_as_text(payer), plan_type=_as_text(plan))
        expected_filing.append(rule.timely_filing_days)
        expected_auth.append(rule.requires_auth(_as_text(code)))

    assert filing.dtype == np.int64
    assert auth.dtype == np.bool_
    np.testing.assert_array_equal(filing, np.array(expected_filing))
    np.testing.assert_array_equal(auth, np.array(expected_auth))
    assert auth.any() and not auth.all()
    assert len(set(filing.tolist())) > 2


def test_vectorised_helpers_on_empty_and_mismatched_input(rules: PayerRules) -> None:
    empty = pd.Series([], dtype=object)
    assert rules.timely_filing_days(empty, empty).shape == (0,)
    assert rules.auth_required(empty, empty, empty).shape == (0,)
    with pytest.raises(ValueError, match="same length"):
        rules.timely_filing_days(pd.Series(["P001"]), empty)
    all_missing = pd.Series([None, None], dtype=object)
    np.testing.assert_array_equal(rules.auth_required(all_missing, all_missing, all_missing), [False, False])


@pytest.mark.slow  # 200-example property search, loading the rule file each time
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789AEJKGaej -", max_size=7), min_size=1, max_size=30))
def test_auth_mask_agrees_with_requires_auth(codes: list[str]) -> None:
    rules = load_payer_rules()
    n = len(codes)
    payers = pd.Series([None] * n, dtype=object)
    plans = pd.Series(["commercial"] * n, dtype=object)
    got = rules.auth_required(payers, plans, pd.Series(codes, dtype=object))
    rule = rules.lookup(payer_id=None, plan_type="commercial")
    assert got.tolist() == [rule.requires_auth(c) for c in codes]


_CODE_TEXT = st.text(alphabet="0129AJZ", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    codes=st.lists(_CODE_TEXT, max_size=40),
    ranges=st.lists(st.tuples(_CODE_TEXT, _CODE_TEXT), max_size=6),
)
def test_range_mask_is_the_comparison_of_every_code_with_every_range(
    codes: list[str], ranges: list[tuple[str, str]]
) -> None:
    """The sorted search gives, code by code, what comparing the code with each range's bounds gives: as long as
    the lower bound and between the bounds as text (bounds of other lengths, reversed and empty ranges too)."""
    from features.contract.payer_rules import _range_mask

    got = _range_mask(np.array(codes, dtype=np.str_), ranges)
    assert got.tolist() == [any(len(c) == len(lo) and lo <= c <= hi for lo, hi in ranges) for c in codes]


# -- override files and round trip ------------------------------------------------------------------------


def test_data_dir_override_merges(tmp_path: Path) -> None:
    write(
        tmp_path / "payer_rules.yaml",
        """
version: 1
defaults:
  deadline_buffer_days: 10
plan_types:
  medicare:
    timely_filing_days: 200
    appeal_window_days: {2: 90}
payers:
  "00431": {plan_type: medicare, corrected_claim_window_days: 30}
guardrails:
  - name: team_first
    carcs: ["16"]
    appeal_rights: true
    action: appeal
  - name: duplicate_claim
    carcs: ["18"]
    appeal_rights: false
    action: write_off
""",
    )
    rules = load_payer_rules(data_dir=tmp_path)
    rule = rules.lookup(payer_id="00431", plan_type=None)
    assert rule.plan_type == "medicare"
    assert rule.corrected_claim_window_days == 30
    assert rule.source["corrected_claim_window_days"] == "payer:00431"
    assert rule.timely_filing_days == 200  # overridden field of the plan type
    assert rule.appeal_window_days == {1: 120, 2: 90, 3: 60}  # per level, the rest kept
    assert "15820-15823" in rule.auth_required  # untouched field of the shipped plan type
    assert rule.deadline_buffer_days == 10
    assert rule.source["deadline_buffer_days"] == "default"
    assert rules.lookup(payer_id=None, plan_type="commercial").timely_filing_days == 90

    names = [g.name for g in rules.library.guardrails]
    assert names[:2] == ["team_first", "duplicate_claim"]
    assert names.count("duplicate_claim") == 1  # the team's replaces the shipped one of that name
    g = rule.guardrail_for(group_code="CO", carc="16", remark_codes="N211")
    assert g is not None and g.name == "team_first"
    g = rule.guardrail_for(group_code="CO", carc="18", remark_codes=None)
    assert g is not None and g.action == "write_off"

    # extra_file goes on top; payers are replaced per id
    extra = write(tmp_path / "more" / "rules.yaml", "payers:\n  '00431': {timely_filing_days: 45}\n")
    rule = load_payer_rules(data_dir=tmp_path, extra_file=extra).lookup(payer_id="00431", plan_type=None)
    assert rule.timely_filing_days == 45
    assert rule.corrected_claim_window_days == 90  # the data_dir entry was replaced, not merged
    assert rule.plan_type is None


def test_no_override_file_and_empty_override_file(tmp_path: Path) -> None:
    assert load_payer_rules(data_dir=tmp_path).library == load_rule_library()
    write(tmp_path / "payer_rules.yaml", "# nothing yet\n")
    assert load_payer_rules(data_dir=tmp_path).library == load_rule_library()


def test_dump_then_load_round_trip(tmp_path: Path, rules: PayerRules) -> None:
    target = tmp_path / "team" / "payer_rules.yaml"
    dump_payer_rules(TEAM_OVERRIDES, target)
    first = target.read_bytes()
    dump_payer_rules(RuleOverrides.model_validate(TEAM_OVERRIDES), target)
    assert target.read_bytes() == first  # deterministic
    text = first.decode()
    assert "'00431':" in text  # payer ids stay strings
    assert text.index("P001") < text.index("P002")

    loaded = load_payer_rules(data_dir=target.parent)
    assert loaded.library == rules.library
    for payer in ("P001", "P002", "00431", "NOPE"):
        assert loaded.lookup(payer_id=payer, plan_type=None) == rules.lookup(payer_id=payer, plan_type=None)

    # a complete library dumps to a file that reproduces it
    full = tmp_path / "full.yaml"
    dump_payer_rules(rules.library, full)
    assert load_rule_library(extra_file=full) == rules.library


def test_dump_rejects_invalid_input(tmp_path: Path) -> None:
    target = tmp_path / "payer_rules.yaml"
    with pytest.raises(PayerRulesError, match=r"payers\.P1\.timely_filling_days: unknown key"):
        dump_payer_rules({"payers": {"P1": {"timely_filling_days": 30}}}, target)
    assert not target.exists()


def test_codes_in_ranges_as_written_in_the_rule_file() -> None:
    from features.contract.payer_rules import codes_in

    codes = pd.Series(["97110", "97546", "97547", "J1234", "97109", "99213"])
    assert codes_in(codes, ("97110-97546", "99213")).tolist() == [True, True, False, False, False, True]
    assert codes_in(pd.Series([" j1234", None, "J9999"]), ("J0100-J8999",)).tolist() == [True, False, False]
