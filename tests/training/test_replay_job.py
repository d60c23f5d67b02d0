"""The replay's input: held-out arrivals scored by a model that knew only the past, with the true odds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.recovery import PAYER_ACTIONS
from serving.queue_policy import DEFAULT_MINUTES
from training.replay_job import default_capacities, prepare_replay


@pytest.fixture(scope="module")
def setup(small_world: Path):
    return prepare_replay(small_world, months=3, tail_days=30, minutes_by_action=DEFAULT_MINUTES, seed=3)


def test_arrivals_are_the_held_out_window_with_payer_actions(setup) -> None:
    d = setup.denials
    assert len(d) > 100 and d["claim_id"].is_unique
    assert d["arrival"].between(setup.start, setup.end).all()
    assert d["action"].isin(PAYER_ACTIONS).all()
    np.testing.assert_array_equal(d["minutes"].to_numpy(), d["action"].map(DEFAULT_MINUTES).to_numpy())
    assert d["true_p"].between(0, 1).all() and (d["true_amount"] >= 0).all()
    assert (d["expected_recovery"] >= 0).all() and d["expected_recovery"].gt(0).any()
    assert setup.excluded >= 0


def test_the_replay_model_learned_only_from_before_the_window(setup) -> None:
    # it was fitted on denials whose outcome was known on the first arrival day: far fewer than all of them
    rows = setup.model_rows
    assert rows["learn"] > 0 and rows["calibrate_worked"] > 0


def test_default_capacities_are_tight_and_loose(setup) -> None:
    tight, loose = default_capacities(setup.denials, start=setup.start, end=setup.end)
    assert 0 < tight < loose
    assert tight % 30 == 0 and loose % 30 == 0
