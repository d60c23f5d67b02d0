"""The pre-submission edit fields of the payer rule schema: validated like the other fields, empty by default,
resolved payer -> plan type -> defaults, and the per-line flags the written-rule features read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.claim_fields import day_number
from features.contract.payer_rule_files import PayerRulesError, dump_payer_rules, load_overrides
from features.contract.payer_rule_model import EDIT_FIELDS, RULE_FIELDS, RuleOverrides
from features.contract.payer_rules import PayerRules, load_payer_rules, load_rule_library, merge_rule_libraries


def rules_with(overrides: dict[str, Any]) -> PayerRules:
    return PayerRules(merge_rule_libraries(load_rule_library(), RuleOverrides.model_validate(overrides)))


def test_edit_fields_are_rule_fields_and_empty_by_default() -> None:
    assert set(EDIT_FIELDS) <= set(RULE_FIELDS)
    rule = load_payer_rules().lookup(payer_id="ANY", plan_type="commercial")
    assert rule.modifier_required == {} and rule.denied_together == () and rule.dx_not_supporting == {}
    assert rule.source["modifier_required"] == "default"


def test_edits_resolve_payer_then_plan_type_then_defaults() -> None:
    rules = rules_with(
        {
            "defaults": {"denied_together": [["99213", "36415"]]},
            "plan_types": {"medicare": {"modifier_required": {"97110": ["gp"]}}},
            "payers": {"P9": {"plan_type": "medicare", "dx_not_supporting": {"20610": ["m54"]}}},
        }
    )
    p9 = rules.lookup(payer_id="P9", plan_type=None)
    assert p9.modifier_required == {"97110": ("GP",)} and p9.source["modifier_required"] == "plan_type:medicare"
    assert p9.dx_not_supporting == {"20610": ("M54",)} and p9.source["dx_not_supporting"] == "payer:P9"
    assert p9.denied_together == (("99213", "36415"),) and p9.source["denied_together"] == "default"
    other = rules.lookup(payer_id="P1", plan_type="commercial")
    assert other.modifier_required == {} and other.dx_not_supporting == {}


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"modifier_required": {"97110": ["G"]}}, "modifier_required"),
        ({"modifier_required": {"97110-97112": ["GP"]}}, "modifier_required"),
        ({"modifier_required": {"97110": []}}, "modifier_required"),
        ({"modifier_required": {97110: ["GP"]}}, "modifier_required"),
        ({"denied_together": [["97140", "97140"]]}, "denied_together"),
        ({"denied_together": [["97140"]]}, "denied_together"),
        ({"dx_not_supporting": {"20610": ["M54.5"]}}, "dx_not_supporting"),
        ({"dx_not_supporting": {"20610": ["5M"]}}, "dx_not_supporting"),
        ({"code_terminated": {"20610": "not a date"}}, "code_terminated"),
        ({"code_terminated": {"20610-20611": "2024-01-01"}}, "code_terminated"),
    ],
)
def test_bad_edit_fields_name_the_path_not_the_value(tmp_path: Path, fields: dict[str, Any], path: str) -> None:
    import yaml

    (tmp_path / "payer_rules.yaml").write_text(yaml.safe_dump({"payers": {"P1": fields}}))
    with pytest.raises(PayerRulesError) as err:
        load_payer_rules(data_dir=tmp_path)
    assert f"payers.P1.{path}" in str(err.value)
    assert "M54.5" not in str(err.value)


def test_edit_fields_round_trip_through_a_file(tmp_path: Path) -> None:
    written = {
        "payers": {
            "P1": {
                "modifier_required": {"97110": ["GP", "KX"]},
                "denied_together": [["97530", "97140"]],
                "dx_not_supporting": {"20610": ["M54"]},
                "code_terminated": {"0001U": dt.date(2024, 4, 1)},
            }
        }
    }
    dump_payer_rules(written, tmp_path / "payer_rules.yaml")
    again = load_overrides(tmp_path / "payer_rules.yaml")
    assert again == RuleOverrides.model_validate({**written, "version": 1})
    rule = load_payer_rules(data_dir=tmp_path).lookup(payer_id="P1", plan_type=None)
    assert rule.modifier_required == {"97110": ("GP", "KX")} and rule.denied_together == (("97530", "97140"),)
    assert rule.code_terminated == {"0001U": dt.date(2024, 4, 1)}


def literal_flags(rules: PayerRules, lines: pd.DataFrame) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {
        "modifier_missing": [],
        "pair_bundled": [],
        "dx_unsupported": [],
        "code_terminated": [],
    }
    for line in lines.itertuples(index=False):
        rule = rules.lookup(payer_id=line.payer_id, plan_type=line.plan_type)
        mods = set(line.modifier_key.split("|"))
        needed = rule.modifier_required.get(line.code)
        out["modifier_missing"].append(needed is not None and not mods & set(needed))
        on_claim = set(lines.loc[lines["claim"] == line.claim, "code"])
        out["pair_bundled"].append(any(b == line.code and a in on_claim for a, b in rule.denied_together))
        prefixes = rule.dx_not_supporting.get(line.code, ())
        out["dx_unsupported"].append(any(str(line.dx).startswith(p) for p in prefixes))
        deleted = rule.code_terminated.get(line.code)
        out["code_terminated"].append(deleted is not None and line.service >= deleted)
    return out


def test_edit_flags_equal_a_literal_check() -> None:
    rules = rules_with(
        {
            "payers": {
                "P1": {"modifier_required": {"97110": ["GP"]}, "denied_together": [["97530", "97140"]]},
                "P2": {"dx_not_supporting": {"20610": ["M54"]}, "code_terminated": {"97530": "2024-03-01"}},
            },
            "defaults": {"code_terminated": {"99213": "2024-02-10", "20610": "2024-06-30"}},
        }
    )
    rng = np.random.default_rng(0)
    n = 400
    lines = pd.DataFrame(
        {
            "claim": np.sort(rng.integers(0, 150, n)),
            "payer_id": rng.choice(["P1", "P2", "P3"], n),
            "plan_type": rng.choice(["commercial", "unknown"], n),
            "code": rng.choice(["97110", "97140", "97530", "20610", "99213"], n),
            "modifier_key": rng.choice(["-", "GP", "59|GP", "KX"], n),
            "dx": rng.choice(["M545", "M170", None], n),
            "service": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 366, n)],
        }
    )
    # a claim has one payer
    lines["payer_id"] = lines.groupby("claim")["payer_id"].transform("first")
    flags = rules.edit_flags(
        payer_ids=lines["payer_id"],
        plan_types=lines["plan_type"],
        procedure_codes=lines["code"].to_numpy(dtype=object),
        modifier_keys=lines["modifier_key"].to_numpy(dtype=object),
        line_dx=lines["dx"].to_numpy(dtype=object),
        claim_pos=lines["claim"].to_numpy(),
        n_claims=150,
        service_days=day_number(pd.Series(lines["service"])),
    )
    expected = literal_flags(rules, lines)
    for name, values in expected.items():
        assert flags[name].tolist() == values, name
        assert flags[name].any(), name
    listed = lines["code"].isin(["99213", "20610", "97530"]).to_numpy()
    assert (listed & ~flags["code_terminated"]).any()  # a listed code billed before its date is not flagged
    none = load_payer_rules().edit_flags(
        payer_ids=lines["payer_id"],
        plan_types=lines["plan_type"],
        procedure_codes=lines["code"].to_numpy(dtype=object),
        modifier_keys=lines["modifier_key"].to_numpy(dtype=object),
        line_dx=lines["dx"].to_numpy(dtype=object),
        claim_pos=lines["claim"].to_numpy(),
        n_claims=150,
    )
    assert not any(v.any() for v in none.values())
