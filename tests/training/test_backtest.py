"""The backtest: a frozen model and a monthly retrained one side by side, with the monitor's alerts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from features.contract.run_options import RunOptions
from training.backtest import backtest, by_month, generator_change, months_between


def test_months_between() -> None:
    assert months_between("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    with pytest.raises(ValueError, match="not be before"):
        months_between("2024-02", "2024-01")


@pytest.mark.slow  # trains models for each month of the session world
def test_backtest_scores_each_month_with_both_models(small_world: Path) -> None:
    result = backtest(small_world, first_month="2024-02", last_month="2024-03", options=RunOptions(seed=3))
    table = result.table
    everyone = table[table["scope"] == "all"]
    assert set(everyone["month"]) == {"2024-02", "2024-03"} and set(everyone["model"]) == {"frozen", "retrained"}
    first = everyone[everyone["month"] == "2024-02"].set_index("model")
    # in the first month the retrained model IS the frozen one
    assert first.loc["frozen", "roc_auc"] == first.loc["retrained", "roc_auc"]
    second = everyone[everyone["month"] == "2024-03"].set_index("model")
    assert second.loc["frozen", "roc_auc"] != second.loc["retrained", "roc_auc"]
    assert (everyone["roc_auc"] > 0.7).all() and np.isfinite(everyone["ece"]).all()
    assert (everyone["rows"] > 100).all()
    wide = by_month(result)["all"]
    assert list(wide["month"]) == ["2024-02", "2024-03"] and "roc_auc_retrained" in wide.columns
    if result.watched_payer is not None:  # the watched payer comes from the monitor's strongest alert
        assert result.watched_payer in set(result.alerts["payer_id"])
        assert any(scope.startswith(f"payer {result.watched_payer} x ") for scope in set(table["scope"]))
    # the generator's own change is shown beside the monitor's pick, and the learned rules month by month
    change = generator_change(small_world)
    assert change is not None
    judged = [s for s in set(table["scope"]) if s.startswith(f"payer {change[0]} x ") and "generator" in s]
    assert len(judged) == 1
    part = table[table["scope"] == judged[0]]
    assert (part["rows"] > 0).all() and set(part["model"]) == {"frozen", "retrained"}
    assert set(result.learned.columns) >= {"month", "payer_id", "family", "auth_denied_share"}
    assert set(result.learned["payer_id"]) <= {change[0]}


def test_the_generators_change_is_read_from_either_world(tmp_path: Path) -> None:
    """The standard world's authorization change (`drift`, code ranges) or the scrambled world's coverage change
    (`policy_change`, single codes); a team's own data has no truth/ and no change."""
    assert generator_change(tmp_path) is None
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "world.json").write_text(json.dumps({"drift": {"payer_id": "P1", "codes": ["97110-97546"]}}))
    assert generator_change(tmp_path) == ("P1", ("97110-97546",))
    change = {"payer_id": "SP101", "plan_type": "commercial", "codes": ["12215", "E0381"], "kind": "stops_covering"}
    (truth / "world.json").write_text(json.dumps({"drift": None, "policy_change": change}))
    assert generator_change(tmp_path) == ("SP101", ("12215", "E0381"))
