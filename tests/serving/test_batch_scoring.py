"""Batch scoring before release: pending claims, decisions, reasons for what a person will read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contract.validation import load_validated
from serving.batch_scoring import pending_claims, review_mask, score_claims

pytestmark = pytest.mark.slow  # the session's trained model


@pytest.fixture(scope="module")
def tables(small_world: Path) -> dict[str, pd.DataFrame]:
    return load_validated(small_world, max_reject_rate=0.0).tables


def test_pending_claims_are_the_unanswered_ones(tables: dict[str, pd.DataFrame]) -> None:
    pending = pending_claims(tables)
    assert len(pending) > 100
    assert not pending["claim_id"].isin(tables["remits"]["claim_id"]).any()
    assert not pending["frequency_code"].eq("8").any()


def test_scores_decisions_and_reasons(trained: tuple[Any, Any, Path], tables: dict[str, pd.DataFrame]) -> None:
    model = trained[0]
    pending = pending_claims(tables)
    threshold = float(
        np.quantile(model.predict_proba(model.features(claims=pending, lines=tables["claim_lines"]).X), 0.8)
    )
    scored = score_claims(model, claims=pending, tables=tables, threshold=threshold)
    assert len(scored) == len(pending)
    assert scored["p_denial"].is_monotonic_decreasing
    review = scored["decision"] == "review"
    assert (scored.loc[review, "p_denial"] >= threshold).all() and (scored.loc[~review, "p_denial"] < threshold).all()
    assert scored.loc[review, "reason_1"].notna().all() and scored.loc[review, "action_1"].notna().all()
    assert scored.loc[~review, "reason_1"].isna().all()  # reasons only for what a person will read
    assert set(scored["top_category"]) <= {
        "eligibility",
        "coordination_of_benefits",
        "authorization",
        "coding",
        "medical_necessity",
        "timely_filing",
        "duplicate",
        "missing_information",
        "non_covered",
        "other",
    }


def test_review_capacity_caps_the_review_list(trained: tuple[Any, Any, Path], tables: dict[str, pd.DataFrame]) -> None:
    scored = score_claims(trained[0], claims=pending_claims(tables), tables=tables, threshold=0.0, review_capacity=25)
    assert (scored["decision"] == "review").sum() == 25
    assert scored["decision"].head(25).eq("review").all()  # the 25 riskiest
    p = np.array([0.9, 0.5, 0.5, 0.1])
    assert review_mask(p, threshold=0.3, review_capacity=5).tolist() == [True, True, True, False]
    assert review_mask(p, threshold=0.0, review_capacity=2).tolist() == [True, True, False, False]


@pytest.mark.parametrize("capacity", [None, 40])
def test_reason_values_for_the_flagged_only_give_what_one_full_pass_gives(
    trained: tuple[Any, Any, Path], tables: dict[str, pd.DataFrame], capacity: int | None
) -> None:
    """Every pending claim is in the tables, so the batch keeps reason values for the flagged claims only
    (built again for them, in chunks): the frame must be the one a single full pass gives."""
    model = trained[0]
    pending = pending_claims(tables)
    full = model.features(
        claims=pending,
        lines=tables["claim_lines"],
        context_claims=tables["claims"],
        context_lines=tables["claim_lines"],
    )
    threshold = float(np.quantile(model.predict_proba(full.X), 0.7))
    review = review_mask(model.predict_proba(full.X), threshold=threshold, review_capacity=capacity)
    expected = model.score(full, review=review, explain="flagged").reset_index()
    expected = expected.iloc[np.argsort(-expected["p_denial"].to_numpy(), kind="stable")].reset_index(drop=True)
    scored = score_claims(
        model,
        claims=pending,
        tables=tables,
        threshold=threshold,
        review_capacity=capacity,
        chunk_claims=97,
        threads=2,  # chunks built side by side, joined in order
    )
    assert (scored["decision"] == "review").sum() == review.sum() > 20
    pd.testing.assert_frame_equal(scored, expected[list(scored.columns)])


@pytest.mark.parametrize(("chunk_claims", "threads"), [(None, 1), (97, 1), (97, 3)])
def test_heads_scored_chunk_by_chunk_are_the_heads_of_the_whole_matrix(
    trained: tuple[Any, Any, Path], tables: dict[str, pd.DataFrame], chunk_claims: int | None, threads: int
) -> None:
    """A batch scores each chunk as soon as its matrix is filled, the next chunks still being built: the same
    matrix and the same scores, to the bit, as both heads on the whole matrix."""
    model = trained[0]
    pending = pending_claims(tables)
    assert len(pending) > 3 * 97  # several chunks, the last one short
    kwargs: dict[str, Any] = {
        "claims": pending,
        "lines": tables["claim_lines"],
        "context_claims": tables["claims"],
        "context_lines": tables["claim_lines"],
    }
    whole = model.features(**kwargs, reasons=False)
    fs, p, categories = model.features_and_heads(**kwargs, chunk_claims=chunk_claims, threads=threads)
    np.testing.assert_array_equal(fs.X, whole.X)
    assert fs.claim_ids.equals(whole.claim_ids)
    np.testing.assert_array_equal(p, model.predict_proba(whole.X))
    np.testing.assert_array_equal(categories, model.predict_categories(whole.X))
    assert len(np.unique(p)) > len(p) // 2  # real scores, not a constant filled in
