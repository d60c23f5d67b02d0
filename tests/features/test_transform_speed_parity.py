"""Scoring one claim is the same function as scoring a million: the fast routes change no bit.

`DenialFeatureBuilder.transform` reads each input column once into arrays and switches a few primitives by
input size (id lookups, key encoding, history searches, diagnosis picking, the shrinkage recursion row by
row). These tests pin that down on the same inputs: one claim at a time (the serving call, each claim its
own context) against one batch call, every size-dependent route forced both ways, request-shaped frames
against the typed tables, and the explanation values against the frames they replace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import features.columns as columns
import features.history as history
import features.history_index as history_index
from features.contract.validation import load_validated
from features.denial_context import FeatureSet
from models.denial_risk import DenialRiskModel

pytestmark = pytest.mark.slow  # the session's trained model and world

Tables = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def tables(small_world: Path) -> Tables:
    return load_validated(small_world, max_reject_rate=0.0).tables


@pytest.fixture(scope="module")
def model(trained: tuple[Any, Any, Path]) -> DenialRiskModel:
    model = trained[0]
    assert isinstance(model, DenialRiskModel)
    return model


@pytest.fixture(scope="module")
def sample(tables: Tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """~90 claims of distinct patients (so none is another's duplicate partner), with the long claims,
    replacements and authorised claims a random draw might miss, and their lines."""
    claims, lines = tables["claims"], tables["claim_lines"]
    n_lines = lines.groupby("claim_id").size()
    rng = np.random.default_rng(5)
    longest = claims[claims["claim_id"].isin(n_lines.nlargest(10).index)]
    replacements = claims[claims["frequency_code"].ne("1")].head(5)
    authorised = claims[claims["prior_auth_number"].notna()].head(5)
    no_rendering = claims[claims["rendering_npi"].isna()].head(5)
    drawn = claims.iloc[rng.choice(len(claims), 80, replace=False)]
    picked = pd.concat([longest, replacements, authorised, no_rendering, drawn]).drop_duplicates("claim_id")
    picked = picked.drop_duplicates("patient_id").reset_index(drop=True)
    assert len(picked) > 70 and n_lines.reindex(picked["claim_id"]).max() >= 4
    return picked, lines[lines["claim_id"].isin(picked["claim_id"])]


def one_by_one(model: DenialRiskModel, claims: pd.DataFrame, lines: pd.DataFrame) -> Iterator[FeatureSet]:
    """The serving call: one claim, its own lines, itself as the only context."""
    by_claim = dict(tuple(lines.groupby("claim_id", sort=False)))
    for i in range(len(claims)):
        claim = claims.iloc[[i]].reset_index(drop=True)
        own = by_claim.get(claim["claim_id"].iloc[0], lines.iloc[:0])
        yield model.builder_.transform(claims=claim, lines=own, context_claims=claim, context_lines=own)


def texts(frame: pd.DataFrame) -> list[list[Any]]:
    """Reason strings, None where a row has fewer reasons (whatever dtype pandas chose for the column)."""
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


def test_one_claim_at_a_time_equals_one_batch(
    model: DenialRiskModel, sample: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    claims, lines = sample
    batch = model.builder_.transform(claims=claims, lines=lines)  # context: the sample itself
    singles = list(one_by_one(model, claims, lines))
    np.testing.assert_array_equal(np.vstack([fs.X for fs in singles]), batch.X)  # NaN == NaN here
    assert [fs.claim_ids[0] for fs in singles] == list(batch.claim_ids)
    batch_reasons = texts(model.explain(batch))
    for i, fs in enumerate(singles):
        assert texts(model.explain(fs)) == [batch_reasons[i]]
        assert _same_records(fs.records(), batch.records(np.array([i])))
    assert any(r[0] is not None for r in batch_reasons)


def _force_routes(mp: pytest.MonkeyPatch, *, small: bool) -> None:
    """Every size switch one way: per-value Python everywhere, or vectorised kernels (and sorted,
    threaded history searches) even for a single value."""
    huge = 10**9
    mp.setattr(columns, "SMALL_INPUT", huge if small else 0)
    for module in (history, history_index):  # both read the history's size switches
        mp.setattr(module, "SMALL_QUERIES", huge if small else 0)
        mp.setattr(module, "SORT_QUERIES_ABOVE", huge if small else 1)
    mp.setattr(history, "_ROW_BY_ROW_QUERIES", huge if small else 0)


@pytest.mark.parametrize("context", ["itself", "sent_claims"])
def test_small_and_large_routes_agree(
    model: DenialRiskModel, tables: Tables, sample: tuple[pd.DataFrame, pd.DataFrame], context: str
) -> None:
    claims, lines = sample
    if context == "itself":
        kwargs: dict[str, Any] = {"claims": claims, "lines": lines}
    else:  # the general path: a context missing some scored claims, whose lines then come from `lines`
        sent = tables["claims"].iloc[: len(tables["claims"]) // 2]
        kwargs = {
            "claims": claims,
            "lines": lines,
            "context_claims": sent,
            "context_lines": tables["claim_lines"][tables["claim_lines"]["claim_id"].isin(sent["claim_id"])],
        }
    results = []
    for small in (True, False, None):
        with pytest.MonkeyPatch.context() as mp:
            if small is not None:
                _force_routes(mp, small=small)
            fs = model.builder_.transform(**kwargs)
            results.append((fs, texts(model.explain(fs)), model.predict_proba(fs.X)))
    (first, first_reasons, first_p), *others = results
    for fs, reasons, p in others:
        np.testing.assert_array_equal(fs.X, first.X)
        assert _same_records(fs.records(), first.records())
        assert reasons == first_reasons
        np.testing.assert_array_equal(p, first_p)
    # one claim alone through the large routes, too
    claim = claims.iloc[[0]].reset_index(drop=True)
    own = lines[lines["claim_id"] == claim["claim_id"].iloc[0]]
    alone = model.builder_.transform(claims=claim, lines=own, context_claims=claim, context_lines=own)
    with pytest.MonkeyPatch.context() as mp:
        _force_routes(mp, small=False)
        forced = model.builder_.transform(claims=claim, lines=own, context_claims=claim, context_lines=own)
    np.testing.assert_array_equal(forced.X, alone.X)


def _as_request(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame a JSON request becomes: plain Python values, ISO date strings, inferred dtypes."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                record[key] = value.strftime("%Y-%m-%d")
            elif isinstance(value, np.generic):
                record[key] = value.item()
    return pd.DataFrame(records)


def test_request_shaped_frames_give_the_same_features(
    model: DenialRiskModel, sample: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    claims, lines = sample
    for i, typed in zip(range(25), one_by_one(model, claims, lines), strict=False):
        claim = _as_request(claims.iloc[[i]])
        own = _as_request(lines[lines["claim_id"] == claims["claim_id"].iloc[i]])
        fs = model.builder_.transform(claims=claim, lines=own, context_claims=claim, context_lines=own)
        np.testing.assert_array_equal(fs.X, typed.X)
        assert texts(model.explain(fs)) == texts(model.explain(typed))


def _same(a: Any, b: Any) -> bool:
    missing_a = a is None or a is pd.NA or (isinstance(a, float) and np.isnan(a))
    missing_b = b is None or b is pd.NA or (isinstance(b, float) and np.isnan(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b and type(a) is type(b))


def _same_records(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_records_hold_what_the_frames_hold(model: DenialRiskModel, sample: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Explanations read `records()` instead of two frames: same keys, same Python values."""
    claims, lines = sample
    fs = model.builder_.transform(claims=claims, lines=lines)
    rows = np.arange(0, len(claims), 3)
    frames = [
        {**f, **c}
        for f, c in zip(
            fs.frame().iloc[rows].to_dict("records"), fs.context_frame(rows).to_dict("records"), strict=True
        )
    ]
    records = fs.records(rows)
    for expected, got in zip(frames, records, strict=True):
        assert set(expected) == set(got)
        bad = {k: (expected[k], got[k]) for k in expected if not _same(expected[k], got[k])}
        assert not bad
