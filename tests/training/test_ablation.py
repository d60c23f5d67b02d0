"""The ablation table: every feature in one family, the full row is the model `train` makes, and leaving a
family out is the model trained without it (its columns never reach LightGBM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from features.contract.run_options import RunOptions
from features.denial_feature_defs import FEATURE_NAMES
from training.ablation import FULL, feature_families, run_ablation

pytestmark = pytest.mark.slow  # trains on the session's 30k-claim world


def test_every_feature_is_in_exactly_one_family() -> None:
    families = feature_families()
    listed = [f for family in families for f in family.features]
    assert sorted(listed) == sorted(FEATURE_NAMES)
    assert len({family.name for family in families}) == len(families)
    names = {family.name for family in families}
    assert {"payer_proc", "dx_proc", "provider", "payer_cat", "fields:timely_filing"} <= names


def test_the_full_row_is_the_trained_model_and_a_family_left_out_changes_it(
    small_world: Path, trained: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    _, report, _ = trained
    said: list[str] = []
    table = run_ablation(
        small_world, options=RunOptions(home=tmp_path, seed=3),
        families=["payer_proc_auth", "fields:timely_filing", "payer_proc_auth+fields:timely_filing"], say=said.append,
    )  # fmt: skip
    assert list(table["without"]) == [FULL, "payer_proc_auth", "fields:timely_filing",
                                      "payer_proc_auth+fields:timely_filing"]  # fmt: skip
    assert table.loc[3, "features"] == table.loc[1, "features"] + table.loc[2, "features"]
    full = table.iloc[0]
    assert full["roc_auc"] == pytest.approx(report.metrics["roc_auc"], abs=1e-12)  # same split, seed and model
    assert full["auc_change"] == 0 and full["features"] == 0
    assert full["oracle_knowable_gap"] == pytest.approx(report.oracle["oracle_knowable_gap"], abs=1e-12)
    assert (table["auc_change"].iloc[1:] != 0).all()  # each family was really taken away
    # the claim's lag behind the filing limit is the only sign of a timely-filing denial: without it the
    # category head loses those denials
    assert table.loc[2, "category_top1"] < full["category_top1"]
    assert np.isfinite(table[["ece", "recall_at_95_precision", "category_top3"]].to_numpy(dtype=float)).all()
    assert len(said) == 5 and said[-1].startswith("4/4: without payer_proc_auth+fields:timely_filing")


def test_an_unknown_family_is_refused_naming_it(small_world: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown feature family 'nope'"):
        run_ablation(small_world, options=RunOptions(home=tmp_path, seed=3), families=["dx_code+nope"])
