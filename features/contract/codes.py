"""CARC/RARC meaning lives in one place so that labels, features, reasons and actions cannot disagree.

The denial label (DATA.md), the model's category targets, the preventive action shown before release and
the follow-up recommended after a denial all come from the CSV tables shipped in ``features/contract/data``. If any
of them read codes some other way, a change to a mapping would silently split training labels from the
advice a biller sees. The tables are validated when loaded, so a bad edit fails loudly instead of turning
codes into "other".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
import yaml

CATEGORIES: tuple[str, ...] = (
    "eligibility",
    "coordination_of_benefits",
    "authorization",
    "coding",
    "medical_necessity",
    "timely_filing",
    "duplicate",
    "missing_information",
    "non_covered",
    "other",
)
# What a biller does about a denial; payer-rule guardrails and the recovery model use the same names.
# reopen: a Medicare reopening of a processed claim (Part B clerical-error reopening, Part A adjustment bill);
# bill_other_payer: send the claim to the payer that is liable (coordination of benefits, the next payer).
DenialAction = Literal[
    "correct_and_resubmit", "appeal", "bill_patient", "write_off", "verify_status", "reopen", "bill_other_payer"
]
FOLLOWUP_ACTIONS: tuple[str, ...] = get_args(DenialAction)

# The published columns (description and the list's dates) come from the X12 lists; code_lists.yaml says which
# copy and as of when. short_name, category, action and appeal_rights are ClaimSight's own mappings.
_PUBLISHED = ("description", "start_date", "stop_date", "last_modified")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "carc.csv": ("carc", "short_name", "category", *_PUBLISHED),
    "rarc.csv": ("rarc", "short_name", "category", "action", "appeal_rights", *_PUBLISHED),
    "categories.csv": (
        "category",
        "label",
        "avoidable",
        "preventive_action",
        "followup_action",
        "followup_text",
    ),
    # source: where the meaning "not a refusal to pay" comes from (X12 CARC/CAGC definitions, CMS guidance)
    "routine_adjustments.csv": ("group_code", "carc", "short_name", "source"),
}
_BOOLS = {"true": True, "false": False}
_CATEGORY_CODE = {category: code for code, category in enumerate(CATEGORIES)}
_CATEGORY_DTYPE = pd.CategoricalDtype(list(CATEGORIES))
_OTHER = np.int8(_CATEGORY_CODE["other"])
_MAX_SHORT_NAME = 60
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CodeKind = Literal["CARC", "RARC"]


class CodeTableError(ValueError):
    """A shipped code table breaks a rule; the message names the file, the code and the rule."""


@dataclass(frozen=True, eq=False)
class CodeTables:
    """The code tables, indexed by code. Treat the frames as read-only: the loaded instance is shared."""

    carc: pd.DataFrame  # index carc; short_name, category, description, start_date, stop_date, last_modified
    rarc: pd.DataFrame  # index rarc; short_name, category (NaN = keep CARC's), action, appeal_rights, + as carc
    categories: pd.DataFrame  # index category, in CATEGORIES order
    routine: frozenset[tuple[str, str]]  # (group_code, carc)
    # code_lists.yaml: per list ("carc", "rarc") its source and dates ("as_of", "retrieved"); {} when absent
    lists: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def as_of(self, kind: CodeKind) -> str | None:
        """The published list's own date (YYYY-MM-DD) the table is current to, from code_lists.yaml."""
        value = self.lists.get(kind.lower(), {}).get("as_of")
        return None if value is None else str(value)

    def describe_carc(self, carc: str) -> str | None:
        """The published meaning of a CARC; None when the code is not in the table (never a guess)."""
        return _describe(self.carc, carc)

    def describe_rarc(self, rarc: str) -> str | None:
        """The published meaning of a RARC; None when the code is not in the table (never a guess)."""
        return _describe(self.rarc, rarc)

    def carc_active_on(self, carc: str, date: dt.date | str) -> bool | None:
        """Whether the list had the CARC in effect on ``date`` (start <= date < stop); None when unknown."""
        return _active_on(self.carc, carc, date)

    def rarc_active_on(self, rarc: str, date: dt.date | str) -> bool | None:
        """Whether the list had the RARC in effect on ``date`` (start <= date < stop); None when unknown."""
        return _active_on(self.rarc, rarc, date)

    def deactivated_on(self, kind: CodeKind, codes: pd.Series, dates: pd.Series) -> np.ndarray:
        """True where a known code was used on or after its stop date (vectorised; unknown codes are False).

        ``codes`` and ``dates`` pair by position; dates are anything ``pd.to_datetime`` reads (unreadable or
        missing dates are False). Resolves each distinct code once, so it suits millions of rows.
        """
        if len(codes) != len(dates):
            raise ValueError(f"codes has {len(codes)} rows but dates has {len(dates)}")
        table = self.carc if kind == "CARC" else self.rarc
        index, values = pd.factorize(codes.to_numpy())
        stops = _normalise(pd.Series(values)).map(table["stop_date"]).to_numpy("datetime64[ns]")
        stop = np.append(stops, np.datetime64("NaT"))[index]  # factorize marks nulls -1: the appended NaT
        when = pd.to_datetime(dates, errors="coerce").to_numpy("datetime64[ns]")
        return ~np.isnat(stop) & ~np.isnat(when) & (when >= stop)

    @functools.cached_property
    def _carc_categories(self) -> dict[str, str]:
        return {str(code): str(category) for code, category in self.carc["category"].items()}

    @functools.cached_property
    def _rarc_categories(self) -> dict[str, str]:
        return {str(code): str(category) for code, category in self.rarc["category"].dropna().items()}

    def carc_category(self, carc: str) -> str:
        """Root-cause category of one CARC; "other" when the code is unknown."""
        return self._carc_categories.get(str(carc).strip().upper(), "other")

    def category_of(self, carc: str, remark_codes: str | None) -> str:
        """``categorize`` for one adjustment: the first remark with a category, else the CARC's."""
        for code in _split(remark_codes):
            if code in self._rarc_categories:
                return self._rarc_categories[code]
        return self.carc_category(carc)

    def categorize(self, carcs: pd.Series, remark_codes: pd.Series) -> pd.Series:
        """Category per adjustment row: the CARC's, unless one of its RARCs is more specific.

        ``remark_codes`` holds ``|``-separated RARCs (nulls allowed) and is paired with ``carcs`` by
        position. The first RARC in a row's list that carries a category wins. Returns a categorical
        Series (categories = CATEGORIES) on ``carcs.index``.
        """
        if len(carcs) != len(remark_codes):
            raise ValueError(f"carcs has {len(carcs)} rows but remark_codes has {len(remark_codes)}")
        # Resolve each distinct CARC and remark list once, then broadcast the category codes to the rows.
        # pd.factorize marks nulls -1, which picks the default appended at the end of each lookup array.
        carc_index, carc_values = pd.factorize(carcs)
        carc_lookup = _normalise(pd.Series(carc_values)).map(self._carc_categories).fillna("other")
        codes = np.append(carc_lookup.map(_CATEGORY_CODE).to_numpy(np.int8), _OTHER)[carc_index]

        remark_index, remark_values = pd.factorize(remark_codes)
        tokens = _normalise(pd.Series(remark_values, dtype="string").str.split("|").explode())
        overrides = tokens.map(self._rarc_categories).dropna()
        first = overrides[~overrides.index.duplicated(keep="first")]  # explode keeps list order
        remark_lookup = np.full(len(remark_values) + 1, -1, dtype=np.int8)
        remark_lookup[first.index.to_numpy(dtype=np.intp)] = first.map(_CATEGORY_CODE).to_numpy(np.int8)
        refined = remark_lookup[remark_index]
        codes = np.where(refined >= 0, refined, codes)

        categories = pd.Categorical.from_codes(codes, dtype=_CATEGORY_DTYPE)
        return pd.Series(categories, index=carcs.index, name="category")

    def is_routine(
        self,
        group_codes: pd.Series,
        carcs: pd.Series,
        routine: frozenset[tuple[str, str]] | None = None,
    ) -> np.ndarray:
        """True where (group code, CARC) is a routine adjustment, i.e. not a denial (DATA.md labels).

        ``routine`` replaces the shipped set when a team defines denials differently.
        """
        pairs = self.routine if routine is None else routine
        wanted = {(g.strip().upper(), c.strip().upper()) for g, c in pairs}
        group_index, group_values = pd.factorize(group_codes)
        carc_index, carc_values = pd.factorize(carcs)
        # A small (distinct group codes x distinct CARCs) table; the extra last row/column is for nulls (-1).
        groups = _normalise(pd.Series(group_values)).tolist()
        codes = _normalise(pd.Series(carc_values)).tolist()
        table = np.zeros((len(groups) + 1, len(codes) + 1), dtype=bool)
        table[:-1, :-1] = [[(group, code) in wanted for code in codes] for group in groups]
        return table[group_index, carc_index]

    def rarc_guidance(self, remark_codes: str | None) -> tuple[str | None, bool | None]:
        """(action override, appeal rights), each from the first RARC in the list that sets it."""
        action: str | None = None
        appeal_rights: bool | None = None
        for code in _split(remark_codes):
            if code not in self.rarc.index:
                continue
            row = self.rarc.loc[code]
            if action is None and pd.notna(row["action"]):
                action = str(row["action"])
            if appeal_rights is None and pd.notna(row["appeal_rights"]):
                appeal_rights = bool(row["appeal_rights"])
        return action, appeal_rights

    def preventive_action(self, category: str) -> str:
        return str(self._category_value(category, "preventive_action"))

    def followup_action(self, category: str) -> str:
        return str(self._category_value(category, "followup_action"))

    def is_avoidable(self, category: str) -> bool:
        return bool(self._category_value(category, "avoidable"))

    def label(self, category: str) -> str:
        return str(self._category_value(category, "label"))

    def _category_value(self, category: str, column: str) -> object:
        if category not in self.categories.index:
            raise ValueError(f"unknown denial category {category!r}; expected one of {CATEGORIES}")
        return self.categories.at[category, column]


@functools.cache
def load_code_tables() -> CodeTables:
    """The shipped tables, validated once per process."""
    return _load_from(files("features.contract") / "data")


def _load_from(directory: Traversable | Path) -> CodeTables:
    carc = _read(directory, "carc.csv")
    _check_codes(carc, "carc.csv")
    _check_values(carc, "carc.csv", "category", CATEGORIES)

    rarc = _read(directory, "rarc.csv")
    _check_codes(rarc, "rarc.csv")
    _check_values(rarc, "rarc.csv", "category", (*CATEGORIES, ""))
    _check_values(rarc, "rarc.csv", "action", (*FOLLOWUP_ACTIONS, ""))
    _check_values(rarc, "rarc.csv", "appeal_rights", (*_BOOLS, ""))

    categories = _read(directory, "categories.csv")
    _check_codes(categories, "categories.csv")
    _check_values(categories, "categories.csv", "category", CATEGORIES)
    _check_values(categories, "categories.csv", "avoidable", tuple(_BOOLS))
    _check_values(categories, "categories.csv", "followup_action", FOLLOWUP_ACTIONS)
    for column in ("label", "preventive_action", "followup_text"):
        for category in categories.loc[categories[column] == "", "category"]:
            raise CodeTableError(f"categories.csv: category {category!r}: {column} must not be blank")
    missing = [c for c in CATEGORIES if c not in set(categories["category"])]
    if missing:
        raise CodeTableError(f"categories.csv: category {missing[0]!r}: every category needs exactly one row")

    routine = _read(directory, "routine_adjustments.csv")
    pairs = list(zip(routine["group_code"], routine["carc"], strict=True))
    known_carcs = set(carc["carc"])
    for position, ((group_code, code), source) in enumerate(zip(pairs, routine["source"], strict=True)):
        where = f"routine_adjustments.csv: code {group_code}-{code}"
        if not group_code or not code:
            raise CodeTableError(f"{where}: group_code and carc are required")
        if not source:
            raise CodeTableError(f"{where}: source must not be blank (name where the meaning comes from)")
        if code not in known_carcs:
            raise CodeTableError(f"{where}: carc must be listed in carc.csv")
        if (group_code, code) in pairs[:position]:
            raise CodeTableError(f"{where}: pair appears more than once")

    for name, frame in (("carc.csv", carc), ("rarc.csv", rarc)):
        _check_published(frame, name)

    rarc["category"] = rarc["category"].replace("", None)
    rarc["action"] = rarc["action"].replace("", None)
    rarc["appeal_rights"] = rarc["appeal_rights"].map(_BOOLS).astype("boolean")
    categories["avoidable"] = categories["avoidable"].map(_BOOLS).astype(bool)
    for frame in (carc, rarc):
        for column in ("start_date", "stop_date", "last_modified"):
            frame[column] = pd.to_datetime(frame[column].replace("", None), format="%Y-%m-%d")
    return CodeTables(
        carc=carc.set_index("carc"),
        rarc=rarc.set_index("rarc"),
        categories=categories.set_index("category").loc[list(CATEGORIES)],
        routine=frozenset(pairs),
        lists=_read_lists(directory),
    )


def _read(directory: Traversable | Path, name: str) -> pd.DataFrame:
    with (directory / name).open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    expected = _COLUMNS[name]
    if tuple(frame.columns) != expected:
        raise CodeTableError(f"{name}: columns are {list(frame.columns)}, expected exactly {list(expected)}")
    frame = frame.fillna("").apply(lambda column: column.str.strip())
    for code_column in ("carc", "rarc", "group_code"):
        if code_column in frame:
            frame[code_column] = frame[code_column].str.upper()
    return frame


def _check_codes(frame: pd.DataFrame, name: str) -> None:
    key = str(frame.columns[0])
    for row, code in enumerate(frame[key].tolist()):
        if not code:
            raise CodeTableError(f"{name}: code {code!r} (data row {row + 1}): {key} must not be blank")
    if "short_name" in frame:
        for code, short_name in zip(frame[key].tolist(), frame["short_name"].tolist(), strict=True):
            if not 0 < len(short_name) <= _MAX_SHORT_NAME:
                rule = f"short_name must be 1-{_MAX_SHORT_NAME} characters"
                raise CodeTableError(f"{name}: code {code!r}: {rule}")
    duplicated = frame.loc[frame[key].duplicated(), key]
    if not duplicated.empty:
        raise CodeTableError(f"{name}: code {duplicated.iloc[0]!r}: {key} appears more than once")


def _check_values(frame: pd.DataFrame, name: str, column: str, allowed: tuple[str, ...]) -> None:
    """Every value of ``column`` is in ``allowed`` ("" in ``allowed`` means the column may be blank)."""
    for code, value in zip(frame.iloc[:, 0], frame[column], strict=True):
        if value not in allowed:
            blank = " or blank" if "" in allowed else ""
            rule = f"{column} must be one of {[a for a in allowed if a]}{blank}"
            raise CodeTableError(f"{name}: code {code!r}: {column} {value!r} is invalid; {rule}")


def _check_published(frame: pd.DataFrame, name: str) -> None:
    """Published columns: ISO dates, stop on or after start, and a listed code (one with a start) described.

    A row with no description and no start date is a code ClaimSight keeps that the list does not have.
    """
    for row in frame.itertuples(index=False):
        code = getattr(row, frame.columns[0])
        dates: dict[str, dt.date | None] = {}
        for column in ("start_date", "stop_date", "last_modified"):
            value = getattr(row, column)
            dates[column] = _parse_date(value, name, code, column) if value else None
        if row.description and dates["start_date"] is None:
            raise CodeTableError(f"{name}: code {code!r}: a described code needs its start_date (YYYY-MM-DD)")
        if dates["start_date"] is not None and not row.description:
            raise CodeTableError(f"{name}: code {code!r}: description must not be blank for a listed code")
        if dates["stop_date"] is not None and dates["start_date"] is None:
            raise CodeTableError(f"{name}: code {code!r}: stop_date needs a start_date")
        start, stop = dates["start_date"], dates["stop_date"]
        if start is not None and stop is not None and stop < start:
            raise CodeTableError(f"{name}: code {code!r}: stop_date {stop} is before start_date {start}")


def _parse_date(value: str, name: str, code: str, column: str) -> dt.date:
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        rule = f"{column} {value!r} is not a date written YYYY-MM-DD"
        raise CodeTableError(f"{name}: code {code!r}: {rule}") from None


def _read_lists(directory: Traversable | Path) -> dict[str, dict[str, object]]:
    path = directory / "code_lists.yaml"
    if not path.is_file():
        return {}
    with path.open("r", encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    return {str(k): dict(v) for k, v in loaded.items() if isinstance(v, dict)}


def _describe(table: pd.DataFrame, code: str) -> str | None:
    key = str(code).strip().upper()
    if key not in table.index:
        return None
    description = table.at[key, "description"]
    return str(description) if description else None


def _active_on(table: pd.DataFrame, code: str, date: dt.date | str) -> bool | None:
    key = str(code).strip().upper()
    if key not in table.index:
        return None
    when = pd.Timestamp(date)
    start, stop = _timestamp(table.at[key, "start_date"]), _timestamp(table.at[key, "stop_date"])
    if start is not None and when < start:
        return False
    return not (stop is not None and when >= stop)


def _timestamp(value: object) -> pd.Timestamp | None:
    return value if isinstance(value, pd.Timestamp) and not pd.isna(value) else None


def _normalise(codes: pd.Series) -> pd.Series:
    return codes.astype("string").str.strip().str.upper()


def _split(remark_codes: str | None) -> Iterable[str]:
    if remark_codes is None or pd.isna(remark_codes):
        return []
    return [code.strip().upper() for code in str(remark_codes).split("|") if code.strip()]
