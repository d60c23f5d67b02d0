"""A fitted history as plain arrays, strings and numbers (np.savez-able without pickle), and back.

A saved model carries its feature builders' histories in this form, so loading one never unpickles an
object. The format is versioned (``STATE_FORMAT``): a state of another format is refused, not guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from features.declarations import AggregateSpec
from features.history_index import Level, LevelTable

if TYPE_CHECKING:
    from features.history import HistoryAggregates

__all__ = ["STATE_FORMAT", "history_from_state", "history_to_state"]

STATE_FORMAT = "claimsight.history_aggregates/1"

_History = TypeVar("_History", bound="HistoryAggregates")


def history_to_state(history: HistoryAggregates) -> dict[str, np.ndarray | str | int | float]:
    """`HistoryAggregates.to_state` of a fitted history."""
    specs = [
        {"name": s.name, "levels": [list(level) for level in s.levels], "target": s.target, "meaning": s.meaning}
        for s in history.specs
    ]
    levels = list(history.tables_)
    columns = sorted(history.vocab_)
    targets = sorted({t for table in history.tables_.values() for t in table.cum_n})
    meta = {
        "specs": specs,
        "columns": columns,
        "targets": targets,
        "levels": [
            {
                "columns": list(level),
                "dense": sorted(history.tables_[level].dense),
                "targets": list(history.tables_[level].cum_n),
            }
            for level in levels
        ],
    }
    state: dict[str, np.ndarray | str | int | float] = {
        "format": STATE_FORMAT,
        "meta_json": json.dumps(meta, sort_keys=True),
        "window_days": int(history.window_days),
        "prior_strength": float(history.prior_strength),
        "as_of_day": -1 if history.as_of_day_ is None else int(history.as_of_day_),
        "n_events": int(history.n_events_),
    }
    for i, col in enumerate(columns):
        state[f"vocab_{i}"] = history.vocab_[col]
    for i, level in enumerate(levels):
        table = history.tables_[level]
        state[f"level_{i}_comp"] = table.comp
        for j, arr in table.dense.items():
            state[f"level_{i}_dense_{j}"] = arr
        for t, arr in table.cum_n.items():
            state[f"level_{i}_cum_n_{targets.index(t)}"] = arr
            state[f"level_{i}_cum_d_{targets.index(t)}"] = table.cum_d[t]
    return state


def history_from_state(cls: type[_History], state: Mapping[str, Any]) -> _History:
    """`HistoryAggregates.from_state`: a `cls` rebuilt from `history_to_state` output (or an np.load of it)."""
    fmt = str(np.asarray(state["format"])[()])
    if fmt != STATE_FORMAT:
        raise ValueError(f"unknown history-aggregates state format {fmt!r}")
    meta = json.loads(str(np.asarray(state["meta_json"])[()]))
    specs = [
        AggregateSpec(s["name"], tuple(tuple(level) for level in s["levels"]), s["target"], s["meaning"])
        for s in meta["specs"]
    ]
    obj = cls(
        specs=specs,
        window_days=int(np.asarray(state["window_days"])[()]),
        prior_strength=float(np.asarray(state["prior_strength"])[()]),
    )
    obj.vocab_ = {c: np.asarray(state[f"vocab_{i}"]).astype(str) for i, c in enumerate(meta["columns"])}
    targets = meta["targets"]
    tables: dict[Level, LevelTable] = {}
    for i, lv in enumerate(meta["levels"]):
        level = tuple(lv["columns"])
        tables[level] = LevelTable(
            columns=level,
            dense={int(j): np.asarray(state[f"level_{i}_dense_{j}"], dtype=np.int64) for j in lv["dense"]},
            comp=np.asarray(state[f"level_{i}_comp"], dtype=np.int64),
            cum_n={t: _sums(state[f"level_{i}_cum_n_{targets.index(t)}"]) for t in lv["targets"]},
            cum_d={t: _sums(state[f"level_{i}_cum_d_{targets.index(t)}"]) for t in lv["targets"]},
        )
    obj.tables_ = tables
    as_of = int(np.asarray(state["as_of_day"])[()])
    obj.as_of_day_ = None if as_of < 0 else as_of
    obj.n_events_ = int(np.asarray(state["n_events"])[()])
    return obj


def _sums(saved: Any) -> np.ndarray:
    """Saved cumulative sums as `cumulative` made them: int32 whole sums, else float64 (older models)."""
    arr = np.asarray(saved)
    return arr if arr.dtype == np.int32 else arr.astype(np.float64, copy=False)
