"""Features built a chunk of claims at a time are the features built all at once.

Training and batch scoring build features in chunks (`chunk_claims`) so that only one chunk's line-level
arrays are alive at once. Each chunk asks the same history and the same duplicate index; its line pointers
move past the lines of the chunks before it. Nothing a model or a reason reads may differ by one bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from features.denial_context import FeatureSet
from features.denial_feature_defs import FEATURE_NAMES
from models.denial_risk import DenialRiskModel
from training.denial_job import build_dataset

pytestmark = pytest.mark.slow  # the 30k-claim session world


def assert_same_features(chunked: FeatureSet, whole: FeatureSet) -> None:
    """Same matrix, same claims, and the same value behind every name a reason reads. The line arrays may be
    in another order (each chunk sorts its own lines by claim id); the line each pointer names may not."""
    np.testing.assert_array_equal(chunked.X, whole.X)  # NaN == NaN here
    assert chunked.X.dtype == whole.X.dtype
    assert chunked.claim_ids.equals(whole.claim_ids)
    assert chunked.context.keys() == whole.context.keys() and chunked.pointers.keys() == whole.pointers.keys()
    assert chunked.lines.keys() == whole.lines.keys()
    assert all(len(chunked.lines[k]) == len(whole.lines[k]) for k in whole.lines)
    pd.testing.assert_frame_equal(chunked.context_frame(), whole.context_frame())


def texts(frame: pd.DataFrame) -> list[list[Any]]:
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def test_the_training_set_built_in_chunks_is_the_one_built_at_once(
    small_world: Path, trained: tuple[Any, Any, Path]
) -> None:
    whole = build_dataset(small_world, options=RunOptions(max_reject_rate=0.0, chunk_claims=None), reasons=True)
    options = RunOptions(max_reject_rate=0.0, chunk_claims=1_733, feature_threads=2)  # two chunks side by side
    chunked = build_dataset(small_world, options=options, reasons=True)
    assert len(whole.labels) > 5 * 1_733  # several chunks, the last one short
    assert_same_features(chunked.features, whole.features)
    pd.testing.assert_frame_equal(chunked.labels, whole.labels)
    model = trained[0]
    assert isinstance(model, DenialRiskModel)
    np.testing.assert_array_equal(model.predict_proba(chunked.features.X), model.predict_proba(whole.features.X))


@pytest.mark.parametrize("context", ["itself", "sent_claims"])
def test_scoring_in_chunks_equals_scoring_at_once(
    small_world: Path, trained: tuple[Any, Any, Path], context: str
) -> None:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    model = trained[0]
    assert isinstance(model, DenialRiskModel)
    claims = tables["claims"].sample(frac=0.5, random_state=3).reset_index(drop=True)  # not in time order
    if context == "itself":  # the bench's batch: the claims are their own context
        kwargs: dict[str, Any] = {"claims": claims, "lines": tables["claim_lines"]}
    else:  # a context missing some scored claims: their lines come from `lines`
        sent = tables["claims"].iloc[: len(tables["claims"]) // 2]
        kwargs = {
            "claims": claims,
            "lines": tables["claim_lines"],
            "context_claims": sent,
            "context_lines": tables["claim_lines"][tables["claim_lines"]["claim_id"].isin(sent["claim_id"])],
        }
    at_once = model.features(**kwargs)
    in_chunks = model.features(**kwargs, chunk_claims=2_000)
    assert_same_features(in_chunks, at_once)
    side_by_side = model.features(**kwargs, chunk_claims=1_000, threads=3)  # chunks on threads, joined in order
    assert_same_features(side_by_side, at_once)
    assert any((p >= 0).any() for p in at_once.pointers.values())  # lines are named at all
    rows = np.flatnonzero(model.predict_proba(at_once.X) >= model.threshold_for())[::5]
    assert len(rows) > 50
    assert texts(model.explain(in_chunks, rows=rows)) == texts(model.explain(at_once, rows=rows))
    assert texts(model.explain(side_by_side, rows=rows)) == texts(model.explain(at_once, rows=rows))
    # the training set's lean build (no reason values) gives the same matrix
    lean = model.builder_.transform(**kwargs, chunk_claims=2_000, threads=2, reasons=False)
    np.testing.assert_array_equal(lean.X, at_once.X)
    assert not lean.context and not lean.lines and not lean.pointers
    assert (at_once.X[:, list(at_once.frame().columns).index("duplicate_prior")] > 0).any()  # duplicates are asked


def test_a_chunked_build_says_how_far_along_it_is(small_world: Path) -> None:
    """Each stage of the training set, then the claims done after every chunk, up to all of them."""
    said: list[tuple[str, int, int]] = []
    ds = build_dataset(
        small_world,
        options=RunOptions(max_reject_rate=0.0, chunk_claims=10_000, feature_threads=2),  # chunks of 5,000
        progress=lambda stage, done=0, total=0: said.append((stage, done, total)),
    )
    n = len(ds.labels)
    stages = list(dict.fromkeys(stage for stage, _, _ in said))
    assert stages == ["reading and validating the tables", "labels", "point-in-time history", "features"]
    steps = [done for stage, done, total in said if stage == "features" and total == n]
    assert steps == [0, *range(5_000, n, 5_000), n]


@pytest.mark.parametrize("chunk_claims", [None, 2_000])
def test_claims_taken_by_position_are_the_claims_copied_out(
    small_world: Path, trained: tuple[Any, Any, Path], chunk_claims: int | None
) -> None:
    """Training takes its claims by position in the table of claims sent (`rows`) instead of a sorted copy: the
    same features, reason values and duplicate context as the copy scored with every claim sent as context."""
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    model = trained[0]
    assert isinstance(model, DenialRiskModel)
    sent, lines = tables["claims"], tables["claim_lines"]
    rows = np.random.default_rng(4).permutation(len(sent))[: len(sent) * 2 // 3]  # not in table order
    copied = model.builder_.transform(
        claims=sent.iloc[rows].reset_index(drop=True),
        lines=lines,
        context_claims=sent,
        context_lines=lines,
        chunk_claims=chunk_claims,
    )
    by_position = model.builder_.transform(claims=sent, rows=rows, lines=lines, chunk_claims=chunk_claims)
    assert_same_features(by_position, copied)
    assert list(by_position.claim_ids) == sent["claim_id"].iloc[rows].tolist()
    # duplicates are asked of every claim sent, the third left out of the rows among them
    dup = list(FEATURE_NAMES).index("duplicate_prior")
    assert (by_position.X[:, dup] > 0).any()
    scored_alone = model.builder_.transform(claims=sent.iloc[rows].reset_index(drop=True), lines=lines)
    assert not np.array_equal(scored_alone.X[:, dup], by_position.X[:, dup])


def test_positions_come_with_their_own_context(small_world: Path, trained: tuple[Any, Any, Path]) -> None:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    model = trained[0]
    sent = tables["claims"]
    with pytest.raises(ValueError, match="give no context_claims"):
        model.builder_.transform(
            claims=sent, rows=np.arange(10), lines=tables["claim_lines"], context_claims=sent.iloc[:100]
        )


def test_parts_joined_over_a_stacked_matrix_keep_it() -> None:
    parts = [
        FeatureSet(
            X=np.full((n, 2), float(n), dtype=np.float32),
            context={},
            claim_ids=pd.Index([f"C{n}{i}" for i in range(n)]),
        )
        for n in (2, 3)
    ]
    stacked = np.concatenate([p.X for p in parts])
    joined = FeatureSet.concat(parts, X=stacked)
    assert joined.X is stacked and list(joined.claim_ids) == ["C20", "C21", "C30", "C31", "C32"]
    with pytest.raises(ValueError, match="X has 4 rows, the parts 5"):
        FeatureSet.concat(parts, X=stacked[:4])
