"""Diagnosis codes grouped by the published ICD-10-CM hierarchy, so a rate learned for one diagnosis can lean on
its neighbours' instead of on a grouping we made up.

Payers write which diagnoses support a procedure as lists of ICD-10-CM codes (LCD/NCD coverage articles), and
those lists follow the classification: whole categories (E11), and within a chapter whole blocks of categories
(E08-E13 diabetes mellitus). The diagnosis x procedure rates therefore shrink code -> category (the first three
characters) -> block -> procedure code alone, not through a prefix of our choosing.

The table (`features/contract/data/icd10cm_blocks.csv`: block, first, last, chapter, titles) holds the blocks of
the CMS ICD-10-CM tabular list (FY2025, as distributed in the MIT-licensed simple-icd-10-cm 1.5.0 package,
from which the file was written once; the classification itself is public). Some blocks nest (C00-C96 holds
C00-C75, which holds C00-C14): a category takes the narrowest block that holds it. Codes are compared as text
on their first three characters, dots ignored, so C7A falls in its own block, not in C76-C80; a category has the
ICD-10-CM shape (a letter, a digit, a digit or letter). A code without it or outside every block has the block
"?".
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files

import numpy as np
import pandas as pd

UNKNOWN_BLOCK = "?"
_CATEGORY = re.compile(r"^[A-Z][0-9][0-9A-Z]$")


@functools.cache
def _blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, last, block), ordered so that the first match of a category is its narrowest block."""
    with files("features.contract").joinpath("data/icd10cm_blocks.csv").open(encoding="utf-8") as f:
        table = pd.read_csv(f, dtype=str, keep_default_na=False)
    # narrowest first: of nested ranges holding a category, the narrowest starts last and ends first
    table = table.sort_values(["first", "last"], ascending=[False, True], kind="stable")
    return table["first"].to_numpy(), table["last"].to_numpy(), table["block"].to_numpy()


def diagnosis_block(code: object) -> str:
    """The ICD-10-CM block of one diagnosis code (e.g. "E11.65" or "E1165" -> "E08-E13"); "?" when none holds it."""
    if not isinstance(code, str):
        return UNKNOWN_BLOCK
    category = code.replace(".", "").strip().upper()[:3]
    if not _CATEGORY.match(category):
        return UNKNOWN_BLOCK
    return _category_block(category)


@functools.cache  # at most 26 x 10 x 36 categories; a scan of the table each costs more than the rest of a line
def _category_block(category: str) -> str:
    first, last, block = _blocks()
    hit = np.flatnonzero((first <= category) & (category <= last))
    return str(block[hit[0]]) if len(hit) else UNKNOWN_BLOCK
