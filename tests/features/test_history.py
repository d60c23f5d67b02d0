"""Point-in-time history aggregates against a slow, literal reference; freeze/state; leakage; unseen keys."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import features.history as history
import features.history_index as history_index
from features.declarations import AggregateSpec
from features.history import GLOBAL_PRIOR_RATE, GLOBAL_PRIOR_WEIGHT, HistoryAggregates

PAYERS = ["A", "B", None]
CODES = ["x", "y", "z", None]
Q_PAYERS = [*PAYERS, "NEW"]  # "NEW" never occurs in events
Q_CODES = [*CODES, "w"]
SPECS = (
    AggregateSpec("pc", ((), ("payer",), ("payer", "code")), "y", "payer x code"),
    AggregateSpec("code", (("code",),), "y2", "implicit global root; a float target with nulls"),
    AggregateSpec("glob", ((),), "y", "global only"),
)
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

event_rows = st.lists(
    st.tuples(
        st.sampled_from(PAYERS),
        st.sampled_from(CODES),
        st.integers(0, 12),
        st.sampled_from([0.0, 1.0]),
        st.sampled_from([0.0, 0.25, 1.0, None]),
    ),
    max_size=40,
)
query_rows = st.lists(
    st.tuples(st.sampled_from(Q_PAYERS), st.sampled_from(Q_CODES), st.integers(-2, 16)), min_size=1, max_size=15
)
params = st.tuples(st.integers(1, 6), st.sampled_from([0.5, 3.0, 20.0]))


def events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payer": pd.array([r[0] for r in rows], dtype="str"),
            "code": pd.array([r[1] for r in rows], dtype="str"),
            "event_day": np.array([r[2] for r in rows], dtype=np.int64),
            "y": np.array([r[3] for r in rows], dtype=np.float64),
            "y2": np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
        }
    )


def queries_frame(rows: list[tuple[Any, ...]]) -> tuple[pd.DataFrame, np.ndarray]:
    q = pd.DataFrame(
        {"payer": pd.array([r[0] for r in rows], dtype="str"), "code": pd.array([r[1] for r in rows], dtype="str")},
        index=pd.Index([f"q{i}" for i in range(len(rows))]),
    )
    return q, np.array([r[2] for r in rows], dtype=np.int64)


def reference(
    events: list[tuple[Any, ...]],
    queries: list[tuple[Any, ...]],
    specs: tuple[AggregateSpec, ...],
    window: int,
    m: float,
) -> pd.DataFrame:
    """The definition, literally: loop over queries, filter events by key and day, apply the recursion."""
    column = {"payer": 0, "code": 1}
    target = {"y": 3, "y2": 4}
    out: dict[str, list[float]] = {}
    for spec in specs:
        cols = {s: [] for s in ("rate", "n", "rate_recent", "n_recent")}
        for q in queries:
            t = q[2]
            rates = []
            for lo in (None, t - window):
                levels = [lvl for lvl in spec.levels if lvl != ()]
                rate = n = 0.0
                for depth, level in enumerate([(), *levels]):
                    n = d = 0.0
                    for e in events:
                        value = e[target[spec.target]]
                        if value is None or (isinstance(value, float) and np.isnan(value)):
                            continue
                        if all(e[column[c]] == q[column[c]] for c in level) and e[2] < t and (lo is None or e[2] >= lo):
                            n += 1
                            d += value
                    if depth == 0:
                        rate = (d + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (n + GLOBAL_PRIOR_WEIGHT)
                    else:
                        rate = (d + m * rate) / (n + m)
                rates.append((rate, n))
            cols["rate"].append(rates[0][0])
            cols["n"].append(rates[0][1])
            cols["rate_recent"].append(rates[1][0])
            cols["n_recent"].append(rates[1][1])
        for s, v in cols.items():
            out[f"{spec.name}_{s}"] = v
    return pd.DataFrame(out, index=pd.Index([f"q{i}" for i in range(len(queries))]))


def fitted(events: list[tuple[Any, ...]], window: int = 3, m: float = 20.0) -> HistoryAggregates:
    return HistoryAggregates(specs=SPECS, window_days=window, prior_strength=m).fit(events_frame(events))


@HYP
@given(events=event_rows, queries=query_rows, p=params)
def test_transform_matches_literal_reference(
    events: list[tuple[Any, ...]], queries: list[tuple[Any, ...]], p: tuple[int, float]
) -> None:
    window, m = p
    q, days = queries_frame(queries)
    got = fitted(events, window, m).transform(q, query_day=days)
    assert list(got.columns) == HistoryAggregates(specs=SPECS).feature_names
    pd.testing.assert_frame_equal(got, reference(events, queries, SPECS, window, m), rtol=1e-9, atol=1e-9)


@HYP
@given(events=event_rows, queries=query_rows)
def test_densified_keys_give_the_same_answers(events: list[tuple[Any, ...]], queries: list[tuple[Any, ...]]) -> None:
    q, days = queries_frame(queries)
    plain = fitted(events).transform(q, query_day=days)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(history_index, "_MAX_KEY_SPAN", 1)  # force renumbering of every multi-value key
        dense = fitted(events)
    if len({e[0] for e in events}) > 1:
        assert dense.tables_[("payer",)].dense and dense.tables_[("payer", "code")].dense
    pd.testing.assert_frame_equal(dense.transform(q, query_day=days), plain, check_exact=True)
    pd.testing.assert_frame_equal(state_round_trip(dense).transform(q, query_day=days), plain, check_exact=True)


def state_round_trip(h: HistoryAggregates) -> HistoryAggregates:
    buf = io.BytesIO()
    np.savez(buf, **h.to_state())  # type: ignore[arg-type]
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        return HistoryAggregates.from_state(dict(z))


@HYP
@given(events=event_rows, queries=query_rows, as_of=st.integers(0, 16), window=st.integers(1, 6))
def test_freeze_answers_as_of_snapshot_identically(
    events: list[tuple[Any, ...]], queries: list[tuple[Any, ...]], as_of: int, window: int
) -> None:
    q, days = queries_frame(queries)
    live = fitted(events, window)
    frozen = fitted(events, window).freeze(as_of_day=as_of)
    assert frozen.as_of_day_ == as_of
    at_snapshot = live.transform(q, query_day=np.full(len(days), as_of))
    # any query day, before or after the snapshot: the unfrozen answer at the snapshot day, bit for bit
    for query_days in (days, days - 5, days + 400):
        pd.testing.assert_frame_equal(frozen.transform(q, query_day=query_days), at_snapshot, check_exact=True)
    # saved and loaded (no pickle): the same answers, frozen or not
    pd.testing.assert_frame_equal(state_round_trip(frozen).transform(q, query_day=days), at_snapshot, check_exact=True)
    pd.testing.assert_frame_equal(
        state_round_trip(live).transform(q, query_day=days), live.transform(q, query_day=days), check_exact=True
    )
    # freezing again later keeps the guarantee; going back is refused
    refrozen = frozen.freeze(as_of_day=as_of + 2)
    pd.testing.assert_frame_equal(
        refrozen.transform(q, query_day=days),
        live.transform(q, query_day=np.full(len(days), as_of + 2)),
        check_exact=True,
    )
    with pytest.raises(ValueError, match="cannot go back"):
        refrozen.freeze(as_of_day=as_of)


def test_freeze_compacts_old_history() -> None:
    rng = np.random.default_rng(7)
    rows = [(PAYERS[i % 2], CODES[i % 3], int(rng.integers(0, 400)), 1.0, 0.0) for i in range(2000)]
    h = fitted(rows, window=30)
    before = {lv: len(t.comp) for lv, t in h.tables_.items()}
    h.freeze(as_of_day=400)
    after = {lv: len(t.comp) for lv, t in h.tables_.items()}
    assert after[()] == 31  # one pseudo-day + 30 days in the window
    assert all(after[lv] < before[lv] for lv in before)


@HYP
@given(events=event_rows, queries=query_rows, data=st.data())
def test_no_leakage_from_outcomes_on_or_after_the_query_day(
    events: list[tuple[Any, ...]], queries: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    q, days = queries_frame(queries)
    base = fitted(events).transform(q, query_day=days)
    for i, t in enumerate(days):
        changed = []
        for e in events:
            if e[2] < t:
                changed.append(e)
                continue
            action = data.draw(st.sampled_from(["drop", "flip", "rekey", "later"]))
            if action == "flip":
                changed.append((e[0], e[1], e[2], 1.0 - e[3], None if e[4] is None else 1.0 - e[4]))
            elif action == "rekey":
                changed.append((q.iloc[i]["payer"], "brand-new", e[2], e[3], e[4]))
            elif action == "later":
                changed.append((*e[:2], e[2] + data.draw(st.integers(0, 5)), *e[3:]))
        got = fitted(changed).transform(q.iloc[[i]], query_day=days[[i]])
        pd.testing.assert_frame_equal(got, base.iloc[[i]], check_exact=True)


def test_unseen_and_null_keys_inherit_their_parent() -> None:
    rows = [("A", "x", 1, 1.0, 1.0), ("A", "x", 2, 0.0, 1.0), ("A", None, 3, 1.0, 0.0), ("B", "y", 1, 0.0, 0.0)]
    h = fitted(rows, window=90, m=20.0)
    q = pd.DataFrame({"payer": ["A", "A", "A", "ZZ", None], "code": ["x", "never", None, "x", None]})
    out = h.transform(q, query_day=np.full(5, 10))
    glob = (2 + 0.1) / (4 + 1)
    payer_a = (2 + 20 * glob) / (3 + 20)
    assert out.loc[0, "pc_n"] == 2
    assert out.loc[1, "pc_n"] == 0 and out.loc[1, "pc_rate"] == pytest.approx(payer_a, abs=1e-12)
    assert out.loc[2, "pc_n"] == 1  # null code is its own level: the one ("A", None) outcome
    assert out.loc[2, "pc_rate"] == pytest.approx((1 + 20 * payer_a) / (1 + 20), abs=1e-12)
    assert out.loc[3, "pc_n"] == 0 and out.loc[3, "pc_rate"] == pytest.approx(glob, abs=1e-12)  # unseen payer
    assert out.loc[4, "pc_n"] == 0 and out.loc[4, "pc_rate"] == pytest.approx(glob, abs=1e-12)  # null never seen
    # an empty history is fine too: everything is the global pseudo-prior
    empty = fitted([]).transform(q, query_day=np.zeros(5, dtype=np.int64))
    assert (empty.filter(like="_rate") == GLOBAL_PRIOR_RATE).all().all()
    assert (empty.filter(like="_n") == 0).all().all()


def test_datetime_days_and_non_string_keys_are_accepted() -> None:
    rows = [("A", "x", 1, 1.0, 1.0), ("B", "y", 5, 0.0, 0.0), ("A", "x", 8, 0.0, 1.0)]
    ev = events_frame(rows)
    by_date = ev.assign(event_day=pd.Timestamp("1970-01-01") + pd.to_timedelta(ev["event_day"], unit="D"))
    q, days = queries_frame([("A", "x", 6), ("B", "y", 9), ("A", None, 2)])
    dates = (pd.Timestamp("1970-01-01") + pd.to_timedelta(days, unit="D")).to_numpy()
    expected = HistoryAggregates(specs=SPECS, window_days=3).fit(ev).transform(q, query_day=days)
    got = HistoryAggregates(specs=SPECS, window_days=3).fit(by_date).transform(q, query_day=dates)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    obj = q.astype(object)  # object-dtype keys (a different string storage) give the same answers
    pd.testing.assert_frame_equal(
        HistoryAggregates(specs=SPECS, window_days=3).fit(ev).transform(obj, query_day=days), expected
    )


def test_deterministic_and_order_free() -> None:
    rng = np.random.default_rng(3)
    rows = [
        (PAYERS[rng.integers(3)], CODES[rng.integers(4)], int(rng.integers(0, 30)), float(rng.integers(2)), 1.0)
        for _ in range(500)
    ]
    q, days = queries_frame([(Q_PAYERS[i % 4], Q_CODES[i % 5], i % 35) for i in range(200)])
    a = fitted(rows).transform(q, query_day=days)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    pd.testing.assert_frame_equal(fitted(shuffled).transform(q, query_day=days), a, check_exact=True)


def test_bad_inputs_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="global level"):
        AggregateSpec("bad", (("payer",), ()), "y")
    with pytest.raises(ValueError, match="duplicate spec names"):
        HistoryAggregates(specs=[SPECS[0], SPECS[0]]).fit(events_frame([]))
    with pytest.raises(RuntimeError, match="not fitted"):
        HistoryAggregates(specs=SPECS).transform(pd.DataFrame({"payer": ["A"], "code": ["x"]}), query_day=[1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        HistoryAggregates(specs=SPECS).fit(events_frame([("A", "x", 1, 2.0, 1.0)]))
    with pytest.raises(ValueError, match="days must be in"):
        HistoryAggregates(specs=SPECS).fit(events_frame([("A", "x", -1, 1.0, 1.0)]))
    h = fitted([("A", "x", 1, 1.0, 1.0)])
    with pytest.raises(ValueError, match="shape"):
        h.transform(pd.DataFrame({"payer": ["A"], "code": ["x"]}), query_day=np.array([1, 2]))


def test_sorted_search_path_matches_the_direct_one() -> None:
    """Big inputs sort queries by (key, day) and search levels on threads; small ones search directly."""
    rng = np.random.default_rng(11)
    rows = [
        (PAYERS[rng.integers(3)], CODES[rng.integers(4)], int(rng.integers(0, 60)), float(rng.integers(2)), 0.5)
        for _ in range(3000)
    ]
    q, days = queries_frame(
        [(Q_PAYERS[rng.integers(4)], Q_CODES[rng.integers(5)], int(rng.integers(-5, 70))) for _ in range(3000)]
    )
    direct = fitted(rows, window=7).transform(q, query_day=days)
    with pytest.MonkeyPatch.context() as mp:
        for module in (history, history_index):  # threads in the one, sorted searches in the other
            mp.setattr(module, "SORT_QUERIES_ABOVE", 1)
        sorted_path = fitted(rows, window=7).transform(q, query_day=days)
    pd.testing.assert_frame_equal(sorted_path, direct, check_exact=True)
    assert direct["pc_n"].max() > 0 and direct["pc_n_recent"].max() > 0


def test_cumulative_sums_are_int32_when_whole_and_float64_otherwise() -> None:
    whole = history_index.cumulative(np.array([1.0, 0.0, 3.0]))
    assert whole.dtype == np.int32 and whole.tolist() == [0, 1, 1, 4]
    assert history_index.cumulative(np.array([1.0, 0.25])).dtype == np.float64
    assert history_index.cumulative(np.array([2.0**30, 2.0**30])).dtype == np.float64  # 2**31 would wrap
    assert history_index.cumulative(np.array([], dtype=np.float64)).tolist() == [0]


@HYP
@given(events=event_rows, queries=query_rows, p=params)
def test_int32_sums_answer_exactly_as_float64_sums(
    events: list[tuple[Any, ...]], queries: list[tuple[Any, ...]], p: tuple[int, float]
) -> None:
    """The whole-number sums are kept as int32; every answer is the one float64 sums give, bit for bit."""
    window, m = p
    q, days = queries_frame(queries)
    compact = fitted(events, window, m)
    wide = fitted(events, window, m)
    for table in wide.tables_.values():
        table.cum_n = {t: v.astype(np.float64) for t, v in table.cum_n.items()}
        table.cum_d = {t: v.astype(np.float64) for t, v in table.cum_d.items()}
    assert {v.dtype for t in compact.tables_.values() for v in t.cum_n.values()} == {np.dtype(np.int32)}
    expected = wide.transform(q, query_day=days)
    pd.testing.assert_frame_equal(compact.transform(q, query_day=days), expected, check_exact=True)
    pd.testing.assert_frame_equal(state_round_trip(compact).transform(q, query_day=days), expected, check_exact=True)
    pd.testing.assert_frame_equal(state_round_trip(wide).transform(q, query_day=days), expected, check_exact=True)
    many = np.repeat(np.arange(len(days)), 40)  # enough rows for the array route
    q_many, days_many = q.iloc[many].reset_index(drop=True), days[many]
    pd.testing.assert_frame_equal(
        compact.transform(q_many, query_day=days_many), wide.transform(q_many, query_day=days_many), check_exact=True
    )


@pytest.mark.parametrize("n_queries", [40, 3000])  # one thread, sorted search; levels searched on threads
def test_a_frozen_levels_answers_per_key_are_the_searched_answers(n_queries: int) -> None:
    """A frozen snapshot answers a level with few keys from a table of per-key counts, and a level with many keys
    once per distinct key among the queries: the same answers, bit for bit, as the live history at the snapshot
    day, for seen, unseen and null keys, and at any query day."""
    rng = np.random.default_rng(5)
    rows = [
        (PAYERS[rng.integers(3)], CODES[rng.integers(4)], int(rng.integers(0, 60)), float(rng.integers(2)), 0.25)
        for _ in range(2000)
    ]
    q, days = queries_frame(
        [(Q_PAYERS[rng.integers(4)], Q_CODES[rng.integers(5)], int(rng.integers(-5, 70))) for _ in range(n_queries)]
    )
    live = fitted(rows, window=7)
    expected = live.transform(q, query_day=np.full(len(days), 45))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(history_index, "FROZEN_KEYS", 0)  # every level answered per distinct key (40: searched)
        searched = fitted(rows, window=7).freeze(as_of_day=45)
        pd.testing.assert_frame_equal(searched.transform(q, query_day=days), expected, check_exact=True)
        assert all(searched._frozen_answers(level) is None for level in searched.tables_)
    frozen = fitted(rows, window=7).freeze(as_of_day=45)
    pd.testing.assert_frame_equal(frozen.transform(q, query_day=days), expected, check_exact=True)
    assert {level for level in frozen.tables_ if frozen._frozen_answers(level) is not None} == {
        ("payer",),
        ("payer", "code"),
        ("code",),
    }
    assert live._frozen_answers(("payer",)) is None  # a live history's answers depend on each query's day
    # freezing again later: the per-key answers follow the new snapshot day
    pd.testing.assert_frame_equal(
        frozen.freeze(as_of_day=52).transform(q, query_day=days),
        live.transform(q, query_day=np.full(len(days), 52)),
        check_exact=True,
    )
    assert expected["pc_n"].max() > 0 and expected["pc_n_recent"].max() > 0


@pytest.mark.parametrize("frozen_keys", [0, 1 << 16])  # every level per distinct key; small levels kept per key
def test_a_frozen_window_starts_at_each_keys_own_first_entry(frozen_keys: int) -> None:
    """A frozen table holds per key at most one entry before the window (the collapsed past): keys whose first
    outcome is the window's first day, the day before it, or only inside it count their window exactly as the
    live history does at the snapshot day."""
    lo = 45 - 7
    rows = [
        ("A", "x", lo, 1.0, 0.5),  # first outcome on the window's first day
        ("A", "x", lo + 2, 0.0, 0.5),
        ("A", "y", lo - 1, 1.0, 0.5),  # only the day before the window
        ("A", "z", lo - 9, 0.0, 0.5),  # older, then on the first day
        ("A", "z", lo, 1.0, 0.5),
        ("B", "x", lo + 5, 1.0, 0.5),  # only inside the window
        ("B", "y", 3, 1.0, 0.5),
    ]
    q, days = queries_frame([(p, c, 50) for p in Q_PAYERS for c in Q_CODES] * 8)  # 160 queries: the array route
    expected = fitted(rows, window=7).transform(q, query_day=np.full(len(days), 45))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(history_index, "FROZEN_KEYS", frozen_keys)
        frozen = fitted(rows, window=7).freeze(as_of_day=45)
        pd.testing.assert_frame_equal(frozen.transform(q, query_day=days), expected, check_exact=True)
    assert expected.loc["q0", "pc_n_recent"] == 2 and expected.loc["q0", "pc_n"] == 2  # A, x


def test_levels_fitted_on_threads_store_the_history_fitted_on_one() -> None:
    rng = np.random.default_rng(5)
    rows = [
        (PAYERS[rng.integers(3)], CODES[rng.integers(4)], int(rng.integers(0, 90)), float(rng.integers(2)), 0.5)
        for _ in range(2000)
    ]
    one = fitted(rows, window=7).to_state()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(history, "SORT_QUERIES_ABOVE", 1)  # the fit's threads start at that many events too
        on_threads = fitted(rows, window=7).to_state()
    assert one.keys() == on_threads.keys()
    for name, value in one.items():
        np.testing.assert_array_equal(np.asarray(on_threads[name]), np.asarray(value), err_msg=name)
