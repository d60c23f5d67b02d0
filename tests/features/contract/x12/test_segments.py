"""The segment reader on real-world variations and on corrupted copies of every public sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract.x12.segments import Transaction, X12Error, read_transactions

SAMPLES = Path(__file__).resolve().parents[5] / "shared" / "x12-samples"
ENVELOPED = sorted(p for p in SAMPLES.glob("83*/*") if "no_envelope" not in p.name) if SAMPLES.is_dir() else []


def _read(text: str) -> list[Transaction | X12Error]:
    return list(read_transactions(text, file="f.x12"))


def _shape(items: list[Transaction | X12Error]) -> list[tuple[str, ...]]:
    return [
        (t.set_id, t.version, *(f"{s.id}:{'|'.join(s.elements)}" for s in t.segments))
        if isinstance(t, Transaction)
        else ("error", t.rule)
        for t in items
    ]


@pytest.fixture(autouse=True)
def _samples_present() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"the public X12 samples are not at {SAMPLES} (../shared/x12-samples next to the repo)")


@pytest.mark.parametrize("path", ENVELOPED, ids=lambda p: p.name)
def test_layout_variations_read_the_same_segments(path: Path) -> None:
    text = path.read_text()
    plain = _shape(_read(text))
    assert len(plain) == 1 and plain[0][0] in ("837", "835")
    one_line = text.replace("\r", "").replace("\n", "")
    crlf = one_line.replace("~", "~\r\n")
    assert _shape(_read("\ufeff" + crlf + "  \n")) == _shape(_read(one_line)) == plain


@pytest.mark.parametrize("path", ENVELOPED, ids=lambda p: p.name)
def test_a_corrupted_copy_quarantines_only_the_broken_transaction(path: Path) -> None:
    good = path.read_text().replace("\r", "").replace("\n", "")
    se = good.index("SE*")
    count = good[se:].split("*")[1]
    wrong_count = good[:se] + good[se:].replace(f"SE*{count}*", f"SE*{int(count) + 1}*", 1)
    truncated = good[:se]  # cut after a whole segment, before SE
    for broken, rule in (
        (wrong_count, f"SE01 must count the {count} segments of the transaction"),
        (truncated, "transaction set ends without SE (file truncated?)"),
    ):
        items = _read(good + "\n" + broken + "\n" + good)
        kinds = ["error" if isinstance(i, X12Error) else i.set_id for i in items]
        assert kinds[0] == kinds[-1] != "error" and "error" in kinds, kinds
        errors = [i for i in items if isinstance(i, X12Error)]
        assert [e.rule for e in errors] == [rule]
    # a file cut in the middle of a segment: the transactions before it still load
    cut = _read(good + good[: se - 3])
    assert isinstance(cut[0], Transaction) and isinstance(cut[1], X12Error) and "SE" in cut[1].rule
    bad_separator = good[:105] + "A" + good[106:]  # the segment terminator may not be a letter
    (error,) = _read(bad_separator)
    assert isinstance(error, X12Error) and "separators" in error.rule
    # between two good interchanges, only the one with broken separators is lost
    items = _read(good + "\n" + bad_separator + "\n" + good)
    assert [type(i).__name__ for i in items] == ["Transaction", "X12Error", "Transaction"]


def test_several_interchanges_groups_and_sets_in_one_file() -> None:
    one = (SAMPLES / "835" / "lfh_managed_care.835").read_text()
    two = (SAMPLES / "837" / "lfh_837p_x222a2_example1.837").read_text()
    items = _read(one + two + one)
    assert [i.set_id for i in items if isinstance(i, Transaction)] == ["835", "837", "835"]


def test_a_4010_interchange_has_no_repetition_separator() -> None:
    text = (SAMPLES / "835" / "lfh_managed_care.835").read_text()
    old = text.replace("*^*00501*", "*U*00401*", 1).replace("005010X221A1", "004010X091A1")
    (tx,) = _read(old)
    assert isinstance(tx, Transaction) and tx.delimiters.repetition is None and tx.version == "004010X091A1"


def test_errors_name_positions_never_values() -> None:
    text = (SAMPLES / "835" / "lfh_managed_care.835").read_text()
    broken = text.replace("SE*", "SE*9", 1)
    (error,) = _read(broken)
    assert isinstance(error, X12Error)
    assert error.message().startswith("f.x12, segment ") and "5554555444" not in error.message()
