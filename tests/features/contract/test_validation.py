"""Every quarantine reason and every contract error, on tiny hand-built histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import History, three_paid_claims

from features.contract.tables_io import ContractError, read_tables
from features.contract.validation import (
    RejectRateExceeded,
    load_validated,
    parse_number,
    validate_tables,
    write_quarantine,
)


def reasons(h: History, table: str) -> list[str]:
    res = h.validated(max_reject_rate=1.0)
    return list(res.quarantine[table]["reason"])


def test_clean_history_has_no_quarantine() -> None:
    res = three_paid_claims().validated()
    assert res.total_quarantined == 0
    assert res.report.empty
    assert len(res.tables["claims"]) == 3
    assert res.tables["claims"]["submitted_at"].dtype.kind == "M"
    assert res.tables["claims"]["total_charge"].dtype == "float64"


@pytest.mark.parametrize(
    ("table", "row", "field", "value", "reason"),
    [
        ("claims", 0, "submitted_at", "2024-13-45", "submitted_at: not a date in YYYY-MM-DD form"),
        ("claims", 0, "service_from", "01/05/2024", "service_from: not a date in YYYY-MM-DD form"),
        ("claims", 0, "total_charge", "12,50", "total_charge: not a decimal amount"),
        ("claims", 0, "total_charge", "-5.00", "total_charge: must not be negative"),
        ("claims", 0, "payer_id", None, "payer_id: required value missing"),
        ("claims", 0, "plan_type", "premium", "plan_type: must be one of"),
        ("claims", 0, "eligibility_verified", "maybe", "eligibility_verified: not true/false"),
        ("claims", 0, "frequency_code", "9", "frequency_code: must be one of 1, 7, 8"),
        ("claims", 0, "service_from", "2024-02-01", "service_from: after submitted_at"),
        ("claim_lines", 0, "charge", "-1", "charge: must not be negative"),
        ("claim_lines", 0, "units", "1.5", "units: not a whole number"),
        ("claim_lines", 0, "procedure_code", None, "procedure_code: required value missing"),
        ("remits", 0, "remit_date", "yesterday", "remit_date: not a date in YYYY-MM-DD form"),
        ("remits", 0, "paid_amount", "abc", "paid_amount: not a decimal amount"),
        ("remits", 0, "status_code", "99", "status_code: must be one of"),
        ("adjustments", 0, "group_code", "XX", "group_code: must be one of CO, PR, OA, PI, CR"),
        ("adjustments", 0, "amount", "n/a", "amount: not a decimal amount"),
    ],
)
def test_bad_value_goes_to_quarantine_with_its_reason(
    table: str, row: int, field: str, value: object, reason: str
) -> None:
    h = three_paid_claims()
    h.rows[table][row][field] = value
    res = h.validated(max_reject_rate=1.0)
    q = res.quarantine[table]
    assert len(q) == 1
    assert q["reason"].str.contains(reason, regex=False).all()
    assert len(res.tables[table]) == len(h.rows[table]) - 1


def test_duplicate_key_quarantines_every_copy_and_orphans_children() -> None:
    h = three_paid_claims()
    h.claim("C1", lines=0)  # a second claim row with the same claim_id
    res = h.validated(max_reject_rate=1.0)
    assert list(res.quarantine["claims"]["reason"]) == ["claim_id: duplicate key"] * 2
    # lines, remits and adjustments of the ambiguous claim follow it into quarantine
    assert set(res.quarantine["claim_lines"]["reason"]) == {"claim_id: refers to a quarantined row"}
    assert len(res.quarantine["claim_lines"]) == 2
    assert len(res.quarantine["remits"]) == 1
    assert len(res.quarantine["adjustments"]) == 1
    assert set(res.tables["claims"]["claim_id"]) == {"C2", "C3"}


def test_duplicate_line_key() -> None:
    h = three_paid_claims()
    h.rows["claim_lines"].append(dict(h.rows["claim_lines"][0]))
    assert reasons(h, "claim_lines") == ["claim_id+line_number: duplicate key"] * 2


@pytest.mark.parametrize("table", ["claim_lines", "remits", "adjustments", "followups"])
def test_rows_pointing_at_an_unknown_claim(table: str) -> None:
    h = three_paid_claims()
    if table == "claim_lines":
        h.rows[table].append({"claim_id": "GHOST", "line_number": 1, "procedure_code": "99213", "charge": 1.0})
    elif table == "remits":
        h.remit("GHOST", date="2024-02-01")
    elif table == "adjustments":
        h.adj("GHOST", "R0001", "CO", "45", 1.0)
    else:
        h.followup("GHOST", action="appeal", date="2024-03-01")
    assert "claim_id: refers to an unknown claim" in reasons(h, table)[0]


def test_adjustment_pointing_at_unknown_or_foreign_remit() -> None:
    h = three_paid_claims()
    h.adj("C1", "R9999", "CO", "16", 5.0)
    h.adj("C1", "R0002", "CO", "16", 5.0)  # R0002 adjudicates C2
    assert reasons(h, "adjustments") == ["remit_id: refers to an unknown remit", "remit_id: belongs to another claim"]


def test_replacement_rules() -> None:
    h = three_paid_claims()
    h.claim("R1", frequency="7", original="NOPE")
    h.claim("R2", frequency="7")
    h.claim("R3", frequency="7", original="R1")  # chains to a quarantined replacement
    h.claim("R4", frequency="7", original="C1")  # fine
    res = h.validated(max_reject_rate=1.0)
    q = res.quarantine["claims"].set_index("claim_id")["reason"]
    assert q["R1"] == "original_claim_id: refers to an unknown claim"
    assert q["R2"] == "original_claim_id: required for frequency 7 or 8"
    assert q["R3"] == "original_claim_id: refers to a quarantined row"
    assert "R4" in set(res.tables["claims"]["claim_id"])


def test_followup_outcome_before_action() -> None:
    h = three_paid_claims()
    h.followup("C1", action="appeal", date="2024-03-01", outcome="upheld", outcome_date="2024-02-01")
    assert reasons(h, "followups") == ["outcome_date: before action_date"]


def test_several_reasons_on_one_row_are_all_reported() -> None:
    h = three_paid_claims()
    h.rows["claims"][0].update(total_charge="-3", plan_type="premium")
    reason = reasons(h, "claims")[0]
    assert "total_charge: must not be negative" in reason and "plan_type: must be one of" in reason


def test_counts_match_injected_bad_rows_and_nothing_is_lost() -> None:
    h = three_paid_claims()
    for i in range(40):
        h.claim(f"X{i}")
    bad = [3, 7, 11, 19, 23]
    for n in bad:
        h.rows["claims"][n]["total_charge"] = "-1"
    res = h.validated(max_reject_rate=1.0)
    assert len(res.quarantine["claims"]) == len(bad)
    assert len(res.tables["claims"]) + len(res.quarantine["claims"]) == len(h.rows["claims"])
    assert res.report.set_index(["table", "reason"]).loc[("claims", "total_charge: must not be negative"), "rows"] == 5


def test_reject_rate_threshold_fails_loudly() -> None:
    h = three_paid_claims()
    h.rows["claims"][0]["total_charge"] = "-1"
    with pytest.raises(RejectRateExceeded, match="claims 33.3%") as info:
        h.validated(max_reject_rate=0.05)
    assert info.value.exit_code == 3
    assert len(info.value.result.quarantine["claims"]) == 1


def test_quarantine_files_hold_rows_and_reasons(tmp_path: Path) -> None:
    h = three_paid_claims()
    h.rows["claims"][1]["submitted_at"] = "bad"
    res = h.validated(max_reject_rate=1.0)
    written = write_quarantine(res, quarantine_dir=tmp_path / "quarantine")
    q = pd.read_csv(tmp_path / "quarantine" / "claims.csv", dtype=str)
    assert [p.name for p in written] == ["claims.csv", "claim_lines.csv", "remits.csv", "adjustments.csv"]
    assert q.loc[0, "claim_id"] == "C2" and q.loc[0, "submitted_at"] == "bad"
    assert q.loc[0, "reason"] == "submitted_at: not a date in YYYY-MM-DD form"


# ---- contract errors (exit code 2) ------------------------------------------------------------------


def test_reads_csv_directory_end_to_end(tmp_path: Path) -> None:
    raw = read_tables(three_paid_claims().write_csv(tmp_path))
    res = validate_tables(raw)
    assert res.total_quarantined == 0 and len(res.tables["remits"]) == 3


@pytest.mark.parametrize("lazy", [False, True])
def test_missing_required_column_names_table_and_column(tmp_path: Path, lazy: bool) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    df = pd.read_csv(d / "remits.csv", dtype=str).drop(columns=["remit_date"])
    df.to_csv(d / "remits.csv", index=False)
    with pytest.raises(ContractError, match="table remits: missing required column remit_date") as info:
        read_tables(d, lazy=lazy)  # lazy: from the header, before any row is read
    assert info.value.exit_code == 2


def test_unknown_table_name(tmp_path: Path) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    (d / "claim.csv").write_text("claim_id\nC1\n")
    with pytest.raises(ContractError, match="claim.csv: unknown table name 'claim'"):
        read_tables(d)


def test_missing_table_and_both_formats(tmp_path: Path) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    (d / "remits.csv").unlink()
    with pytest.raises(ContractError, match="table remits: no remits.csv or remits.parquet"):
        read_tables(d)
    (d / "remits.csv").write_text("x\n")
    (d / "remits.parquet").write_bytes(b"")
    with pytest.raises(ContractError, match="both remits.csv and remits.parquet"):
        read_tables(d)


@pytest.mark.parametrize("lazy", [False, True])
def test_unreadable_file_does_not_echo_content(tmp_path: Path, lazy: bool) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    (d / "claims.csv").unlink()
    (d / "claims.parquet").write_bytes(b"SECRET-PATIENT-NAME not a parquet file")
    with pytest.raises(ContractError, match="claims.parquet is not a Parquet file") as info:
        read_tables(d, lazy=lazy)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("lazy", [False, True])
def test_unknown_columns_are_ignored_and_reported(tmp_path: Path, lazy: bool) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    df = pd.read_csv(d / "claims.csv", dtype=str)
    df["patient_name"] = "x"
    df.to_csv(d / "claims.csv", index=False)
    raw = read_tables(d, lazy=lazy)
    assert raw.ignored_columns == {"claims": ["patient_name"]}
    assert "patient_name" not in raw.frames["claims"].columns


def test_load_validated_takes_a_str_path_as_well_as_a_path(tmp_path: Path) -> None:
    d = three_paid_claims().write_csv(tmp_path)
    from_str = load_validated(str(d), max_reject_rate=0.0, quarantine_dir=str(tmp_path / "q"))
    from_path = load_validated(Path(d), max_reject_rate=0.0)
    assert from_str.tables.keys() == from_path.tables.keys()
    for name, table in from_str.tables.items():
        pd.testing.assert_frame_equal(table, from_path.tables[name])
    assert (tmp_path / "q").is_dir() and (Path(d) / "quarantine").is_dir()


# Arrow's parser is a fast path for pandas' (features.contract.validation.parse_number): the tokens pandas
# and Arrow read differently, or one reads and the other refuses, beside plain numbers.
TRICKY_NUMBERS = (
    "12.50", "0", "-3", "007", "1.0", "+1", ".5", "1.", "-0", "1e3", "1E3", "1e+3", "0.1e-2", "1e400", "1e-400",
    "inf", "-inf", "Infinity", "INF", "nan", "NaN", "0x10", "0b1", "1j", "1,000", "1_000", "--1", "1e", "e1",
    "-", "+", ".", "1.5.2", "$5", "5%", "\u22121", "\u0661\u0662", "9007199254740993", "9223372036854775808",
)  # fmt: skip


@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("token", TRICKY_NUMBERS)
def test_fast_number_parse_reads_what_pandas_reads(token: str, integer: bool) -> None:
    text = pd.Series(["2", token, None], dtype="string")
    fast = parse_number(text, integer=integer).astype("float64").to_numpy()
    slow = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    np.testing.assert_array_equal(fast, slow)
    assert (np.signbit(fast) == np.signbit(slow)).all()


def test_fast_number_parse_of_a_clean_column_is_exact() -> None:
    values = np.round(np.random.default_rng(3).gamma(2.0, 150.0, 5000), 2)
    text = pd.Series(values.astype(str), dtype="string")
    text[::7] = None
    fast = parse_number(text, integer=False)
    assert fast.isna().sum() == len(text[::7])
    np.testing.assert_array_equal(fast.astype("float64").to_numpy(), pd.to_numeric(text).astype("float64").to_numpy())


def test_a_subset_of_tables_keeps_and_quarantines_what_all_tables_do(tmp_path: Path) -> None:
    """Scoring reads claims, lines and remits only: leaving the child tables on disk changes nothing in these."""
    h = three_paid_claims()
    for i in range(12):
        h.claim(f"X{i}")
    h.claim("C1", lines=0)  # duplicate claim: its lines, remits and adjustments are orphaned
    h.rows["claims"][5]["total_charge"] = "-1"
    h.remit("GHOST", date="2024-02-01")
    h.adj("C2", "R9999", "CO", "16", 5.0)  # a bad adjustment never touches its claim or remit
    h.followup("C3", action="appeal", date="2024-03-01")
    data = h.write_csv(tmp_path / "data")
    every = load_validated(data, max_reject_rate=1.0, quarantine_dir=tmp_path / "q_all")
    some = load_validated(
        data, max_reject_rate=1.0, quarantine_dir=tmp_path / "q_some", tables=("claims", "claim_lines", "remits")
    )
    assert sorted(some.tables) == ["claim_lines", "claims", "remits"]
    for name in some.tables:
        pd.testing.assert_frame_equal(some.tables[name], every.tables[name])
        pd.testing.assert_frame_equal(some.quarantine[name], every.quarantine[name])
    assert len(every.quarantine["adjustments"]) and not (tmp_path / "q_some" / "adjustments.csv").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_read_when_asked_for_validate_as_tables_read_at_once(tmp_path: Path, fmt: str) -> None:
    """`load_validated` reads lazily (one table's text at a time, the quarantined rows read again at the end):
    the same valid rows, quarantined rows with their text and reasons, and report as reading every table first."""
    h = three_paid_claims()
    for i in range(12):
        h.claim(f"X{i}")
    h.claim("C1", lines=0)  # duplicate claim: its lines, remits and adjustments are orphaned
    h.rows["claims"][5]["total_charge"] = "-1"
    h.rows["claims"][6]["submitted_at"] = " 2024-02-30 "
    h.rows["claims"][7].update(total_charge="12,00", service_from="yesterday")  # two columns' reasons, one row
    h.remit("GHOST", date="2024-02-01")
    h.adj("C2", "R9999", "CO", "16", 5.0)
    h.followup("C3", action="appeal", date="2024-03-01")
    data = h.write_csv(tmp_path / "data")
    if fmt == "parquet":
        for path in list(data.glob("*.csv")):
            pd.read_csv(path, dtype=str, keep_default_na=False).to_parquet(path.with_suffix(".parquet"))
            path.unlink()
    lazy = read_tables(data, lazy=True)
    assert lazy.frames["claims"] is not lazy.frames["claims"]  # read again each time, never kept
    eager, by_parts = (
        validate_tables(read_tables(data), max_reject_rate=1.0),
        validate_tables(lazy, max_reject_rate=1.0),
    )
    # and with the columns parsed, and the references looked up, two at a time
    threaded = validate_tables(read_tables(data, lazy=True), max_reject_rate=1.0, threads=2)
    assert by_parts.total_quarantined == threaded.total_quarantined == eager.total_quarantined > 0
    for other in (by_parts, threaded):
        for name in eager.tables:
            pd.testing.assert_frame_equal(other.tables[name], eager.tables[name])
            pd.testing.assert_frame_equal(other.quarantine[name], eager.quarantine[name])
        pd.testing.assert_frame_equal(other.report, eager.report)
    assert "; " in eager.quarantine["claims"]["reason"].str.cat()  # a row with two reasons
    assert lazy.formats == {name: fmt for name in eager.tables}


@pytest.mark.parametrize(
    ("tables", "message"),
    [(("claim_lines",), "claim_lines without claims"), (("claims", "adjustments"), "adjustments without remits")],
)
def test_a_subset_without_a_tables_parent_is_refused(tmp_path: Path, tables: tuple[str, ...], message: str) -> None:
    data = three_paid_claims().write_csv(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_validated(data, max_reject_rate=1.0, tables=tables)
