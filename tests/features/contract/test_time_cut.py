"""known_at: the tables as the team saw them on a day."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.contract.time_cut import known_at
from features.contract.validation import load_validated

pytestmark = pytest.mark.slow  # reads the 30k-claim session world


def test_every_table_is_cut_before_the_day(small_world: Path) -> None:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    day = tables["remits"]["remit_date"].quantile(0.6).normalize()
    cut = known_at(tables, day)
    assert (cut["claims"]["submitted_at"] < day).all()
    assert (cut["remits"]["remit_date"] < day).all()
    assert (cut["followups"]["action_date"] < day).all()
    assert cut["adjustments"]["remit_id"].isin(cut["remits"]["remit_id"]).all()
    assert cut["claim_lines"]["claim_id"].isin(cut["claims"]["claim_id"]).all()
    assert cut["remits"]["claim_id"].isin(cut["claims"]["claim_id"]).all()
    outcome_known = cut["followups"]["outcome_date"].notna()
    assert (cut["followups"].loc[outcome_known, "outcome_date"] < day).all()
    assert 0 < len(cut["claims"]) < len(tables["claims"])
    # nothing before the day is lost
    before = tables["remits"]["remit_date"] < day
    kept = tables["remits"]["claim_id"].isin(cut["claims"]["claim_id"])
    assert len(cut["remits"]) == int((before & kept).sum())
    assert isinstance(cut["claims"].index, pd.RangeIndex)
