from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import (
    CATEGORIES,
    FOLLOWUP_ACTIONS,
    CodeTableError,
    CodeTables,
    _load_from,
    load_code_tables,
)

DEFAULT_ROUTINE = {
    ("CO", "45"),
    ("CO", "253"),
    ("CO", "A2"),
    ("OA", "23"),
    ("OA", "94"),
    ("PR", "1"),
    ("PR", "2"),
    ("PR", "3"),
    # issue 18: adjustments that reduce or move a payment without refusing it
    ("CO", "237"),
    ("CO", "144"),
    ("CO", "246"),
    ("CO", "59"),
    ("CO", "131"),
    ("CO", "44"),
    ("CO", "104"),
    ("PR", "45"),
    ("PI", "45"),
    ("PR", "66"),
    ("PR", "142"),
    ("PR", "187"),
    ("PR", "241"),
}


@pytest.fixture(scope="module")
def tables() -> CodeTables:
    return load_code_tables()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped tables, for corrupting one file at a time."""
    with as_file(files("features.contract") / "data") as shipped:
        for csv in Path(shipped).glob("*.csv"):
            shutil.copy(csv, tmp_path / csv.name)
    return tmp_path


def test_every_category_and_action_is_valid(tables: CodeTables) -> None:
    assert set(tables.carc["category"]) <= set(CATEGORIES)
    assert set(tables.rarc["category"].dropna()) <= set(CATEGORIES)
    assert set(tables.rarc["action"].dropna()) <= set(FOLLOWUP_ACTIONS)
    assert tuple(tables.categories.index) == CATEGORIES
    assert set(tables.categories["followup_action"]) <= set(FOLLOWUP_ACTIONS)


def test_tables_cover_the_codes_seen_in_denials(tables: CodeTables) -> None:
    assert len(tables.carc) >= 180
    assert (tables.carc["category"] != "other").sum() >= 150
    assert len(tables.rarc) >= 40
    assert {"N211", "MA130", "N290", "N4", "N30", "N115", "N386", "MA04", "M15"} <= set(tables.rarc.index)


def test_codes_are_read_as_strings(tables: CodeTables) -> None:
    assert {"A2", "B7", "B13"} <= set(tables.carc.index)
    assert all(isinstance(code, str) for code in tables.carc.index)


@pytest.mark.parametrize(
    ("carc", "category"),
    [
        ("16", "missing_information"),
        ("197", "authorization"),
        ("29", "timely_filing"),
        ("18", "duplicate"),
        ("50", "medical_necessity"),
        ("27", "eligibility"),
        ("22", "coordination_of_benefits"),
        ("109", "coordination_of_benefits"),
        ("4", "coding"),
        ("11", "coding"),
        ("96", "non_covered"),
        ("B13", "duplicate"),
        ("45", "other"),
    ],
)
def test_known_carc_mappings(tables: CodeTables, carc: str, category: str) -> None:
    assert tables.carc_category(carc) == category
    assert tables.categorize(pd.Series([carc]), pd.Series([None])).iloc[0] == category


def test_unknown_and_untidy_carcs(tables: CodeTables) -> None:
    assert tables.carc_category("999") == "other"
    assert tables.carc_category(" 197 ") == "authorization"
    assert tables.carc_category("b13") == "duplicate"
    result = tables.categorize(pd.Series(["999", None, " 197 ", ""]), pd.Series([None, None, None, None]))
    assert result.tolist() == ["other", "other", "authorization", "other"]


def test_co16_with_no_appeal_remarks_is_missing_information(tables: CodeTables) -> None:
    result = tables.categorize(pd.Series(["16", "16", "16"]), pd.Series(["N211", "M51|MA130", None]))
    # M51 keeps the CARC's category, so MA130 (second in the list) decides.
    assert "M51" in tables.rarc.index
    assert "M51" not in tables.rarc["category"].dropna().index
    assert result.tolist() == ["missing_information"] * 3
    # N211 only says "no appeal": it keeps the CARC's category, so timely filing stays timely filing.
    assert pd.isna(tables.rarc.at["N211", "category"])
    assert tables.categorize(pd.Series(["29"]), pd.Series(["N211"])).tolist() == ["timely_filing"]
    assert tables.rarc_guidance("N211") == ("correct_and_resubmit", False)
    assert tables.rarc_guidance("M51|MA130") == ("correct_and_resubmit", False)
    assert tables.rarc_guidance(None) == (None, None)
    assert tables.rarc_guidance("XX99|N130") == (None, None)


def test_first_overriding_remark_wins(tables: CodeTables) -> None:
    result = tables.categorize(
        pd.Series(["16", "16", "96", "50"]),
        pd.Series(["MA04|N30", "n30 | ma04", "N130|N115", "N14"]),
    )
    assert result.tolist() == [
        "coordination_of_benefits",
        "eligibility",
        "medical_necessity",
        "medical_necessity",
    ]


def test_categorize_keeps_the_input_index(tables: CodeTables) -> None:
    index = pd.Index([10, 3, 3, 7])
    carcs = pd.Series(["18", "29", "4", "16"], index=index)
    result = tables.categorize(carcs, pd.Series([None, "", "N30", "N211"]))
    assert result.index.equals(index)
    assert isinstance(result.dtype, pd.CategoricalDtype)
    assert tuple(result.cat.categories) == CATEGORIES
    assert result.tolist() == ["duplicate", "timely_filing", "eligibility", "missing_information"]


def test_categorize_matches_a_row_by_row_loop(tables: CodeTables) -> None:
    rng = np.random.default_rng(20240601)
    n = 2_000
    carc_pool = np.array([*tables.carc.index, "999", "ZZ", ""], dtype=object)
    rarc_pool = np.array([*tables.rarc.index, "N9999", "xx"], dtype=object)
    carcs = pd.Series(rng.choice(carc_pool, n), index=rng.permutation(n) + 500)
    remarks = []
    for k in rng.integers(0, 4, n):
        remarks.append(None if k == 0 else "|".join(rng.choice(rarc_pool, k)))
    remark_codes = pd.Series(remarks, index=carcs.index)

    overrides = tables.rarc["category"].dropna()

    def one_row(carc: str, remark: object) -> str:
        for code in (remark if isinstance(remark, str) else "").split("|"):
            if code.strip().upper() in overrides.index:
                return str(overrides[code.strip().upper()])
        return tables.carc_category(carc)

    expected = [one_row(c, r) for c, r in zip(carcs, remark_codes, strict=True)]
    assert tables.categorize(carcs, remark_codes).tolist() == expected
    assert len(set(expected)) >= 8  # the sample exercises most categories


def test_default_routine_set_is_the_data_md_default(tables: CodeTables) -> None:
    assert tables.routine == DEFAULT_ROUTINE
    pairs = sorted(DEFAULT_ROUTINE) + [("CO", "16"), ("PR", "96"), ("OA", "18"), ("CO", "1"), ("PI", "59")]
    groups = pd.Series([g for g, _ in pairs])
    carcs = pd.Series([c for _, c in pairs])
    assert tables.is_routine(groups, carcs).tolist() == [True] * len(DEFAULT_ROUTINE) + [False] * 5


def test_every_routine_adjustment_names_its_source(data_copy: Path) -> None:
    shipped = pd.read_csv(data_copy / "routine_adjustments.csv", dtype=str, keep_default_na=False)
    assert list(shipped.columns) == ["group_code", "carc", "short_name", "source"]
    blank = shipped[shipped["source"].str.strip() == ""]
    assert blank.empty, blank
    assert set(shipped["group_code"]) <= {"CO", "PR", "OA", "PI"}


def test_loader_rejects_a_routine_adjustment_without_a_source(data_copy: Path) -> None:
    _append(data_copy / "routine_adjustments.csv", "CO,97,Bundled into another service,  ")
    with pytest.raises(CodeTableError) as error:
        _load_from(data_copy)
    message = str(error.value)
    assert "routine_adjustments.csv" in message
    assert "CO-97" in message
    assert "source must not be blank" in message


def test_is_routine_normalises_and_handles_nulls(tables: CodeTables) -> None:
    result = tables.is_routine(pd.Series([" co", None, "PR", "OA"]), pd.Series(["45 ", "1", None, "23"]))
    assert result.dtype == bool
    assert result.tolist() == [True, False, False, True]


def test_is_routine_with_a_team_defined_set(tables: CodeTables) -> None:
    custom = frozenset({("CO", "45"), ("CO", "97")})
    groups = pd.Series(["CO", "CO", "PR", "CO"], index=[5, 6, 7, 8])
    carcs = pd.Series(["45", "97", "1", "253"], index=[0, 1, 2, 3])
    assert tables.is_routine(groups, carcs, routine=custom).tolist() == [True, True, False, False]
    assert tables.is_routine(groups, carcs).tolist() == [True, False, True, True]


def test_short_names(tables: CodeTables) -> None:
    for frame in (tables.carc, tables.rarc):
        lengths = frame["short_name"].str.len()
        assert lengths.between(1, 60).all(), frame.loc[~lengths.between(1, 60), "short_name"]
    duplicated = tables.carc["short_name"].str.lower().duplicated(keep=False)
    assert not duplicated.any(), tables.carc.loc[duplicated, "short_name"]


def test_category_helpers(tables: CodeTables) -> None:
    for category in CATEGORIES:
        assert tables.label(category)
        assert tables.preventive_action(category)
        assert tables.followup_action(category) in FOLLOWUP_ACTIONS
    assert [c for c in CATEGORIES if not tables.is_avoidable(c)] == ["non_covered", "other"]
    assert tables.followup_action("duplicate") == "verify_status"
    assert tables.followup_action("non_covered") == "bill_patient"
    assert tables.preventive_action("eligibility") == "Verify benefits and active coverage before the visit"
    with pytest.raises(ValueError, match="unknown denial category"):
        tables.label("payer_issue")


def test_loader_is_cached() -> None:
    assert load_code_tables() is load_code_tables()


def test_loader_accepts_an_unchanged_copy(data_copy: Path) -> None:
    assert len(_load_from(data_copy).carc) == len(load_code_tables().carc)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("corrupt", "file", "code"),
    [
        (lambda d: _append(d / "carc.csv", "16,Another name for sixteen,coding"), "carc.csv", "16"),
        (lambda d: _append(d / "carc.csv", "X99,Made-up code,payer_issue"), "carc.csv", "X99"),
        (lambda d: _append(d / "carc.csv", "X98," + "n" * 61 + ",other"), "carc.csv", "X98"),
        (lambda d: _append(d / "rarc.csv", "X1,Made-up remark,,resubmit,"), "rarc.csv", "X1"),
        (lambda d: _append(d / "rarc.csv", "X2,Made-up remark,,,maybe"), "rarc.csv", "X2"),
        (lambda d: _append(d / "rarc.csv", "N211,Second N211,,,"), "rarc.csv", "N211"),
        (
            lambda d: _replace(d / "categories.csv", "duplicate,Duplicate", "duplicated,Duplicate"),
            "categories.csv",
            "duplicated",
        ),
        (
            lambda d: _replace(d / "categories.csv", ",verify_status,", ",call_payer,"),
            "categories.csv",
            "duplicate",
        ),
        (
            lambda d: _replace(
                d / "categories.csv", "timely_filing,Timely filing,true", "timely_filing,Timely filing,yes"
            ),
            "categories.csv",
            "timely_filing",
        ),
        (lambda d: _replace(d / "carc.csv", ",1995-01-01,", ",01/01/1995,"), "carc.csv", "'1'"),
        (lambda d: _replace(d / "carc.csv", ",1995-01-01,2018-05-01,", ",1995-01-01,1994-05-01,"), "carc.csv", "15"),
        (lambda d: _replace(d / "rarc.csv", "inpatient.,1997-01-01,", "inpatient.,1997-02-30,"), "rarc.csv", "M2"),
        (lambda d: _append(d / "rarc.csv", "X3,Dated but not described,,,,,2020-01-01,,"), "rarc.csv", "X3"),
        (
            lambda d: _append(d / "routine_adjustments.csv", "CO,X77,Not a real code,X12 CARC list"),
            "routine_adjustments.csv",
            "X77",
        ),
        (
            lambda d: _append(d / "routine_adjustments.csv", "PR,1,Deductible again,X12 CARC list"),
            "routine_adjustments.csv",
            "PR-1",
        ),
    ],
)
def test_loader_rejects_a_corrupted_table(
    data_copy: Path, corrupt: Callable[[Path], None], file: str, code: str
) -> None:
    corrupt(data_copy)
    with pytest.raises(CodeTableError) as error:
        _load_from(data_copy)
    assert file in str(error.value)
    assert code in str(error.value)


def test_loader_rejects_missing_category_row(data_copy: Path) -> None:
    path = data_copy / "categories.csv"
    path.write_text("".join(line for line in path.open() if not line.startswith("coding,")), encoding="utf-8")
    with pytest.raises(CodeTableError, match=r"categories\.csv: category 'coding'"):
        _load_from(data_copy)


def test_loader_rejects_wrong_columns(data_copy: Path) -> None:
    _replace(data_copy / "carc.csv", "carc,short_name,category", "code,short_name,category")
    with pytest.raises(CodeTableError, match=r"carc\.csv: columns"):
        _load_from(data_copy)


def test_code_na_is_not_read_as_missing(data_copy: Path) -> None:
    _append(data_copy / "rarc.csv", "NA,A code spelled like a null,,,")
    assert "NA" in _load_from(data_copy).rarc.index


def test_every_shipped_code_has_its_published_meaning_and_dates(tables: CodeTables) -> None:
    for frame in (tables.carc, tables.rarc):
        assert (frame["description"].str.len() > 0).all()
        assert frame["start_date"].notna().all()
        for column in ("start_date", "stop_date", "last_modified"):
            assert pd.api.types.is_datetime64_any_dtype(frame[column])
        stopped = frame["stop_date"].notna()
        assert (frame.loc[stopped, "stop_date"] >= frame.loc[stopped, "start_date"]).all()
    # the full published lists, not just the codes ClaimSight maps (counts of the copy in code_lists.yaml)
    assert len(tables.carc) == 407 and int(tables.carc["stop_date"].notna().sum()) == 110
    assert len(tables.rarc) == 1198 and int(tables.rarc["stop_date"].notna().sum()) == 79
    assert tables.as_of("CARC") == "2025-11-01" and tables.as_of("RARC") == "2026-03-01"


def test_describe_names_the_published_meaning_and_never_guesses(tables: CodeTables) -> None:
    assert "coordination of benefits" in (tables.describe_carc(" 22 ") or "")
    assert tables.describe_carc("308") == (
        "Payment is adjusted due to contracted funding agreement between the payer and provider."
    )
    assert tables.describe_rarc("n19") == "Procedure code incidental to primary procedure."
    assert (tables.describe_rarc("N1") or "").startswith("Alert: You may appeal")
    assert tables.describe_carc("Z99") is None
    assert tables.describe_rarc("N9999") is None


def test_a_deactivated_code_is_active_before_its_stop_date_only(tables: CodeTables) -> None:
    # CARC 15 (authorization number missing/invalid): Start 01/01/1995, Stop 05/01/2018
    assert tables.carc_active_on("15", "2018-04-30") is True
    assert tables.carc_active_on("15", dt.date(2018, 5, 1)) is False
    assert tables.carc_active_on("15", "1994-12-31") is False  # before the list started it
    assert tables.carc_active_on("16", "2026-01-01") is True
    assert tables.carc_active_on("Z99", "2020-01-01") is None
    assert tables.rarc_active_on("N29", "2016-02-29") is True  # N29: Stop 03/01/2016
    assert tables.rarc_active_on("N29", "2016-03-01") is False


def test_deactivated_on_is_vectorised_and_tolerates_nulls(tables: CodeTables) -> None:
    codes = pd.Series(["15", " 15", "16", None, "Z99", "15", "15"])
    dates = pd.Series(["2018-04-30", "2019-01-01", "2030-01-01", "2020-01-01", "2020-01-01", None, "not a date"])
    assert tables.deactivated_on("CARC", codes, dates).tolist() == [False, True, False, False, False, False, False]
    assert tables.deactivated_on("RARC", pd.Series(["N29"]), pd.Series(["2016-03-01"])).tolist() == [True]
    with pytest.raises(ValueError, match="rows"):
        tables.deactivated_on("CARC", codes, dates.iloc[:2])


def test_a_code_the_list_does_not_have_is_kept_without_dates(data_copy: Path) -> None:
    _append(data_copy / "carc.csv", "X97,A payer's own code,other,,,,")
    loaded = _load_from(data_copy)
    assert loaded.carc_category("X97") == "other"
    assert loaded.describe_carc("X97") is None
    assert loaded.carc_active_on("X97", "2020-01-01") is True
