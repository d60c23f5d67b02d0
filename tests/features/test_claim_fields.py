"""The main service a line is billed beside (its costliest other line, and every other line's section), and day
numbers."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd

from features.claim_fields import companion_of, day_number, other_sections


def test_the_companion_is_the_costliest_other_lines_group() -> None:
    groups = np.array(["em", "surg", "lab", "em", "pt", "pt2", "lab"], dtype=object)
    charges = np.array([120.0, 2400.0, 30.0, 90.0, 60.0, 60.0, np.nan])
    claim_pos = np.array([0, 0, 0, 1, 2, 2, 2])
    got = companion_of(groups, charges, claim_pos)
    # claim 0: the surgery is beside the E/M and the lab; the surgery's own companion is the E/M (next costliest)
    # claim 1: alone; claim 2: a tie goes to the earlier line, and a missing charge counts as the cheapest
    assert got.tolist() == ["surg", "em", "surg", "-", "pt2", "pt", "pt"]


def test_other_sections_are_the_other_lines_sections() -> None:
    rng = np.random.default_rng(5)
    n = 300
    claim_pos = np.sort(rng.integers(0, 90, n))
    sections = rng.choice(np.array(["Surgery", "Lab", "Evaluation and management", None], dtype=object), n)
    got = other_sections(sections, claim_pos)
    for i in range(n):
        others = {sections[j] for j in np.flatnonzero(claim_pos == claim_pos[i]) if j != i} - {None}
        assert got[i] == ("|".join(sorted(others)) or "-"), i
    assert {"-", "Lab|Surgery"} <= set(got.tolist())


def test_day_numbers_count_days_from_1970_and_a_missing_day_is_before_every_day() -> None:
    days = ["2024-02-29", None, "1969-12-31", "1970-01-01", "1900-03-01", "2099-12-31"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing day is not an invalid value on the way
        got = day_number(pd.Series(pd.to_datetime(days)))
        from_array = day_number(pd.to_datetime(days).to_numpy())
    expected = [(date.fromisoformat(d) - date(1970, 1, 1)).days if d else -(10**6) for d in days]
    assert got.dtype == np.int64 and got.tolist() == from_array.tolist() == expected
