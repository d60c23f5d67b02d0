"""835 claim payments as DATA.md ``remits`` and ``adjustments`` rows (plus what ingestion needs to link them).

Why one pass with a small state machine: an 835 is flat segments whose meaning depends on the loop they sit
in (a CAS right after CLP is claim-level, after SVC it is line-level; LQ and REF*6R come *after* the CAS
they qualify). Tracking "current claim" and "current service line" and closing them at the next
SVC/CLP/LX/PLB/SE maps a transaction in one linear pass, with no tree and no pandas, so a folder of
remittances maps at well over 5,000 claim payments a second.

Choices the contract leaves open, made here:

- ``remit_id`` = payer claim control number (CLP07, or CLP01 when a payer omits it) + ``-`` + the check/EFT
  trace number (TRN02), or + the remit date when there is no TRN. The same CLP07 can appear twice in one
  payment (a reversal, CLP02=22, and its correction): the second and later get ``-2``, ``-3`` so the id stays
  unique per adjudication while a re-delivered file still maps to the same ids.
- ``remit_date`` = BPR16 (check issue / EFT effective date), else DTM*405 (production date) when BPR16 is
  absent or not a calendar date (real files carry e.g. month 23 there).
- ``_payer_id`` = N1*PR N104 (payer identifier, e.g. CMS plan id), else TRN03 (originating company id);
  the N1*PR *name* is never used, a name is not an id. ``_payee_npi`` = N1*PE N104 when N103 is ``XX``.
- ``remark_codes``: claim-level CAS rows carry the claim's MOA03-07, MIA05 and MIA20-23 remark codes (the
  implementation guide's remark positions; MIA23 too, it is the fourth MIA remark code); line-level rows
  carry their SVC's LQ*HE codes (LQ*RX are NCPDP codes, not RARCs). The 835 does not tie a remark to one
  CAS triplet, so every adjustment of the claim (or line) gets all of them.
- Line-level rows get ``line_number`` = SVC position within the CLP (1-based) and ``_line_control`` = REF*6R
  (or None), so ingestion can replace the position by the 837 line whose line item control number matches.
  Claim-level rows have ``line_number`` and ``_line_control`` None. Every adjustment row carries
  ``_remit_date`` (the payment's date), so ingest can report a code used after the list deactivated it.
- PLB (provider-level adjustments: interest, recoupments, forwarding balances) are not claim denials: they
  go to ``provider_adjustments``, one row per reason/amount pair, with the payment's trace and date.

Structural problems raise ``X12MappingError`` with the position and the rule, never an element value (PHI).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from features.contract.schema import GROUP_CODES, REMIT_STATUS_CODES
from features.contract.x12.errors import X12MappingError
from features.contract.x12.segments import Segment, Transaction

__all__ = ["Remits835", "remits_from_835"]

_DECIMAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)\Z")  # X12 "R": no exponent, no sign but minus, no nan/inf
_STATUS = frozenset(REMIT_STATUS_CODES)
_GROUPS = frozenset(GROUP_CODES)
_MOA_REMARKS = (3, 4, 5, 6, 7)
_MIA_REMARKS = (5, 20, 21, 22, 23)
_CAS_TRIPLETS = (2, 5, 8, 11, 14, 17)  # reason positions; amount +1, quantity +2
_PLB_PAIRS = (3, 5, 7, 9, 11, 13)  # reason composite positions; amount +1


@dataclass(frozen=True)
class Remits835:
    """One 835 transaction mapped: contract rows plus line links and provider-level adjustments."""

    remits: list[dict[str, object]]
    adjustments: list[dict[str, object]]
    lines: list[tuple[str, str, int, str | None]]
    provider_adjustments: list[dict[str, object]]


def _iso_date(value: str) -> str | None:
    """CCYYMMDD as ISO, or None when it is not a calendar date (so callers can fall back or raise)."""
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _amount(seg: Segment, position: int) -> float:
    """A required X12 decimal; checked by pattern because float() would accept 'nan', '1e5' and '1_0'."""
    value = seg.get(position)
    if not _DECIMAL.match(value):
        raise X12MappingError(seg.number, seg.id, position, f"{seg.id}{position:02d} must be a decimal amount")
    return float(value)


def _optional_amount(seg: Segment, position: int) -> float | None:
    return _amount(seg, position) if seg.get(position) else None


def _joined(codes: list[str]) -> str | None:
    """``|``-joined, de-duplicated in order; None rather than '' so 'no remark' is a missing value."""
    return "|".join(dict.fromkeys(codes)) if codes else None


class _Pass:
    """The state of one pass over an 835: header facts, the open claim and service line, and the output."""

    __slots__ = (
        "tx",
        "bpr",
        "bpr_date",
        "trace",
        "trn_payer",
        "production_date",
        "payer_n104",
        "payee_npi",
        "header_done",
        "payer_id",
        "remit_date",
        "remit_ids",
        "claim_id",
        "remit_id",
        "claim_rows",
        "claim_remarks",
        "svc_position",
        "svc_rows",
        "svc_remarks",
        "svc_control",
        "plb_count",
        "out",
    )

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.bpr: Segment | None = None
        self.bpr_date: str | None = None
        self.trace: str | None = None
        self.trn_payer: str | None = None
        self.production_date: str | None = None
        self.payer_n104: str | None = None
        self.payee_npi: str | None = None
        self.header_done = False
        self.payer_id: str | None = None
        self.remit_date = ""
        self.remit_ids: dict[str, int] = {}
        self.claim_id: str | None = None
        self.remit_id = ""
        self.claim_rows: list[dict[str, object]] = []
        self.claim_remarks: list[str] = []
        self.svc_position = 0  # SVCs seen in the open claim; 0 while the claim has none yet
        self.svc_rows: list[dict[str, object]] | None = None  # None: no service line open
        self.svc_remarks: list[str] = []
        self.svc_control: str | None = None
        self.plb_count = 0
        self.out = Remits835([], [], [], [])

    # -- header (loops 1000A/1000B and the BPR/TRN/DTM before them) ------------------------------------------

    def close_header(self, seg: Segment) -> None:
        """At the first segment past the header: the payment's date, trace and payer, needed by every row."""
        self.header_done = True
        if self.bpr is None:
            raise X12MappingError(seg.number, seg.id, None, "835 has no BPR (financial information) before this")
        remit_date = self.bpr_date or self.production_date
        if remit_date is None:
            rule = "no remit date: BPR16 and DTM*405 are both absent or not CCYYMMDD dates"
            raise X12MappingError(self.bpr.number, "BPR", 16, rule)
        self.remit_date = remit_date
        self.payer_id = self.payer_n104 or self.trn_payer

    # -- claim (loop 2100) and service line (loop 2110) ------------------------------------------------------

    def close_svc(self) -> None:
        """LQ and REF*6R follow the CAS they qualify, so a line's rows are completed when the line closes."""
        rows = self.svc_rows
        if rows is None:
            return
        remarks = _joined(self.svc_remarks)
        for row in rows:
            row["remark_codes"] = remarks
            row["_line_control"] = self.svc_control
        assert self.claim_id is not None  # an SVC only opens inside a claim
        self.out.lines.append((self.claim_id, self.remit_id, self.svc_position, self.svc_control))
        self.svc_rows = None
        self.svc_remarks = []
        self.svc_control = None

    def close_claim(self) -> None:
        """MOA/MIA follow the claim-level CAS, so claim-level rows get their remark codes at the claim's end."""
        self.close_svc()
        if self.claim_id is None:
            return
        remarks = _joined(self.claim_remarks)
        for row in self.claim_rows:
            row["remark_codes"] = remarks
        self.claim_id = None
        self.claim_rows = []
        self.claim_remarks = []
        self.svc_position = 0

    def new_remit_id(self, control: str) -> str:
        base = f"{control}-{self.trace if self.trace is not None else self.remit_date}"
        seen = self.remit_ids.get(base, 0) + 1
        self.remit_ids[base] = seen
        return base if seen == 1 else f"{base}-{seen}"


Handler = Callable[[_Pass, Segment], None]


def _bpr(p: _Pass, seg: Segment) -> None:
    p.bpr = seg
    p.bpr_date = _iso_date(seg.get(16))


def _trn(p: _Pass, seg: Segment) -> None:
    if p.header_done:
        return
    p.trace = seg.get(2) or None
    p.trn_payer = seg.get(3) or None


def _dtm(p: _Pass, seg: Segment) -> None:
    if not p.header_done and seg.get(1) == "405":
        p.production_date = _iso_date(seg.get(2))


def _n1(p: _Pass, seg: Segment) -> None:
    """Payer (N1*PR) and payee (N1*PE) ids; names are ignored, a name is not an identifier."""
    if p.header_done:
        return
    entity = seg.get(1)
    if entity == "PR":
        p.payer_n104 = seg.get(4) or None
    elif entity == "PE" and seg.get(3) == "XX":
        p.payee_npi = seg.get(4) or None


def _lx(p: _Pass, seg: Segment) -> None:
    """LX starts a new claim group: the open claim ends here, so a stray CAS after it is not misattributed."""
    if not p.header_done:
        p.close_header(seg)
    p.close_claim()


def _clp(p: _Pass, seg: Segment) -> None:
    if not p.header_done:
        p.close_header(seg)
    p.close_claim()
    if len(seg.elements) < 4:
        rule = "CLP must have at least 4 elements (claim id, status, charge, paid amount)"
        raise X12MappingError(seg.number, "CLP", len(seg.elements) + 1, rule)
    claim_id = seg.get(1)
    if not claim_id:
        raise X12MappingError(seg.number, "CLP", 1, "CLP01 (patient control number) must be present")
    status = seg.get(2).lstrip("0")
    if status not in _STATUS:
        raise X12MappingError(
            seg.number, "CLP", 2, f"CLP02 must be a claim status code: {', '.join(REMIT_STATUS_CODES)}"
        )
    paid, responsibility = _amount(seg, 4), _optional_amount(seg, 5)
    p.claim_id = claim_id
    p.remit_id = p.new_remit_id(seg.get(7) or claim_id)
    p.out.remits.append(
        {
            "claim_id": claim_id,
            "remit_id": p.remit_id,
            "remit_date": p.remit_date,
            "status_code": status,
            "paid_amount": paid,
            "patient_responsibility": responsibility,
            "_payer_id": p.payer_id,
            "_payee_npi": p.payee_npi,
        }
    )


def _svc(p: _Pass, seg: Segment) -> None:
    if p.claim_id is None:
        raise X12MappingError(seg.number, "SVC", None, "SVC must follow a claim payment (CLP)")
    p.close_svc()
    p.svc_position += 1
    p.svc_rows = []


def _cas(p: _Pass, seg: Segment) -> None:
    """Each (reason, amount, quantity) triplet, up to six per segment, is one adjustment row."""
    claim_id = p.claim_id
    if claim_id is None:
        raise X12MappingError(seg.number, "CAS", None, "CAS must follow a claim payment (CLP) or service (SVC)")
    group = seg.get(1)
    if group not in _GROUPS:
        raise X12MappingError(seg.number, "CAS", 1, f"CAS01 must be an adjustment group code: {', '.join(GROUP_CODES)}")
    line = p.svc_rows
    target = p.claim_rows if line is None else line
    found = len(target)
    for position in _CAS_TRIPLETS:
        carc = seg.get(position)
        if not carc:
            if seg.get(position + 1):
                rule = f"CAS{position:02d} (reason code) must be present with its amount"
                raise X12MappingError(seg.number, "CAS", position, rule)
            continue
        row: dict[str, object] = {
            "claim_id": claim_id,
            "remit_id": p.remit_id,
            "line_number": None if line is None else p.svc_position,
            "group_code": group,
            "carc": carc,
            "amount": _amount(seg, position + 1),
            "remark_codes": None,
            "_line_control": None,
            "_remit_date": p.remit_date,  # lets ingest report a code used after its stop date
        }
        target.append(row)
        p.out.adjustments.append(row)
    if len(target) == found:
        raise X12MappingError(seg.number, "CAS", 2, "CAS02 (reason code) must be present")


def _remarks(positions: tuple[int, ...]) -> Handler:
    """MOA and MIA carry claim-level remark codes at fixed positions."""

    def handle(p: _Pass, seg: Segment) -> None:
        if p.claim_id is None:
            raise X12MappingError(seg.number, seg.id, None, f"{seg.id} must follow a claim payment (CLP)")
        p.claim_remarks.extend(code for code in (seg.get(n) for n in positions) if code)

    return handle


def _lq(p: _Pass, seg: Segment) -> None:
    if p.svc_rows is None:
        raise X12MappingError(seg.number, "LQ", None, "LQ must follow a service payment (SVC)")
    if seg.get(1) == "HE" and seg.get(2):
        p.svc_remarks.append(seg.get(2))


def _ref(p: _Pass, seg: Segment) -> None:
    if p.svc_rows is not None and seg.get(1) == "6R":
        p.svc_control = seg.get(2) or None


def _plb(p: _Pass, seg: Segment) -> None:
    """Provider-level adjustments: one row per reason/amount pair; they adjust the payment, not a claim."""
    if not p.header_done:
        p.close_header(seg)
    p.close_claim()
    provider = seg.get(1)
    if not provider:
        raise X12MappingError(seg.number, "PLB", 1, "PLB01 (provider identifier) must be present")
    period = _iso_date(seg.get(2))
    if period is None:
        raise X12MappingError(seg.number, "PLB", 2, "PLB02 (fiscal period date) must be a CCYYMMDD date")
    p.plb_count += 1
    pairs = 0
    for position in _PLB_PAIRS:
        if not seg.get(position):
            continue
        code, *rest = seg.components(position, p.tx.delimiters)
        if not code:
            raise X12MappingError(
                seg.number, "PLB", position, f"PLB{position:02d}-1 (adjustment reason) must be present"
            )
        pairs += 1
        p.out.provider_adjustments.append(
            {
                "provider_id": provider,
                "fiscal_period_date": period,
                "reason_code": code,
                "reference_id": (rest[0] or None) if rest else None,
                "amount": _amount(seg, position + 1),
                "plb_number": p.plb_count,
                "trace_number": p.trace,
                "remit_date": p.remit_date,
                "payer_id": p.payer_id,
            }
        )
    if pairs == 0:
        raise X12MappingError(seg.number, "PLB", 3, "PLB03 (adjustment reason and amount) must be present")


def _se(p: _Pass, seg: Segment) -> None:
    if not p.header_done:
        p.close_header(seg)
    p.close_claim()


_HANDLERS: dict[str, Handler] = {
    "BPR": _bpr,
    "TRN": _trn,
    "DTM": _dtm,
    "N1": _n1,
    "LX": _lx,
    "CLP": _clp,
    "SVC": _svc,
    "CAS": _cas,
    "MOA": _remarks(_MOA_REMARKS),
    "MIA": _remarks(_MIA_REMARKS),
    "LQ": _lq,
    "REF": _ref,
    "PLB": _plb,
    "SE": _se,
}


def remits_from_835(tx: Transaction) -> Remits835:
    """Map one 835 transaction set; raises ``X12MappingError`` (position and rule, no values) if it cannot."""
    if tx.set_id != "835":
        raise X12MappingError(1, "ST", 1, "ST01 must be 835 (health care claim payment/advice)")
    state = _Pass(tx)
    handlers = _HANDLERS
    for seg in tx.segments:
        handler = handlers.get(seg.id)
        if handler is not None:
            handler(state, seg)
    return state.out
