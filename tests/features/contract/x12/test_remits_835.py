"""835 -> remits/adjustments: the public sample files map to exactly the counts their README lists, a few
hand-read values per file, and structural problems name a position and a rule, never a value."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from features.contract.schema import ADJUSTMENTS, REMITS
from features.contract.x12.errors import X12MappingError
from features.contract.x12.remits_835 import Remits835, remits_from_835
from features.contract.x12.segments import Transaction, X12Error, read_transactions

SAMPLES = Path(__file__).resolve().parents[5] / "shared" / "x12-samples" / "835"
SECRET = "SECRETPATIENT"

# From ../shared/x12-samples/README.md: claims, service lines, CLP02, CAS group-reason pairs, LQ codes, PLB.
README = {
    "lfh_cob_contractual_adjustment.835": (1, 1, {"2": 1}, {"OA-23": 1, "OA-94": 1}, {}, 0),
    "lfh_managed_care.835": (2, 2, {"1": 2}, {"CO-A2": 2, "PR-1": 2, "CO-45": 1}, {}, 0),
    "lfh_medicare_part_a.835": (2, 0, {"1": 2}, {"CO-45": 2}, {}, 1),
    "lfh_secondary_payment.835": (2, 2, {"2": 2}, {"OA-23": 2, "PR-1": 1, "PR-2": 1, "CO-42": 1}, {}, 0),
    "lfh_tertiary_payment.835": (1, 1, {"3": 1}, {"OA-23": 1}, {}, 0),
    "tigershark_5010_example1_dental_predetermination.835": (
        3,
        9,
        {"25": 1, "1": 2},
        {"PR-42": 5, "PR-2": 2, "OA-101": 1, "CO-42": 1, "PR-32": 1},
        {"N30": 5},
        0,
    ),
    "tigershark_5010_example2_co16_n142.835": (2, 6, {"1": 2}, {"CO-16": 5, "CO-45": 1}, {"N142": 5}, 0),
    "tigershark_5010_example3.835": (2, 2, {"1": 2}, {"PR-29": 1, "PR-3": 1, "CO-45": 1}, {}, 0),
    "edi835parser_emedny_co29_timely_filing.835": (3, 10, {"1": 1, "2": 2}, {"CO-29": 2, "CO-251": 2}, {"N206": 2}, 0),
    "edi835parser_uhc_legacy.835": (2, 5, {"1": 2}, {"CO-45": 4, "PR-1": 2, "PR-2": 1}, {}, 0),
    "pyx12_835_mult_loops_co16_n14.835": (1, 3, {"4": 1}, {"OA-A7": 2, "CO-16": 1}, {"N14": 3}, 0),
}


def transactions(text: str, file: str = "test.835") -> list[Transaction]:
    out = []
    for tx in read_transactions(text, file=file):
        assert not isinstance(tx, X12Error), tx.message()
        out.append(tx)
    return out


def mapped(name: str) -> Remits835:
    (tx,) = transactions((SAMPLES / name).read_text(), name)
    return remits_from_835(tx)


def build(*body: str) -> Transaction:
    """An 835 interchange around ``body`` (segments without terminators) with a correct SE count."""
    isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240102*1200*^*00501*000000001*0*T*:~"
    segments = ["ST*835*0001", *body, f"SE*{len(body) + 2}*0001"]
    text = isa + "GS*HP*S*R*20240102*1200*1*X*005010X221A1~" + "~".join(segments) + "~GE*1*1~IEA*1*000000001~"
    (tx,) = transactions(text)
    return tx


HEADER = (
    "BPR*I*100*C*CHK************20240105",
    "TRN*1*TRACE9*1999999999",
    "DTM*405*20240103",
    "N1*PR*SOME PAYER*XV*PAYER7",
    "N1*PE*SOME CLINIC*XX*1234567893",
    "LX*1",
)


def raised(*body: str) -> X12MappingError:
    with pytest.raises(X12MappingError) as info:
        remits_from_835(build(*body))
    return info.value


def assert_no_values(error: X12MappingError, *values: str) -> None:
    for text in (str(error), error.to_error("remit.835").message()):
        for value in values:
            assert value not in text


# -- the sample files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(README))
def test_sample_counts_match_the_readme(name: str) -> None:
    claims, lines, statuses, cas, lq, plb = README[name]
    r = mapped(name)
    assert len(r.remits) == claims
    assert len(r.lines) == lines
    assert Counter(row["status_code"] for row in r.remits) == statuses
    assert Counter(f"{a['group_code']}-{a['carc']}" for a in r.adjustments) == cas
    line_remarks = {(a["remit_id"], a["line_number"]): a["remark_codes"] for a in r.adjustments if a["line_number"]}
    assert Counter(c for codes in line_remarks.values() if codes for c in str(codes).split("|")) == lq
    assert len({p["plb_number"] for p in r.provider_adjustments}) == plb


@pytest.mark.parametrize("name", sorted(README))
def test_rows_have_the_contract_columns_and_unique_remit_ids(name: str) -> None:
    r = mapped(name)
    for row in r.remits:
        assert list(row) == [*REMITS.names, "_payer_id", "_payee_npi"]
    for adj in r.adjustments:
        assert list(adj) == [*ADJUSTMENTS.names, "_line_control", "_remit_date"]
        assert (adj["claim_id"], adj["remit_id"]) in {(x["claim_id"], x["remit_id"]) for x in r.remits}
    assert len({row["remit_id"] for row in r.remits}) == len(r.remits)


def test_file_without_envelope_is_not_read() -> None:
    (result,) = read_transactions((SAMPLES / "edi835parser_bcbsnc_st_only_no_envelope.835").read_text(), file="f")
    assert isinstance(result, X12Error)


def test_dental_predetermination_is_a_remit_with_status_25() -> None:
    r = mapped("tigershark_5010_example1_dental_predetermination.835")
    pre = r.remits[0]
    assert pre["claim_id"] == "PRECERTIFICATION"
    assert pre["status_code"] == "25"
    assert pre["remit_id"] == "CLAIMNUMBER1-123456789"
    assert pre["paid_amount"] == 0.0 and pre["patient_responsibility"] is None
    assert pre["remit_date"] == "2011-09-30"
    assert pre["_payer_id"] == "1123456789"  # no N104 on N1*PR: TRN03, never the payer's name
    assert pre["_payee_npi"] == "1122334455"
    claim_level = [a for a in r.adjustments if a["line_number"] is None]
    assert claim_level == [
        {
            "claim_id": "PRECERTIFICATION",
            "remit_id": "CLAIMNUMBER1-123456789",
            "line_number": None,
            "group_code": "OA",
            "carc": "101",
            "amount": 122.0,
            "remark_codes": None,
            "_line_control": None,
            "_remit_date": "2011-09-30",
        }
    ]
    third = [a for a in r.adjustments if a["remit_id"] == "CLAIMNUMBER1-123456789" and a["line_number"] == 3]
    assert [(a["group_code"], a["carc"], a["amount"], a["remark_codes"], a["_line_control"]) for a in third] == [
        ("PR", "42", 880.0, "N30", "00030")
    ]
    assert r.lines[6] == ("PRECERTIFICATION", "CLAIMNUMBER1-123456789", 7, "00070")
    assert r.remits[1]["paid_amount"] == 1790.0 and r.remits[1]["patient_responsibility"] == 2000.0
    assert r.lines[7] == ("EDI PAID", "CLAIMNUMBER2-123456789", 1, "00010")


def test_co16_n142_lines_carry_their_lq() -> None:
    r = mapped("tigershark_5010_example2_co16_n142.835")
    assert [x["claim_id"] for x in r.remits] == ["EDI PAID", "EDI DENIED"]
    assert r.remits[0]["patient_responsibility"] is None  # CLP05 empty
    denied = [a for a in r.adjustments if a["claim_id"] == "EDI DENIED"]
    assert [a["amount"] for a in denied] == [9.2, 57.94, 47.0, 18.02, 75.0]
    assert [a["line_number"] for a in denied] == [1, 2, 3, 4, 5]
    assert {a["remark_codes"] for a in denied} == {"N142"}
    paid = [a for a in r.adjustments if a["claim_id"] == "EDI PAID"]
    assert [(a["amount"], a["remark_codes"], a["_line_control"]) for a in paid] == [(1983.0, None, "1")]


def test_example3_patient_responsibility_and_line_cas() -> None:
    r = mapped("tigershark_5010_example3.835")
    assert [(x["remit_id"], x["paid_amount"], x["patient_responsibility"]) for x in r.remits] == [
        ("CLAIMNUMBER1-123456789", 0.0, 1088.0),
        ("CLAIMNUMBER2-123456789", 57.44, 30.0),
    ]
    assert [(a["group_code"], a["carc"], a["amount"]) for a in r.adjustments if a["claim_id"] == "EDI PAID"] == [
        ("PR", "3", 30.0),
        ("CO", "45", 12.56),
    ]


def test_medicare_part_a_moa_remarks_and_plb() -> None:
    r = mapped("lfh_medicare_part_a.835")
    assert [(x["claim_id"], x["paid_amount"]) for x in r.remits] == [("666123", 138018.40), ("777777", 11980.33)]
    assert r.remits[0]["remit_id"] == "1999999444444-12345"
    assert r.remits[0]["remit_date"] == "2002-09-13"  # BPR16, not DTM*405 (2002-09-16)
    assert r.remits[0]["_payer_id"] == "1512345678"
    assert r.remits[0]["_payee_npi"] == "6543210903"
    assert [(a["claim_id"], a["line_number"], a["amount"], a["remark_codes"]) for a in r.adjustments] == [
        ("666123", None, 73348.57, None),  # MIA has no remark codes here
        ("777777", None, 3019.67, "MA02"),  # MOA03
    ]
    assert r.provider_adjustments == [
        {
            "provider_id": "6543210903",
            "fiscal_period_date": "2002-12-31",
            "reason_code": "CV",
            "reference_id": "CP",
            "amount": -1.27,
            "plb_number": 1,
            "trace_number": "12345",
            "remit_date": "2002-09-13",
            "payer_id": "1512345678",
        }
    ]


def test_managed_care_claim_level_cas_and_bad_bpr16_falls_back_to_production_date() -> None:
    r = mapped("lfh_managed_care.835")
    assert [x["remit_date"] for x in r.remits] == ["2002-03-14", "2002-03-14"]  # BPR16 20002316 is not a date
    assert r.remits[1]["remit_id"] == "94077799230000-7170066655"
    assert [(a["line_number"], a["group_code"], a["carc"], a["amount"]) for a in r.adjustments[2:]] == [
        (None, "CO", "A2", 55.0),
        (1, "PR", "1", 600.0),
        (1, "CO", "45", 50.0),
    ]


def test_uhc_second_cas_triplet_and_n1_pr_id() -> None:
    r = mapped("edi835parser_uhc_legacy.835")
    assert [x["claim_id"] for x in r.remits] == ["001-18573-358", "001-18604-358"]
    assert r.remits[1]["paid_amount"] == 261.07 and r.remits[1]["patient_responsibility"] == 115.13
    assert r.remits[0]["_payer_id"] == "87726"  # N1*PR N104
    assert r.remits[0]["remit_date"] == "2021-02-04"
    third = [(a["group_code"], a["carc"], a["amount"]) for a in r.adjustments if a["_line_control"] == "123456789014"]
    assert third == [("PR", "2", 5.13), ("PR", "1", 110.0), ("CO", "45", 184.32)]
    assert r.lines[3] == ("001-18604-358", "ATL2819897800-1234567890", 2, "123456789013")


def test_emedny_same_claim_id_three_adjudications() -> None:
    r = mapped("edi835parser_emedny_co29_timely_filing.835")
    assert {x["claim_id"] for x in r.remits} == {"PATIENT ACCOUNT NUMBER"}
    assert [x["remit_id"] for x in r.remits] == [
        "1000210000000030-10100000000",
        "1000220000000020-10100000000",
        "1000230000000020-10100000000",
    ]
    assert [x["paid_amount"] for x in r.remits] == [34.25, 0.0, 11.5]
    co29 = [(a["remit_id"], a["line_number"], a["amount"]) for a in r.adjustments if a["carc"] == "29"]
    assert co29 == [("1000220000000020-10100000000", 1, 12.0), ("1000220000000020-10100000000", 2, 22.0)]
    assert [a["line_number"] for a in r.adjustments if a["carc"] == "251"] == [3, 4]


def test_cob_files_keep_negative_and_secondary_amounts() -> None:
    cob = mapped("lfh_cob_contractual_adjustment.835")
    assert [a["amount"] for a in cob.adjustments] == [516.0, -9.0]
    assert cob.remits[0]["remit_date"] == "2005-03-18"
    assert cob.remits[0]["_payee_npi"] is None  # N1*PE with FI (tax id), not an NPI
    second = mapped("lfh_secondary_payment.835")
    assert second.remits[0]["claim_id"] == "L0004828311"
    assert second.adjustments[0]["line_number"] is None and second.adjustments[0]["amount"] == 9411.64
    tertiary = mapped("lfh_tertiary_payment.835")
    assert (tertiary.remits[0]["paid_amount"], tertiary.adjustments[0]["amount"]) == (187.5, 1579.0)


def test_pyx12_denied_claim_uses_bpr16() -> None:
    r = mapped("pyx12_835_mult_loops_co16_n14.835")
    assert r.remits[0]["status_code"] == "4"
    assert r.remits[0]["remit_id"] == "4276512332-000000000"  # trace number keeps its leading zeros
    assert r.remits[0]["remit_date"] == "2004-10-28"
    assert [a["amount"] for a in r.adjustments] == [500.04, 127.8, 287.55]


# -- choices the samples do not exercise --------------------------------------------------------------------


def test_reversal_and_correction_with_the_same_control_number() -> None:
    r = remits_from_835(
        build(
            *HEADER,
            "CLP*C1*22*-300*-120*-30*12*PCN1",
            "CAS*CO*45*-150",
            "CAS*PR*2*-30",
            "CLP*C1*1*300*100*30*12*PCN1",
            "CAS*CO*45*170",
            "MOA***MA01*N1",
        )
    )
    assert [(x["remit_id"], x["status_code"], x["paid_amount"]) for x in r.remits] == [
        ("PCN1-TRACE9", "22", -120.0),
        ("PCN1-TRACE9-2", "1", 100.0),
    ]
    assert [(a["remit_id"], a["amount"], a["remark_codes"]) for a in r.adjustments] == [
        ("PCN1-TRACE9", -150.0, None),
        ("PCN1-TRACE9", -30.0, None),
        ("PCN1-TRACE9-2", 170.0, "MA01|N1"),
    ]
    assert r.remits[0]["_payer_id"] == "PAYER7" and r.remits[0]["_payee_npi"] == "1234567893"


def test_no_trn_uses_the_remit_date_and_mia_remarks() -> None:
    body = [s for s in HEADER if not s.startswith("TRN")]
    r = remits_from_835(
        build(*body, "CLP*C1*1*300*100**MA*PCN1", "CAS*CO*45*200", "MIA*0****MA61" + "*" * 15 + "N1*N2")
    )
    assert r.remits[0]["remit_id"] == "PCN1-2024-01-05"
    assert r.remits[0]["_payer_id"] == "PAYER7"
    assert r.adjustments[0]["remark_codes"] == "MA61|N1|N2"


def test_six_cas_triplets_and_plb_pairs() -> None:
    r = remits_from_835(
        build(
            *HEADER,
            "CLP*C1*1*600*0**12*PCN1",
            "SVC*HC:99213*600*0**1",
            "CAS*CO*1*1*1*2*2**3*3**4*4**5*5**6*6",
            "REF*6R*LINE1",
            "LQ*HE*N1",
            "LQ*RX*NOTRARC",
            "LQ*HE*N2",
            "PLB*1234567893*20241231*WO:REF1*10*L6*-2.5",
        )
    )
    assert [(a["carc"], a["amount"], a["line_number"], a["_line_control"]) for a in r.adjustments] == [
        (str(n), float(n), 1, "LINE1") for n in range(1, 7)
    ]
    assert {a["remark_codes"] for a in r.adjustments} == {"N1|N2"}
    assert [(p["reason_code"], p["reference_id"], p["amount"]) for p in r.provider_adjustments] == [
        ("WO", "REF1", 10.0),
        ("L6", None, -2.5),
    ]
    assert {p["trace_number"] for p in r.provider_adjustments} == {"TRACE9"}


# -- structural problems: position and rule, never a value -----------------------------------------------------


def test_malformed_cas_amount() -> None:
    error = raised(*HEADER, f"CLP*{SECRET}*1*300*100**12*PCN1", "CAS*CO*45*12X34")
    assert (error.segment_number, error.segment_id, error.element) == (9, "CAS", 3)
    assert "decimal" in error.rule
    assert_no_values(error, SECRET, "12X34")
    assert error.to_error("remit.835") == X12Error("remit.835", 9, "CAS", 3, error.rule)


@pytest.mark.parametrize("amount", ["nan", "1e5", "", "1_0"])
def test_cas_amount_must_be_a_plain_decimal(amount: str) -> None:
    error = raised(*HEADER, "CLP*C1*1*300*100**12*PCN1", f"CAS*CO*45*{amount}")
    assert (error.segment_id, error.element) == ("CAS", 3)


def test_missing_clp_element() -> None:
    error = raised(*HEADER, f"CLP*{SECRET}*1*300")
    assert (error.segment_number, error.segment_id, error.element) == (8, "CLP", 4)
    assert_no_values(error, SECRET, "300")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ((*HEADER, "CLP**1*300*100"), ("CLP", 1)),
        ((*HEADER, f"CLP*{SECRET}*7*300*100"), ("CLP", 2)),
        ((*HEADER, f"CLP*{SECRET}*1*300*ABC"), ("CLP", 4)),
        ((*HEADER, f"CLP*{SECRET}*1*300*100", "CAS*XX*45*1"), ("CAS", 1)),
        ((*HEADER, f"CLP*{SECRET}*1*300*100", "CAS*CO**1"), ("CAS", 2)),
        ((*HEADER, "CAS*CO*45*1"), ("CAS", None)),
        ((*HEADER, "SVC*HC:99213*1*1"), ("SVC", None)),
        ((*HEADER, f"CLP*{SECRET}*1*300*100", "LQ*HE*N1"), ("LQ", None)),
        ((*HEADER, "PLB*1*2024*WO*1"), ("PLB", 2)),
        ((*HEADER, "PLB*1*20241231*WO*X"), ("PLB", 4)),
        ((*HEADER[1:], f"CLP*{SECRET}*1*300*100"), ("LX", None)),
        (("BPR*I*1*C*CHK", "TRN*1*T*1", "LX*1", "CLP*C*1*1*1"), ("BPR", 16)),
    ],
)
def test_structural_problems(body: tuple[str, ...], where: tuple[str, int | None]) -> None:
    error = raised(*body)
    assert (error.segment_id, error.element) == where
    assert_no_values(error, SECRET)


def test_not_an_835() -> None:
    isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240102*1200*^*00501*000000001*0*T*:~"
    text = isa + "GS*HC*S*R*20240102*1200*1*X*005010X222A1~ST*837*0001~SE*2*0001~GE*1*1~IEA*1*000000001~"
    (tx,) = transactions(text)
    with pytest.raises(X12MappingError) as info:
        remits_from_835(tx)
    assert (info.value.segment_id, info.value.element) == ("ST", 1)
