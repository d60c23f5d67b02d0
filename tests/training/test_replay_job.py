"""The replay's input: held-out arrivals scored by a model that knew only the past, with the true odds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.contract.codes import load_code_tables
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from features.decisions.queue_plan import DEFAULT_MINUTES
from models.recovery import PAYER_ACTIONS
from training.recovery_job import build_recovery_data
from training.replay_job import default_capacities, prepare_replay

pytestmark = pytest.mark.slow  # trains replay models on the session world


@pytest.fixture(scope="module")
def setup(small_world: Path):
    return prepare_replay(
        small_world, months=3, tail_days=30, minutes_by_action=DEFAULT_MINUTES, options=RunOptions(seed=3)
    )


def test_arrivals_are_the_held_out_window_with_payer_actions(setup) -> None:
    d = setup.denials
    assert len(d) > 100 and d["claim_id"].is_unique
    assert d["arrival"].between(setup.start, setup.end).all()
    assert d["action"].isin(PAYER_ACTIONS).all()
    np.testing.assert_array_equal(d["minutes"].to_numpy(), d["action"].map(DEFAULT_MINUTES).to_numpy())
    assert d["true_p"].between(0, 1).all() and (d["true_amount"] >= 0).all()
    assert (d["expected_recovery"] >= 0).all() and d["expected_recovery"].gt(0).any()


def test_the_replay_model_learned_only_from_before_the_window(setup, small_world: Path) -> None:
    # it learned from denials whose outcome was known on the first arrival day, and there are fewer of those
    # than of denials mature by the end of the history (a model fitted on everything would exceed the first)
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    kw = {"codes": load_code_tables(), "rules": load_payer_rules(data_dir=small_world), "maturity_days": 180}
    known_then = int(build_recovery_data(tables, as_of=setup.start, **kw).mature.sum())
    known_at_end = int(build_recovery_data(tables, **kw).mature.sum())
    rows = setup.model_rows
    assert 0 < rows["learn"] < known_then < known_at_end
    assert rows["calibrate_worked"] > 0


def test_default_capacities_are_tight_and_loose(setup) -> None:
    tight, loose = default_capacities(setup.denials, start=setup.start, end=setup.end)
    assert 0 < tight < loose
    assert tight % 30 == 0 and loose % 30 == 0
