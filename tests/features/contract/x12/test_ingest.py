"""A folder of 837s and 835s into a data directory: idempotent, nothing lost, remits waiting for their claim."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.contract.validation import load_validated
from features.contract.x12.ingest import STATE_DIR, IngestReport, _count_unknown_codes, ingest, iter_report_lines

SAMPLES = Path(__file__).resolve().parents[5] / "shared" / "x12-samples"
AMBULANCE = SAMPLES / "837" / "lfh_837p_x222a2_ambulance.837"  # claim 051068, lines 1-4 with REF*6R 1001-1004

ISA = "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *250301*1200*^*00501*000000101*0*P*:~"


def _835(*, control: str, claim_id: str, status: str, paid: str, cas: str, line_control: str = "1002") -> str:
    """A one-claim 835 for a claim of the ambulance sample: line-level CAS on the SVC with REF*6R."""
    body = [
        "ST*835*0001",
        "BPR*I*" + paid + "*C*CHK************20250310",
        "TRN*1*TRACE" + control + "*1512345678",
        "DTM*405*20250308",
        "N1*PR*A PAYER*XV*PAYER1",
        "N1*PE*A PRACTICE*XX*1234567893",
        "LX*1",
        f"CLP*{claim_id}*{status}*766.50*{paid}**MB*PCN{control}",
        "SVC*HC:A0425:RH*8.20*0*",
        f"CAS*{cas}",
        f"REF*6R*{line_control}",
    ]
    body.append(f"SE*{len(body) + 1}*0001")
    return (
        ISA.replace("000000101", f"{int(control):09d}")
        + "GS*HP*PAYER*PRACTICE*20250310*1200*1*X*005010X221A1~"
        + ("~".join(body) + "~GE*1*1~IEA*1*" + f"{int(control):09d}" + "~")
    )


def test_the_public_samples_load_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "data"
    first = ingest([SAMPLES / "837", SAMPLES / "835"], out=out)
    assert first.added["claims"] == 7 and first.added["claim_lines"] == 18  # the README's 837 counts
    assert first.pending_remits == 21  # the 835 samples pay other claims: kept, not dropped
    assert first.added["provider_adjustments"] == 1
    # the envelope-less 835 is reported with a clear rule, and nothing else is quarantined
    assert [(e.file, e.rule) for e in first.quarantined] == [
        ("edi835parser_bcbsnc_st_only_no_envelope.835", "no ISA interchange header: not an X12 interchange")
    ]
    again = ingest([SAMPLES / "837", SAMPLES / "835"], out=out)
    assert again.already_ingested == again.transactions == first.transactions
    assert all(n == 0 for n in again.added.values())
    result = load_validated(out, max_reject_rate=0.0)
    assert len(result.tables["claims"]) == 7 and result.total_quarantined == 0
    quarantine = pd.read_csv(out / STATE_DIR / "quarantine.csv")
    assert len(quarantine) == 1  # reported once, not once per run


def test_a_remit_waits_for_its_claim_and_finds_its_line(tmp_path: Path) -> None:
    out, files = tmp_path / "data", tmp_path / "x12"
    files.mkdir()
    (files / "denial.835").write_text(_835(control="7", claim_id="051068", status="1", paid="0", cas="CO*50*8.20"))
    early = ingest([files / "denial.835"], out=out)
    assert early.pending_remits == 1 and early.added["remits"] == 0
    later = ingest([AMBULANCE, files], out=out)
    assert later.pending_remits == 0 and later.added["remits"] == 1 and later.added["adjustments"] == 1
    tables = load_validated(out, max_reject_rate=0.0).tables
    adj = tables["adjustments"].iloc[0]
    # SVC position 1 in the 835, but REF*6R 1002 is the 837's line 2
    assert (adj["claim_id"], int(adj["line_number"]), adj["group_code"], adj["carc"]) == ("051068", 2, "CO", "50")
    assert later.unknown_codes == {}


def test_codes_the_tables_do_not_know_are_reported(tmp_path: Path) -> None:
    (tmp_path / "odd.835").write_text(_835(control="13", claim_id="051068", status="4", paid="0", cas="CO*Z99*8.20"))
    report = ingest([AMBULANCE, tmp_path / "odd.835"], out=tmp_path / "data")
    assert report.unknown_codes == {"CARC Z99": 1}


def test_a_code_used_after_the_list_deactivated_it_is_reported(tmp_path: Path) -> None:
    # CARC 15 (authorization number missing/invalid) was deactivated on 2018-05-01; this remit is dated 2025-03-10
    (tmp_path / "old.835").write_text(_835(control="14", claim_id="051068", status="4", paid="0", cas="CO*15*8.20"))
    report = ingest([AMBULANCE, tmp_path / "old.835"], out=tmp_path / "data")
    assert report.unknown_codes == {}
    assert report.inactive_codes == {"CARC 15 (deactivated 2018-05-01)": 1}
    lines = list(iter_report_lines(report))
    assert any("deactivated" in line and "CARC 15 (deactivated 2018-05-01) (1)" in line for line in lines)


def test_unknown_and_inactive_codes_are_counted_without_a_row_loop() -> None:
    adjustments = pd.DataFrame(
        {
            "carc": ["15", "15", "16", "Z99", None],
            "remark_codes": ["N29|M15", None, "N29", "N9999| ", "M15"],
            "_remit_date": ["2019-01-01", "2018-04-30", "2016-03-01", "2020-01-01", "2020-01-01"],
        }
    )
    report = IngestReport()
    _count_unknown_codes(adjustments, report)
    assert report.unknown_codes == {"CARC Z99": 1, "RARC N9999": 1}
    assert report.inactive_codes == {"CARC 15 (deactivated 2018-05-01)": 1, "RARC N29 (deactivated 2016-03-01)": 2}


def test_a_broken_transaction_is_quarantined_and_the_rest_of_the_file_loads(tmp_path: Path) -> None:
    good = _835(control="8", claim_id="A1", status="4", paid="0", cas="CO*16*766.50")
    bad = _835(control="9", claim_id="A2", status="4", paid="0", cas="CO*16*766.50").replace("SE*12*", "SE*99*")
    truncated = _835(control="10", claim_id="A3", status="1", paid="5", cas="PR*1*5").split("SE*")[0]
    (tmp_path / "mixed.835").write_text(good + "\n" + bad + "\n" + truncated)
    report = ingest([tmp_path / "mixed.835"], out=tmp_path / "data")
    assert report.transactions == 1 and report.pending_remits == 1
    rules = sorted(e.rule for e in report.quarantined)
    assert rules == [
        "SE01 must count the 12 segments of the transaction",
        "transaction set ends without SE (file truncated?)",
    ]
    text = (tmp_path / "data" / STATE_DIR / "quarantine.csv").read_text()
    assert "766.50" not in text and "A2" not in text  # positions and rules, never values


def test_gzip_files_and_a_resubmission_with_the_same_claim_number(tmp_path: Path) -> None:
    files = tmp_path / "x12"
    files.mkdir()
    original = AMBULANCE.read_text()
    (files / "first.837.gz").write_bytes(gzip.compress(original.encode()))
    # the practice sends the claim again as a replacement (frequency 7) naming the payer's control number
    replacement = original.replace("*41::1*", "*41::7*").replace("000000907", "000000908")
    replacement = replacement.replace("BHT*0019*00*000017712*20050208", "BHT*0019*00*000017799*20050301")
    (files / "paid.835").write_text(_835(control="11", claim_id="051068", status="4", paid="0", cas="CO*4*8.20"))
    out = tmp_path / "data"
    ingest([files], out=out)
    with_ref = replacement.replace(
        "CLM*051068*766.50***41::7*Y*A*Y*Y*P*OA~", "CLM*051068*766.50***41::7*Y*A*Y*Y*P*OA~REF*F8*PCN11~"
    )
    (files / "second.837").write_text(_fix_se(with_ref))
    report = ingest([files], out=out)
    assert report.added["claims"] == 1, [e.message() for e in report.quarantined]
    claims = load_validated(out, max_reject_rate=0.0).tables["claims"].set_index("claim_id")
    assert list(claims.index) == ["051068", "051068#2"]
    assert claims.at["051068#2", "frequency_code"] == "7" and claims.at["051068#2", "original_claim_id"] == "051068"


def _fix_se(text: str) -> str:
    """Recount SE01 after a test added a segment."""
    head, rest = text.split("ST*837*", 1)
    segments = ("ST*837*" + rest).split("~")
    st_to_se = segments[: next(i for i, s in enumerate(segments) if s.strip().startswith("SE*")) + 1]
    se = st_to_se[-1].strip().split("*")
    se[1] = str(len(st_to_se))
    fixed = "~".join([*st_to_se[:-1], "*".join(se)])
    return head + fixed + "~" + "~".join(segments[len(st_to_se) :])


@pytest.fixture(autouse=True)
def _samples_present() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"the public X12 samples are not at {SAMPLES} (../shared/x12-samples next to the repo)")


def test_the_folder_copy_is_untouched(tmp_path: Path) -> None:
    """Ingest reads; it never writes next to the team's files."""
    copy = tmp_path / "in"
    shutil.copytree(SAMPLES / "837", copy)
    before = sorted(p.name for p in copy.iterdir())
    ingest([copy], out=tmp_path / "data")
    assert sorted(p.name for p in copy.iterdir()) == before


def test_flushing_in_small_chunks_gives_the_same_tables(tmp_path: Path) -> None:
    """The row limit only bounds memory: one flush per file writes what one flush at the end writes."""
    tables = []
    for flush_rows in (1, 1_000_000):
        out = tmp_path / f"data-{flush_rows}"
        files = tmp_path / f"x12-{flush_rows}"
        shutil.copytree(SAMPLES / "837", files)
        (files / "denial.835").write_text(_835(control="12", claim_id="051068", status="4", paid="0", cas="CO*50*8"))
        report = ingest([files], out=out, flush_rows=flush_rows)
        assert report.added["claims"] == 7 and report.added["remits"] == 1 and report.pending_remits == 0
        tables.append(load_validated(out, max_reject_rate=0.0).tables)
    for name in ("claims", "claim_lines", "remits", "adjustments"):
        a, b = (t[name].sort_values(list(t[name].columns[:2])).reset_index(drop=True) for t in tables)
        pd.testing.assert_frame_equal(a, b)


def test_a_run_cut_short_changes_nothing_and_the_next_run_reads_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are staged per chunk and joined at the end: a run that dies midway leaves the tables and the
    manifest as they were, so the next run neither loses nor repeats anything."""
    from features.contract.x12 import ingest as ingest_module

    out = tmp_path / "data"
    ingest([AMBULANCE], out=out)
    before = (out / "claims.parquet").read_bytes()
    calls = {"n": 0}
    real_merge = ingest_module._Run.merge

    def dying_merge(self: object, batch: object, *, report: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # a person stops the run, or the machine goes down
        real_merge(self, batch, report=report)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module._Run, "merge", dying_merge)
    with pytest.raises(KeyboardInterrupt):
        ingest([SAMPLES / "837"], out=out, flush_rows=1)
    assert (out / "claims.parquet").read_bytes() == before
    monkeypatch.setattr(ingest_module._Run, "merge", real_merge)
    report = ingest([SAMPLES / "837"], out=out, flush_rows=1)
    assert report.added["claims"] == 6 and report.already_ingested == 1  # the ambulance claim was in already
    claims = load_validated(out, max_reject_rate=0.0).tables["claims"]
    assert len(claims) == 7 and claims["claim_id"].is_unique
    assert not (out / STATE_DIR / ".staged").exists()
