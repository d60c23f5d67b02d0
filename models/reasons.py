"""TreeSHAP contributions -> the few sentences a biller reads, each with the action to take.

Contributions come from LightGBM's own `pred_contrib` (exact TreeSHAP, same values as the shap
package, much cheaper per call). They are summed per reason group (declared beside the features), the
groups that push the score up most are kept, and each is phrased with the claim's own payer, code and
line. Formatting never fails on a missing value: it says "unknown" instead.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import denial_features
from features.declarations import FeatureDef, ReasonGroup


@dataclass(frozen=True)
class Reason:
    group: str
    contribution: float  # log-odds pushed towards denial by this group
    text: str
    action: str
    category: str


class ReasonBook:
    """One model's features and reason groups: how its contributions become sentences."""

    def __init__(self, *, features: Sequence[FeatureDef], groups: Mapping[str, ReasonGroup]) -> None:
        self.features = tuple(features)
        self.groups = dict(groups)
        self.group_names: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in self.features))
        missing = sorted(set(self.group_names) - set(self.groups))
        if missing:
            raise ValueError(f"features name reason groups that are not declared: {missing}")
        index = {g: i for i, g in enumerate(self.group_names)}
        self.feature_group = np.array([index[f.group] for f in self.features])


DENIAL_REASONS = ReasonBook(features=denial_features.FEATURES, groups=denial_features.REASON_GROUPS)


class _Lenient(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return "unknown"
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FMT = _Lenient()


@functools.cache
def _template(text: str) -> tuple[tuple[str, str | None, str], ...] | None:
    """`text` parsed once: (literal, field, format spec) parts, or None when it needs the full formatter
    (conversions, nested specs, positional or dotted fields). Parsing is most of `str.format`'s cost, and a
    batch phrases the same few dozen templates hundreds of thousands of times."""
    parts = []
    for literal, name, spec, conversion in _FMT.parse(text):
        if name is not None and (conversion or "{" in (spec or "") or not name.isidentifier()):
            return None
        parts.append((literal, name, spec or ""))
    return tuple(parts)


def render(text: str, values: Mapping[str, Any]) -> str:
    """`text` formatted with `values`, leniently (`_Lenient`): the same string `str.format` would give."""
    parts = _template(text)
    if parts is None:
        return _FMT.vformat(text, (), values)
    return "".join(
        literal if name is None else literal + _FMT.format_field(values[name], spec) for literal, name, spec in parts
    )


def group_contributions(contrib: np.ndarray, *, book: ReasonBook = DENIAL_REASONS) -> np.ndarray:
    """[n, features + 1] pred_contrib -> [n, groups] (the bias column is dropped)."""
    # one column at a time, in feature order: the sums `np.add.at` gave, at a fraction of its cost (a
    # row-wise reduceat would sum pairwise, and a reason's rank can turn on the last bit)
    out = np.zeros((contrib.shape[0], len(book.group_names)))
    for j, g in enumerate(book.feature_group.tolist()):
        out[:, g] += contrib[:, j]
    return out


def phrase(
    group: str, values: Mapping[str, Any], *, preventive_action: Mapping[str, str], book: ReasonBook = DENIAL_REASONS
) -> tuple[str, str]:
    g = book.groups[group]
    text = render(g.phrase, values)
    action = render(g.action, values) if g.action else preventive_action[g.category]
    return text, action


def top_reasons(
    grouped: np.ndarray,
    *,
    features: pd.DataFrame,
    context: pd.DataFrame,
    preventive_action: Mapping[str, str],
    top: int = 3,
    book: ReasonBook = DENIAL_REASONS,
) -> list[list[Reason]]:
    """The `top` groups with the largest positive contribution per row, phrased (values from two frames)."""
    feats = features.to_dict("records")
    ctx = context.to_dict("records")
    values = [{str(k): v for k, v in {**f, **c}.items()} for f, c in zip(feats, ctx, strict=True)]
    return reasons_from_values(grouped, values, preventive_action=preventive_action, top=top, book=book)


def reasons_from_values(
    grouped: np.ndarray,
    values: Sequence[Mapping[str, Any]],
    *,
    preventive_action: Mapping[str, str],
    top: int = 3,
    book: ReasonBook = DENIAL_REASONS,
) -> list[list[Reason]]:
    """`top_reasons` from one dict of feature and context values per row: scoring one claim never builds
    a DataFrame to read its own values back (`to_dict("records")` would cost more than the whole score)."""
    order = np.argsort(-grouped, axis=1, kind="stable")[:, :top].tolist()
    out: list[list[Reason]] = []
    for i, row in enumerate(order):
        reasons = []
        for j in row:
            contribution = float(grouped[i, j])
            if contribution <= 0:
                break
            group = book.group_names[j]
            text, action = phrase(group, values[i], preventive_action=preventive_action, book=book)
            reasons.append(Reason(group, contribution, text, action, book.groups[group].category))
        out.append(reasons)
    return out


def reason_columns(
    reasons: Sequence[Sequence[Reason]], *, rows: np.ndarray, n: int, top: int = 3
) -> dict[str, np.ndarray]:
    """`reason_k` / `action_k` columns of `n` rows: row rows[i] gets reasons[i], the others None."""
    cols: dict[str, np.ndarray] = {}
    for k in range(top):
        for name, field in ((f"reason_{k + 1}", "text"), (f"action_{k + 1}", "action")):
            column = np.full(n, None, dtype=object)
            column[rows] = [getattr(r[k], field) if len(r) > k else None for r in reasons] if len(rows) else []
            cols[name] = column
    return cols


def reasons_frame(reasons: Sequence[Sequence[Reason]], *, index: pd.Index, top: int = 3) -> pd.DataFrame:
    cols: dict[str, list[object]] = {}
    for k in range(top):
        cols[f"reason_{k + 1}"] = [r[k].text if len(r) > k else None for r in reasons]
        cols[f"action_{k + 1}"] = [r[k].action if len(r) > k else None for r in reasons]
    return pd.DataFrame(cols, index=index)
