"""`claimsight edits`: the export round-trips through payer_rules.yaml loading, accepting it changes the
written-rule features of an affected claim exactly as a hand-written rule does, rejected edits are not
proposed again, and bad input is refused without a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from edit_worlds import PLANTED, history, tables_and_labels
from factories import History

from claimsight.cli import main
from features.contract.codes import load_code_tables
from features.contract.payer_rules import PayerRules, load_payer_rules
from features.denial_features import DenialFeatureBuilder
from features.prevention.edit_files import DECISIONS_FILE, EDITS_CSV, EDITS_YAML
from features.prevention.edits import EDIT_COLUMNS


@pytest.fixture(scope="module")
def world_history() -> History:
    return history(seed=3, claims=1600)


@pytest.fixture
def data(tmp_path: Path, world_history: History) -> Path:
    return world_history.write_csv(tmp_path / "data")


def export(data: Path, out: Path) -> pd.DataFrame:
    assert main(["edits", "--data", str(data), "--out", str(out)]) == 0
    return pd.read_csv(out / EDITS_CSV, dtype=str)


def test_export_round_trips_through_payer_rules_loading(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = export(data, tmp_path / "out")
    assert list(table.columns) == list(EDIT_COLUMNS)
    assert set(table["edit_id"]) == set(PLANTED) and (table["status"] == "new").all()
    printed = capsys.readouterr().out
    assert "5 new edits" in printed and "PAT-" not in printed
    text = (tmp_path / "out" / EDITS_YAML).read_text()
    assert "# auth:P1:93306: " in text and "CO-197" in text  # evidence next to the entry
    before = load_payer_rules(data_dir=data)
    with_edits = load_payer_rules(data_dir=data, extra_file=tmp_path / "out" / EDITS_YAML)
    p1 = with_edits.lookup(payer_id="P1", plan_type="commercial")
    assert p1.requires_auth("93306") and not before.lookup(payer_id="P1", plan_type="commercial").requires_auth("93306")
    # the payer keeps every code it inherited: its list repeats what is in force
    inherited = before.lookup(payer_id="P1", plan_type="commercial").auth_required
    assert set(inherited) < set(p1.auth_required)
    assert p1.timely_filing_days == 60
    assert with_edits.lookup(payer_id="P2", plan_type="commercial").modifier_required == {"97110": ("GP",)}
    assert with_edits.lookup(payer_id="P3", plan_type="commercial").denied_together == (("97530", "97140"),)
    assert with_edits.lookup(payer_id="P4", plan_type="commercial").dx_not_supporting == {"20610": ("M54",)}


def affected_claim(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A P2 claim with a 97110 line without modifier GP."""
    lines = tables["claim_lines"]
    bare = lines[(lines["procedure_code"] == "97110") & lines["modifiers"].isna()]
    claims = tables["claims"]
    pick = claims[claims["claim_id"].isin(bare["claim_id"]) & (claims["payer_id"] == "P2")].head(1)
    assert len(pick) == 1
    return pick


def features(
    rules: PayerRules, tables: dict[str, pd.DataFrame], labels: pd.DataFrame, claim: pd.DataFrame
) -> pd.Series:
    builder = DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=load_code_tables())
    return builder.transform(claims=claim, lines=tables["claim_lines"]).frame().iloc[0]


def test_accepting_changes_features_as_a_hand_written_rule_does(
    data: Path,
    tmp_path: Path,
    world_history,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    export(data, tmp_path / "out")
    (data / "payer_rules.yaml").write_text(
        "# the team's own file\nversion: 1\npayers:\n  P9:\n    timely_filing_days: 45\n"
    )
    tables, labels = tables_and_labels(world_history)
    claim = affected_claim(tables)
    before = features(load_payer_rules(data_dir=data), tables, labels, claim)
    capsys.readouterr()
    assert main(["edits", "accept", str(tmp_path / "out" / EDITS_YAML), "--data", str(data),
                 "--only", "modifier:P2:97110:GP", "--on", "2024-06-01"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "+  P2:" in printed and "accepted 1 of 5 edits" in printed
    team = yaml.safe_load((data / "payer_rules.yaml").read_text())
    assert team["payers"]["P9"] == {"timely_filing_days": 45}  # what the team wrote stays
    assert team["payers"]["P2"] == {"modifier_required": {"97110": ["GP"]}}
    assert set(team["payers"]) == {"P2", "P9"}  # --only: nothing else merged
    decisions = yaml.safe_load((data / DECISIONS_FILE).read_text())["decisions"]
    assert decisions["modifier:P2:97110:GP"]["decision"] == "accepted"
    assert str(decisions["modifier:P2:97110:GP"]["date"]) == "2024-06-01"  # the day it took effect (--on)

    after = features(load_payer_rules(data_dir=data), tables, labels, claim)
    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / "payer_rules.yaml").write_text(
        'version: 1\npayers:\n  "P9": {timely_filing_days: 45}\n  "P2":\n    modifier_required: {"97110": ["GP"]}\n'
    )
    by_hand = features(load_payer_rules(data_dir=hand), tables, labels, claim)
    assert before["rule_modifier_missing"] == 0 and after["rule_modifier_missing"] >= 1
    pd.testing.assert_series_equal(after, by_hand)
    changed = before.index[(before != after) & ~(before.isna() & after.isna())]
    assert list(changed) == ["rule_modifier_missing"]

    # the next export does not propose the accepted edit: it is in force now
    table = export(data, tmp_path / "again")
    assert "modifier:P2:97110:GP" not in set(table["edit_id"]) and len(table) == 4
    proposed = yaml.safe_load((tmp_path / "again" / EDITS_YAML).read_text())["payers"]
    assert "P2" not in proposed


def test_accept_all_then_nothing_left_and_rejected_are_not_proposed_again(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(data, tmp_path / "out")
    assert main(["edits", "reject", "auth:P1:93306", "filing:P1", "--data", str(data)]) == 0
    table = export(data, tmp_path / "again")
    status = table.set_index("edit_id")["status"]
    assert status["auth:P1:93306"] == "rejected" and status["filing:P1"] == "rejected"
    proposed = yaml.safe_load((tmp_path / "again" / EDITS_YAML).read_text())["payers"]
    assert "P1" not in proposed and set(proposed) == {"P2", "P3", "P4"}
    assert main(["edits", "accept", str(tmp_path / "again" / EDITS_YAML), "--data", str(data)]) == 0
    rules = load_payer_rules(data_dir=data)
    assert rules.lookup(payer_id="P3", plan_type="commercial").denied_together == (("97530", "97140"),)
    assert not rules.lookup(payer_id="P1", plan_type="commercial").requires_auth("93306")
    capsys.readouterr()
    assert main(["edits", "accept", str(tmp_path / "again" / EDITS_YAML), "--data", str(data)]) == 0
    assert "already in force" in capsys.readouterr().out
    last = export(data, tmp_path / "last")
    assert set(last["edit_id"]) == {"auth:P1:93306", "filing:P1"} and set(last["status"]) == {"rejected"}
    assert yaml.safe_load((tmp_path / "last" / EDITS_YAML).read_text())["payers"] == {}


def test_bad_input_is_refused(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edits", "reject", "nonsense", "--data", str(data)]) == 2
    assert "not an edit id" in capsys.readouterr().err
    export(data, tmp_path / "out")
    capsys.readouterr()
    assert main(["edits", "accept", str(tmp_path / "out" / EDITS_YAML), "--data", str(data),
                 "--only", "auth:P1:99999"]) == 2  # fmt: skip
    assert "not proposed by this file" in capsys.readouterr().err
    assert not (data / "payer_rules.yaml").exists()
    broken = tmp_path / "broken.yaml"
    broken.write_text("payers:\n  P1:\n    modifier_required: {'97110': ['G']}\n")
    assert main(["edits", "accept", str(broken), "--data", str(data)]) == 2
    assert "modifier_required" in capsys.readouterr().err
    assert main(["edits", "accept", str(tmp_path / "out" / EDITS_YAML), "--data", str(data), "--on", "2024-13-01"]) == 2
    assert "--on" in capsys.readouterr().err
    assert main(["edits", "--data", str(data)]) == 2
