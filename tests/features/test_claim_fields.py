"""Duplicate suspicion when nothing was sent before (a replacement claim scored on its own), and the main
service a line is billed beside (its costliest other line, and every other line's section)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.claim_fields import companion_of, duplicate_counts, other_sections


def _lines(frequency: str, submitted: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["P1", "P1"],
            "procedure_code": ["97110", "97140"],
            "service_from": pd.to_datetime(["2024-03-01", "2024-03-01"]),
            "submitted_at": pd.to_datetime([submitted, submitted]),
            "frequency_code": [frequency, frequency],
        }
    )


def test_no_original_in_the_context_means_no_duplicate_and_no_error() -> None:
    replacement = _lines("7", "2024-03-10")
    count, since = duplicate_counts(replacement, replacement)
    np.testing.assert_array_equal(count, [0, 0])
    assert np.isnan(since).all()


def test_an_earlier_original_with_the_same_service_is_counted() -> None:
    earlier, later = _lines("1", "2024-03-05"), _lines("1", "2024-03-10")
    count, since = duplicate_counts(later, pd.concat([earlier, later], ignore_index=True))
    np.testing.assert_array_equal(count, [1, 1])
    np.testing.assert_array_equal(since, [5.0, 5.0])


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
