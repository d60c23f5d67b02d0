"""Input columns read once into numpy arrays, and the primitives on them whose best method depends on size.

Why arrays, not DataFrames. The same functions serve a training set of a million claims and a single
claim scored over HTTP. For one claim every pandas call has a fixed overhead whatever the size, and a
feature set needs hundreds of them. So each input column is read into a numpy array once
(`claim_columns`, `line_columns`; text as object arrays, None = missing) and everything after that is
numpy on those arrays: a string rule runs once per distinct value and is gathered back, per-claim sums
and maxima are `reduceat` over lines sorted by claim. The few primitives whose best method depends on
size (reading a column, looking ids up and ranking them, applying a rule per distinct value, picking a
line's diagnosis, looking codes up) go value by value in Python up to `SMALL_INPUT` values and through
pandas/Arrow kernels above; tests/features/test_transform_speed_parity.py forces each route on the same
inputs and requires identical output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.text_codes import remember, remember_mapped, text_codes

__all__ = [
    "ColumnTable",
    "Table",
    "CLAIM_DATES",
    "CLAIM_FLAGS",
    "CLAIM_NUMBERS",
    "CLAIM_TEXT",
    "LINE_NUMBERS",
    "LINE_TEXT",
    "SMALL_INPUT",
    "Columns",
    "check_unique_ids",
    "claim_columns",
    "claim_positions",
    "claim_ranks",
    "date_array",
    "flag_array",
    "index_in",
    "line_columns",
    "lookup_codes",
    "number_array",
    "per_distinct",
    "per_distinct_text",
    "pointed_diagnosis",
    "text_array",
]

SMALL_INPUT = 64  # up to this many values, per-value Python beats a hashing or Arrow kernel's setup
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

Columns = dict[str, np.ndarray]


class ColumnTable:
    """A table as one numpy array per column, each already in the form this module's readers return (text:
    object array of str, None = missing; dates: datetime64; numbers and yes/no flags: float64, NaN = missing).

    What the scoring API builds from a request instead of DataFrames: for one claim, building two typed
    DataFrames and reading their columns back cost about as much as predicting and explaining it. The readers
    take these arrays as they are, so the feature function is the same for both inputs
    (tests/features/test_column_table.py requires identical features from either).
    """

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self.columns = dict(columns)
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._rows = lengths.pop() if lengths else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return self._rows

    def take(self, rows: np.ndarray | slice) -> ColumnTable:
        return ColumnTable({name: values[rows] for name, values in self.columns.items()})


Table = pd.DataFrame | ColumnTable


def take_rows(table: Table, rows: np.ndarray | slice) -> Table:
    """The rows at these positions, of either kind of table."""
    return table.take(rows) if isinstance(table, ColumnTable) else table.iloc[rows]


def claim_positions(sources: Sequence[Table], ids: np.ndarray | pd.Series) -> list[np.ndarray]:
    """Per source of lines, each row's claim as a position in `ids` (-1: none)."""
    return [index_in(frame["claim_id"], ids) for frame in sources]


def claim_chunks(
    ids: np.ndarray | pd.Series,
    sources: Sequence[Table],
    *,
    size: int,
    line_claims: Sequence[np.ndarray] | None = None,
) -> Iterator[tuple[int, list[Table]]]:
    """(first claim position, the sources' rows of those claims) per run of `size` claims of `ids`, each
    source's claim ids looked up once, or given: `line_claims`, per source, each row's position in `ids` (-1: none).

    The rows are ordered when this is called, not when the first chunk is asked: a caller may do it beside other
    work."""
    # each source's rows ordered by their claim's chunk (in table order within it, as a scan would find them): a
    # chunk's rows are then one run of that order, found by a search instead of a scan of every row (ten million
    # claims' 25 million lines were scanned once per chunk, two hundred times)
    if line_claims is None:
        line_claims = claim_positions(sources, ids)
    chunk_rows = []
    for at in line_claims:
        n_chunks = (len(ids) + size - 1) // size
        # -1: a row of no claim in `ids`; small integers, which numpy's stable sort orders by radix passes
        chunk = (at // size).astype(np.min_scalar_type(-max(n_chunks, 1)))
        order = np.argsort(chunk, kind="stable")
        chunk_rows.append((order, np.searchsorted(chunk[order], np.arange(-1, n_chunks + 1))))
    return (
        (
            start,
            [
                take_rows(frame, order[bounds[k + 1] : bounds[k + 2]])
                for frame, (order, bounds) in zip(sources, chunk_rows, strict=True)
            ],
        )
        for k, start in enumerate(range(0, len(ids), size))
    )


CLAIM_TEXT = (
    "claim_id",
    "patient_id",
    "patient_sex",
    "payer_id",
    "plan_type",
    "secondary_payer_id",
    "billing_npi",
    "rendering_npi",
    "specialty",
    "facility_id",
    "place_of_service",
    "claim_type",
    "diagnosis_codes",
    "prior_auth_number",
    "referral_number",
    "frequency_code",
)
CLAIM_DATES = ("patient_birth_date", "service_from", "service_to", "submitted_at")
CLAIM_FLAGS = ("eligibility_verified",)
CLAIM_NUMBERS = ("total_charge",)
LINE_TEXT = ("procedure_code", "modifiers", "diagnosis_pointers")
LINE_NUMBERS = ("line_number", "units", "charge")


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def text_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """Object array of str, None where missing: the values `astype("string")` would hold.

    A few values are read one by one from the column's own array (a pandas conversion has a fixed cost
    a column whatever its length, and a claim has twenty of them)."""
    if isinstance(values, np.ndarray):  # a ColumnTable's column, or an array read before
        if (
            values.dtype == object
            and len(values) <= SMALL_INPUT
            and all(v is None or isinstance(v, str) for v in values)
        ):
            return values
        values = pd.Series(values)
    if len(values) <= SMALL_INPUT:
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values.array):
            if isinstance(v, str):
                out[i] = v
            elif not _is_missing(v):
                break  # not text: let pandas say how it reads as a string
        else:
            return out
    elif isinstance(values.dtype, pd.StringDtype):
        if values.dtype.storage == "pyarrow":
            return _arrow_text(values)
        return values.array.to_numpy(dtype=object, na_value=None)
    return _none_for_missing(values.astype("string").to_numpy(dtype=object))


def _arrow_text(values: pd.Series) -> np.ndarray:
    """An Arrow-backed text column as an object array through Arrow's dictionary encoding: one Python string per
    distinct value (gathered to every row) instead of one per row, and the encoding is `pd.factorize`'s answer
    (codes in order of first appearance, -1 for null), remembered beside the array for every later reader."""
    arr = pa.array(values.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = pc.dictionary_encode(arr)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    distinct = np.empty(len(encoded.dictionary) + 1, dtype=object)
    distinct[:-1] = encoded.dictionary.to_numpy(zero_copy_only=False)  # the trailing None: where -1 lands
    return remember(distinct[codes], codes=(codes, distinct[:-1]))


def _none_for_missing(arr: np.ndarray) -> np.ndarray:
    missing = pd.isna(arr)
    if missing.any():
        arr = arr.copy()
        arr[missing] = None
    return arr


def date_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """datetime64 values (NaT = missing), as `pd.to_datetime` reads the column.

    A few plain 'YYYY-MM-DD' strings (what a JSON request carries) are read by numpy, which reads that
    form exactly as pandas does, without `pd.to_datetime`'s fixed cost a column."""
    if isinstance(values, np.ndarray):
        return values if values.dtype.kind == "M" else date_array(pd.Series(values))
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "M":
        return np.asarray(values.array)
    if len(values) <= SMALL_INPUT:
        items = list(values.array)
        if all(_is_missing(v) or (isinstance(v, str) and _ISO_DAY.fullmatch(v)) for v in items):
            return np.array([None if _is_missing(v) else v for v in items], dtype="datetime64[ns]")
    return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")


def number_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """float64 values, NaN where missing."""
    if isinstance(values, np.ndarray):
        return values if values.dtype == np.float64 else number_array(pd.Series(values))
    if values.dtype == np.float64:
        return np.asarray(values.array)
    return values.array.to_numpy(dtype=np.float64, na_value=np.nan)


def flag_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """1.0 / 0.0 / NaN (not recorded) from a yes/no column, as `astype("boolean")` reads it."""
    if isinstance(values, np.ndarray):  # a ColumnTable's flags are already 1.0 / 0.0 / NaN
        return values if values.dtype == np.float64 else flag_array(pd.Series(values))
    if values.dtype == bool:
        return values.to_numpy(dtype=np.float64)
    if not isinstance(values.dtype, pd.BooleanDtype):
        if len(values) <= SMALL_INPUT and all(_is_missing(v) or isinstance(v, bool | np.bool_) for v in values.array):
            return np.array([np.nan if _is_missing(v) else float(v) for v in values.array], dtype=np.float64)
        values = values.astype("boolean")
    return values.array.to_numpy(dtype=np.float64, na_value=np.nan)


def claim_columns(claims: Table, names: Sequence[str] | None = None) -> Columns:
    """The claim columns features read (default: all of them), each converted once."""
    wanted = set(CLAIM_TEXT + CLAIM_DATES + CLAIM_FLAGS + CLAIM_NUMBERS if names is None else names)
    out: Columns = {}
    for names_of_kind, convert in (
        (CLAIM_TEXT, text_array),
        (CLAIM_DATES, date_array),
        (CLAIM_FLAGS, flag_array),
        (CLAIM_NUMBERS, number_array),
    ):
        out.update({name: convert(claims[name]) for name in names_of_kind if name in wanted})
    return out


def line_columns(lines: Table, rows: np.ndarray | None = None) -> Columns:
    """The line columns features read, for the given row positions (default: every row)."""
    part = lines if rows is None else take_rows(lines, rows)
    out: Columns = {name: text_array(part[name]) for name in LINE_TEXT}
    out.update({name: number_array(part[name]) for name in LINE_NUMBERS})
    return out


def index_in(values: pd.Series | np.ndarray, pool: pd.Series | np.ndarray) -> np.ndarray:
    """Position of each value in `pool` (unique strings), -1 when absent or missing.

    Few values and a small pool: a dict. Otherwise Arrow's hash join, which never turns a column of
    millions of ids into Python strings: give a text column itself, not `text_array` of it (a million ids
    joined in 0.28 s so, against 0.81 s through Python strings or a pandas Index)."""
    if max(len(values), len(pool)) <= SMALL_INPUT:
        where = {v: i for i, v in enumerate(pool if isinstance(pool, np.ndarray) else text_array(pool))}
        arr = values if isinstance(values, np.ndarray) else text_array(values)
        return np.array([-1 if v is None else where.get(v, -1) for v in arr], dtype=np.int64)
    found = pc.index_in(_large_text(values), value_set=_large_text(pool), skip_nulls=True)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _large_text(values: pd.Series | np.ndarray) -> pa.Array:
    """Text as one Arrow large_string array: an Arrow-backed column's own buffers, else converted."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        arr = pa.array(values, from_pandas=True)
    else:
        arr = pa.array(values if isinstance(values, np.ndarray) else text_array(values), type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def check_unique_ids(ids: np.ndarray | pd.Series, *, what: str) -> None:
    """Raise unless the ids are unique. An Arrow-backed column is counted by Arrow, without a Python string per id."""
    if len(ids) <= SMALL_INPUT:
        unique = len(set(ids)) == len(ids)
    elif isinstance(ids, pd.Series) and isinstance(ids.dtype, pd.StringDtype):
        unique = pc.count_distinct(_large_text(ids), mode="all").as_py() == len(ids)
    else:
        unique = pd.Index(ids).is_unique
    if not unique:
        raise ValueError(f"{what}: claim_id must be unique")


def claim_ranks(ids: np.ndarray) -> np.ndarray:
    """Rank of each claim id in string order (ids are unique, so any sort gives the same ranks)."""
    if len(ids) <= SMALL_INPUT:
        order = np.argsort(ids, kind="stable")
    else:
        order = pc.sort_indices(pa.array(ids, type=pa.large_string())).to_numpy(zero_copy_only=False)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def per_distinct(values: np.ndarray, rule: Callable[[str], object]) -> np.ndarray:
    """rule(value) for every value of an object array (missing stays None), computed once per distinct value."""
    return _per_distinct(values, rule)[0]


def per_distinct_text(values: np.ndarray, rule: Callable[[str], str | None]) -> np.ndarray:
    """`per_distinct` of a rule that gives text (or None), read-only and remembered with its factorization
    (`features.text_codes`), which follows from the input's: the rule's distinct outputs, in the order the input's
    distinct values first appear, are the output's in order of first appearance."""
    out, found = _per_distinct(values, rule)
    if found is None:
        return out
    codes, mapped = found
    return remember_mapped(out, codes=codes, mapped=mapped)


def _per_distinct(
    values: np.ndarray, rule: Callable[[str], object]
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """(rule per value, (the values' codes, the rule per distinct value + a trailing None) or None for few values)."""
    out = np.empty(len(values), dtype=object)
    if len(values) <= SMALL_INPUT:
        out[:] = [None if v is None else rule(v) for v in values]
        return out, None
    codes, uniques = text_codes(values)  # missing -> -1 -> the trailing None
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [rule(u) for u in uniques]
    out[:] = mapped[codes]
    return out, (codes, mapped)


def _pointer_index(pointers: str) -> int:
    """0-based diagnosis index of a line's first pointer ('2|3' -> 1); unreadable -> 0, the principal."""
    try:
        value = float(pointers.split("|", 1)[0])
    except ValueError:
        return 0
    return 0 if value != value else int(min(max(value, 1.0), 99.0)) - 1


def pointed_diagnosis(diagnosis_codes: np.ndarray, pointers: np.ndarray) -> np.ndarray:
    """The diagnosis each line points at (first pointer; the principal when absent or out of range)."""
    idx = per_distinct(pointers, _pointer_index)
    idx[pd.isna(idx)] = 0
    if len(diagnosis_codes) <= SMALL_INPUT:
        out = np.empty(len(diagnosis_codes), dtype=object)
        for i, (codes, k) in enumerate(zip(diagnosis_codes, idx, strict=True)):
            if codes is not None:
                parts = codes.split("|")
                out[i] = parts[k] if k < len(parts) else parts[0]
        return out
    lists = pc.split_pattern(pa.array(diagnosis_codes, type=pa.large_string()), "|")
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    k = idx.astype(np.int64)
    k = np.where(k < lengths, k, 0)
    offsets = lists.offsets.to_numpy()[:-1]
    flat = lists.flatten()
    has = lengths > 0
    pos = np.where(has, offsets + k, 0)
    picked = pc.take(flat, pa.array(pos)) if len(flat) else pa.nulls(len(pos), pa.large_string())
    picked = pc.if_else(pa.array(has), picked, pa.scalar(None, pa.large_string()))
    return picked.to_numpy(zero_copy_only=False).astype(object)


def lookup_codes(values: np.ndarray, index: Mapping[str, int]) -> np.ndarray:
    """index[value] as float64 for every value of an object array; NaN when missing or not in the index."""
    if len(values) <= SMALL_INPUT:
        return np.array([np.nan if v is None else index.get(v, np.nan) for v in values], dtype=np.float64)
    codes, uniques = text_codes(values)  # missing -> -1 -> the trailing NaN
    mapped = np.array([*(index.get(u, np.nan) for u in uniques), np.nan], dtype=np.float64)
    return mapped[codes]
