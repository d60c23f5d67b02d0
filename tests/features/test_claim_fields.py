"""Duplicate suspicion when nothing was sent before (a replacement claim scored on its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.claim_fields import duplicate_counts


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
