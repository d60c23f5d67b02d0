"""A world generated in shards (issue 17, item 3): one practice, numbers that continue, files that validate, and a
world of one shard that is the world as it always was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from claimsight.cli import main
from features.contract.validation import load_validated
from synthetic import claim_state, generate_world, write_parts, write_world
from synthetic.shards import SHARD_CLAIMS, generate_shards, shard_sizes

SIZES = dict(claims=4_500, months=9, seed=13)
SHARD = 1_500


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sharded")
    meta = write_parts(generate_shards(**SIZES, shard_claims=SHARD), out_dir=out)
    return out, meta


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_world_of_one_shard_is_the_world_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    write_world(generate_world(claims=2_000, months=6, seed=3), out_dir=tmp_path / "whole", fmt=fmt)  # type: ignore[arg-type]
    write_parts(generate_shards(claims=2_000, months=6, seed=3, shard_claims=2_000), out_dir=tmp_path / "one", fmt=fmt)  # type: ignore[arg-type]
    whole, one = _files(tmp_path / "whole"), _files(tmp_path / "one")
    assert f"claims.{fmt}" in whole and f"truth/denials.{fmt}" in whole
    assert whole == one


def test_sharded_files_validate_with_every_id_distinct(sharded: tuple[Path, dict]) -> None:
    out, meta = sharded
    result = load_validated(out, max_reject_rate=0.0, quarantine_dir=out / "quarantine")
    assert result.total_quarantined == 0
    tables = result.tables
    assert {name: len(df) for name, df in tables.items()} == meta["sizes"]
    claims = tables["claims"]
    assert claims["claim_id"].is_unique and tables["remits"]["remit_id"].is_unique
    # the numbers continue: claims C0..C(n-1) and remits R1..Rn with no gap where one shard meets the next
    numbers = claims["claim_id"].str.slice(1).astype(int).sort_values().to_numpy()
    assert (numbers == range(len(claims))).all()
    remits = tables["remits"]["remit_id"].str.slice(1).astype(int).sort_values().to_numpy()
    assert (remits == range(1, len(remits) + 1)).all()
    # a patient belongs to one shard: the shards' patient numbers do not overlap
    first_claims = [s["first_claims"] for s in meta["shards"]] + [len(claims)]
    shard_of = pd.cut(numbers, bins=first_claims, right=False, labels=False)
    per_patient = pd.Series(shard_of, index=claims.sort_values("claim_id")["patient_id"].to_numpy())
    assert per_patient.groupby(level=0).nunique().max() == 1
    patients = claims["patient_id"].str.slice(2).astype(int)
    assert patients.max() < meta["entities"]["patients"] == meta["shards"][-1]["first_patients"] + 500


def test_shards_share_the_practice_and_draw_their_own_patients(sharded: tuple[Path, dict]) -> None:
    out, meta = sharded
    shards = list(generate_shards(**SIZES, shard_claims=SHARD))
    assert (
        [s.meta["shard"]["claims"] for s in shards] == [1_500, 1_500, 1_500] == shard_sizes(4_500, shard_claims=SHARD)
    )
    alone = generate_world(claims=1_500, months=SIZES["months"], seed=SIZES["seed"])
    for name, df in shards[0].tables.items():
        pd.testing.assert_frame_equal(df, alone.tables[name])  # shard 0 is the world of its size
    for shard in shards[1:]:
        assert shard.payer_rules == alone.payer_rules
        # its own patients and claims: other draws, not a copy of shard 0 renumbered
        assert not shard.tables["claims"]["patient_id"].isin(alone.tables["claims"]["patient_id"]).any()
        assert (
            shard.tables["claims"]["total_charge"].to_numpy()[:50]
            != alone.tables["claims"]["total_charge"].to_numpy()[:50]
        ).any()
    practice = [claim_state(claims=1_500, months=SIZES["months"], seed=SIZES["seed"], shard=k) for k in (0, 2)]
    for state in practice[1:]:
        assert state.group_npis == practice[0].group_npis
        for entity, field in (("payers", "ids"), ("providers", "npi"), ("facilities", "ids"), ("procedures", "codes")):
            assert list(getattr(getattr(state.world, entity), field)) == list(
                getattr(getattr(practice[0].world, entity), field)
            )
    written = json.loads((out / "truth" / "world.json").read_text())
    assert written == meta
    assert meta["original_claims"] == sum(s.meta["original_claims"] for s in shards)
    assert 0.5 < meta["oracle_auc"]["knowable"] <= meta["oracle_auc"]["clairvoyant"] <= 1.0
    rates = [s.meta["true_denial_rate"] for s in shards]
    assert min(rates) <= meta["true_denial_rate"] <= max(rates)
    assert sum(meta["true_cause_mix"].values()) == pytest.approx(1.0, abs=1e-5)


def test_same_seed_same_sharded_bytes(tmp_path: Path, sharded: tuple[Path, dict]) -> None:
    write_parts(generate_shards(**SIZES, shard_claims=SHARD), out_dir=tmp_path)
    assert _files(tmp_path) == {k: v for k, v in _files(sharded[0]).items() if not k.startswith("quarantine")}


@given(claims=st.integers(1, 10**8), shard=st.integers(1, 10**7))
def test_shard_sizes_cover_the_claims_evenly(claims: int, shard: int) -> None:
    assume(claims // shard <= 10_000)
    sizes = shard_sizes(claims, shard_claims=shard)
    assert sum(sizes) == claims and max(sizes) <= shard and max(sizes) - min(sizes) <= 1
    assert len(sizes) == -(-claims // shard)


def test_x12_beyond_one_shard_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["synth", "--out", str(tmp_path / "w"), "--claims", str(SHARD_CLAIMS + 1), "--format", "x12"])
    assert code == 2
    assert "--format" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
