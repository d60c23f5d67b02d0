"""Point-in-time history aggregates: smoothed past denial rates and volumes per key (payer x code, ...).

Why this module exists
- Leakage. A claim's history features may only use outcomes that were known when the claim was sent:
  an outcome counts for a query iff its day (first remit date) is strictly before the query's day (the
  claim's submission date). Same-day outcomes are NOT yet known. The tempting shortcut "sort by date,
  shifted cumulative sum" counts outcomes not yet known (same-day ones), so every query is answered by
  an exact "events of this key with day < t" count.
- One code path. Training asks for every row at its own date; serving asks "as of now" from a frozen
  snapshot saved inside the model. Both go through the same `transform`; `freeze` only compacts the
  stored events in a way that provably leaves every answer at or after the snapshot day bit-identical.

Features per spec (float64): `{name}_rate`, `{name}_n`, `{name}_rate_recent`, `{name}_n_recent`.
- `_n`: outcomes of the finest key with day < t; `_n_recent`: those with t - window_days <= day < t.
- `_rate`: hierarchical shrinkage from the coarsest level to the finest. The root is the point-in-time
  global rate with a tiny pseudo-prior so it exists before any outcome, g = (d + 1 * 0.1) / (n + 1);
  each finer level k then gives r_k = (d_k + m * r_{k-1}) / (n_k + m), m = prior_strength. An unseen
  key has n = 0 and simply inherits its parent's rate. `_rate_recent` is the same recursion on the
  windowed counts (with the windowed global rate at the root).
- Key values are compared as strings; a null is its own "missing" level (never an error).
  Events with a null target are skipped for that target (so one frame can carry several targets).

How it is fast: every count is a difference of two cumulative sums found by binary search in sorted
integer arrays, with no Python loop over rows (`features/history_index.py`). Saving and loading:
`features/history_state.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd

import features.history_index as history_index
from features.chunk_threads import in_chunk_thread
from features.declarations import AggregateSpec
from features.history_index import (
    DAY_SPAN,
    SMALL_QUERIES,
    SORT_QUERIES_ABOVE,
    AnswerColumns,
    KeyAnswers,
    Keys,
    Level,
    LevelTable,
    Positions,
    answer_columns,
    as_days,
    compact_table,
    cumulative,
    distinct_key_answers,
    encode_column,
    fit_column,
    fit_combine,
    key_answers,
    key_count,
    search_level,
    transform_combine,
)
from features.history_state import history_from_state, history_to_state
from features.key_day_order import day_order, unique_entries

__all__ = ["GLOBAL_PRIOR_RATE", "GLOBAL_PRIOR_WEIGHT", "AggregateSpec", "HistoryAggregates", "event_columns"]

GLOBAL_PRIOR_RATE = 0.1  # pseudo-prior of the global (root) rate, so it is defined with no history
GLOBAL_PRIOR_WEIGHT = 1.0  # ... worth one outcome

_THREADS = max(1, min(2, os.cpu_count() or 1))  # levels fitted, and searched in transform, concurrently
# Up to this many queries the counts and the shrinkage recursion run on Python floats, row by row: the
# same IEEE double operations in the same order as the array route, without numpy's per-call overhead on
# each of the many tiny array operations a claim's features need.
_ROW_BY_ROW_QUERIES = 8
_SUFFIXES = ("rate", "n", "rate_recent", "n_recent")


_Number = TypeVar("_Number", float, np.ndarray)


def _root_rate(d: _Number, n: _Number) -> _Number:
    """The global rate with its pseudo-prior (arrays or floats: the one formula for both routes)."""
    return (d + GLOBAL_PRIOR_WEIGHT * GLOBAL_PRIOR_RATE) / (n + GLOBAL_PRIOR_WEIGHT)


def _shrunk_rate(d: _Number, n: _Number, parent: _Number, m: float) -> _Number:
    """A level's rate shrunk towards its parent's with prior strength m."""
    return (d + m * parent) / (n + m)


class _Plan(NamedTuple):
    specs: tuple[AggregateSpec, ...]
    spec_levels: list[tuple[Level, ...]]  # each spec's levels, global root first
    key_columns: list[str]
    uses: dict[Level, int]  # how many specs read each level


def event_columns(specs: Sequence[AggregateSpec], *, day_column: str = "event_day") -> list[str]:
    """The event columns a history of `specs` reads: its key columns, its targets and the day. An events frame cut
    to these (`features.denial_events.outcome_events(columns=...)`) fits the same history in less memory."""
    keys = sorted({c for spec in specs for level in spec.levels for c in level})
    return [*keys, *sorted({s.target for s in specs} - set(keys)), day_column]


def _with_root(levels: tuple[Level, ...]) -> tuple[Level, ...]:
    """A spec's levels with the global root first (the recursion always starts from the global rate)."""
    return levels if levels[:1] == ((),) else ((), *levels)


def _target_values(events: pd.DataFrame, target: str) -> np.ndarray:
    s = events[target]
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        raise TypeError(f"target {target!r} must be numeric or boolean, got {s.dtype}")
    y = s.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(y)
    if ((y[ok] < 0) | (y[ok] > 1)).any():
        raise ValueError(f"target {target!r} must be in [0, 1] (or null to skip the row)")
    return y


class HistoryAggregates:
    """Point-in-time smoothed rates and volumes per key hierarchy; one object for training and serving.

    `fit(events)` stores the outcome history; `transform(queries, query_day=...)` answers each query from
    outcomes with day < its query day; `freeze(as_of_day=...)` compacts the history for serving (in place)
    after which every answer is "as of the snapshot day"."""

    def __init__(self, *, specs: Sequence[AggregateSpec], window_days: int = 90, prior_strength: float = 20.0):
        self.specs = specs
        self.window_days = window_days
        self.prior_strength = prior_strength
        self._lookups: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        self._plan_cache: tuple[tuple[Any, ...], _Plan] | None = None
        # level -> (its comp array, the snapshot day, its per-key answers or None when it has too many keys)
        self._key_answers: dict[Level, tuple[np.ndarray, int, KeyAnswers | None]] = {}

    # ----------------------------------------------------------------------------------------- params
    def _check_params(self) -> tuple[AggregateSpec, ...]:
        specs = tuple(self.specs)
        if not specs:
            raise ValueError("HistoryAggregates needs at least one AggregateSpec")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate spec names: {sorted({n for n in names if names.count(n) > 1})}")
        if int(self.window_days) != self.window_days or not 0 < self.window_days < DAY_SPAN:
            raise ValueError(f"window_days must be a positive whole number of days, got {self.window_days}")
        if not (np.isfinite(self.prior_strength) and self.prior_strength > 0):
            raise ValueError(f"prior_strength must be > 0, got {self.prior_strength}")
        return specs

    @property
    def feature_names(self) -> list[str]:
        return [f"{spec.name}_{suffix}" for spec in self.specs for suffix in _SUFFIXES]

    def _levels_and_targets(self, specs: Sequence[AggregateSpec]) -> dict[Level, list[str]]:
        """Every level any spec needs (the global level always), with the targets stored for it."""
        out: dict[Level, list[str]] = {}
        for spec in specs:
            for level in _with_root(spec.levels):
                out.setdefault(level, [])
                if spec.target not in out[level]:
                    out[level].append(spec.target)
        return out

    # -------------------------------------------------------------------------------------------- fit
    def fit(self, events: pd.DataFrame, *, day_column: str = "event_day") -> HistoryAggregates:
        """Store the outcome history: one row per outcome unit with the key columns, targets and day."""
        specs = self._check_params()
        plan = self._levels_and_targets(specs)
        columns = sorted({c for level in plan for c in level})
        needed = event_columns(specs, day_column=day_column)
        missing = [c for c in needed if c not in events.columns]
        if missing:
            raise KeyError(f"events lack columns {missing}")
        days = as_days(events[day_column], what=f"events[{day_column!r}]")
        if len(days) and (days.min() < 0 or days.max() >= DAY_SPAN):
            raise ValueError(f"events[{day_column!r}]: days must be in [0, {DAY_SPAN}) since 1970-01-01")
        n_rows = len(events)

        codes: dict[str, np.ndarray] = {}
        vocab: dict[str, np.ndarray] = {}
        for col in columns:
            codes[col], vocab[col] = fit_column(events[col])
        sizes = {c: len(v) for c, v in vocab.items()}
        targets = {t: _target_values(events, t) for t in sorted({s.target for s in specs})}

        by_day = day_order(days)  # every level sorts its events by (key, day) from this one

        def table(level: Level) -> LevelTable:
            key, dense = fit_combine(level, codes, sizes, n_rows)
            comp, inverse = unique_entries(key, days, by_day=by_day, day_span=DAY_SPAN)
            cum_n: dict[str, np.ndarray] = {}
            cum_d: dict[str, np.ndarray] = {}
            for t in plan[level]:
                y = targets[t]
                ok = ~np.isnan(y)
                n = np.bincount(inverse, weights=ok.astype(np.float64), minlength=len(comp))
                d = np.bincount(inverse, weights=np.where(ok, y, 0.0), minlength=len(comp))
                cum_n[t], cum_d[t] = cumulative(n), cumulative(d)
            return LevelTable(level, dense, comp.astype(np.int64), cum_n, cum_d)

        # levels are independent; their sorts and sums release the GIL, so two threads overlap for most of it
        workers = _THREADS if n_rows >= SORT_QUERIES_ABOVE and not in_chunk_thread() else 1
        if workers == 1:
            tables = {level: table(level) for level in plan}
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="history-fit") as pool:
                tables = dict(zip(plan, pool.map(table, plan), strict=True))

        self.vocab_ = vocab
        self.tables_ = tables
        self.as_of_day_: int | None = None
        self.n_events_ = n_rows
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "tables_"):
            raise RuntimeError("HistoryAggregates is not fitted; call fit() or from_state() first")

    # -------------------------------------------------------------------------------------- transform
    def transform(self, queries: pd.DataFrame, *, query_day: np.ndarray | pd.Series | Sequence[int]) -> pd.DataFrame:
        """Features for each query row (aligned to queries.index) from outcomes with day < query_day."""
        self._check_fitted()
        t = as_days(query_day, what="query_day")
        if t.shape != (len(queries),):
            raise ValueError(f"query_day has shape {t.shape}, expected ({len(queries)},)")
        missing = [c for c in self._key_columns() if c not in queries.columns]
        if missing:
            raise KeyError(f"queries lack columns {missing}")
        out = self._answer({c: queries[c] for c in self._key_columns()}, t)
        return pd.DataFrame(out, index=queries.index, columns=self.feature_names, dtype=np.float64)

    def transform_arrays(
        self, keys: Mapping[str, np.ndarray | pd.Series], *, query_day: np.ndarray | pd.Series | Sequence[int]
    ) -> dict[str, np.ndarray]:
        """`transform`'s answers as one float64 array per feature name, for key columns given as arrays.

        The same computation without building a DataFrame on the way in or out, which for one claim costs
        more than the answers themselves. Object arrays of strings (None = null) take the dict route."""
        self._check_fitted()
        t = as_days(query_day, what="query_day")
        missing = [c for c in self._key_columns() if c not in keys]
        if missing:
            raise KeyError(f"queries lack columns {missing}")
        wrong = [c for c in self._key_columns() if len(keys[c]) != len(t)]
        if wrong:
            raise ValueError(f"key columns {wrong} do not have one value per query day ({len(t)})")
        return self._answer(keys, t)

    def _key_columns(self) -> list[str]:
        return self._plan().key_columns

    def _plan(self) -> _Plan:
        """Checked specs and what `transform` derives from them; rebuilt only when specs or params change."""
        signature = (tuple(self.specs), self.window_days, self.prior_strength)
        cached = self._plan_cache
        if cached is not None and cached[0] == signature:
            return cached[1]
        specs = self._check_params()
        spec_levels = [_with_root(spec.levels) for spec in specs]
        uses: dict[Level, int] = {}
        for levels in spec_levels:
            for level in levels:
                uses[level] = uses.get(level, 0) + 1
        key_columns = sorted({c for spec in specs for level in spec.levels for c in level})
        plan = _Plan(specs, spec_levels, key_columns, uses)
        self._plan_cache = (signature, plan)
        return plan

    def _lookup(self, column: str) -> dict[str, int]:
        """The vocabulary of a key column as a dict (value -> code), built once per fitted vocabulary.

        Cached beside the vocabulary it was built from, so a refit (new vocabulary) never reads a stale one."""
        vocab = self.vocab_[column]
        hit = self._lookups.get(column)
        if hit is None or hit[0] is not vocab:
            hit = (vocab, {v: i + 1 for i, v in enumerate(vocab.tolist())})
            self._lookups[column] = hit
        return hit[1]

    def prepare(self) -> HistoryAggregates:
        """Build the per-column lookups now (serving calls this at load, so no request pays for it)."""
        self._check_fitted()
        for column in self._key_columns():
            self._lookup(column)
        for level in self.tables_:
            self._frozen_answers(level)
        return self

    def _frozen_answers(self, level: Level) -> KeyAnswers | None:
        """A frozen snapshot's per-key answers of a keyed level with few keys (`key_answers`), built once; None for
        a live history, the global level, or a level with more than FROZEN_KEYS keys."""
        table = self.tables_[level]
        if self.as_of_day_ is None or not table.columns:
            return None
        as_of = int(self.as_of_day_)
        hit = self._key_answers.get(level)
        if hit is None or hit[0] is not table.comp or hit[1] != as_of:
            answers = None
            if key_count(table) <= history_index.FROZEN_KEYS:
                lo, t = self._frozen_window()
                answers = key_answers(table, lo=lo, t=t, compacted_at_lo=self._compacted_at_window())
            hit = self._key_answers[level] = (table.comp, as_of, answers)
        return hit[2]

    def _compacted_at_window(self) -> bool:
        """Whether `freeze` cut every table at the window's start (it cuts at as_of_day - window_days, which is the
        window's start unless that day is before 1970 and the start is clipped to 0)."""
        return self.as_of_day_ is not None and self.as_of_day_ - int(self.window_days) == self._frozen_window()[0]

    def _frozen_window(self) -> tuple[int, int]:
        """(window start, day) of every query of a frozen snapshot: `_answer`'s, computed the same way."""
        assert self.as_of_day_ is not None
        as_of = int(self.as_of_day_)
        return int(np.clip(as_of - int(self.window_days), 0, DAY_SPAN)), int(np.clip(as_of, 0, DAY_SPAN))

    def _answer(self, keys: Mapping[str, np.ndarray | pd.Series], t: np.ndarray) -> dict[str, np.ndarray]:
        specs, spec_levels, key_columns, level_uses = self._plan()
        n_rows = len(t)
        if self.as_of_day_ is not None:  # a frozen snapshot answers every query as of its own day
            t = np.full(n_rows, self.as_of_day_, dtype=np.int64)
        lo = np.clip(t - int(self.window_days), 0, DAY_SPAN)
        t = np.clip(t, 0, DAY_SPAN)
        # what each level adds to its key*2**21 to find: the key's first entry, its window, its day
        offsets = np.stack([np.zeros(n_rows, dtype=np.int64), lo, t])
        codes = {c: encode_column(keys[c], self.vocab_[c], self._lookup(c)) for c in key_columns}
        seen = {c: v >= 0 for c, v in codes.items()}
        split = Keys(seen, {c: np.where(seen[c], v, 0) for c, v in codes.items()})
        sizes = {c: len(v) for c, v in self.vocab_.items()}

        uses = dict(level_uses)
        # a level's sorted-search positions, or for a frozen level each query's column of its keys' answers
        positions: dict[Level, Positions | AnswerColumns] = {}
        # few queries: the global level's counts per target serve every spec with that target
        root_counts: dict[str, tuple[np.ndarray, np.ndarray]] | None = {} if n_rows <= SMALL_QUERIES else None

        # many queries are sorted by (key, day) on each level: by day once for all of them
        by_day = day_order(offsets[2]) if n_rows >= SORT_QUERIES_ABOVE and self.as_of_day_ is None else None

        def search(level: Level) -> Positions | AnswerColumns:
            table = self.tables_[level]
            if self.as_of_day_ is None or not table.columns:
                return search_level(table, split, sizes, offsets, n_rows, by_day)
            answers = self._frozen_answers(level)
            if answers is None and n_rows <= SMALL_QUERIES:  # a claim's lines: three searches cost less than a hash
                return search_level(table, split, sizes, offsets, n_rows)
            key, valid = transform_combine(table.columns, split, sizes, n_rows, table.dense)
            if answers is not None:  # every key's answers are kept
                return AnswerColumns(answers, answer_columns(answers, key, valid))
            lo, day = self._frozen_window()
            return distinct_key_answers(table, key, valid, lo=lo, t=day, compacted_at_lo=self._compacted_at_window())

        def counts(level: Level, target: str) -> tuple[np.ndarray, np.ndarray]:
            """(n, n_recent) and (d, d_recent) of each query's key at this level, each stacked [2, n], in
            query order."""
            if root_counts is not None and not level and target in root_counts:
                return root_counts[target]
            pos = positions[level]
            if isinstance(pos, AnswerColumns):  # a frozen level's answers per key
                answers, column = pos
                return np.take(answers.n[target], column, axis=1), np.take(answers.d[target], column, axis=1)
            table = self.tables_[level]
            # np.take: a flat gather (indexing with the [3, n] array directly is slower on many rows)
            at_n, at_d = np.take(table.cum_n[target], pos.idx), np.take(table.cum_d[target], pos.idx)
            # whole counts subtract exactly in int32; the rates are computed in float64 either way
            n2 = (at_n[2] - at_n[:2]).astype(np.float64, copy=False)
            d2 = (at_d[2] - at_d[:2]).astype(np.float64, copy=False)
            if pos.order is not None:  # back to query order, row by row (numpy's fast 1-d scatter)
                n2_u, d2_u = np.empty_like(n2), np.empty_like(d2)
                for r in range(2):
                    n2_u[r][pos.order] = n2[r]
                    d2_u[r][pos.order] = d2[r]
                n2, d2 = n2_u, d2_u
            if root_counts is not None and not level:
                root_counts[target] = (n2, d2)
            return n2, d2

        m = float(self.prior_strength)
        out: dict[str, np.ndarray] = {}

        def finish(i: int) -> None:
            """Spec i's features from its levels' counts; then drop positions no later spec needs."""
            spec = specs[i]
            # rows: [all history, last window_days]; the recursion is elementwise, so stacking the two
            # changes no bit of either
            n2, d2 = counts((), spec.target)
            rate2 = _root_rate(d2, n2)
            for level in spec_levels[i][1:]:
                n2, d2 = counts(level, spec.target)
                rate2 = _shrunk_rate(d2, n2, rate2, m)
            out[f"{spec.name}_rate"] = rate2[0]
            out[f"{spec.name}_n"] = n2[0]
            out[f"{spec.name}_rate_recent"] = rate2[1]
            out[f"{spec.name}_n_recent"] = n2[1]
            for level in spec_levels[i]:
                uses[level] -= 1
                if uses[level] == 0:
                    del positions[level]

        def finish_rows(i: int) -> None:
            """`finish` on Python floats, one query at a time."""
            spec = specs[i]
            values: list[list[float]] = [[], [], [], []]
            for r in range(n_rows):
                for depth, level in enumerate(spec_levels[i]):
                    table = self.tables_[level]
                    cn, cd = table.cum_n[spec.target], table.cum_d[spec.target]
                    start, window, now = row_idx[level][r]
                    n_now, d_now = cn.item(now), cd.item(now)
                    n, d = n_now - cn.item(start), d_now - cd.item(start)
                    n_rec, d_rec = n_now - cn.item(window), d_now - cd.item(window)
                    if depth == 0:
                        rate, rate_rec = _root_rate(d, n), _root_rate(d_rec, n_rec)
                    else:
                        rate, rate_rec = _shrunk_rate(d, n, rate, m), _shrunk_rate(d_rec, n_rec, rate_rec, m)
                for column, value in zip(values, (rate, n, rate_rec, n_rec), strict=True):
                    column.append(value)
            for suffix, column in zip(_SUFFIXES, values, strict=True):
                out[f"{spec.name}_{suffix}"] = np.array(column, dtype=np.float64)

        # many queries: levels on threads, unless this is one of several chunks built side by side (measured on the
        # 1M batch: levels on threads of their own inside each chunk thread only added switching)
        workers = _THREADS if n_rows >= SORT_QUERIES_ABOVE and not in_chunk_thread() else 1
        if n_rows <= _ROW_BY_ROW_QUERIES:
            row_idx: dict[Level, list[list[int]]] = {}
            for level in level_uses:
                row_idx[level] = search_level(self.tables_[level], split, sizes, offsets, n_rows).idx.T.tolist()
            for i in range(len(specs)):
                finish_rows(i)
            return out
        if workers == 1:
            for i, levels in enumerate(spec_levels):
                for level in levels:
                    if level not in positions:
                        positions[level] = search(level)
                finish(i)
            return out
        # Many queries: levels are searched in first-use order, a few at a time on threads (numpy's
        # argsort and searchsorted release the GIL); a spec is finished as soon as all its levels are in.
        todo = list(level_uses)
        pending = list(range(len(specs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while pending:
                batch = [lv for lv in todo if lv not in positions][:workers]
                positions.update(zip(batch, pool.map(search, batch), strict=True))
                for lv in batch:
                    todo.remove(lv)
                ready = [i for i in pending if all(lv in positions for lv in spec_levels[i])]
                for i in ready:
                    finish(i)
                    pending.remove(i)
        return out

    # ----------------------------------------------------------------------------------------- freeze
    def freeze(self, *, as_of_day: int) -> HistoryAggregates:
        """Compact the history for serving, in place; returns self.

        Per key, outcomes before as_of_day - window_days collapse into one weighted pseudo-outcome on the
        day before the window; outcomes on or after that day stay as daily sums. Afterwards every query is
        answered as of as_of_day, whatever its own day (bit for bit the unfrozen answer at as_of_day). A
        model serves for weeks after its snapshot: answering at the query's own day would let the "last 90
        days" windows drain to empty as the snapshot ages, while the model learned from windows that were
        always full.
        """
        self._check_fitted()
        as_of = int(as_of_day)
        if as_of < 0:
            raise ValueError(f"as_of_day must be >= 0, got {as_of}")
        if self.as_of_day_ is not None and as_of < self.as_of_day_:
            raise ValueError(f"already frozen as of day {self.as_of_day_}; cannot go back to {as_of}")
        cut = as_of - int(self.window_days)
        for table in self.tables_.values():
            compact_table(table, cut)
        self.as_of_day_ = as_of
        return self

    # ------------------------------------------------------------------------------------------ state
    def to_state(self) -> dict[str, np.ndarray | str | int | float]:
        """Plain arrays, strings and numbers (np.savez-able without pickle)."""
        self._check_fitted()
        return history_to_state(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HistoryAggregates:
        """Rebuild from `to_state()` output (or an np.load of it)."""
        return history_from_state(cls, state)
