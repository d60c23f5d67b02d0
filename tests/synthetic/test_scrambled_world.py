"""The scrambled world as data: it passes the contract, reads like a billing history, and is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.contract.codes import CATEGORIES, load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from synthetic import World, write_world
from synthetic.scrambled import generate_scrambled_world

ROOT_CAUSES = tuple(c for c in CATEGORIES if c != "other")


@pytest.fixture(scope="module")
def world() -> World:
    return generate_scrambled_world(claims=30_000, months=24, seed=5)


@pytest.fixture(scope="module")
def written(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scrambled")
    write_world(world, out_dir=out)
    return out


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_tables_validate_with_nothing_quarantined(written: Path) -> None:
    result = load_validated(written, max_reject_rate=0.5, quarantine_dir=written / "quarantine")
    assert result.total_quarantined == 0, result.report


def test_labels_have_a_plausible_rate_and_every_root_cause(written: Path, world: World) -> None:
    tables = load_validated(written, max_reject_rate=0.5, quarantine_dir=written / "quarantine").tables
    labels = compute_labels(tables, codes=load_code_tables())
    rate = float(labels["initial_denial"].astype(bool).mean())
    assert 0.08 <= rate <= 0.20
    assert rate == pytest.approx(world.meta["true_denial_rate"], abs=0.01)
    categories = set(labels.loc[labels["initial_denial"].astype(bool), "denial_category"].astype(str))
    assert set(ROOT_CAUSES) <= categories
    # the label's category is the cause the mechanism planted
    truth = world.truth["claims"].set_index("claim_id")
    denied = labels[labels["initial_denial"].astype(bool)].set_index("claim_id")
    agree = (denied["denial_category"].astype(str) == truth.loc[denied.index, "cause"].astype(str)).mean()
    assert agree > 0.99
    recovered = labels["recovered"].dropna().astype(bool)
    assert 0.05 < recovered.mean() < 0.6


def test_followups_replacements_and_later_payments(world: World) -> None:
    claims, remits, followups = world.tables["claims"], world.tables["remits"], world.tables["followups"]
    repl = claims[claims["frequency_code"] == "7"]
    assert len(repl) > 100
    assert repl["original_claim_id"].isin(claims.loc[claims["frequency_code"] == "1", "claim_id"]).all()
    assert set(followups["action"]) == {
        "corrected_claim",
        "appeal",
        "reconsideration",
        "payer_call",
        "write_off",
        "bill_patient",
    }
    assert {"overturned", "partial", "upheld"} <= set(followups["outcome"].dropna())
    # appealed denials paid on a later remit of the same claim
    appealed = followups.loc[(followups["action"] == "appeal") & (followups["outcome"] == "overturned"), "claim_id"]
    later = remits[remits["claim_id"].isin(appealed)].groupby("claim_id")["paid_amount"].agg(["size", "last"])
    assert (later["size"] >= 2).mean() > 0.9 and (later["last"] > 0).mean() > 0.9


def test_group_codes_are_used_as_payers_do(world: World) -> None:
    adj = world.tables["adjustments"]
    codes = load_code_tables()
    pairs = set(zip(adj["group_code"], adj["carc"], strict=True))
    assert {("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3")} <= pairs
    assert ("PR", "27") not in pairs and ("PR", "29") not in pairs  # provider-liability denials are CO
    denials = adj[~codes.is_routine(adj["group_code"], adj["carc"])]
    category = codes.categorize(denials["carc"], denials["remark_codes"]).astype(str)
    assert set(ROOT_CAUSES) <= set(category)
    assert (category == "other").mean() < 0.05


def test_every_code_on_a_remit_is_active(world: World) -> None:
    """No CARC or RARC the published lists had deactivated before the history starts."""
    data = Path(__file__).resolve().parents[2] / "features" / "contract" / "data"
    adj = world.tables["adjustments"]
    start = world.meta["start"]
    carcs = pd.read_csv(data / "carc.csv", dtype=str).set_index("carc")["stop_date"]
    rarcs = pd.read_csv(data / "rarc.csv", dtype=str).set_index("rarc")["stop_date"]
    used_carcs = set(adj["carc"])
    used_rarcs = {r for codes in adj["remark_codes"].dropna() for r in codes.split("|")}
    assert used_carcs <= set(carcs.index) and used_rarcs <= set(rarcs.index)
    assert not [c for c in used_carcs if isinstance(carcs[c], str) and carcs[c] <= start]
    assert not [r for r in used_rarcs if isinstance(rarcs[r], str) and rarcs[r] <= start]


def test_truth_has_the_standard_layout(world: World) -> None:
    t = world.truth["claims"]
    expected = ["claim_id", "p_denial", "denied", "cause"] + [f"h_{c}" for c in CATEGORIES] + ["p_denial_knowable"]
    assert list(t.columns) == expected
    assert list(world.truth["denials"].columns) == [
        "claim_id",
        "p_recover_if_worked",
        "expected_recovered_amount",
        "worked",
        "cause",
    ]
    originals = world.tables["claims"].loc[world.tables["claims"]["frequency_code"] == "1", "claim_id"]
    assert set(t["claim_id"]) == set(originals)
    assert len(originals) == world.meta["claims"] == world.meta["original_claims"]
    assert world.meta["duplicate_claims"] > 100
    p = 1.0 - np.prod(1.0 - t[[f"h_{c}" for c in CATEGORIES]].to_numpy(), axis=1)
    np.testing.assert_allclose(t["p_denial"], p, atol=1e-12)
    meta = world.meta
    assert meta["generator"] == "scrambled" and meta["drift"] is None
    assert {"payer_id", "plan_type", "effective_date", "kind", "codes"} <= set(meta["policy_change"])
    assert 0.0 < meta["oracle_auc"]["knowable"] < meta["oracle_auc"]["clairvoyant"] <= 1.0


def test_payer_rules_load_and_list_codes_not_ranges(written: Path, world: World) -> None:
    rules = load_payer_rules(data_dir=written)
    main = world.meta["products"][0]  # a payer's first product is the one its entry describes
    rule = rules.lookup(payer_id=main["payer_id"], plan_type=main["plan_type"])
    assert rule.timely_filing_days == main["timely_filing_days"]
    raw = yaml.safe_load((written / "payer_rules.yaml").read_text())
    auth = [code for entry in raw["payers"].values() for code in entry.get("auth_required", [])]
    assert auth and all("-" not in code for code in auth)
    assert rule.source["timely_filing_days"] == f"payer:{main['payer_id']}"


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 2), ("b", 2), ("c", 3)):
        write_world(generate_scrambled_world(claims=3_000, months=12, seed=seed), out_dir=tmp_path / name)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a["claims.parquet"] != c["claims.parquet"]


def test_synth_command_writes_the_scrambled_world(tmp_path: Path) -> None:
    from claimsight.commands.data import synth

    synth(out=tmp_path / "w", claims=500, months=6, seed=1, structure="scrambled")
    meta = json.loads((tmp_path / "w" / "truth" / "world.json").read_text())
    assert meta["generator"] == "scrambled"
    assert pd.read_parquet(tmp_path / "w" / "claims.parquet")["frequency_code"].eq("1").sum() == 500
