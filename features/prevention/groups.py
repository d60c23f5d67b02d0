"""Procedure groups: a claim's service as a CPT/HCPCS section, so a payer's policy on a kind of service
shows as one pattern instead of being spread over dozens of single codes.

The table (`features/contract/data/procedure_groups.csv`) follows the published code-range index of the
AMA CPT sections and subsections (anesthesia, surgery by body system, radiology, pathology and laboratory,
medicine, evaluation and management) and the CMS HCPCS Level II letter sections; ClaimSight merges small
neighbouring subsections (e.g. dialysis with gastroenterology) so each group has enough claims to test.
Payers write their authorization lists and coverage policies by such ranges (e.g. 97110-97546 therapy
inside physical medicine 97010-97799). A code in no range (CPT Category II/III, a gap) is `other_codes`.
Ranges are compared as text, only between codes of the same shape (five digits, or a letter and four
digits), so "0001F" never falls inside 00100-01999.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files

import numpy as np
import pandas as pd

OTHER_GROUP = "other_codes"
OTHER_LABEL = "Other codes (CPT Category II/III and codes outside the ranges)"
_COLUMNS = ("group", "label", "first", "last")
_SHAPE = re.compile(r"^(?:\d{5}|[A-Z]\d{4})$")


class ProcedureGroupError(ValueError):
    """procedure_groups.csv breaks a rule; the message names the file, the group and the rule."""


@functools.cache
def procedure_groups() -> pd.DataFrame:
    """The shipped table (group, label, first, last), validated once per process."""
    with (files("features.contract") / "data" / "procedure_groups.csv").open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    name = "procedure_groups.csv"
    if tuple(table.columns) != _COLUMNS:
        raise ProcedureGroupError(f"{name}: columns are {list(table.columns)}, expected {list(_COLUMNS)}")
    for group, lo, hi in zip(table["group"].tolist(), table["first"].tolist(), table["last"].tolist(), strict=True):
        for code in (str(lo), str(hi)):
            if not _SHAPE.match(code):
                raise ProcedureGroupError(f"{name}: group {group!r}: {code!r} is not a 5-character code")
        if str(lo)[0].isdigit() != str(hi)[0].isdigit() or str(lo) > str(hi):
            raise ProcedureGroupError(f"{name}: group {group!r}: first must not come after last")
    if table["group"].duplicated().any() or OTHER_GROUP in set(table["group"]):
        raise ProcedureGroupError(f"{name}: group names must be unique and not {OTHER_GROUP!r}")
    return table


def group_labels() -> dict[str, str]:
    """Group id -> the label a report shows (with its code range)."""
    table = procedure_groups()
    rows = zip(*(table[c].astype(str).tolist() for c in _COLUMNS), strict=True)
    labels = {g: f"{label} ({lo}-{hi})" for g, label, lo, hi in rows}
    return {**labels, OTHER_GROUP: OTHER_LABEL}


@functools.cache
def _ranges() -> tuple[tuple[str, str, str], ...]:
    """(group, first, last) of the shipped table as plain strings, for the one-code lookups."""
    table = procedure_groups()
    return tuple(zip(*(table[c].astype(str).tolist() for c in ("group", "first", "last")), strict=True))


@functools.cache
def _sections() -> dict[str, str]:
    """Group id -> its section: the label before the colon (Surgery, Lab, HCPCS J, Other codes, ...)."""
    return {g: label.split(":")[0].split(" (")[0] for g, label in group_labels().items()}


@functools.cache
def procedure_group_of(code: str) -> str:
    """`procedure_group` of one code, for per-value use (`features.columns.per_distinct`) where a Series
    around a few codes would cost more than the lookup."""
    text = str(code).strip().upper()[:5]
    if not _SHAPE.match(text):
        return OTHER_GROUP
    for group, lo, hi in _ranges():
        if text[0].isdigit() == lo[0].isdigit() and lo <= text <= hi:
            return group
    return OTHER_GROUP


@functools.cache
def procedure_section_of(code: str) -> str:
    """The CPT section (Surgery, Radiology, Lab, Medicine, ...) or HCPCS Level II letter section of one code."""
    return _sections()[procedure_group_of(code)]


def procedure_group(codes: pd.Series) -> pd.Series:
    """The group of each CPT/HCPCS code (first matching row; `other_codes` when none matches).

    Resolves each distinct code once, so it suits millions of lines."""
    table = procedure_groups()
    index, values = pd.factorize(codes.astype("string").str.strip().str.upper().str[:5])
    text = np.asarray(values, dtype=object).astype(str)
    shaped = np.array([bool(_SHAPE.match(c)) for c in text], dtype=bool)
    digits = np.array([c[:1].isdigit() for c in text], dtype=bool)
    out = np.full(len(text), OTHER_GROUP, dtype=object)
    open_ = np.ones(len(text), dtype=bool)
    for group, lo, hi in zip(*(table[c].astype(str).tolist() for c in ("group", "first", "last")), strict=True):
        hit = open_ & shaped & (digits == lo[0].isdigit()) & (text >= lo) & (text <= hi)
        out[hit] = group
        open_ &= ~hit
    result = np.append(out, OTHER_GROUP)[index]  # factorize marks nulls -1: the appended default
    return pd.Series(result, index=codes.index, dtype=object)
