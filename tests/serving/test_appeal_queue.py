"""The appeal queue of a data directory: which denials are open, and how they come out ranked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels, data_as_of
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from features.decisions.queue_plan import QueueSettings
from models.recovery import PAYER_ACTIONS, worked_mask
from serving.appeal_queue import QUEUE_COLUMNS, open_denials, rank_queue
from training.jobs import TrainRun
from training.recovery_job import train_recovery

pytestmark = pytest.mark.slow  # trains a recovery model on the session world


@pytest.fixture(scope="module")
def world(small_world: Path):
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    codes, rules = load_code_tables(), load_payer_rules(data_dir=small_world)
    found = open_denials(tables, codes=codes, rules=rules, options=RunOptions())
    return tables, codes, found


@pytest.fixture(scope="module")
def model(small_world: Path, tmp_path_factory: pytest.TempPathFactory):
    return train_recovery(
        small_world, options=RunOptions(home=tmp_path_factory.mktemp("h")), run=TrainRun(register=False)
    )[0]


def test_open_denials_are_unresolved_and_not_already_worked(world) -> None:
    tables, codes, found = world
    labels = compute_labels(tables, codes=codes).set_index("claim_id")
    queued = found.denials
    assert len(queued) > 0 and queued["claim_id"].is_unique
    assert labels.loc[queued["claim_id"], "initial_denial"].all()
    assert labels.loc[queued["claim_id"], "resolved_at"].isna().all()
    assert not worked_mask(tables, queued).any()
    assert found.open_total == len(queued) + found.in_progress
    assert found.in_progress > 0


def test_rank_queue_keeps_every_denial_and_explains_the_work(world, model) -> None:
    tables, _, found = world
    today = np.busday_offset(np.datetime64(data_as_of(tables).date(), "D"), 0, roll="forward").astype(dt.date)
    cfg = QueueSettings(capacity_minutes_per_day=240)
    queue = rank_queue(model, found.denials, today=today, settings=cfg)
    assert list(queue.columns) == list(QUEUE_COLUMNS)
    assert sorted(queue["claim_id"]) == sorted(found.denials["claim_id"])
    today_rows = queue[queue["status"] == "work_today"]
    assert 0 < today_rows["minutes"].sum() <= 240
    ranked = queue["rank"].dropna().to_numpy()
    np.testing.assert_array_equal(ranked, np.arange(1, len(ranked) + 1))
    assert queue.loc[queue["rank"].notna(), "rank"].is_monotonic_increasing
    # nothing from the payer for billing the patient or writing off: never worth queue time
    no_pay = ~queue["action"].isin(PAYER_ACTIONS)
    assert (queue.loc[no_pay, "expected_recovery"] == 0).all()
    assert (queue.loc[no_pay, "status"].isin(["not_worth_working"])).all()
    # each worked row says why and when
    assert today_rows["why"].str.contains("expected").all()
    assert today_rows["deadline_rule"].notna().all()
    assert today_rows["reason_1"].notna().any()
    # a later day with every deadline passed: nothing is planned
    late = rank_queue(model, found.denials, today=dt.date(2100, 1, 4), settings=cfg)
    has_deadline = late["deadline"].notna()
    assert (late.loc[has_deadline, "status"].isin(["deadline_passed", "not_worth_working"])).all()
    assert pd.isna(late.loc[has_deadline, "rank"]).all()


def test_no_queued_item_bills_the_patient_for_a_provider_liable_amount(world) -> None:
    """Issue 18: on the synthetic world (CO-96 and PR-96 with and without an advance notice, CO-B7, CO-50 with
    M127, MIPS adjustments, holds), a `bill_patient` item always rests on a PR adjustment, and the world has
    non-covered CO amounts that are worked with the payer instead."""
    tables, _, found = world
    queued = found.denials
    billed = queued[queued["recommended_action"] == "bill_patient"]
    assert len(billed) > 0 and set(billed["action_group"]) == {"PR"}
    co_non_covered = queued[(queued["denial_category"] == "non_covered") & (queued["action_group"] == "CO")]
    assert len(co_non_covered) > 0
    assert not co_non_covered["recommended_action"].eq("bill_patient").any()
    assert (billed["patient_amount"] > 0).all()
