"""ICD-10-CM blocks, rule by rule: the narrowest published block holding a code's category, dots ignored."""

from __future__ import annotations

from importlib.resources import files

import pandas as pd
import pytest

from features.diagnosis_blocks import UNKNOWN_BLOCK, diagnosis_block


@pytest.mark.parametrize(
    ("code", "block"),
    [
        ("E1165", "E08-E13"),  # diabetes mellitus, written without the dot as on a claim
        ("E11.65", "E08-E13"),  # and with it
        (" m545 ", "M50-M54"),  # case and spaces do not matter
        ("I10", "I10-I1A"),  # a block whose last category ends in a letter
        ("C15.9", "C15-C26"),  # nested in C00-C75 and C00-C96: the narrowest wins
        ("C7A.00", "C7A"),  # compared as text, C7A is its own block, not C76-C80
        ("S72001A", "S70-S79"),  # seventh character extensions are ignored
        ("Z0000", "Z00-Z13"),
        ("XYZ", UNKNOWN_BLOCK),  # in no block
        ("E1", UNKNOWN_BLOCK),  # too short to have a category
        (None, UNKNOWN_BLOCK),
    ],
)
def test_block_of_a_code(code: object, block: str) -> None:
    assert diagnosis_block(code) == block


def test_blocks_nest_or_are_disjoint() -> None:
    """The narrowest-block rule is only well defined when no two blocks partly overlap."""
    with files("features.contract").joinpath("data/icd10cm_blocks.csv").open(encoding="utf-8") as f:
        table = pd.read_csv(f, dtype=str, keep_default_na=False)
    assert len(table) > 250 and (table["first"] <= table["last"]).all()
    spans = list(zip(table["first"], table["last"], strict=True))
    for a_first, a_last in spans:
        for b_first, b_last in spans:
            overlap = a_first <= b_last and b_first <= a_last
            nested = (a_first <= b_first and b_last <= a_last) or (b_first <= a_first and a_last <= b_last)
            assert not overlap or nested, (a_first, a_last, b_first, b_last)
