"""837 claims (005010X222A2 professional, 005010X223A3 institutional; 4010 X098/X096) to DATA.md rows.

Why one hand-written pass: a billing team's export folder holds thousands of 837 files, and everything a
claims row needs is known by the time the next CLM, HL or SE arrives, so a small state machine over the
segments (which loop am I in: billing provider, subscriber, patient, claim, other payer, service line)
maps a transaction without building a loop tree, and without pandas in the loop. The rows are plain dicts
keyed exactly by the DATA.md column names (``schema.CLAIMS`` / ``schema.CLAIM_LINES``); the caller turns
many transactions' rows into frames once.

A claim that cannot be mapped (no subscriber or payer loop before its CLM, a service line without a
charge, a date that is not CCYYMMDD, ...) raises ``X12MappingError`` with the segment position and the
rule it breaks, never a value (PHI).

Decisions the implementation guides leave to us (each one is pinned by a test):

- **claim_type** comes from the guide in GS08 (X222/X098 professional, X223/X096 institutional); a file
  with another or no guide id falls back to CLM05-2 (``B`` place-of-service codes: professional, ``A`` UB
  bill type: institutional).
- **place_of_service** is CLM05-1 on professional claims only: on an 837I CLM05-1 is the UB facility type
  code, not a CMS place-of-service code, so it is left empty.
- **frequency_code**: CLM05-3 through ``FREQUENCY_BY_CLM05_3`` (UB-04 interim/late-charge codes are new
  submissions, ``1``; the retired ``6`` adjustment is a replacement, ``7``). **original_claim_id** is
  REF*F8 in the claim loop. In the guides REF*F8 carries the *payer's* claim control number of the
  claim being replaced (835 CLP07), which is not always the practice's CLM01; resolving it to a claim_id
  needs the 835s and is left to the caller.
- **patient_id**: the subscriber's member id (NM1*IL NM109) when the subscriber is the patient. When a
  2000C patient loop exists (a dependant without an own member id) it is ``member-id`` + ``-`` + a short
  hash of the patient's birth date and first name: stable across files (an HL number is not) and
  different for each dependant of one subscriber, without putting the name itself in the key.
- **payer_id** is NM1*PR NM109 of the subscriber loop (2010BB): the payer this submission goes to, also
  when SBR01 says it is a secondary claim. **secondary_payer_id** is set when another coverage exists
  (2320 SBR + 2330B NM1*PR): on a primary claim the other payer with SBR01 ``S``, on a secondary or
  tertiary claim the primary one (the other coverage); otherwise the first other payer with an id. An
  other-payer loop without a 2330B payer id leaves it empty.
- **plan_type**: SBR09 (claim filing indicator) through ``PLAN_TYPE_BY_FILING_INDICATOR``; SBR09 cannot
  tell managed Medicaid from Medicaid, so ``managed_medicaid`` is never derived here.
- **rendering_npi**: NM1*82 of the claim (2310B in 837P, 2310D in 837I), else of the first line that has
  one (2420A/2420C); on institutional claims the attending provider (NM1*71, 2310A) when no rendering
  provider is named, as the clinician responsible. Absent, it stays empty (the billing provider rendered
  the service). **specialty**: the rendering (PRV*PE) or attending (PRV*AT) taxonomy, else the billing
  provider's (PRV*BI). **facility_id**: the service facility NPI (NM1*77, 4010 NM1*FA).
- **prior_auth_number** / **referral_number**: REF*G1 / REF*9F of the claim, else of the first line
  that carries one (5010 allows them per line). REF*G1 inside a 2330B other-payer loop belongs to that
  payer and is not used.
- **Diagnoses**: HI principal (ABK, 4010 BK) then other (ABF, 4010 BF) in file order, dots removed.
  Admitting, reason-for-visit and external-cause qualifiers are not claim diagnoses here.
- **Service dates**: the 837I statement period (DTP*434), else a claim-level DTP*472, else the min/max
  of the line DTP*472 dates. **submitted_at**: BHT04, else GS04.
- **Institutional lines without HCPCS** (SV202 absent, e.g. room and board): procedure_code is the
  revenue code SV201 (DATA.md requires a code; a four-character revenue code cannot collide with a
  five-character CPT/HCPCS code or fall inside a payer rule's code range).
- **units**: SV104/SV205 as an int when whole; a fractional quantity stays a float so validation reports
  it instead of this mapper rounding it silently. Absent units stay empty (the contract default is 1).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from features.contract.x12.errors import X12MappingError
from features.contract.x12.segments import Segment, Transaction

__all__ = [
    "FREQUENCY_BY_CLM05_3",
    "PLAN_TYPE_BY_FILING_INDICATOR",
    "Claims837",
    "claims_from_837",
]

# SBR09, X12 element 1032 "Claim Filing Indicator Code" (005010X222A2 / X223A3 loop 2000B; the 4010-only
# codes 09, 10 and LI are kept for old files). None: the code says nothing about the plan type.
PLAN_TYPE_BY_FILING_INDICATOR: dict[str, str | None] = {
    "09": "other",  # self-pay (4010)
    "10": "other",  # central certification (4010)
    "11": "other",  # other non-federal programs
    "12": "commercial",  # preferred provider organization (PPO)
    "13": "commercial",  # point of service (POS)
    "14": "commercial",  # exclusive provider organization (EPO)
    "15": "commercial",  # indemnity insurance
    "16": "medicare_advantage",  # health maintenance organization (HMO) Medicare risk
    "17": "commercial",  # dental maintenance organization
    "AM": "other",  # automobile medical
    "BL": "commercial",  # Blue Cross/Blue Shield
    "CH": "tricare",  # CHAMPUS (TRICARE)
    "CI": "commercial",  # commercial insurance co.
    "DS": "other",  # disability
    "FI": "commercial",  # federal employees program (FEHB plans are commercial insurers)
    "HM": "commercial",  # health maintenance organization
    "LI": "other",  # liability (4010)
    "LM": "other",  # liability medical
    "MA": "medicare",  # Medicare Part A
    "MB": "medicare",  # Medicare Part B
    "MC": "medicaid",  # Medicaid
    "OF": "other",  # other federal program
    "TV": "other",  # Title V
    "VA": "other",  # Veterans Affairs plan
    "WC": "workers_comp",  # workers' compensation health claim
    "ZZ": None,  # mutually defined (used for "unknown")
}

# CLM05-3, X12 element 1325 "Claim Frequency Type Code" = the UB-04 type-of-bill frequency digit (NUBC).
FREQUENCY_BY_CLM05_3: dict[str, str] = {
    "1": "1",  # original (admit through discharge)
    "7": "7",  # replacement of prior claim
    "8": "8",  # void/cancel of prior claim
    "0": "1",  # non-payment/zero claim
    "2": "1",  # interim - first claim
    "3": "1",  # interim - continuing claim
    "4": "1",  # interim - last claim
    "5": "1",  # late charge(s) only: a new submission of added charges
    "6": "7",  # adjustment of prior claim (retired; a replacement)
    "9": "1",  # final claim for a home health PPS episode
}

_CLAIM_TYPE_BY_GUIDE = {
    "X222": "professional",
    "X098": "professional",
    "X223": "institutional",
    "X096": "institutional",
}
_CLAIM_TYPE_BY_CLM05_2 = {"B": "professional", "A": "institutional"}
_PRINCIPAL_DX = frozenset({"ABK", "BK"})
_OTHER_DX = frozenset({"ABF", "BF"})
_SEXES = frozenset({"M", "F", "U"})


@dataclass(frozen=True)
class Claims837:
    """One transaction's rows: claims and claim_lines (DATA.md columns), and the line item control numbers
    (claim_id, line_number, REF*6R) an 835 SVC ``REF*6R`` refers back to."""

    claims: list[dict[str, object]]
    lines: list[dict[str, object]]
    line_controls: list[tuple[str, int, str]]


def claims_from_837(tx: Transaction) -> Claims837:
    """Every claim of one 837 transaction, or ``X12MappingError`` at the first claim that cannot be mapped."""
    if tx.set_id != "837":
        raise X12MappingError(1, "ST", 1, "transaction set must be an 837 to map claims")
    return _Mapper(tx).run()


# --------------------------------------------------------------------------------------------------
# Values


@lru_cache(maxsize=8192)
def _iso(text: str) -> str | None:
    """CCYYMMDD as ISO, or None if it is not a real calendar date (cached: files repeat a few dates)."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def _date(seg: Segment, position: int, what: str) -> str:
    value = _iso(seg.get(position))
    if value is None:
        raise X12MappingError(seg.number, seg.id, position, f"{what} must be a date in CCYYMMDD form")
    return value


def _period(seg: Segment, position: int) -> tuple[str, str]:
    """A D8 date or an RD8 range at ``position`` (format qualifier) and the next element (the value)."""
    fmt, text = seg.get(position), seg.get(position + 1)
    if fmt == "D8":
        day = _date(seg, position + 1, "a D8 date")
        return day, day
    if fmt == "RD8":
        first, sep, last = text.partition("-")
        start, end = _iso(first), _iso(last)
        if not sep or start is None or end is None:
            raise X12MappingError(seg.number, seg.id, position + 1, "an RD8 range must be CCYYMMDD-CCYYMMDD")
        if end < start:
            raise X12MappingError(seg.number, seg.id, position + 1, "an RD8 range must not end before it starts")
        return start, end
    raise X12MappingError(seg.number, seg.id, position, "date format qualifier must be D8 or RD8")


def _amount(seg: Segment, position: int, what: str) -> float:
    try:
        value = float(seg.get(position))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise X12MappingError(seg.number, seg.id, position, f"{what} is required and must be a decimal amount")
    return value


def _units(seg: Segment, position: int) -> int | float | None:
    text = seg.get(position)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise X12MappingError(seg.number, seg.id, position, "service unit count must be a decimal number")
    return int(value) if value.is_integer() else value


def _npi(seg: Segment) -> str | None:
    """NM109 when NM108 says it is an NPI (XX)."""
    return (seg.get(9) or None) if seg.get(8) == "XX" else None


def _dependant_key(member_id: str, birth_date: str | None, first_name: str) -> str:
    digest = hashlib.blake2b(f"{birth_date or ''}|{first_name.upper()}".encode(), digest_size=5).hexdigest()
    return f"{member_id}-{digest}"


# --------------------------------------------------------------------------------------------------
# Drafts: what is known about the open claim and line while their segments stream past


class _Line:
    __slots__ = (
        "charge",
        "control",
        "lx",
        "modifiers",
        "number",
        "pointers",
        "procedure",
        "revenue",
        "serviced",
        "units",
    )

    def __init__(self, lx: Segment, number: int) -> None:
        self.lx = lx
        self.number = number
        self.serviced = False
        self.procedure: str | None = None
        self.modifiers: str | None = None
        self.units: int | float | None = None
        self.charge = 0.0
        self.pointers: str | None = None
        self.revenue: str | None = None
        self.control: str | None = None


class _Claim:
    __slots__ = (
        "attending",
        "attending_taxonomy",
        "charge",
        "claim_id",
        "claim_type",
        "clm",
        "dates",
        "facility",
        "frequency",
        "line_auth",
        "line_dates",
        "line_referral",
        "line_rendering",
        "line_taxonomy",
        "lines",
        "original",
        "other_dx",
        "others",
        "place_of_service",
        "principal_dx",
        "prior_auth",
        "referral",
        "rendering",
        "rendering_taxonomy",
        "statement",
    )

    def __init__(self, clm: Segment, claim_id: str, charge: float) -> None:
        self.clm = clm
        self.claim_id = claim_id
        self.charge = charge
        self.claim_type = "professional"
        self.frequency = "1"
        self.place_of_service: str | None = None
        self.original: str | None = None
        self.prior_auth: str | None = None
        self.referral: str | None = None
        self.line_auth: str | None = None
        self.line_referral: str | None = None
        self.rendering: str | None = None
        self.rendering_taxonomy: str | None = None
        self.attending: str | None = None
        self.attending_taxonomy: str | None = None
        self.line_rendering: str | None = None
        self.line_taxonomy: str | None = None
        self.facility: str | None = None
        self.dates: tuple[str, str] | None = None  # claim-level DTP*472
        self.statement: tuple[str, str] | None = None  # DTP*434
        self.line_dates: list[tuple[str, str]] = []
        self.principal_dx: list[str] = []
        self.other_dx: list[str] = []
        self.others: list[list[str | None]] = []  # 2320/2330B: [SBR01, payer id]
        self.lines: list[dict[str, object]] = []


# --------------------------------------------------------------------------------------------------
# The pass


class _Mapper:
    """One pass over an 837's segments. ``where`` is the loop the last segment belongs to: ``header``,
    ``billing`` (2000A), ``subscriber`` (2000B), ``patient`` (2000C), ``claim`` (2300/2310),
    ``other_payer`` (2320/2330) or ``line`` (2400/2420); the same segment id means different things in
    each (an NM1*PR is the payer in 2010BB and another payer in 2330B)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.component = tx.delimiters.component
        self.guide_type = _CLAIM_TYPE_BY_GUIDE.get(tx.version[6:10])
        self.where = "header"
        self.submitted: str | None = None
        self.claims: list[dict[str, object]] = []
        self.lines: list[dict[str, object]] = []
        self.controls: list[tuple[str, int, str]] = []
        self.claim: _Claim | None = None
        self.line: _Line | None = None
        self._reset_billing()
        self.handlers: dict[str, Callable[[Segment], None]] = {
            "BHT": self._bht,
            "HL": self._hl,
            "PRV": self._prv,
            "NM1": self._nm1,
            "SBR": self._sbr,
            "DMG": self._dmg,
            "CLM": self._clm,
            "REF": self._ref,
            "HI": self._hi,
            "DTP": self._dtp,
            "LX": self._lx,
            "SV1": self._sv1,
            "SV2": self._sv2,
        }

    def run(self) -> Claims837:
        handlers = self.handlers
        for seg in self.tx.segments:
            handler = handlers.get(seg.id)
            if handler is not None:
                handler(seg)
        self._close_claim()
        return Claims837(self.claims, self.lines, self.controls)

    # -- hierarchy ---------------------------------------------------------------------------------

    def _reset_billing(self) -> None:
        self.billing_npi: str | None = None
        self.billing_taxonomy: str | None = None
        self._reset_subscriber(in_subscriber=False)

    def _reset_subscriber(self, *, in_subscriber: bool) -> None:
        self.in_subscriber = in_subscriber
        self.responsibility: str | None = None
        self.filing: str | None = None
        self.member_id: str | None = None
        self.payer_id: str | None = None
        self.subscriber_dmg: tuple[str | None, str | None] = (None, None)
        self._reset_patient(has_patient=False)

    def _reset_patient(self, *, has_patient: bool) -> None:
        self.has_patient = has_patient
        self.patient_first = ""
        self.patient_dmg: tuple[str | None, str | None] = (None, None)

    def _bht(self, seg: Segment) -> None:
        if seg.get(4):
            self.submitted = _date(seg, 4, "BHT04 (transaction creation date)")

    def _hl(self, seg: Segment) -> None:
        """A new hierarchical level ends the open claim; HL03 says which loop starts."""
        self._close_claim()
        level = seg.get(3)
        if level == "20":
            self._reset_billing()
            self.where = "billing"
        elif level == "22":
            self._reset_subscriber(in_subscriber=True)
            self.where = "subscriber"
        elif level == "23":
            if not self.in_subscriber:
                raise X12MappingError(seg.number, seg.id, 3, "a patient level (HL03 23) must follow a subscriber (22)")
            self._reset_patient(has_patient=True)
            self.where = "patient"
        else:
            raise X12MappingError(seg.number, seg.id, 3, "HL03 must be 20 (billing), 22 (subscriber) or 23 (patient)")

    def _sbr(self, seg: Segment) -> None:
        where = self.where
        if where == "subscriber":
            self.responsibility = seg.get(1) or None
            self.filing = seg.get(9) or None
        elif where in ("claim", "other_payer") and self.claim is not None:
            self.claim.others.append([seg.get(1) or None, None])
            self.where = "other_payer"
        elif where == "line":
            raise X12MappingError(seg.number, seg.id, None, "other-payer loops (2320 SBR) must precede the lines")
        else:
            raise X12MappingError(seg.number, seg.id, None, "SBR must be in a subscriber loop (HL 22) or a claim")

    def _dmg(self, seg: Segment) -> None:
        if self.where not in ("subscriber", "patient"):
            return
        birth = None
        if seg.get(2):
            if seg.get(1) != "D8":
                raise X12MappingError(seg.number, seg.id, 1, "DMG01 date format qualifier must be D8")
            birth = _date(seg, 2, "DMG02 (birth date)")
        sex = seg.get(3)
        demographics = (birth, (sex if sex in _SEXES else "U") if sex else None)
        if self.where == "subscriber":
            self.subscriber_dmg = demographics
        else:
            self.patient_dmg = demographics

    def _nm1(self, seg: Segment) -> None:
        code, where = seg.get(1), self.where
        if where == "claim":
            self._claim_nm1(code, seg)
        elif where == "line":
            if code == "82" and self.claim is not None and self.claim.line_rendering is None:
                self.claim.line_rendering = _npi(seg)
        elif where == "other_payer":
            if code == "PR" and self.claim is not None:
                self.claim.others[-1][1] = seg.get(9) or None
        elif where == "subscriber":
            if code == "IL":
                self.member_id = seg.get(9) or None
            elif code == "PR":
                self.payer_id = seg.get(9) or None
        elif where == "patient":
            if code == "QC":
                self.patient_first = seg.get(4)
        elif where == "billing" and code == "85":
            self.billing_npi = _npi(seg)

    def _claim_nm1(self, code: str, seg: Segment) -> None:
        claim = self.claim
        assert claim is not None
        if code == "82":
            claim.rendering = _npi(seg)
        elif code == "71":
            claim.attending = _npi(seg)
        elif code in ("77", "FA"):
            claim.facility = _npi(seg)

    def _prv(self, seg: Segment) -> None:
        code, taxonomy, where, claim = seg.get(1), seg.get(3) or None, self.where, self.claim
        if where == "billing" and code == "BI":
            self.billing_taxonomy = taxonomy
        elif where == "claim" and claim is not None:
            if code == "PE":
                claim.rendering_taxonomy = taxonomy
            elif code == "AT":
                claim.attending_taxonomy = taxonomy
        elif where == "line" and code == "PE" and claim is not None and claim.line_taxonomy is None:
            claim.line_taxonomy = taxonomy

    # -- claim -------------------------------------------------------------------------------------

    def _clm(self, seg: Segment) -> None:
        self._close_claim()
        self._require_context(seg)
        claim_id = seg.get(1)
        if not claim_id:
            raise X12MappingError(seg.number, seg.id, 1, "CLM01 claim id is required")
        claim = _Claim(seg, claim_id, _amount(seg, 2, "CLM02 total charge"))
        parts = seg.components(5, self.tx.delimiters)
        facility = parts[0]
        qualifier = parts[1] if len(parts) > 1 else ""
        claim_type = self.guide_type or _CLAIM_TYPE_BY_CLM05_2.get(qualifier)
        if claim_type is None:
            raise X12MappingError(
                seg.number, seg.id, 5, "claim type unknown: GS08 guide is not 837P/837I and CLM05-2 is neither A nor B"
            )
        frequency = FREQUENCY_BY_CLM05_3.get((parts[2] if len(parts) > 2 else "") or "1")
        if frequency is None:
            raise X12MappingError(seg.number, seg.id, 5, "CLM05-3 claim frequency code is not a known code")
        claim.claim_type = claim_type
        claim.frequency = frequency
        claim.place_of_service = (facility or None) if claim_type == "professional" else None
        self.claim = claim
        self.where = "claim"

    def _require_context(self, seg: Segment) -> None:
        """A claim needs its billing provider, subscriber and payer: without them no row can be keyed."""
        if self.billing_npi is None:
            raise X12MappingError(
                seg.number,
                seg.id,
                None,
                "CLM must follow a billing provider loop (HL 20) with an NPI (NM1*85, NM108 XX)",
            )
        if not self.in_subscriber or self.responsibility is None or self.payer_id is None:
            raise X12MappingError(
                seg.number,
                seg.id,
                None,
                "CLM must follow a subscriber loop (HL 22) with SBR and a payer (NM1*PR NM109)",
            )
        if self.member_id is None:
            raise X12MappingError(seg.number, seg.id, None, "the subscriber (NM1*IL) must carry a member id (NM109)")

    def _ref(self, seg: Segment) -> None:
        where, claim = self.where, self.claim
        if claim is None or where not in ("claim", "line"):
            return
        code, value = seg.get(1), seg.get(2) or None
        if where == "claim":
            if code == "G1":
                claim.prior_auth = value
            elif code == "9F":
                claim.referral = value
            elif code == "F8":
                claim.original = value
        elif code == "6R":
            assert self.line is not None
            self.line.control = value
        elif code == "G1" and claim.line_auth is None:
            claim.line_auth = value
        elif code == "9F" and claim.line_referral is None:
            claim.line_referral = value

    def _hi(self, seg: Segment) -> None:
        claim = self.claim
        if claim is None or self.where != "claim":
            return
        separator = self.component
        for position, element in enumerate(seg.elements, start=1):
            qualifier, _, rest = element.partition(separator)
            qualifier = qualifier.strip()
            if qualifier in _PRINCIPAL_DX:
                target = claim.principal_dx
            elif qualifier in _OTHER_DX:
                target = claim.other_dx
            else:
                continue
            code = rest.partition(separator)[0].strip().replace(".", "").upper()
            if not code:
                raise X12MappingError(seg.number, seg.id, position, "a diagnosis composite must carry a code")
            target.append(code)

    def _dtp(self, seg: Segment) -> None:
        where, claim, qualifier = self.where, self.claim, seg.get(1)
        if claim is None:
            return
        if where == "line":
            if qualifier == "472":
                claim.line_dates.append(_period(seg, 2))
        elif where == "claim":
            if qualifier == "434":
                claim.statement = _period(seg, 2)
            elif qualifier == "472":
                claim.dates = _period(seg, 2)

    # -- lines -------------------------------------------------------------------------------------

    def _lx(self, seg: Segment) -> None:
        if self.claim is None:
            raise X12MappingError(seg.number, seg.id, None, "LX must follow a CLM")
        self._close_line()
        number = seg.get(1)
        if not number.isdigit() or int(number) < 1:
            raise X12MappingError(seg.number, seg.id, 1, "LX01 line number must be a positive whole number")
        self.line = _Line(seg, int(number))
        self.where = "line"

    def _service_line(self, seg: Segment) -> _Line:
        line = self.line
        if line is None or self.where != "line":
            raise X12MappingError(seg.number, seg.id, None, f"{seg.id} must follow an LX")
        if line.serviced:
            raise X12MappingError(seg.number, seg.id, None, "an LX loop holds one service segment (SV1/SV2)")
        line.serviced = True
        return line

    def _sv1(self, seg: Segment) -> None:
        """837P: SV101 HC:code:mod1..mod4, SV102 charge, SV104 units, SV107 diagnosis pointers."""
        line = self._service_line(seg)
        parts = seg.components(1, self.tx.delimiters)
        if len(parts) < 2 or not parts[1]:
            raise X12MappingError(seg.number, seg.id, 1, "SV101-2 procedure code is required")
        line.procedure = parts[1]
        line.modifiers = "|".join(m for m in parts[2:6] if m) or None
        line.charge = _amount(seg, 2, "SV102 line charge")
        line.units = _units(seg, 4)
        line.pointers = "|".join(p for p in seg.components(7, self.tx.delimiters) if p) or None

    def _sv2(self, seg: Segment) -> None:
        """837I: SV201 revenue code, SV202 HC:code:mods (optional), SV203 charge, SV205 units."""
        line = self._service_line(seg)
        revenue = seg.get(1) or None
        parts = seg.components(2, self.tx.delimiters) if seg.get(2) else []
        code = parts[1] if len(parts) > 1 and parts[1] else None
        if code is None and revenue is None:
            raise X12MappingError(seg.number, seg.id, 1, "SV201 revenue code or SV202-2 procedure code is required")
        line.revenue = revenue
        line.procedure = code or revenue
        line.modifiers = "|".join(m for m in parts[2:6] if m) or None
        line.charge = _amount(seg, 3, "SV203 line charge")
        line.units = _units(seg, 5)

    # -- closing -----------------------------------------------------------------------------------

    def _close_line(self) -> None:
        line, claim = self.line, self.claim
        if line is None or claim is None:
            return
        self.line = None
        if not line.serviced:
            raise X12MappingError(line.lx.number, "LX", None, "an LX loop must hold a service segment (SV1/SV2)")
        claim.lines.append(
            {
                "claim_id": claim.claim_id,
                "line_number": line.number,
                "procedure_code": line.procedure,
                "modifiers": line.modifiers,
                "units": line.units,
                "charge": line.charge,
                "diagnosis_pointers": line.pointers,
                "revenue_code": line.revenue,
            }
        )
        if line.control is not None:
            self.controls.append((claim.claim_id, line.number, line.control))

    def _close_claim(self) -> None:
        self._close_line()
        claim = self.claim
        if claim is None:
            return
        self.claim = None
        clm = claim.clm
        if not claim.lines:
            raise X12MappingError(clm.number, "CLM", None, "a claim must have a service line (LX with SV1/SV2)")
        if not claim.principal_dx:
            raise X12MappingError(clm.number, "CLM", None, "a claim must have a principal diagnosis (HI ABK/BK)")
        service = claim.statement or claim.dates or self._line_span(claim)
        submitted = self.submitted or _iso(self.tx.group_date)
        if submitted is None:
            raise X12MappingError(clm.number, "CLM", None, "no submission date: BHT04 and GS04 are missing or invalid")
        self.claims.append(self._claim_row(claim, service, submitted))
        self.lines.extend(claim.lines)

    @staticmethod
    def _line_span(claim: _Claim) -> tuple[str, str]:
        if not claim.line_dates:
            raise X12MappingError(claim.clm.number, "CLM", None, "a claim must have a service date (DTP*472/434)")
        return min(d[0] for d in claim.line_dates), max(d[1] for d in claim.line_dates)

    def _claim_row(self, claim: _Claim, service: tuple[str, str], submitted: str) -> dict[str, object]:
        institutional = claim.claim_type == "institutional"
        rendering = claim.rendering or claim.line_rendering or (claim.attending if institutional else None)
        specialty = claim.rendering_taxonomy or claim.line_taxonomy
        if institutional and specialty is None:
            specialty = claim.attending_taxonomy
        member_id = self.member_id
        assert member_id is not None
        if self.has_patient:
            birth, sex = self.patient_dmg
            patient_id = _dependant_key(member_id, birth, self.patient_first)
        else:
            birth, sex = self.subscriber_dmg
            patient_id = member_id
        return {
            "claim_id": claim.claim_id,
            "frequency_code": claim.frequency,
            "original_claim_id": claim.original,
            "patient_id": patient_id,
            "patient_birth_date": birth,
            "patient_sex": sex,
            "payer_id": self.payer_id,
            "plan_type": PLAN_TYPE_BY_FILING_INDICATOR.get(self.filing or ""),
            "secondary_payer_id": self._other_coverage(claim),
            "billing_npi": self.billing_npi,
            "rendering_npi": rendering,
            "specialty": specialty or self.billing_taxonomy,
            "facility_id": claim.facility,
            "place_of_service": claim.place_of_service,
            "claim_type": claim.claim_type,
            "service_from": service[0],
            "service_to": service[1],
            "submitted_at": submitted,
            "diagnosis_codes": "|".join(claim.principal_dx + claim.other_dx),
            "prior_auth_number": claim.prior_auth or claim.line_auth,
            "referral_number": claim.referral or claim.line_referral,
            "eligibility_verified": None,
            "total_charge": claim.charge,
        }

    def _other_coverage(self, claim: _Claim) -> str | None:
        """The other payer of a COB claim: the secondary for a primary claim, else the primary."""
        wanted = "S" if self.responsibility == "P" else "P"
        known = [(resp, payer) for resp, payer in claim.others if payer]
        for resp, payer in known:
            if resp == wanted:
                return payer
        return known[0][1] if known else None
