"""DATA.md tables out as 005010 X12: 837P/837I claim files and 835 remittance files.

Why: the synthetic world is how ClaimSight is developed and judged, and a team's real history arrives as
837s and 835s. Writing the world as X12 lets ``claimsight ingest`` be tested end to end against known
answers (``tests/features/contract/x12/test_round_trip.py``). Every choice below is made so that the readers
(``claims_837``, ``remits_835``, ``ingest``) map the files back to the same values; where X12 cannot carry
a value the round-trip test says so.

Streaming: files are written segment by segment to an open handle (the SE count is kept while writing),
so the X12 text of a large world is never held in memory; only the tables themselves are.

Envelopes: one interchange (ISA/GS/.../GE/IEA) per file, ISA13 = GS06 = a running number over the call,
ST02 running within the group. ISA09/GS04 are the first transaction's date, never "now", so the same
world gives the same bytes. ISA15 is ``T`` (test data).

837 choices (``write_837``):

- Professional claims go to 005010X222A1 files, institutional to 005010X223A2 files (a GS group has one
  guide). The reader takes submitted_at from BHT04, and a transaction has one BHT, so a transaction holds
  the claims of one submission date (at most ``batch_claims``); a file holds whole transactions up to
  ``batch_claims`` claims.
- Claims are grouped under billing provider HL loops (HL 20). Claims with a rendering provider carry
  their specialty on the rendering (837P NM1*82 + PRV*PE) or attending (837I NM1*71 + PRV*AT: the guide
  wants 2310A attending, and 2310D rendering only when it differs) provider; claims without one get their
  own billing HL with PRV*BI = specialty, so the reader's "else the billing taxonomy" gives it back.
- Each patient is written as the subscriber (SBR02 ``18`` self, no 2000C loop): NM1*IL NM109 = patient_id,
  DMG = birth date and sex. Names are placeholders (X12 needs one; the tables have none).
- SBR09 by ``FILING_INDICATOR_BY_PLAN_TYPE``; ``managed_medicaid`` is written ``MC`` and reads back as
  ``medicaid`` (SBR09 has no managed Medicaid code).
- CLM05 = place of service (837P) or facility type ``11``/``13`` (837I, inpatient when POS 21) : ``B``/``A``
  : frequency. On 837I the reader leaves place_of_service empty (CLM05-1 is not a POS there).
- REF*F8 = original_claim_id for frequency 7/8 (the world's own claim id, which ``ingest`` keeps);
  REF*G1 / REF*9F; HI ABK then ABF, 12 per segment; NM1*77 facility with NM108 ``XX`` (the world's
  facility ids are not NPIs, but the reader reads NM1*77 NM109 only under ``XX``).
- Service dates: 837P line DTP*472 (D8, or RD8 when from != to) on every line; 837I DTP*434 statement
  period. Lines: LX = line_number, SV1 (HC:code:modifiers, UN units, SV107 pointers) or SV2 (revenue
  code, HC:code:modifiers, UN units; SV2 has no diagnosis pointers), REF*6R = line_number.
- 2320/2330B other payer (SBR*S + NM1*PR) when secondary_payer_id is set.

835 choices (``write_835``):

- One transaction per payer, payee (billing NPI) and remit_date: an 835 pays one payee; BPR16 = remit_date,
  TRN02 = ``trace_number(payer, remit_date, billing_npi)``, N1*PR N104 = payer_id, N1*PE XX = billing NPI.
- CLP01 claim_id, CLP02 status, CLP03 the claim's total charge, CLP04 paid, CLP05 patient responsibility,
  CLP07 = the world's remit_id. The reader builds remit_id as CLP07 + ``-`` + TRN02, so a remit comes back
  as ``x12_remit_id(remit_id, trace)``: one-to-one, no X12 choice reproduces a dash-free id.
- Claim-level adjustments (no line_number): CAS right after CLP, their remark codes in MOA03-07. Line
  adjustments: SVC (procedure, charge, charge minus the line's adjustments, units) + CAS + REF*6R =
  line_number + LQ*HE per remark code. The 835 does not tie a remark to one CAS triplet, so every
  adjustment of a claim (or line) reads back with the union of its remark codes.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

__all__ = [
    "FILING_INDICATOR_BY_PLAN_TYPE",
    "trace_number",
    "write_835",
    "write_837",
    "write_x12",
    "x12_remit_id",
]

# Inverse of claims_837.PLAN_TYPE_BY_FILING_INDICATOR for the plan types the world uses.
FILING_INDICATOR_BY_PLAN_TYPE: dict[str, str] = {
    "commercial": "CI",
    "medicare": "MB",
    "medicare_advantage": "16",
    "medicaid": "MC",
    "managed_medicaid": "MC",  # reads back as medicaid: SBR09 cannot say "managed"
    "tricare": "CH",
    "workers_comp": "WC",
    "other": "11",
}
_GUIDE = {"professional": "005010X222A1", "institutional": "005010X223A2"}
_FILE_PREFIX = {"professional": "837P", "institutional": "837I"}
_REMIT_GUIDE = "005010X221A1"
_SENDER = "CLAIMSIGHT"
_CLEARINGHOUSE = "CLEARINGHOUSE"
_PAYERS = "SYNTHPAYERS"
_DX_PER_HI = 12
_TRIPLETS_PER_CAS = 6
_MOA_REMARKS = 5
_Row = Any  # a row of DataFrame.itertuples: a namedtuple whose fields are the table's columns


def trace_number(payer_id: str, remit_date: str, billing_npi: str) -> str:
    """TRN02 of the 835 paying ``billing_npi`` for ``payer_id`` on ``remit_date`` (ISO): unique per payment."""
    return f"{payer_id}{remit_date.replace('-', '')}{billing_npi}"


def x12_remit_id(remit_id: str, trace: str) -> str:
    """The remit_id ``remits_835`` gives back for CLP07 = ``remit_id`` paid under TRN02 = ``trace``."""
    return f"{remit_id}-{trace}"


# --------------------------------------------------------------------------------------------------
# Values


def _text(value: object) -> str:
    """An element's text; missing values (None, NA, NaT, nan) are empty elements."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return ""
    return str(value)


def _money(value: object) -> str:
    """Shortest exact decimal, no exponent (X12 type R): float(text) gives back the same number."""
    return str(np.format_float_positional(float(value), trim="-"))  # type: ignore[arg-type]


def _ccyymmdd(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y%m%d")  # type: ignore[arg-type]


def _codes(value: object) -> list[str]:
    text = _text(value)
    return [c for c in text.split("|") if c] if text else []


def _period(start: object, end: object) -> tuple[str, str]:
    """DTP format qualifier and value: D8 for one day, RD8 for a range."""
    first, last = _ccyymmdd(start), _ccyymmdd(end if _text(end) else start)
    return ("D8", first) if first == last else ("RD8", f"{first}-{last}")


# --------------------------------------------------------------------------------------------------
# Envelopes


class _Interchange:
    """One file: ISA/GS around ST..SE transactions; counts segments so SE01 is right without buffering."""

    def __init__(self, handle: TextIO, *, control: int, functional: str, guide: str, parties: tuple[str, str]) -> None:
        self.handle = handle
        self.control = control
        self.functional = functional
        self.guide = guide
        self.parties = parties
        self.transactions = 0
        self.segments = 0
        self.opened = False

    def seg(self, *elements: str) -> None:
        items = list(elements)
        while len(items) > 1 and items[-1] == "":
            items.pop()
        text = "*".join(items)
        if "~" in text or text.count("*") != len(items) - 1:  # a value holding a separator would shift elements
            raise ValueError(f"{items[0]} segment {self.segments + 1}: a value contains an X12 separator (* or ~)")
        self.handle.write(text + "~\n")
        self.segments += 1

    def _open(self, day: str) -> None:
        sender, receiver = self.parties
        self.handle.write(
            f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*{day[2:]}*0000*^*00501*"
            f"{self.control:09d}*0*T*:~\n"
        )
        self.handle.write(f"GS*{self.functional}*{sender}*{receiver}*{day}*0000*{self.control}*X*{self.guide}~\n")
        self.opened = True

    def start(self, set_id: str, day: str) -> None:
        """ST of the next transaction (opening the interchange at the first one, dated ``day``)."""
        if not self.opened:
            self._open(day)
        self.transactions += 1
        self.segments = 0
        if set_id == "837":
            self.seg("ST", set_id, f"{self.transactions:04d}", self.guide)
        else:
            self.seg("ST", set_id, f"{self.transactions:04d}")

    def end(self) -> None:
        self.seg("SE", str(self.segments + 1), f"{self.transactions:04d}")

    def close(self) -> None:
        if self.opened:
            self.handle.write(f"GE*{self.transactions}*{self.control}~\nIEA*1*{self.control:09d}~\n")


@dataclass
class _Files:
    """Numbered output files, each one interchange, cut when the next transaction would pass ``limit``."""

    out_dir: Path
    prefix: str
    functional: str
    guide: str
    parties: tuple[str, str]
    limit: int
    counter: Iterator[int]  # ISA13/GS06, shared by the files of one call

    @contextmanager
    def writing(self) -> Iterator[_Sink]:
        sink = _Sink(self)
        try:
            yield sink
        finally:
            sink.finish()


class _Sink:
    """Hands out the interchange a transaction of ``n`` claims goes into, opening a new file as needed."""

    def __init__(self, files: _Files) -> None:
        self.files = files
        self.paths: list[Path] = []
        self.handle: TextIO | None = None
        self.current: _Interchange | None = None
        self.claims = 0

    def interchange(self, n: int) -> _Interchange:
        if self.current is None or self.claims + n > self.files.limit:
            self.finish()
            f = self.files
            control = next(f.counter)
            path = f.out_dir / f"{f.prefix}_{len(self.paths) + 1:05d}.{f.prefix[:3]}"
            self.handle = path.open("w", encoding="ascii", newline="\n")
            self.current = _Interchange(
                self.handle, control=control, functional=f.functional, guide=f.guide, parties=f.parties
            )
            self.paths.append(path)
            self.claims = 0
        self.claims += n
        return self.current

    def finish(self) -> None:
        if self.current is not None and self.handle is not None:
            self.current.close()
            self.handle.close()
        self.current = None
        self.handle = None


def _chunks(rows: list[_Row], size: int) -> Iterator[list[_Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --------------------------------------------------------------------------------------------------
# 837


def write_837(claims: pd.DataFrame, lines: pd.DataFrame, *, out_dir: Path, batch_claims: int = 5000) -> list[Path]:
    """The claims as 837P/837I files in ``out_dir``; returns the files written, in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_claim = _lines_by_claim(lines)
    ordered = claims.assign(x12_sent=pd.to_datetime(claims["submitted_at"])).sort_values(
        ["claim_type", "x12_sent", "claim_id"], kind="stable"
    )
    paths: list[Path] = []
    counter = itertools.count(1)
    for claim_type, group in ordered.groupby("claim_type", sort=True):
        files = _Files(
            out_dir, _FILE_PREFIX[str(claim_type)], "HC", _GUIDE[str(claim_type)], (_SENDER, _CLEARINGHOUSE),
            batch_claims, counter,
        )  # fmt: skip
        with files.writing() as sink:
            for sent, day in itertools.groupby(group.itertuples(index=False), key=operator.attrgetter("x12_sent")):
                for chunk in _chunks(list(day), batch_claims):
                    ic = sink.interchange(len(chunk))
                    _Claims837(ic, str(claim_type), by_claim).transaction(_ccyymmdd(sent), chunk)
        paths += sink.paths
    return paths


def _lines_by_claim(lines: pd.DataFrame) -> dict[str, list[_Row]]:
    return _by(lines.sort_values(["claim_id", "line_number"], kind="stable"), "claim_id")


def _billing_key(claim: _Row) -> tuple[str, str]:
    """Billing HL: the NPI, plus the specialty when no rendering provider carries it (PRV*BI)."""
    rendering = _text(claim.rendering_npi)
    return _text(claim.billing_npi), "" if rendering else _text(claim.specialty)


class _Claims837:
    """One 837 transaction: header, billing provider HLs, one subscriber HL and claim per claim."""

    def __init__(self, ic: _Interchange, claim_type: str, lines: dict[str, list[_Row]]) -> None:
        self.ic = ic
        self.seg = ic.seg
        self.institutional = claim_type == "institutional"
        self.lines = lines
        self.hl = 0

    def transaction(self, day: str, claims: Iterable[_Row]) -> None:
        self.ic.start("837", day)
        self.seg("BHT", "0019", "00", f"{self.ic.control}{self.ic.transactions:04d}", day, "0000", "CH")
        self.seg("NM1", "41", "2", "CLAIMSIGHT SYNTHETIC", "", "", "", "", "46", _SENDER)
        self.seg("PER", "IC", "BILLING OFFICE", "TE", "5555550100")
        self.seg("NM1", "40", "2", "CLEARINGHOUSE", "", "", "", "", "46", _CLEARINGHOUSE)
        groups: dict[tuple[str, str], list[_Row]] = {}
        for claim in claims:
            groups.setdefault(_billing_key(claim), []).append(claim)
        for (npi, taxonomy), members in groups.items():
            parent = self._billing(npi, taxonomy)
            for claim in members:
                self._subscriber(parent, claim)
                self._claim(claim)
        self.ic.end()

    def _billing(self, npi: str, taxonomy: str) -> int:
        self.hl += 1
        self.seg("HL", str(self.hl), "", "20", "1")
        if taxonomy:
            self.seg("PRV", "BI", "PXC", taxonomy)
        self.seg("NM1", "85", "2", f"BILLING {npi}", "", "", "", "", "XX", npi)
        self.seg("N3", "1 MAIN ST")
        self.seg("N4", "ANYTOWN", "NY", "100010001")
        self.seg("REF", "EI", "000000000")
        return self.hl

    def _subscriber(self, parent: int, c: _Row) -> None:
        self.hl += 1
        self.seg("HL", str(self.hl), str(parent), "22", "0")
        filing = FILING_INDICATOR_BY_PLAN_TYPE.get(_text(c.plan_type), "ZZ")
        if filing == "MB" and self.institutional:
            filing = "MA"  # Medicare Part A pays institutional claims
        self.seg("SBR", "P", "18", "", "", "", "", "", "", filing)
        self.seg("NM1", "IL", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", _text(c.patient_id))
        birth = c.patient_birth_date
        if _text(birth) or _text(c.patient_sex):
            self.seg("DMG", "D8" if _text(birth) else "", _ccyymmdd(birth) if _text(birth) else "",
                     _text(c.patient_sex))  # fmt: skip
        payer = _text(c.payer_id)
        self.seg("NM1", "PR", "2", f"PAYER {payer}", "", "", "", "", "PI", payer)

    def _claim(self, c: _Row) -> None:
        claim_id = _text(c.claim_id)
        frequency = _text(c.frequency_code) or "1"
        if self.institutional:
            facility_type = "11" if _text(c.place_of_service) == "21" else "13"
            self.seg("CLM", claim_id, _money(c.total_charge), "", "", f"{facility_type}:A:{frequency}",
                     "", "A", "Y", "Y")  # fmt: skip
            start, end = _period(c.service_from, c.service_to)[1].partition("-")[::2]
            self.seg("DTP", "434", "RD8", f"{start}-{end or start}")  # the statement period is always a range
        else:
            pos = _text(c.place_of_service)
            self.seg("CLM", claim_id, _money(c.total_charge), "", "", f"{pos}:B:{frequency}",
                     "Y", "A", "Y", "Y")  # fmt: skip
        self._references(c, frequency)
        self._diagnoses(_codes(c.diagnosis_codes))
        self._providers(c)
        self._other_payer(_text(c.secondary_payer_id))
        for line in self.lines.get(claim_id, []):
            self._line(line, c)

    def _references(self, c: _Row, frequency: str) -> None:
        if frequency in ("7", "8") and _text(c.original_claim_id):
            self.seg("REF", "F8", _text(c.original_claim_id))
        if _text(c.prior_auth_number):
            self.seg("REF", "G1", _text(c.prior_auth_number))
        if _text(c.referral_number):
            self.seg("REF", "9F", _text(c.referral_number))

    def _diagnoses(self, codes: list[str]) -> None:
        """Principal ABK first; 837I keeps it in its own HI, 837P packs up to 12 per HI."""
        items = [f"ABK:{codes[0]}"] + [f"ABF:{code}" for code in codes[1:]] if codes else []
        if self.institutional and items:
            self.seg("HI", items[0])
            items = items[1:]
        for chunk in _chunks(items, _DX_PER_HI):
            self.seg("HI", *chunk)

    def _providers(self, c: _Row) -> None:
        rendering = _text(c.rendering_npi)
        if rendering:
            entity, prv = ("71", "AT") if self.institutional else ("82", "PE")
            self.seg("NM1", entity, "1", "PROVIDER", "RENDERING", "", "", "", "XX", rendering)
            if _text(c.specialty):
                self.seg("PRV", prv, "PXC", _text(c.specialty))
        facility = _text(c.facility_id)
        if facility:
            self.seg("NM1", "77", "2", f"FACILITY {facility}", "", "", "", "", "XX", facility)
            self.seg("N3", "2 CLINIC RD")
            self.seg("N4", "ANYTOWN", "NY", "100010001")

    def _other_payer(self, payer: str) -> None:
        if not payer:
            return
        self.seg("SBR", "S", "18", "", "", "", "", "", "", "CI")
        self.seg("NM1", "IL", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", "OTHER")
        self.seg("NM1", "PR", "2", f"PAYER {payer}", "", "", "", "", "PI", payer)

    def _line(self, line: _Row, c: _Row) -> None:
        number = str(line.line_number)
        self.seg("LX", number)
        code = ":".join(["HC", _text(line.procedure_code), *_codes(line.modifiers)])
        units = _text(line.units)
        if self.institutional:
            self.seg("SV2", _text(line.revenue_code), code, _money(line.charge),
                     "UN" if units else "", units)  # fmt: skip
        else:
            pointers = ":".join(_codes(line.diagnosis_pointers))
            self.seg("SV1", code, _money(line.charge), "UN" if units else "", units, "", "", pointers)
        self.seg("DTP", "472", *_period(c.service_from, c.service_to))
        self.seg("REF", "6R", number)


# --------------------------------------------------------------------------------------------------
# 835


def write_835(
    remits: pd.DataFrame,
    adjustments: pd.DataFrame,
    claims: pd.DataFrame,
    *,
    out_dir: Path,
    batch_claims: int = 5000,
    lines: pd.DataFrame | None = None,
) -> list[Path]:
    """The remits as 835 files in ``out_dir`` (``lines`` gives SVC procedure codes and charges; without it
    an SVC carries only the line's adjustments); returns the files written, in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    facts = claims.set_index(claims["claim_id"].astype(str))
    table = remits.assign(
        x12_claim=remits["claim_id"].astype(str),
        x12_date=pd.to_datetime(remits["remit_date"]).dt.strftime("%Y-%m-%d"),
    )
    table = table.assign(
        x12_payer=table["x12_claim"].map(facts["payer_id"]).astype(str),
        x12_npi=table["x12_claim"].map(facts["billing_npi"]).astype(str),
    ).sort_values(["x12_date", "x12_payer", "x12_npi", "remit_id"], kind="stable")
    context = _RemitContext(
        {str(row.claim_id): row for row in claims.itertuples(index=False)},
        _by(adjustments, "remit_id"),
        _lines_by_claim(lines) if lines is not None else {},
    )
    files = _Files(out_dir, "835", "HP", _REMIT_GUIDE, (_PAYERS, _SENDER), batch_claims, itertools.count(1))
    payment = operator.attrgetter("x12_date", "x12_payer", "x12_npi")
    with files.writing() as sink:
        # one itertuples pass grouped in Python (a groupby per payment costs more than the writing); helper
        # columns have no leading underscore because itertuples renames those
        for (day, payer, npi), group in itertools.groupby(table.itertuples(index=False), key=payment):
            for chunk in _chunks(list(group), batch_claims):
                ic = sink.interchange(len(chunk))
                _Payment(ic, context, day, payer, npi).transaction(chunk)
    return sink.paths


def _by(frame: pd.DataFrame, column: str) -> dict[str, list[_Row]]:
    """Rows of ``frame`` by the text of ``column``, in frame order."""
    out: dict[str, list[_Row]] = {}
    for row in frame.itertuples(index=False):
        out.setdefault(str(getattr(row, column)), []).append(row)
    return out


@dataclass(frozen=True)
class _RemitContext:
    claims: dict[str, _Row]  # by claim_id
    adjustments: dict[str, list[_Row]]
    lines: dict[str, list[_Row]]


def _remarks(rows: Iterable[_Row]) -> list[str]:
    """Every remark code of ``rows``, first appearance first (the 835 carries them per claim or line)."""
    return list(dict.fromkeys(code for row in rows for code in _codes(row.remark_codes)))


class _Payment:
    """One 835 transaction: one payer paying one payee on one date."""

    def __init__(self, ic: _Interchange, context: _RemitContext, day: str, payer: str, npi: str) -> None:
        self.ic = ic
        self.seg = ic.seg
        self.context = context
        self.day = day
        self.payer = payer
        self.npi = npi
        self.trace = trace_number(payer, day, npi)

    def transaction(self, remits: list[_Row]) -> None:
        day = self.day.replace("-", "")
        self.ic.start("835", day)
        total = round(sum(float(r.paid_amount) for r in remits), 2)
        handling = "I" if total >= 0 else "H"
        amount = _money(total) if total >= 0 else "0"
        self.seg("BPR", handling, amount, "C", "NON", "", "", "", "", "", "", "", "", "", "", "", day)
        self.seg("TRN", "1", self.trace, f"1{self.payer}")
        self.seg("DTM", "405", day)
        self.seg("N1", "PR", f"PAYER {self.payer}", "XV", self.payer)
        self.seg("N3", "PO BOX 1")
        self.seg("N4", "ANYTOWN", "NY", "100010001")
        self.seg("PER", "BL", "PROVIDER SERVICES", "TE", "5555550199")
        self.seg("N1", "PE", f"BILLING {self.npi}", "XX", self.npi)
        self.seg("LX", "1")
        for remit in remits:
            self._claim(remit)
        self.ic.end()

    def _claim(self, r: _Row) -> None:
        claim_id = _text(r.claim_id)
        c = self.context.claims[claim_id]
        filing = FILING_INDICATOR_BY_PLAN_TYPE.get(_text(c.plan_type), "ZZ")
        institutional = _text(c.claim_type) == "institutional"
        facility = "13:A" if institutional else f"{_text(c.place_of_service)}:B"
        responsibility = r.patient_responsibility
        self.seg("CLP", claim_id, _text(r.status_code), _money(c.total_charge),
                 _money(r.paid_amount), _money(responsibility) if _text(responsibility) else "",
                 filing, _text(r.remit_id), facility, _text(c.frequency_code) or "1")  # fmt: skip
        rows = self.context.adjustments.get(_text(r.remit_id), [])
        claim_level = [a for a in rows if not _text(a.line_number)]
        self._cas(claim_level)
        self.seg("NM1", "QC", "1", "PATIENT", "SYNTHETIC", "", "", "", "MI", _text(c.patient_id))
        remarks = _remarks(claim_level)
        for start in range(0, len(remarks), _MOA_REMARKS):
            self.seg("MOA", "", "", *remarks[start : start + _MOA_REMARKS])
        by_line: dict[int, list[_Row]] = {}
        for a in rows:
            if _text(a.line_number):
                by_line.setdefault(int(a.line_number), []).append(a)
        lines = {int(line.line_number): line for line in self.context.lines.get(claim_id, [])}
        for number in sorted(by_line):
            self._service(number, by_line[number], lines.get(number), institutional)

    def _service(self, number: int, rows: list[_Row], line: _Row | None, institutional: bool) -> None:
        adjusted = round(sum(float(a.amount) for a in rows), 2)
        if line is None:
            code, charge, units, revenue = "HC:", adjusted, "", ""
        else:
            code = ":".join(["HC", _text(line.procedure_code), *_codes(line.modifiers)])
            charge = float(line.charge)
            units = _text(line.units)
            revenue = _text(line.revenue_code) if institutional else ""
        self.seg("SVC", code, _money(charge), _money(round(charge - adjusted, 2)), revenue, units)
        self._cas(rows)
        self.seg("REF", "6R", str(number))
        for remark in _remarks(rows):
            self.seg("LQ", "HE", remark)

    def _cas(self, rows: list[_Row]) -> None:
        """One CAS per group code (in first-appearance order), six reason/amount/quantity triplets each."""
        groups: dict[str, list[_Row]] = {}
        for a in rows:
            groups.setdefault(_text(a.group_code), []).append(a)
        for group, members in groups.items():
            for chunk in _chunks(members, _TRIPLETS_PER_CAS):
                triplets = [x for a in chunk for x in (_text(a.carc), _money(a.amount), "")]
                self.seg("CAS", group, *triplets)


# --------------------------------------------------------------------------------------------------
# A world's tables


def write_x12(tables: dict[str, pd.DataFrame], *, out_dir: Path, batch_claims: int = 5000) -> list[Path]:
    """claims/claim_lines as 837s and remits/adjustments as 835s under ``out_dir`` (followups have no X12)."""
    claims, lines = tables["claims"], tables["claim_lines"]
    paths = write_837(claims, lines, out_dir=out_dir, batch_claims=batch_claims)
    paths += write_835(tables["remits"], tables["adjustments"], claims, out_dir=out_dir, batch_claims=batch_claims,
                       lines=lines)  # fmt: skip
    return paths
