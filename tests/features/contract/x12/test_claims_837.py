"""837 claims to DATA.md rows: the six public sample files checked field by field against the files, and
synthetic transactions for the cases the samples lack (replacements, spans, COB, 4010, broken claims)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from features.contract.schema import CLAIM_LINES, CLAIMS, PLAN_TYPES
from features.contract.x12.claims_837 import (
    FREQUENCY_BY_CLM05_3,
    PLAN_TYPE_BY_FILING_INDICATOR,
    Claims837,
    claims_from_837,
)
from features.contract.x12.errors import X12MappingError
from features.contract.x12.segments import Transaction, X12Error, read_transactions

SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "x12-samples" / "837"


def _sample(name: str) -> Claims837:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"public X12 samples not found at {SAMPLES}")
    [tx] = list(read_transactions(path.read_text(), file=name))
    assert isinstance(tx, Transaction)
    return claims_from_837(tx)


ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240110*1200*^*00501*000000001*0*T*:"
BILLING = ["HL*1**20*1", "PRV*BI*PXC*207Q00000X", "NM1*85*2*CLINIC*****XX*1111111111"]
SUBSCRIBER = [
    "HL*2*1*22*0",
    "SBR*P*18*******CI",
    "NM1*IL*1*DOE*JOHN****MI*MEMBER123",
    "DMG*D8*19800115*M",
    "NM1*PR*2*PAYER*****PI*PAYER1",
]
LINE = ["LX*1", "SV1*HC:99213*100.00*UN*1***1", "DTP*472*D8*20240105"]


def _tx(body: list[str], version: str = "005010X222A2", bht_date: str = "20240110") -> Transaction:
    """An ISA/GS/ST..SE/GE/IEA around ``body`` with the SE count right, read by the real segment reader."""
    isa = ISA if version.startswith("005") else ISA.replace("*^*00501*", "*U*00401*")
    assert len(isa) == 105
    segments = [f"ST*837*0001*{version}", f"BHT*0019*00*1*{bht_date}*1200*CH", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    text = "~".join([isa, f"GS*HC*S*R*20240110*1200*1*X*{version}", *segments, "GE*1*1", "IEA*1*000000001"]) + "~"
    [tx] = list(read_transactions(text, file="synthetic.837"))
    assert isinstance(tx, Transaction), tx
    return tx


def _one(body: list[str], **kwargs: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    out = claims_from_837(_tx(body, **kwargs))
    [claim] = out.claims
    return claim, out.lines


# --------------------------------------------------------------------------------------------------
# The six sample files


@pytest.mark.parametrize(
    ("name", "claims", "lines"),
    [
        ("lfh_837p_x222a2_example1.837", 1, 4),
        ("lfh_837p_x222a2_cob_example3a.837", 1, 3),
        ("lfh_837p_x222a2_ambulance.837", 1, 4),
        ("lfh_837p_x222a2_drug.837", 1, 2),
        ("lfh_837i_x223a3_institutional.837", 1, 2),
        ("lfh_837i_x223a3_two_claims.837", 2, 3),
    ],
)
def test_samples_have_the_counts_the_readme_lists_and_exact_contract_keys(name: str, claims: int, lines: int) -> None:
    out = _sample(name)
    assert (len(out.claims), len(out.lines)) == (claims, lines)
    assert all(list(c) == CLAIMS.names for c in out.claims)
    assert all(list(line) == CLAIM_LINES.names for line in out.lines)
    for claim in out.claims:
        assert all(claim[c] is not None for c in CLAIMS.required), claim
        assert claim["eligibility_verified"] is None  # X12 does not carry it
    for line in out.lines:
        assert all(line[c] is not None for c in CLAIM_LINES.required), line


def test_837p_example1_dependant_patient_and_line_dates() -> None:
    out = _sample("lfh_837p_x222a2_example1.837")
    [claim] = out.claims
    assert claim["claim_id"] == "26463774"
    assert claim["total_charge"] == 100.00
    assert claim["frequency_code"] == "1" and claim["original_claim_id"] is None
    assert claim["place_of_service"] == "11"
    assert claim["claim_type"] == "professional"
    assert claim["billing_npi"] == "1912301953"
    assert claim["rendering_npi"] is None  # no 2310B: the billing provider rendered it
    assert claim["specialty"] == "203BF0100Y"  # PRV*BI
    assert claim["payer_id"] == "999996666"
    assert claim["plan_type"] == "commercial"  # SBR09 CI
    assert claim["secondary_payer_id"] is None
    assert claim["diagnosis_codes"] == "0340|V7389"
    # 2000C patient (PAT*19): a key under the subscriber's member id, and the patient's own DMG.
    assert str(claim["patient_id"]).startswith("JS00111223333-")
    assert (claim["patient_birth_date"], claim["patient_sex"]) == ("1973-05-01", "M")
    # No claim-level date: min/max over the lines (2006-10-03 and 2006-10-10).
    assert (claim["service_from"], claim["service_to"]) == ("2006-10-03", "2006-10-10")
    assert claim["submitted_at"] == "2006-10-15"  # BHT04
    assert [
        (x["line_number"], x["procedure_code"], x["charge"], x["units"], x["diagnosis_pointers"]) for x in out.lines
    ] == [
        (1, "99213", 40.0, 1, "1"),
        (2, "87070", 15.0, 1, "1"),
        (3, "99214", 35.0, 1, "2"),
        (4, "86663", 10.0, 1, "2"),
    ]
    assert all(x["modifiers"] is None and x["revenue_code"] is None for x in out.lines)
    assert out.line_controls == []


def test_837p_cob_example3a_rendering_facility_and_other_subscriber() -> None:
    out = _sample("lfh_837p_x222a2_cob_example3a.837")
    [claim] = out.claims
    assert claim["claim_id"] == "26407789"
    assert claim["total_charge"] == 79.04
    assert claim["billing_npi"] == "1999996666"
    assert claim["rendering_npi"] == "1999996666"  # NM1*82
    assert claim["specialty"] == "204C00000X"  # PRV*PE
    assert claim["facility_id"] == "1581234567"  # NM1*77
    assert claim["place_of_service"] == "11"
    assert claim["payer_id"] == "999996666"
    # The 2330A other subscriber (NM1*IL T55TY666) must not replace the claim's subscriber.
    assert str(claim["patient_id"]).startswith("111223333-")
    assert (claim["patient_birth_date"], claim["patient_sex"]) == ("1973-05-01", "M")  # patient, not subscriber
    # The 2320 loop here has no 2330B payer (NM1*PR): another coverage, but no id to report.
    assert claim["secondary_payer_id"] is None
    assert claim["diagnosis_codes"] == "4779|2724|2780|53081"
    assert (claim["service_from"], claim["service_to"]) == ("2005-10-03", "2005-10-03")
    assert claim["submitted_at"] == "2005-10-15"
    assert [(x["procedure_code"], x["charge"], x["diagnosis_pointers"]) for x in out.lines] == [
        ("99213", 43.0, "1|2|3|4"),
        ("90782", 15.0, "1|2"),
        ("J3301", 21.04, "1|2"),
    ]


def test_837p_ambulance_modifiers_units_pointers_and_line_controls() -> None:
    out = _sample("lfh_837p_x222a2_ambulance.837")
    [claim] = out.claims
    assert claim["claim_id"] == "051068"
    assert claim["total_charge"] == 766.50
    assert claim["place_of_service"] == "41"  # CLM05 41::1
    assert claim["billing_npi"] == "2366554859"
    assert claim["specialty"] == "3416L0300X"
    assert claim["payer_id"] == "123245"
    assert claim["plan_type"] == "medicare"  # SBR09 MB
    assert claim["patient_id"] == "012345678A"  # the subscriber is the patient
    assert (claim["patient_birth_date"], claim["patient_sex"]) == ("1963-07-29", "F")
    assert claim["diagnosis_codes"] == "8628|E8888|9592|8540"
    assert (claim["service_from"], claim["service_to"], claim["submitted_at"]) == ("2005-02-08",) * 3
    assert [
        (x["procedure_code"], x["modifiers"], x["units"], x["charge"], x["diagnosis_pointers"]) for x in out.lines
    ] == [
        ("A0427", "RH", 1, 700.0, "1|2|3|4"),
        ("A0425", "RH", 21, 8.2, "1|2|3|4"),
        ("A0422", "RH", 1, 46.0, "1|2|3|4"),
        ("A0382", "RH", 1, 12.3, "1|2|3|4"),
    ]
    assert out.line_controls == [
        ("051068", 1, "1001"),
        ("051068", 2, "1002"),
        ("051068", 3, "1003"),
        ("051068", 4, "1004"),
    ]


def test_837p_drug_payer_id_with_xv_qualifier_and_rendering_taxonomy() -> None:
    out = _sample("lfh_837p_x222a2_drug.837")
    [claim] = out.claims
    assert claim["claim_id"] == "CLMNO12345"
    assert claim["total_charge"] == 103.37
    assert claim["payer_id"] == "PLANID12345"  # NM108 XV (plan id) still names the payer
    assert claim["plan_type"] == "commercial"
    assert claim["billing_npi"] == "1234567893"
    assert (claim["rendering_npi"], claim["specialty"]) == ("1122333341", "208D00000X")
    assert claim["patient_id"] == "MBRID12345"
    assert (claim["patient_birth_date"], claim["patient_sex"]) == ("1943-05-01", "M")
    assert claim["diagnosis_codes"] == "03591"
    assert (claim["service_from"], claim["service_to"], claim["submitted_at"]) == (
        "2004-07-11",
        "2004-07-11",
        "2004-08-01",
    )
    assert [(x["procedure_code"], x["charge"], x["units"], x["diagnosis_pointers"]) for x in out.lines] == [
        ("90782", 50.0, 1, "1"),
        ("J1550", 53.37, 1, "1"),
    ]


def test_837i_institutional_statement_date_revenue_codes_and_secondary_payer() -> None:
    out = _sample("lfh_837i_x223a3_institutional.837")
    [claim] = out.claims
    assert claim["claim_id"] == "756048Q"
    assert claim["total_charge"] == 89.93
    assert claim["claim_type"] == "institutional"
    assert claim["place_of_service"] is None  # CLM05-1 14 is a UB facility type, not a CMS POS code
    assert claim["frequency_code"] == "1"
    assert claim["billing_npi"] == "9876540809"
    assert claim["rendering_npi"] is None  # the attending (NM1*71) carries no NPI
    assert claim["specialty"] == "203BA0200N"
    assert claim["payer_id"] == "00435"
    assert claim["plan_type"] == "medicare"  # MB
    assert claim["secondary_payer_id"] == "1135"  # 2320 SBR*S + 2330B NM1*PR
    assert claim["patient_id"] == "030005074A"  # not the 2330A other subscriber 222004433
    assert (claim["patient_birth_date"], claim["patient_sex"]) == ("1926-11-11", "M")
    # BK then BF; the occurrence (BH), value (BE) and condition (BG) codes are not diagnoses.
    assert claim["diagnosis_codes"] == "3669|4019|79431"
    assert (claim["service_from"], claim["service_to"]) == ("1996-09-11", "1996-09-11")  # DTP*434 D8
    assert claim["submitted_at"] == "1996-09-18"
    assert [(x["revenue_code"], x["procedure_code"], x["charge"], x["units"]) for x in out.lines] == [
        ("0305", "85025", 13.39, 1),
        ("0730", "93005", 76.54, 3),
    ]
    assert all(x["diagnosis_pointers"] is None for x in out.lines)


def test_837i_two_claims_keep_their_own_subscriber_attending_and_rd8_dates() -> None:
    out = _sample("lfh_837i_x223a3_two_claims.837")
    first, second = out.claims
    assert (first["claim_id"], first["total_charge"], second["claim_id"], second["total_charge"]) == (
        "756048Q",
        89.95,
        "756049Q",
        50.0,
    )
    assert first["billing_npi"] == second["billing_npi"] == "1234567890"
    assert first["payer_id"] == second["payer_id"] == "99999"
    assert first["plan_type"] == second["plan_type"] == "tricare"  # CH
    assert (first["patient_id"], first["patient_birth_date"]) == ("030005074", "1968-11-11")
    assert (second["patient_id"], second["patient_birth_date"]) == ("123405074", "1962-12-10")
    assert (first["rendering_npi"], first["specialty"]) == ("1122334455", "282N00000X")  # attending, billing taxonomy
    assert (second["rendering_npi"], second["specialty"]) == ("9999999999", "363LP0200N")  # attending + PRV*AT
    assert (first["service_from"], first["service_to"]) == ("2005-03-15", "2005-03-15")  # RD8
    assert (second["service_from"], second["service_to"]) == ("2005-04-01", "2005-04-01")
    assert first["diagnosis_codes"] == "3669|4019|79431" and second["diagnosis_codes"] == "30000"
    assert [
        (x["claim_id"], x["line_number"], x["revenue_code"], x["procedure_code"], x["charge"], x["units"])
        for x in out.lines
    ] == [
        ("756048Q", 1, "0305", "85025", 13.39, 1),
        ("756048Q", 2, "0730", "93005", 76.56, 3),
        ("756049Q", 1, "0300", "85087", 50.0, 1),
    ]


# --------------------------------------------------------------------------------------------------
# Synthetic cases


def test_replacement_claim_frequency_7_with_ref_f8() -> None:
    claim, _ = _one([*BILLING, *SUBSCRIBER, "CLM*REPL1*100***11:B:7*Y*A*Y*Y", "REF*F8*ORIG1", "HI*ABK:E119", *LINE])
    assert (claim["frequency_code"], claim["original_claim_id"]) == ("7", "ORIG1")
    claim, _ = _one([*BILLING, *SUBSCRIBER, "CLM*VOID1*100***11:B:8*Y*A*Y*Y", "REF*F8*ORIG1", "HI*ABK:E119", *LINE])
    assert (claim["frequency_code"], claim["original_claim_id"]) == ("8", "ORIG1")


def test_institutional_frequency_codes_map_to_the_contract() -> None:
    assert set(FREQUENCY_BY_CLM05_3.values()) <= {"1", "7", "8"}
    body = [
        *BILLING,
        *SUBSCRIBER,
        "CLM*C1*100***11:A:3*Y*A*Y*Y",
        "DTP*434*RD8*20240101-20240131",
        "HI*ABK:I10",
        "LX*1",
        "SV2*0120**100*UN*30",
    ]
    claim, _ = _one(body, version="005010X223A3")
    assert claim["frequency_code"] == "1"  # interim, continuing: a new submission
    with pytest.raises(X12MappingError, match="CLM05-3"):
        _one([*body[:8], "CLM*C1*100***11:A:Q*Y*A*Y*Y", *body[9:]], version="005010X223A3")


def test_837i_statement_span_and_revenue_code_as_procedure_code() -> None:
    claim, lines = _one(
        [
            *BILLING,
            *SUBSCRIBER,
            "CLM*INP1*2500***11:A:1*Y*A*Y*Y",
            "DTP*434*RD8*20240301-20240305",
            "HI*ABK:I214*ABF:E119",
            "NM1*71*1*DOC*ANN****XX*2222222222",
            "PRV*AT*PXC*207RC0000X",
            "LX*1",
            "SV2*0120**2000*DA*4",
            "DTP*472*RD8*20240301-20240304",
            "LX*2",
            "SV2*0300*HC:80053:91*500*UN*1.5",
            "DTP*472*D8*20240302",
        ],
        version="005010X223A3",
    )
    assert (claim["service_from"], claim["service_to"]) == ("2024-03-01", "2024-03-05")  # the statement, not lines
    assert claim["claim_type"] == "institutional" and claim["place_of_service"] is None
    assert (claim["rendering_npi"], claim["specialty"]) == ("2222222222", "207RC0000X")
    assert claim["diagnosis_codes"] == "I214|E119"
    assert [(x["revenue_code"], x["procedure_code"], x["modifiers"], x["units"]) for x in lines] == [
        ("0120", "0120", None, 4),  # no HCPCS: the revenue code is the line's code
        ("0300", "80053", "91", 1.5),  # fractional units are kept for validation to judge
    ]


def test_837i_without_statement_dates_spans_its_lines() -> None:
    claim, _ = _one(
        [
            *BILLING,
            *SUBSCRIBER,
            "CLM*OUT1*300***13:A:1*Y*A*Y*Y",
            "HI*ABK:R079",
            "LX*1",
            "SV2*0450*HC:99284*200*UN*1",
            "DTP*472*D8*20240310",
            "LX*2",
            "SV2*0300*HC:80053*100*UN*1",
            "DTP*472*RD8*20240309-20240311",
        ],
        version="005010X223A3",
    )
    assert (claim["service_from"], claim["service_to"]) == ("2024-03-09", "2024-03-11")


def test_prior_auth_referral_and_icd10_dots_removed() -> None:
    claim, lines = _one(
        [
            *BILLING,
            *SUBSCRIBER,
            "CLM*A1*250***22:B:1*Y*A*Y*Y",
            "REF*G1*AUTH77",
            "REF*9F*REF88",
            "HI*ABK:M54.5*ABF:Z79.899",
            "NM1*77*2*SITE*****XX*3333333333",
            "LX*1",
            "SV1*HC:97110:GP:59*250*UN*4***1:2",
            "DTP*472*D8*20240105",
            "REF*6R*L-1",
        ]
    )
    assert (claim["prior_auth_number"], claim["referral_number"]) == ("AUTH77", "REF88")
    assert claim["diagnosis_codes"] == "M545|Z79899"
    assert (claim["place_of_service"], claim["facility_id"]) == ("22", "3333333333")
    assert claim["specialty"] == "207Q00000X"  # billing PRV*BI when no rendering PRV
    assert (claim["patient_id"], claim["patient_birth_date"], claim["patient_sex"]) == ("MEMBER123", "1980-01-15", "M")
    assert (lines[0]["modifiers"], lines[0]["units"], lines[0]["diagnosis_pointers"]) == ("GP|59", 4, "1|2")


def test_line_level_auth_and_rendering_fill_in_and_other_payer_ref_is_not_ours() -> None:
    claim, _ = _one(
        [
            *BILLING,
            *SUBSCRIBER,
            "CLM*A2*100***11:B:1*Y*A*Y*Y",
            "HI*ABK:E119",
            "SBR*S*18*******MB",
            "NM1*PR*2*MEDICARE*****PI*MCR",
            "REF*G1*OTHERPAYERAUTH",
            "LX*1",
            "SV1*HC:99213*100*UN*1***1",
            "DTP*472*D8*20240105",
            "REF*G1*LINEAUTH",
            "NM1*82*1*DOC*AL****XX*4444444444",
            "PRV*PE*PXC*208000000X",
        ]
    )
    assert claim["prior_auth_number"] == "LINEAUTH"
    assert (claim["rendering_npi"], claim["specialty"]) == ("4444444444", "208000000X")
    assert (claim["payer_id"], claim["secondary_payer_id"]) == ("PAYER1", "MCR")


def test_secondary_claim_keeps_its_own_payer_and_names_the_primary_as_other_coverage() -> None:
    subscriber = [s.replace("SBR*P*", "SBR*S*") for s in SUBSCRIBER]
    claim, _ = _one(
        [
            *BILLING,
            *subscriber,
            "CLM*SEC1*100***11:B:1*Y*A*Y*Y",
            "HI*ABK:E119",
            "SBR*T*18*******CI",
            "NM1*PR*2*THIRD*****PI*TERT",
            "SBR*P*18*******MB",
            "NM1*PR*2*MEDICARE*****PI*MCR",
            "DTP*573*D8*20240201",
            *LINE,
        ]
    )
    assert (claim["payer_id"], claim["secondary_payer_id"]) == ("PAYER1", "MCR")


def test_dependant_keys_are_stable_across_files_and_distinct_per_dependant() -> None:
    def patient(hl: str, first: str, dob: str) -> list[str]:
        return [
            f"HL*{hl}*2*23*0",
            "PAT*19",
            f"NM1*QC*1*DOE*{first}",
            f"DMG*D8*{dob}*F",
            f"CLM*{first}{hl}*100***11:B:1*Y*A*Y*Y",
            "HI*ABK:J069",
            *LINE,
        ]

    subscriber = [SUBSCRIBER[0].replace("*0", "*1"), *SUBSCRIBER[1:]]
    out = claims_from_837(
        _tx([*BILLING, *subscriber, *patient("3", "AMY", "20100101"), *patient("4", "BEA", "20120202")])
    )
    again = claims_from_837(_tx([*BILLING, *subscriber, *patient("7", "AMY", "20100101")]))
    amy, bea = (c["patient_id"] for c in out.claims)
    assert amy != bea and amy == again.claims[0]["patient_id"]
    assert str(amy).startswith("MEMBER123-") and "AMY" not in str(amy) and "2010" not in str(amy)
    assert (out.claims[1]["patient_birth_date"], out.claims[1]["patient_sex"]) == ("2012-02-02", "F")


def test_4010_professional_file_with_bk_bf_qualifiers() -> None:
    claim, lines = _one(
        [
            *BILLING,
            *SUBSCRIBER,
            "CLM*OLD1*60***11::1*Y*A*Y*Y",
            "HI*BK:4019*BF:25000",
            "NM1*82*1*DOC*AL****XX*5555555555",
            "PRV*PE*ZZ*207Q00000X",
            "LX*1",
            "SV1*HC:99212*60*UN*1***1:2",
            "DTP*472*D8*20080105",
        ],
        version="004010X098A1",
    )
    assert (claim["claim_type"], claim["diagnosis_codes"], claim["rendering_npi"]) == (
        "professional",
        "4019|25000",
        "5555555555",
    )
    assert lines[0]["procedure_code"] == "99212"


def test_plan_type_table_uses_contract_values() -> None:
    assert {v for v in PLAN_TYPE_BY_FILING_INDICATOR.values() if v is not None} <= set(PLAN_TYPES)
    expected = {
        "MA": "medicare",
        "MB": "medicare",
        "MC": "medicaid",
        "CH": "tricare",
        "WC": "workers_comp",
        "16": "medicare_advantage",
        "CI": "commercial",
        "BL": "commercial",
        "HM": "commercial",
    }
    assert {k: PLAN_TYPE_BY_FILING_INDICATOR[k] for k in expected} == expected
    body = [
        *BILLING,
        SUBSCRIBER[0],
        "SBR*P*18*******16",
        *SUBSCRIBER[2:],
        "CLM*MA1*100***11:B:1*Y*A*Y*Y",
        "HI*ABK:E119",
        *LINE,
    ]
    assert _one(body)[0]["plan_type"] == "medicare_advantage"
    assert _one([*body[:4], "SBR*P*18", *body[5:]])[0]["plan_type"] is None  # no SBR09


def test_submitted_at_falls_back_to_gs04() -> None:
    claim, _ = _one([*BILLING, *SUBSCRIBER, "CLM*G1*100***11:B:1*Y*A*Y*Y", "HI*ABK:E119", *LINE], bht_date="")
    assert claim["submitted_at"] == "2024-01-10"


# --------------------------------------------------------------------------------------------------
# Broken claims: position and rule, never a value


SECRET = ["MEMBER123", "PAYER1", "1111111111", "SECRETCLAIM", "20240105", "19800115", "99213", "E119"]


def _broken(body: list[str]) -> X12MappingError:
    with pytest.raises(X12MappingError) as caught:
        claims_from_837(_tx(body))
    err = caught.value
    for text in (str(err), err.to_error("f.837").message()):
        assert not any(value in text for value in SECRET), text
    return err


GOOD_CLAIM = ["CLM*SECRETCLAIM*100***11:B:1*Y*A*Y*Y", "HI*ABK:E119", *LINE]


@pytest.mark.parametrize(
    ("body", "segment_id", "element", "rule"),
    [
        ([*BILLING, *GOOD_CLAIM], "CLM", None, "subscriber loop"),
        ([*BILLING, *SUBSCRIBER[:4], *GOOD_CLAIM], "CLM", None, "payer"),
        ([*SUBSCRIBER, *GOOD_CLAIM], "CLM", None, "billing provider"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:3], "SV1*HC:99213**UN*1***1", GOOD_CLAIM[4]], "SV1", 2, "SV102"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:4], "DTP*472*D8*20241305"], "DTP", 3, "CCYYMMDD"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:4], "DTP*472*RD8*20240105-20240101"], "DTP", 3, "end before"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:4], "DTP*472*D6*240105"], "DTP", 2, "D8 or RD8"),
        ([*BILLING, *SUBSCRIBER[:3], "DMG*D8*1980011*M", SUBSCRIBER[4], *GOOD_CLAIM], "DMG", 2, "CCYYMMDD"),
        ([*BILLING, *SUBSCRIBER, "CLM*SECRETCLAIM*ABC***11:B:1", *GOOD_CLAIM[1:]], "CLM", 2, "CLM02"),
        ([*BILLING, *SUBSCRIBER, GOOD_CLAIM[0], *LINE], "CLM", None, "principal diagnosis"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:2]], "CLM", None, "service line"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:2], "LX*1", "DTP*472*D8*20240105"], "LX", None, "service segment"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:2], "SV1*HC:99213*100*UN*1***1"], "SV1", None, "follow an LX"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:3], "SV1*HC:99213*100*UN*1***1"], "CLM", None, "service date"),
        ([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:2], "LX*A", *LINE[1:]], "LX", 1, "LX01"),
        ([*BILLING, "HL*2*1*99*0", *GOOD_CLAIM], "HL", 3, "HL03"),
    ],
)
def test_broken_claims_raise_with_position_and_rule_only(
    body: list[str], segment_id: str, element: int | None, rule: str
) -> None:
    err = _broken(body)
    assert (err.segment_id, err.element) == (segment_id, element)
    assert rule in err.rule
    located = err.to_error("f.837")
    assert isinstance(located, X12Error)
    assert (located.file, located.segment_number, located.segment_id, located.element) == (
        "f.837",
        err.segment_number,
        segment_id,
        element,
    )
    assert located.message().startswith(f"f.837, segment {err.segment_number}, {segment_id}")


def test_error_segment_number_points_at_the_offending_segment() -> None:
    tx = _tx([*BILLING, *SUBSCRIBER, *GOOD_CLAIM[:3], "SV1*HC:99213**UN*1***1", GOOD_CLAIM[4]])
    with pytest.raises(X12MappingError) as caught:
        claims_from_837(tx)
    seg = tx.segments[caught.value.segment_number - 1]
    assert (seg.id, seg.number) == ("SV1", caught.value.segment_number)


def test_a_835_is_not_mapped_as_claims() -> None:
    with pytest.raises(X12MappingError, match="837"):
        claims_from_837(replace(_tx([*BILLING]), set_id="835"))


def test_claim_type_falls_back_to_clm05_2_when_the_guide_is_unknown() -> None:
    body = [*BILLING, *SUBSCRIBER, "CLM*U1*100***13:A:1*Y*A*Y*Y", "HI*ABK:R079", "LX*1", "SV2*0450*HC:99284*100*UN*1"]
    tx = replace(_tx([*body, "DTP*472*D8*20240105"]), version="")
    [claim] = claims_from_837(tx).claims
    assert (claim["claim_type"], claim["place_of_service"]) == ("institutional", None)
    tx = replace(_tx([*body[:8], "CLM*U1*100***13::1*Y*A*Y*Y", *body[9:], "DTP*472*D8*20240105"]), version="")
    with pytest.raises(X12MappingError, match="claim type unknown"):
        claims_from_837(tx)
