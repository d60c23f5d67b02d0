"""A synthetic world written as X12 and ingested back gives the world's own tables.

What X12 does not carry, and how the comparison treats it (the writer's docstring has the why):
- claims.eligibility_verified: no 837 element; it must come back empty.
- claims.plan_type ``managed_medicaid``: SBR09 ``MC`` reads back as ``medicaid``.
- claims.place_of_service on institutional claims: CLM05-1 is the UB facility type there; comes back empty.
- claim_lines.diagnosis_pointers on institutional lines: SV2 has no pointers; comes back empty.
- remits/adjustments.remit_id: the reader appends the trace number, ``x12_remit_id(remit_id, trace)``.
- adjustments.remark_codes: an 835 carries remarks per claim (MOA) or per line (LQ), not per CAS triplet,
  so every adjustment of a remit's claim level or line comes back with the union of their codes.
- followups: not in X12.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.contract.validation import load_validated
from features.contract.x12.ingest import ingest
from features.contract.x12.segments import X12Error, read_transactions
from features.contract.x12.writer import trace_number, write_x12, x12_remit_id
from synthetic import World, generate_world

KEYS = {
    "claims": ["claim_id"],
    "claim_lines": ["claim_id", "line_number"],
    "remits": ["remit_id"],
    "adjustments": ["remit_id", "line_number", "group_code", "carc", "amount"],
}
NOT_IN_X12 = {"claims": ["eligibility_verified"]}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(claims=2000, months=6, seed=3)


@pytest.fixture(scope="module")
def round_trip(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("x12_round_trip")
    paths = write_x12(world.tables, out_dir=root / "x12", batch_claims=400)
    report = ingest([root / "x12"], out=root / "data")
    assert report.quarantined == [] and report.pending_remits == 0
    result = load_validated(root / "data", max_reject_rate=0.0)
    assert result.total_quarantined == 0
    return paths, result.tables


def _expected(world: World) -> dict[str, pd.DataFrame]:
    """The world's tables after the documented normalisations."""
    t = world.tables
    claims = t["claims"].copy()
    claims["plan_type"] = claims["plan_type"].replace({"managed_medicaid": "medicaid"})
    institutional = claims["claim_type"] == "institutional"
    claims.loc[institutional, "place_of_service"] = None
    lines = t["claim_lines"].copy()
    inst_ids = set(claims.loc[institutional, "claim_id"])
    lines.loc[lines["claim_id"].isin(inst_ids), "diagnosis_pointers"] = None
    facts = claims.set_index("claim_id")
    remits = t["remits"].copy()
    traces = [
        trace_number(
            str(facts.at[c, "payer_id"]), pd.Timestamp(d).strftime("%Y-%m-%d"), str(facts.at[c, "billing_npi"])
        )
        for c, d in zip(remits["claim_id"], remits["remit_date"], strict=True)
    ]
    new_ids = {r: x12_remit_id(r, trace) for r, trace in zip(remits["remit_id"], traces, strict=True)}
    remits["remit_id"] = remits["remit_id"].map(new_ids)
    adjustments = t["adjustments"].copy()
    adjustments["remit_id"] = adjustments["remit_id"].map(new_ids)
    adjustments["remark_codes"] = _remark_union(adjustments)
    return {"claims": claims, "claim_lines": lines, "remits": remits, "adjustments": adjustments}


def _remark_union(adjustments: pd.DataFrame) -> pd.Series:
    """Every row of a remit's claim level (or of one line) gets all of their remark codes, in order."""
    level = adjustments["line_number"].astype("Int64").fillna(-1)
    union: dict[tuple[str, int], str | None] = {}
    for key, codes in zip(zip(adjustments["remit_id"], level, strict=True), adjustments["remark_codes"], strict=True):
        found = union.get(key)
        if isinstance(codes, str) and codes:
            merged = dict.fromkeys([*(found or "").split("|"), *codes.split("|")])
            union[key] = "|".join(c for c in merged if c)
        else:
            union.setdefault(key, found)
    return pd.Series([union[k] for k in zip(adjustments["remit_id"], level, strict=True)], index=adjustments.index)


def _normal(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Sorted by key, one comparable representation per column (dates as ISO text, missing as None)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            values = values.astype("Float64")
        out[column] = values.astype(object).where(values.notna(), None)
    return out.sort_values(KEYS[table], kind="stable", na_position="first").reset_index(drop=True)


@pytest.mark.parametrize("table", list(KEYS))
def test_every_table_comes_back_column_by_column(
    world: World, round_trip: tuple[list[Path], dict[str, pd.DataFrame]], table: str
) -> None:
    _, tables = round_trip
    expected = _normal(_expected(world)[table], table)
    got = _normal(tables[table], table)
    assert list(got.columns) == list(expected.columns)
    for column in NOT_IN_X12.get(table, []):
        assert got[column].isna().all(), f"{table}.{column} is not in X12 and must come back empty"
    for column in expected.columns:
        if column in NOT_IN_X12.get(table, []):
            continue
        pd.testing.assert_series_equal(got[column], expected[column], check_names=False, obj=f"{table}.{column}")


def test_row_counts_and_totals_match(world: World, round_trip: tuple[list[Path], dict[str, pd.DataFrame]]) -> None:
    _, tables = round_trip
    for name in KEYS:
        assert len(tables[name]) == len(world.tables[name]), name
    for name, column in (("claims", "total_charge"), ("claim_lines", "charge"), ("remits", "paid_amount"),
                         ("adjustments", "amount")):  # fmt: skip
        assert round(float(tables[name][column].sum()), 2) == round(float(world.tables[name][column].sum()), 2)


def test_files_are_valid_interchanges_and_batches_respect_the_limit(
    round_trip: tuple[list[Path], dict[str, pd.DataFrame]],
) -> None:
    paths, _ = round_trip
    names = sorted(p.name[:4] for p in paths)
    assert {"837I", "837P", "835_"} <= set(names)
    controls: set[tuple[str, str]] = set()
    for path in paths:
        text = path.read_text(encoding="ascii")
        assert text.startswith("ISA") and text.rstrip().endswith("~")
        items = list(read_transactions(text, file=path.name))
        assert items and not any(isinstance(i, X12Error) for i in items)
        claims = text.count("\nCLM*") + text.count("\nCLP*")
        assert claims <= 400
        controls.add((path.name[:3], text[90:99]))  # ISA13: unique per sender
        assert text.count("\nST*") == int(text.rstrip().splitlines()[-2].split("*")[1])  # GE01
    assert len(controls) == len(paths)


def test_professional_and_institutional_guides(round_trip: tuple[list[Path], dict[str, pd.DataFrame]]) -> None:
    paths, _ = round_trip
    for path in paths:
        head = path.read_text(encoding="ascii")[:400]
        guide = {"837P": "005010X222A1", "837I": "005010X223A2", "835_": "005010X221A1"}[path.name[:4]]
        assert f"*X*{guide}~" in head


def test_the_world_exercises_every_mapping(world: World) -> None:
    """Guards the round trip against passing vacuously: the small world has each case the writer handles."""
    claims, adjustments, remits = (world.tables[n] for n in ("claims", "adjustments", "remits"))
    assert set(claims["frequency_code"]) == {"1", "7", "8"}
    assert claims["secondary_payer_id"].notna().any() and claims["rendering_npi"].isna().any()
    assert (claims["claim_type"] == "institutional").any() and (claims["plan_type"] == "managed_medicaid").any()
    assert claims["prior_auth_number"].notna().any() and claims["referral_number"].notna().any()
    assert adjustments["line_number"].isna().any() and adjustments["remark_codes"].notna().any()
    assert (remits["status_code"] == "22").any() and (adjustments["amount"] < 0).any()


def test_the_same_world_gives_the_same_bytes(world: World, tmp_path: Path) -> None:
    first = write_x12(world.tables, out_dir=tmp_path / "a", batch_claims=1000)
    second = write_x12(world.tables, out_dir=tmp_path / "b", batch_claims=1000)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))


def test_a_value_holding_a_separator_is_refused(world: World, tmp_path: Path) -> None:
    claims = world.tables["claims"].head(3).copy()
    claims["prior_auth_number"] = "PA*1"
    with pytest.raises(ValueError, match="separator"):
        write_x12({**world.tables, "claims": claims}, out_dir=tmp_path)
