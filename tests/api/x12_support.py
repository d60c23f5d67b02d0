"""A minimal 837P writer for tests: synthetic claims as an interchange the reader maps back to the same rows.

Why hand-written: the parity tests need the claims of the session world (which the models know) as X12, and
a public sample carries other payers and codes. Each claim gets its own transaction (billing provider,
subscriber who is the patient, claim, lines), so a body also exercises several ST..SE sets in one group.
What X12 cannot say is left to the caller to drop: `eligibility_verified` (no 837 element) and the plan types
SBR09 cannot tell apart (`managed_medicaid`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "x12-samples" / "837"

# plan_type -> an SBR09 claim filing indicator that maps back to it (features.contract.x12.claims_837)
FILING_INDICATOR = {
    "commercial": "CI",
    "medicare": "MB",
    "medicare_advantage": "16",
    "medicaid": "MC",
    "tricare": "CH",
    "workers_comp": "WC",
    "other": "11",
}
ISA = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240101*1200*^*00501*000000001*0*T*:~"


def sample(name: str) -> bytes:
    """A public 837 sample's bytes; skip when ../shared is not there (as the reader's tests do)."""
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"public X12 samples not found at {SAMPLES}")
    return path.read_bytes()


def x12_expressible(claim: dict[str, Any]) -> bool:
    """A professional original claim without other coverage whose plan type SBR09 can name."""
    return (
        claim["claim_type"] == "professional"
        and claim.get("frequency_code", "1") == "1"
        and "secondary_payer_id" not in claim
        and claim.get("plan_type") in FILING_INDICATOR
    )


def _d8(day: str) -> str:
    return day.replace("-", "")


def _claim_segments(claim: dict[str, Any]) -> list[str]:
    sex = claim.get("patient_sex", "")
    birth = _d8(claim["patient_birth_date"]) if "patient_birth_date" in claim else ""
    segments = [
        "HL*1**20*1",
        "NM1*85*2*BILLING*****XX*" + claim["billing_npi"],
        "HL*2*1*22*0",
        f"SBR*P*18*******{FILING_INDICATOR[claim['plan_type']]}",
        "NM1*IL*1*DOE*JOHN****MI*" + claim["patient_id"],
        f"DMG*D8*{birth}*{sex}" if birth or sex else "",
        "NM1*PR*2*PAYER*****PI*" + claim["payer_id"],
        f"CLM*{claim['claim_id']}*{claim['total_charge']}***{claim.get('place_of_service', '')}:B:1*Y*A*Y*Y",
        f"DTP*472*RD8*{_d8(claim['service_from'])}-{_d8(claim.get('service_to', claim['service_from']))}",
    ]
    if "prior_auth_number" in claim:
        segments.append("REF*G1*" + claim["prior_auth_number"])
    if "referral_number" in claim:
        segments.append("REF*9F*" + claim["referral_number"])
    codes = claim["diagnosis_codes"].split("|")
    segments.append("HI*" + "*".join([f"ABK:{codes[0]}", *(f"ABF:{c}" for c in codes[1:])]))
    if "rendering_npi" in claim:
        segments.append("NM1*82*1*RENDERING*****XX*" + claim["rendering_npi"])
    if "specialty" in claim:
        segments.append("PRV*PE*PXC*" + claim["specialty"])
    if "facility_id" in claim:
        segments.append("NM1*77*2*FACILITY*****XX*" + claim["facility_id"])
    for line in claim["lines"]:
        segments.extend(_line_segments(line))
    return [s for s in segments if s]


def _line_segments(line: dict[str, Any]) -> list[str]:
    code = ":".join(["HC", line["procedure_code"], *line.get("modifiers", "").split("|")]).rstrip(":")
    pointers = line.get("diagnosis_pointers", "").replace("|", ":")
    return [f"LX*{line['line_number']}", f"SV1*{code}*{line['charge']}*UN*{line.get('units', 1)}***{pointers}"]


def write_837(claims: list[dict[str, Any]]) -> bytes:
    """One interchange, one group, one transaction per claim (BHT04 = its submission date)."""
    out = [ISA, "GS*HC*SUBMITTER*RECEIVER*20240101*1200*1*X*005010X222A2~"]
    for n, claim in enumerate(claims, start=1):
        body = [f"BHT*0019*00*{n}*{_d8(claim['submitted_at'])}*1200*CH", *_claim_segments(claim)]
        control = f"{n:04d}"
        segments = [f"ST*837*{control}*005010X222A2", *body]
        segments.append(f"SE*{len(segments) + 1}*{control}")
        out.extend(s + "~" for s in segments)
    out.extend([f"GE*{len(claims)}*1~", "IEA*1*000000001~"])
    return "\n".join(out).encode()
