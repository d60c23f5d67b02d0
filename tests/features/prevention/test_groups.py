"""Procedure groups by CPT/HCPCS section range."""

from __future__ import annotations

import pandas as pd

from features.prevention.groups import (
    OTHER_GROUP,
    group_labels,
    procedure_group,
    procedure_group_of,
    procedure_groups,
)


def test_codes_fall_in_their_section_and_shapes_never_mix() -> None:
    codes = pd.Series(["97110", "97546", "99213", "00100", "0001F", "0042T", "J9035", "E0100", None, " 70450 "])
    assert procedure_group(codes).tolist() == [
        "physical_medicine", "physical_medicine", "em", "anesthesia", OTHER_GROUP, OTHER_GROUP, "hcpcs_j",
        "hcpcs_e", OTHER_GROUP, "rad_diagnostic",
    ]  # fmt: skip


def test_the_table_is_ordered_without_overlaps_and_labelled() -> None:
    table = procedure_groups()
    for shape in (True, False):
        part = table[table["first"].str[0].str.isdigit() == shape].sort_values("first")
        assert (part["first"].to_numpy()[1:] > part["last"].to_numpy()[:-1]).all()
    assert group_labels()["physical_medicine"].endswith("(97010-97799)")


def test_the_one_code_lookup_agrees_with_the_column_lookup() -> None:
    table = procedure_groups()
    codes = [*table["first"], *table["last"], "99213", "27447", "0001F", "0591T", "J3490", "A0021", "X9999", "", "1234"]
    codes += [f"{n:05d}" for n in range(0, 100_000, 997)]
    column = procedure_group(pd.Series(codes))
    assert [procedure_group_of(c) for c in codes] == column.tolist()
