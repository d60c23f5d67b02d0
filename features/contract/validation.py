"""Turn raw text tables into typed, trustworthy tables, and put every rejected row somewhere visible.

A billing export always has some bad rows. Dropping them silently biases every rate computed later;
failing the whole run on one bad row makes the tool useless. So each row that breaks a rule goes to
`quarantine/<table>.csv` with the reason, the run reports counts by table and reason, and only a
reject rate above a threshold fails the run.

Value rules (types, allowed values, signs, required fields) are pandera checks generated from
`features.contract.schema`; rules that span rows or tables (keys, references, date order) are vectorised
pandas. Messages name the column and the rule, never a value: values may be PHI.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from features.contract.frames import differs_from_owner, distinct_values, one_chunk, positions_in
from features.contract.schema import TABLES, Column, Table
from features.contract.tables_io import RawTables, read_tables

_DATE_FORMAT = "%Y-%m-%d"
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class RejectRateExceeded(Exception):
    """Too many rows failed validation for the run to be trusted (exit code 3)."""

    exit_code = 3

    def __init__(self, message: str, *, result: ValidationResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class ValidationResult:
    tables: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    report: pd.DataFrame  # table, reason, rows
    rows_in: dict[str, int]
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    def reject_rate(self, table: str) -> float:
        n = self.rows_in.get(table, 0)
        return len(self.quarantine.get(table, ())) / n if n else 0.0

    @property
    def total_quarantined(self) -> int:
        return int(sum(len(q) for q in self.quarantine.values()))


class _Reasons:
    """Collects (row position, reason) pairs for one table without building per-row Python lists."""

    def __init__(self) -> None:
        self._pos: list[np.ndarray] = []
        self._why: list[np.ndarray] = []

    def add(self, mask: np.ndarray | pd.Series, reason: str) -> None:
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(pos):
            self._pos.append(pos)
            self._why.append(np.full(len(pos), reason, dtype=object))

    def add_positions(self, pos: np.ndarray, reasons: np.ndarray) -> None:
        if len(pos):
            self._pos.append(pos.astype(np.int64))
            self._why.append(reasons.astype(object))

    def extend(self, other: _Reasons) -> None:
        self._pos += other._pos
        self._why += other._why

    def bad_mask(self, n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for pos in self._pos:
            mask[pos] = True
        return mask

    def frame(self) -> pd.DataFrame:
        if not self._pos:
            return pd.DataFrame({"pos": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object)})
        return pd.DataFrame({"pos": np.concatenate(self._pos), "reason": np.concatenate(self._why)})


_T = TypeVar("_T")
_U = TypeVar("_U")


def _in_order(fn: Callable[[_T], _U], items: Iterable[_T], *, threads: int) -> list[_U]:
    """[fn(item) for item in items], `threads` at a time: parsing a column and hashing ids are Arrow kernels that
    release the GIL, so two columns' work overlaps on two cores."""
    if threads < 1:
        raise ValueError(f"threads: must be at least 1, got {threads}")
    if threads == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="validate") as pool:
        return list(pool.map(fn, items))


# --------------------------------------------------------------------------------------------------
# 1. Text -> types. A value that does not parse becomes a reason, and the cell becomes null.


def _parse_column(raw: pd.Series, col: Column, reasons: _Reasons) -> pd.Series:
    text = raw.str.strip()
    empty = text == ""
    if empty.any():  # an export nearly never has one: the copy `mask` makes is then skipped
        text = text.mask(empty)
    if col.default is not None:
        text = text.fillna(col.default)
    present = text.notna().to_numpy()
    if col.kind == "date":
        dates = pd.to_datetime(text, format=_DATE_FORMAT, errors="coerce")
        reasons.add(present & dates.isna().to_numpy(), f"{col.name}: not a date in YYYY-MM-DD form")
        return dates
    if col.kind == "money":
        amounts = parse_number(text, integer=False).astype("float64")
        bad = present & (amounts.isna().to_numpy() | ~np.isfinite(amounts.fillna(0).to_numpy()))
        reasons.add(bad, f"{col.name}: not a decimal amount")
        return amounts.where(~bad)
    if col.kind == "int":
        num = parse_number(text, integer=True)
        whole = num.notna() & (num == np.floor(num.fillna(0)))
        reasons.add(present & ~whole.to_numpy(), f"{col.name}: not a whole number")
        return num.where(whole).astype("Int64")
    if col.kind == "bool":
        low = text.str.lower()
        out = pd.Series(pd.NA, index=text.index, dtype="boolean")
        out[low.isin(_TRUE).fillna(False)] = True
        out[low.isin(_FALSE).fillna(False)] = False
        reasons.add(present & out.isna().to_numpy(), f"{col.name}: not true/false")
        return out
    return text.astype("string")


def _parse_text(df: pd.DataFrame, col: Column) -> tuple[pd.Series, _Reasons]:
    """One column of a raw table parsed, with its own reasons (columns may be parsed side by side)."""
    found = _Reasons()
    return _parse_column(df[col.name], col, found), found


def parse_number(text: pd.Series, *, integer: bool) -> pd.Series:
    """`pd.to_numeric(text, errors="coerce")`, through Arrow's decimal parser when it accepts every value: 2.4
    million line charges parse in 0.05 s there against 0.8 s in pandas, and an export is nearly always clean. One
    value Arrow refuses (a stray "$", a space inside) sends the whole column down pandas' path, and so does a
    whole number too large for a float to hold exactly, so the numbers never depend on the path taken.
    (Arrow's integer parser is not used: it reads "0x10" as 16, which pandas refuses.)"""
    try:
        parsed = pc.cast(pyarrow.array(text.array), pyarrow.float64())
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, TypeError):
        return pd.to_numeric(text, errors="coerce")
    missing = parsed.is_null().to_numpy(zero_copy_only=False)
    values = parsed.fill_null(0.0).to_numpy(zero_copy_only=False) + 0.0  # + 0.0: "-0" is 0, as in pandas
    if integer and np.any(np.abs(values) >= 2.0**53):
        return pd.to_numeric(text, errors="coerce")
    return pd.Series(pd.arrays.FloatingArray(values, missing), index=text.index)


# --------------------------------------------------------------------------------------------------
# 2. Value rules, generated from the schema and run by pandera (lazy: every failure, not the first).


def _pandera_schema(table: Table) -> pa.DataFrameSchema:
    columns = {}
    for col in table.columns:
        checks = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed), error=f"must be one of {', '.join(col.allowed)}"))
        if col.non_negative:
            checks.append(pa.Check.ge(0, error="must not be negative"))
        columns[col.name] = pa.Column(nullable=not col.required, checks=checks, required=True)
    return pa.DataFrameSchema(columns, name=table.name)


def _value_rules(df: pd.DataFrame, table: Table, reasons: _Reasons, unparsed: np.ndarray) -> None:
    try:
        _pandera_schema(table).validate(df, lazy=True)
    except SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna() & fc["column"].notna()]
        rule = fc["check"].astype(str).replace({"not_nullable": "required value missing"})
        why = (fc["column"].astype(str) + ": " + rule).to_numpy()
        pos = df.index.get_indexer(fc["index"].astype("int64"))
        keep = pos >= 0
        # A cell that failed to parse is already reported; its null is not a second problem.
        keep &= ~((rule == "required value missing").to_numpy() & unparsed[np.where(keep, pos, 0)])
        reasons.add_positions(pos[keep], why[keep])


# --------------------------------------------------------------------------------------------------
# 3. Row and cross-table rules.


def _duplicate_key(df: pd.DataFrame, table: Table, reasons: _Reasons) -> None:
    if table.key:
        # Every copy goes: which one is right is the team's call, not ours.
        reasons.add(df.duplicated(list(table.key), keep=False).to_numpy(), f"{'+'.join(table.key)}: duplicate key")


def _claims_rules(df: pd.DataFrame, reasons: _Reasons) -> None:
    reasons.add((df["service_from"] > df["submitted_at"]).fillna(False), "service_from: after submitted_at")
    reasons.add((df["service_to"] < df["service_from"]).fillna(False), "service_to: before service_from")
    needs_original = df["frequency_code"].isin(["7", "8"]).fillna(False) & df["original_claim_id"].isna()
    reasons.add(needs_original, "original_claim_id: required for frequency 7 or 8")
    self_ref = (df["original_claim_id"] == df["claim_id"]).fillna(False)
    reasons.add(self_ref, "original_claim_id: refers to the claim itself")


def _followup_rules(df: pd.DataFrame, reasons: _Reasons) -> None:
    reasons.add((df["outcome_date"] < df["action_date"]).fillna(False), "outcome_date: before action_date")


class _Ids:
    """A parent table's key column, indexed once: each distinct id and the rows that hold it.

    The reference rules run to a fixed point (below), and each round asks again which ids have a valid row; the
    children's references are looked up here once, and each round only gathers (a million claims' ids were hashed
    two dozen times over, 4 s, before)."""

    def __init__(self, ids: pd.Series) -> None:
        self.distinct = distinct_values(ids)
        self.row_code = positions_in(ids, self.distinct)  # -1: a row without an id

    def find(self, references: pd.Series) -> np.ndarray:
        """Each reference's id among `distinct`, -1 when it names no row (or is missing)."""
        return positions_in(references, self.distinct)

    def with_valid_row(self, bad: np.ndarray) -> np.ndarray:
        """Per distinct id: does some row holding it pass every rule?"""
        good = self.row_code[~bad & (self.row_code >= 0)]
        return np.bincount(good, minlength=len(self.distinct)) > 0


@dataclass
class _Reference:
    child: str
    column: str
    parent: str
    found: np.ndarray  # the child's references among the parent's distinct ids (`_Ids.find`)
    present: np.ndarray  # the child names a parent at all


class _ReferenceRules:
    """Reference checks: unknown target vs a target that exists but was itself quarantined; an adjustment whose
    remit belongs to another claim."""

    def __init__(self, typed: dict[str, pd.DataFrame], *, threads: int = 1) -> None:
        claims = typed["claims"]
        self.ids = {"claims": _Ids(claims["claim_id"])}
        children = [("claims", "original_claim_id", "claims")]
        children += [
            (n, "claim_id", "claims") for n in ("claim_lines", "remits", "adjustments", "followups") if n in typed
        ]
        self.mismatch: np.ndarray | None = None
        if "adjustments" in typed:
            remits, adj = typed["remits"], typed["adjustments"]
            self.ids["remits"] = _Ids(remits["remit_id"])
            children.append(("adjustments", "remit_id", "remits"))
            first = remits.dropna(subset=["remit_id"]).drop_duplicates("remit_id")
            self.mismatch = differs_from_owner(
                adj["claim_id"], adj["remit_id"], owner_keys=first["remit_id"], owners=first["claim_id"]
            )
        self.references = _in_order(
            lambda ref: _Reference(
                *ref, self.ids[ref[2]].find(typed[ref[0]][ref[1]]), typed[ref[0]][ref[1]].notna().to_numpy()
            ),
            children,
            threads=threads,
        )

    def add(self, bad: dict[str, np.ndarray], out: dict[str, _Reasons]) -> None:
        valid = {name: ids.with_valid_row(bad[name]) for name, ids in self.ids.items()}
        for ref in self.references:
            known = ref.found >= 0
            in_valid = known & valid[ref.parent][np.maximum(ref.found, 0)]
            target = "remit" if ref.column == "remit_id" else "claim"
            out[ref.child].add(ref.present & ~known, f"{ref.column}: refers to an unknown {target}")
            out[ref.child].add(ref.present & known & ~in_valid, f"{ref.column}: refers to a quarantined row")
        if self.mismatch is not None:
            out["adjustments"].add(self.mismatch, "remit_id: belongs to another claim")


def _finish(frames: dict[str, pd.DataFrame], reasons: dict[str, _Reasons]) -> dict[str, np.ndarray]:
    return {name: reasons[name].bad_mask(len(df)) for name, df in frames.items()}


def validate_tables(raw: RawTables, *, max_reject_rate: float = 0.05, threads: int = 1) -> ValidationResult:
    """Type, check and split every table into valid rows and quarantined rows with reasons.

    Raises RejectRateExceeded when any table loses more than `max_reject_rate` of its rows. `threads`: a table's
    columns parsed, and the references looked up, that many at a time (the same result).
    """
    typed: dict[str, pd.DataFrame] = {}
    reasons: dict[str, _Reasons] = {}
    for name in raw.frames:
        table = TABLES[name]
        r = _Reasons()
        df = raw.frames[name].reset_index(drop=True)  # with `LazyFrames`, read now and let go below
        n_rows = len(df)
        parsed = _in_order(partial(_parse_text, df), table.columns, threads=threads)
        del df
        cols = {}
        for col, (values, found) in zip(table.columns, parsed, strict=True):
            cols[col.name] = values
            r.extend(found)  # in column order, as parsed one after another
        del parsed
        out = pd.DataFrame(cols, copy=False)
        del cols
        unparsed = r.bad_mask(n_rows)
        _value_rules(out, table, r, unparsed)
        _duplicate_key(out, table, r)
        if name == "claims":
            _claims_rules(out, r)
        elif name == "followups":
            _followup_rules(out, r)
        typed[name], reasons[name] = out, r

    # References: resolve to a fixed point, because quarantining a claim orphans its lines, remits,
    # adjustments and replacements, and a replacement's quarantine orphans its own children.
    base = {name: r.frame() for name, r in reasons.items()}
    bad = _finish(typed, reasons)
    references = _ReferenceRules(typed, threads=threads)
    while True:
        trial = {name: _Reasons() for name in typed}
        for name, frame in base.items():
            trial[name].add_positions(frame["pos"].to_numpy(), frame["reason"].to_numpy())
        references.add(bad, trial)
        new_bad = _finish(typed, trial)
        if all(np.array_equal(new_bad[n], bad[n]) for n in typed):
            break
        bad = new_bad
    reasons = trial

    tables, quarantine, report_rows = {}, {}, []
    for name, df in typed.items():
        why = reasons[name].frame().drop_duplicates()
        bad_pos = np.sort(why["pos"].unique())
        keep = np.ones(len(df), dtype=bool)
        keep[bad_pos] = False
        # no copy of a clean table; text in one piece per column (`one_chunk`), which every later take of rows needs
        tables[name] = one_chunk(df[keep].reset_index(drop=True) if len(bad_pos) else df)
        joined = why.sort_values(["pos", "reason"]).groupby("pos")["reason"].agg("; ".join)
        q = raw.frames[name].reset_index(drop=True).iloc[bad_pos].copy() if len(bad_pos) else _no_rows(name)
        q["reason"] = joined.reindex(bad_pos).to_numpy()
        quarantine[name] = q.reset_index(drop=True)
        counts = why["reason"].value_counts()
        for reason, rows in counts.items():
            report_rows.append({"table": name, "reason": reason, "rows": int(rows)})
    report = pd.DataFrame(report_rows, columns=["table", "reason", "rows"]).sort_values(
        ["table", "rows", "reason"], ascending=[True, False, True], ignore_index=True
    )
    result = ValidationResult(
        tables=tables,
        quarantine=quarantine,
        report=report,
        rows_in={name: len(df) for name, df in typed.items()},
        ignored_columns=dict(raw.ignored_columns),
    )
    over = [n for n in typed if result.reject_rate(n) > max_reject_rate]
    if over:
        detail = ", ".join(f"{n} {result.reject_rate(n):.1%}" for n in over)
        raise RejectRateExceeded(
            f"reject rate above {max_reject_rate:.1%}: {detail}; see the quarantine files", result=result
        )
    return result


def _no_rows(name: str) -> pd.DataFrame:
    """An empty quarantine frame: a table without bad rows is not read again to take none of them."""
    return pd.DataFrame({c: pd.Series(dtype="string") for c in TABLES[name].names})


def write_quarantine(result: ValidationResult, *, quarantine_dir: Path) -> list[Path]:
    """One CSV per table that lost rows; stale files from an earlier run are removed so counts match."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, q in result.quarantine.items():
        path = quarantine_dir / f"{name}.csv"
        if len(q):
            q.to_csv(path, index=False)
            written.append(path)
        elif path.exists():
            path.unlink()
    return written


def load_validated(
    data_dir: Path | str,
    *,
    max_reject_rate: float,
    quarantine_dir: Path | str | None = None,
    tables: Collection[str] | None = None,
    threads: int = 1,
) -> ValidationResult:
    """Read, validate and write the quarantine files: what every command that reads history starts with.

    The quarantine files are written even when the reject rate fails the run, so the team can see why.
    `tables`: just these tables (`read_tables(only=...)`); the other tables' quarantine files are left as they are.
    """
    data_dir = Path(data_dir)  # a notebook or script passes a str as often as a Path
    qdir = Path(quarantine_dir) if quarantine_dir is not None else data_dir / "quarantine"
    try:
        raw = read_tables(data_dir, only=tables, lazy=True)
        result = validate_tables(raw, max_reject_rate=max_reject_rate, threads=threads)
    except RejectRateExceeded as exc:
        write_quarantine(exc.result, quarantine_dir=qdir)
        raise
    write_quarantine(result, quarantine_dir=qdir)
    return result
