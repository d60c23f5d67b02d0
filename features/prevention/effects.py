"""Did it work: for every learned edit the team accepted and every prevention fix it marked done, the denial
rate and denied dollars of that cell before and after the day, with their uncertainty.

**The cells.** A fix's cell is its pattern's (``patterns.parse_pattern_key``): every original claim of the
payer/plan x procedure group x site the key names (``patterns.cell_mask`` on ``patterns.pattern_frame``); a
hit is an initial denial of the pattern's category, its dollars the claim's denied amount. The whole cell is
read, not the pattern's own claims net of more specific patterns as in the report: the fix is for the cell.
An edit's cell is the edit's own definition (``edits.edit_cell`` on ``edits.edit_lines``, the same code
learning uses): e.g. ``auth:P0025:97240`` is the payer's 97240 lines on claims without an authorization
number, a hit such a line with an authorization-category denial; its dollars are the hit adjustments'
amounts (a claim-level adjustment counted once).

**The windows (DATA.md, "Time").** A claim counts by its first remit date, as in the prevention report: before
= the ``before_months`` (6) months up to the day (the day excluded), after = the day to ``as_of``. Only what
was known by ``as_of`` is read: the caller passes tables cut with ``known_at`` and labels computed as of that
day, and first remits after ``as_of`` are dropped here too. A decision dated after ``as_of`` is listed
without figures. Claims adjudicated just after the day were mostly sent before it, so the after-rate of the
first weeks still carries the old behaviour: the comparison leans towards "no change yet", never towards
"worked".

**The uncertainty, and why.** Each rate has a Wilson score interval; the difference (after - before) has
Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two Wilson intervals. Why: a fix
that works drives the after-count towards zero, exactly where the Wald interval collapses to a width of zero
and claims certainty it does not have; Wilson and Newcombe keep honest coverage near 0 and with small counts,
are closed-form (the dashboard recomputes them in milliseconds, and the same data gives the same interval,
which a bootstrap would not), and need no continuity correction. An exact unconditional interval would be
slightly more conservative but costs a search per row for little gain at these sizes.

**The verdict.** ``too early to tell`` when the after window holds fewer than ``min_after`` (30) claims or
lines; ``no baseline`` when the before window holds none; ``worked`` when the whole interval of the difference
lies below 0 (the rate fell, beyond what chance explains at the 95% level); ``worse`` when it lies above 0;
``no change yet`` otherwise. Denied dollars are shown per month on each side (the before window's months
counted from the first remit in the data when the history starts later), without an interval: they are for
scale, the verdict rests on the rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.contract.codes import CodeTables
from features.contract.labels import data_as_of
from features.prevention.edits import edit_cell, edit_lines, parse_edit_id
from features.prevention.fixes import Fix
from features.prevention.patterns import PatternRule, cell_mask, parse_pattern_key, pattern_frame

__all__ = ["EFFECT_COLUMNS", "EffectRule", "effects", "newcombe", "wilson"]

DAYS_PER_MONTH = 365.25 / 12
EFFECT_COLUMNS = (
    "source",  # edit (accepted in edit_decisions.yaml) or fix (marked done in prevention_decisions.yaml)
    "key",  # the edit id or the pattern key
    "decided_on",  # the day the edit was accepted or the fix marked done
    "note",
    "unit",  # claims (fixes, filing edits) or lines (the other edits)
    "before_from",  # first day of the before window (the day itself starts the after window)
    "seen_before",
    "denied_before",  # hits: denials of the pattern's category / the edit's denial CARCs
    "rate_before",
    "rate_before_low",  # Wilson interval
    "rate_before_high",
    "seen_after",
    "denied_after",
    "rate_after",
    "rate_after_low",
    "rate_after_high",
    "difference",  # rate_after - rate_before
    "difference_low",  # Newcombe hybrid score interval
    "difference_high",
    "dollars_per_month_before",  # the hits' denied dollars per month
    "dollars_per_month_after",
    "months_after",
    "verdict",  # worked / worse / no change yet / too early to tell / no baseline / decided after as_of
    "as_of",
)


@dataclass(frozen=True)
class EffectRule:
    """How far back the before window reaches, how many after claims (lines) a verdict needs, the level."""

    before_months: int = 6
    min_after: int = 30
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.before_months < 1:
            raise ValueError("before_months must be at least 1")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")


def wilson(x: np.ndarray, n: np.ndarray, *, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of x/n (NaN where n is 0)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def newcombe(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, *, z: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d, low, high) for d = x2/n2 - x1/n1 by Newcombe's hybrid score method (method 10)."""
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z=z)
    l2, u2 = wilson(x2, n2, z=z)
    d = p2 - p1
    low = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, low, high


@dataclass(frozen=True)
class _Cell:
    """One decision's cell as per-unit arrays: first remit date, hit, hit dollars."""

    dates: np.ndarray
    hit: np.ndarray
    dollars: np.ndarray
    unit: str


def effects(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    edits: Mapping[str, Mapping[str, str]],
    fixes: Mapping[str, Fix],
    as_of: pd.Timestamp | None = None,
    rule: EffectRule | None = None,
    routine: frozenset[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per accepted edit (`edits`: load_decisions' id -> {decision, date}; rejected ones are left out)
    and per fix marked done (`fixes`: load_fixes), EFFECT_COLUMNS, fixes first then edits, each by day.
    `tables` and `labels` as for prevention_report (known by `as_of`, default the latest date in the data)."""
    rule = rule or EffectRule()
    accepted = {
        k: pd.Timestamp(v["date"]) for k, v in edits.items() if v.get("decision") == "accepted" and v.get("date")
    }
    decided = [("fix", f.key, f.date, f.note) for f in fixes.values()] + [
        ("edit", k, d, "") for k, d in accepted.items()
    ]
    if not decided:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS))
    day = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    earliest = min(d for _, _, d, _ in decided) - pd.DateOffset(months=rule.before_months)
    first = labels["first_remit_date"]
    known = first[(first <= day).to_numpy(dtype=bool)]
    data_start = pd.Timestamp(known.min()) if len(known) else day
    cells: dict[tuple[str, str], _Cell] = {}
    if fixes:
        frame = pattern_frame(tables, labels, codes=codes, as_of=day, rule=PatternRule(), since=earliest)
        for fix in fixes.values():
            cell = parse_pattern_key(fix.key)
            inside = cell_mask(frame, cell)
            hit = (frame["category"].to_numpy(dtype=object) == cell.category)[inside]
            cells["fix", fix.key] = _Cell(
                dates=frame["first_remit_date"].to_numpy()[inside],
                hit=hit,
                dollars=np.where(hit, frame["denied_amount"].to_numpy(dtype=float)[inside], 0.0),
                unit="claims",
            )
    if accepted:
        months = (day.year - earliest.year) * 12 + day.month - earliest.month + 1
        lines, reasons = edit_lines(tables, labels, codes=codes, as_of=day, months=months, routine=routine)
        for ident in accepted:
            cells["edit", ident] = _edit_cell(ident, lines, reasons)
    rows = []
    z = float(norm.ppf(0.5 + rule.confidence / 2))
    for source, key, on, note in sorted(decided, key=lambda d: (d[0] != "fix", d[2], d[1])):
        rows.append(_row(source, key, on, note, cells[source, key], as_of=day, start=data_start, rule=rule, z=z))
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def _edit_cell(ident: str, lines: pd.DataFrame, reasons: pd.DataFrame) -> _Cell:
    edit = parse_edit_id(ident)
    kind = edit["kind"]
    inside = edit_cell(edit, lines)
    if kind == "filing":  # the claim's hit: any of its lines carries the timely-filing adjustment
        claims = lines.loc[lines["hit_filing"].to_numpy(dtype=bool), "claim_id"]
        hit_all = lines["claim_id"].isin(claims).to_numpy(dtype=bool)
    else:
        hit_all = lines[f"hit_{kind}"].to_numpy(dtype=bool)
    rows = lines["row"].to_numpy(dtype=np.int64)
    if kind == "filing":
        claim_of_row = lines["claim_id"].to_numpy(dtype=object)
        first_row = pd.Series(rows[inside], index=claim_of_row[inside])
        why = reasons[(reasons["kind"] == kind).to_numpy(dtype=bool)]
        why = why.assign(at=first_row.reindex(claim_of_row[why["row"].to_numpy(dtype=np.int64)]).to_numpy())
        why = why[why["at"].notna()]
        at = why["at"].to_numpy(dtype=np.int64)
    else:
        mine = np.zeros(len(lines), dtype=bool)
        mine[rows[inside & hit_all]] = True
        why = reasons[(reasons["kind"] == kind).to_numpy(dtype=bool) & mine[reasons["row"].to_numpy(dtype=np.int64)]]
        at = why["row"].to_numpy(dtype=np.int64)
    why = why.assign(at=at).drop_duplicates("adjustment")  # a claim-level adjustment once, on its first row
    dollars = np.zeros(len(lines))
    np.add.at(dollars, why["at"].to_numpy(dtype=np.int64), pd.to_numeric(why["amount"]).to_numpy(dtype=float))
    return _Cell(
        dates=lines["first_remit_date"].to_numpy()[inside],
        hit=hit_all[inside],
        dollars=dollars[inside],
        unit="claims" if kind == "filing" else "lines",
    )


def _row(
    source: str,
    key: str,
    on: pd.Timestamp,
    note: str,
    cell: _Cell,
    *,
    as_of: pd.Timestamp,
    start: pd.Timestamp,
    rule: EffectRule,
    z: float,
) -> dict[str, object]:
    before_from = on - pd.DateOffset(months=rule.before_months)
    row: dict[str, object] = {
        "source": source,
        "key": key,
        "decided_on": on.date().isoformat(),
        "note": note,
        "unit": cell.unit,
        "before_from": before_from.date().isoformat(),
        "as_of": as_of.date().isoformat(),
    }
    if on > as_of:
        return {**row, "verdict": "decided after as_of"}
    dates = pd.DatetimeIndex(cell.dates)
    before = np.asarray((dates >= before_from) & (dates < on), dtype=bool)
    after = np.asarray((dates >= on) & (dates <= as_of), dtype=bool)
    n1, x1 = int(before.sum()), int(cell.hit[before].sum())
    n2, x2 = int(after.sum()), int(cell.hit[after].sum())
    (l1,), (u1,) = wilson(np.array([x1]), np.array([n1]), z=z)
    (l2,), (u2,) = wilson(np.array([x2]), np.array([n2]), z=z)
    (d,), (dl,), (du,) = newcombe(np.array([x1]), np.array([n1]), np.array([x2]), np.array([n2]), z=z)
    months_before = max((on - max(before_from, start)).days, 0) / DAYS_PER_MONTH
    months_after = ((as_of - on).days + 1) / DAYS_PER_MONTH
    if n2 < rule.min_after:
        verdict = "too early to tell"
    elif n1 == 0:
        verdict = "no baseline"
    elif du < 0:
        verdict = "worked"
    elif dl > 0:
        verdict = "worse"
    else:
        verdict = "no change yet"
    row.update(
        seen_before=n1,
        denied_before=x1,
        rate_before=x1 / n1 if n1 else np.nan,
        rate_before_low=l1,
        rate_before_high=u1,
        seen_after=n2,
        denied_after=x2,
        rate_after=x2 / n2 if n2 else np.nan,
        rate_after_low=l2,
        rate_after_high=u2,
        difference=d,
        difference_low=dl,
        difference_high=du,
        dollars_per_month_before=round(float(cell.dollars[before].sum()) / months_before, 2)
        if months_before
        else np.nan,
        dollars_per_month_after=round(float(cell.dollars[after].sum()) / months_after, 2),
        months_after=round(months_after, 1),
        verdict=verdict,
    )
    return row
