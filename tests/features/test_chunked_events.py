"""The outcome history built a chunk of claims at a time is the history built at once.

Training builds the line outcome events in chunks and keeps their text columns as categoricals, to hold
millions of lines in little memory. The history aggregates must not be able to tell: the same events, the
same fitted state, the same features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.api.types import union_categoricals

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.validation import load_validated
from features.denial_events import builder_tables, outcome_events, union_in_order
from features.denial_feature_defs import CLAIM_SPECS, LINE_SPECS, MODIFIER_HABIT_SPEC
from features.denial_features import DenialFeatureBuilder
from features.history import HistoryAggregates, event_columns
from features.history_index import fit_column

pytestmark = pytest.mark.slow  # the 30k-claim session world

CHUNK = 2_999


@pytest.fixture(scope="module")
def history(small_world: Path) -> dict[str, Any]:
    tables = load_validated(small_world, max_reject_rate=0.0).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    return {"tables": tables, "labels": labels, "codes": codes, "rules": load_payer_rules(data_dir=small_world)}


def _plain(frame: pd.DataFrame, *, by: list[str] | None = None) -> pd.DataFrame:
    """Categoricals back to object columns (a missing value as None), rows in (claim, line) order (`by=[]`: as
    they are)."""
    out = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].where(out[name].notna(), None)
    by = ["claim_id", "line_number"] if by is None else by
    return (out.sort_values(by, kind="stable") if by else out).reset_index(drop=True)


def test_chunked_line_events_are_the_events_built_at_once(history: dict[str, Any]) -> None:
    args = (history["tables"], history["labels"])
    kwargs = {"codes": history["codes"], "rules": history["rules"]}
    whole_lines, whole_claims = outcome_events(*args, **kwargs)
    lines, claims = outcome_events(*args, **kwargs, chunk_claims=CHUNK)
    assert len(history["labels"]) > 5 * CHUNK
    assert sum(isinstance(lines[c].dtype, pd.CategoricalDtype) for c in lines.columns) >= 10  # text is compact
    assert lines.memory_usage(deep=True).sum() < whole_lines.memory_usage(deep=True).sum() / 2
    assert list(lines.columns) == list(whole_lines.columns)
    pd.testing.assert_frame_equal(_plain(lines), _plain(whole_lines))
    assert isinstance(claims["payer_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(_plain(claims, by=["claim_id"]), _plain(whole_claims, by=["claim_id"]))
    # two chunks at a time on threads: the same frames, in the same row order
    lines_2, claims_2 = outcome_events(*args, **kwargs, chunk_claims=CHUNK, threads=2)
    pd.testing.assert_frame_equal(_plain(lines_2, by=[]), _plain(lines, by=[]))
    pd.testing.assert_frame_equal(_plain(claims_2, by=[]), _plain(claims, by=[]))


def test_events_cut_to_the_columns_a_history_reads_fit_the_same_history(history: dict[str, Any]) -> None:
    """The builder keeps only the event columns its histories read (`event_columns`), chunk by chunk."""
    specs = (*LINE_SPECS, MODIFIER_HABIT_SPEC)
    keep = set(event_columns(specs)) | set(event_columns(CLAIM_SPECS))
    args = (history["tables"], history["labels"])
    kwargs: dict[str, Any] = {"codes": history["codes"], "rules": history["rules"], "chunk_claims": CHUNK}
    all_lines, all_claims = outcome_events(*args, **kwargs)
    lines, claims = outcome_events(*args, **kwargs, columns=keep)
    assert set(lines.columns) < set(all_lines.columns) and set(lines.columns) <= keep
    assert "claim_id" not in claims.columns and set(claims.columns) <= keep
    for spec_set, cut, full in ((specs, lines, all_lines), (CLAIM_SPECS, claims, all_claims)):
        a = HistoryAggregates(specs=spec_set).fit(full).to_state()
        b = HistoryAggregates(specs=spec_set).fit(cut).to_state()
        assert a.keys() == b.keys()
        for key, value in a.items():
            np.testing.assert_array_equal(np.asarray(b[key]), np.asarray(value), err_msg=key)


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for name in ("line_aggregates", "claim_aggregates", "auth_evidence", "coverage_evidence", "modifier_evidence"):
        assert a[name].keys() == b[name].keys()
        for key, value in a[name].items():
            np.testing.assert_array_equal(np.asarray(b[name][key]), np.asarray(value), err_msg=f"{name} {key}")


def test_a_builder_fitted_on_chunked_events_has_the_same_state_and_features(history: dict[str, Any]) -> None:
    def fit(chunk: int | None, tables: dict[str, pd.DataFrame] | None = None) -> DenialFeatureBuilder:
        return DenialFeatureBuilder().fit(
            tables=tables or history["tables"],
            labels=history["labels"],
            rules=history["rules"],
            codes=history["codes"],
            chunk_claims=chunk,
        )

    whole, chunked = fit(None), fit(CHUNK)
    _same_state(whole.to_state(), chunked.to_state())
    # what training hands the builder: the claims, lines and the first remits' denial adjustments only
    slim = builder_tables(history["tables"], history["labels"], codes=history["codes"])
    assert set(slim) == {"claims", "claim_lines", "adjustments"}
    assert len(slim["adjustments"]) < len(history["tables"]["adjustments"]) / 5
    _same_state(whole.to_state(), fit(CHUNK, slim).to_state())
    claims = history["tables"]["claims"].sample(3_000, random_state=1).reset_index(drop=True)
    lines = history["tables"]["claim_lines"]
    x_whole = whole.transform(
        claims=claims, lines=lines, context_claims=history["tables"]["claims"], context_lines=lines
    )
    x_chunked = chunked.transform(
        claims=claims, lines=lines, context_claims=history["tables"]["claims"], context_lines=lines
    )
    np.testing.assert_array_equal(x_chunked.X, x_whole.X)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_categorical_of_strings_is_fitted_as_its_strings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.choice(np.array(["b", "a", "Z", "é", "a b", "10", "9", None], dtype=object), 500)
    plain = pd.Series(values, dtype=object)
    # unused and out-of-order categories, as a union of chunks can leave them
    categorical = plain.astype(pd.CategoricalDtype(["zz-unused", "b", "a", "Z", "é", "a b", "10", "9"]))
    codes, vocab = fit_column(plain)
    cat_codes, cat_vocab = fit_column(categorical)
    np.testing.assert_array_equal(cat_codes, codes)
    np.testing.assert_array_equal(cat_vocab, vocab)
    assert "zz-unused" not in set(cat_vocab)


@given(
    parts=st.lists(
        st.lists(st.one_of(st.none(), st.sampled_from(["P1", "P2", "p1", "", "Q-7", "R"])), max_size=12),
        min_size=1,
        max_size=6,
    )
)
def test_union_in_order_is_pandas_union_categoricals(parts: list[list[str | None]]) -> None:
    """Chunks' categoricals joined as pandas joins them: same categories in the same order, same codes, same dtype."""
    cats = [
        pd.Categorical(
            p, categories=pd.Index(pd.unique(pd.Series([v for v in p if v is not None], dtype=object)), dtype=object)
        )
        for p in parts
    ]
    ours, theirs = union_in_order(cats), union_categoricals(cats, ignore_order=True)
    assert ours.dtype == theirs.dtype
    assert ours.categories.dtype == theirs.categories.dtype
    assert list(ours.categories) == list(theirs.categories)
    assert ours.codes.tolist() == theirs.codes.tolist()
    assert ours.codes.dtype == theirs.codes.dtype
