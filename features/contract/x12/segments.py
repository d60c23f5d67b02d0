"""X12 interchanges as segments: the separators an ISA declares, envelopes, and transaction sets.

Why our own reader: a billing team's export folder holds thousands of 837/835 files, and the mapping to the
DATA.md tables needs only the segments in order with their loop context; a validating parser builds a
full tree per transaction and is many times slower. The reader is strict where structure matters (a
transaction must end with its SE, the SE count must match, the control numbers must agree) and lenient
where real files vary: line breaks after terminators, a byte-order mark, trailing spaces, several
ISA/GS/ST envelopes in one file, 4010-era files.

A transaction that breaks the structure is returned as an ``X12Error`` with the position (file, segment
number, segment id, element) and the rule, never a value: segment contents are PHI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "Delimiters",
    "Segment",
    "Transaction",
    "X12Error",
    "read_transactions",
]

_ISA_LENGTH = 106  # fixed width: the ISA segment including its terminator
_TRUNCATED = "transaction set ends without SE (file truncated?)"


@dataclass(frozen=True)
class Delimiters:
    """The four separators of an interchange, read from its ISA segment."""

    element: str
    component: str
    repetition: str | None  # ISA11 in 5010 ("^"); 4010 uses ISA11 for the standards id ("U"): no repetition
    segment: str


class Segment(NamedTuple):
    """One segment: ``number`` counts from 1 at the ST of its transaction (0 for envelope segments).

    A named tuple, not a frozen dataclass: a 1M-claim folder has tens of millions of segments, and a frozen
    dataclass's ``__init__`` took a quarter of the reading time."""

    id: str
    elements: tuple[str, ...]  # elements[0] is the first element after the id (X12 "01")
    number: int

    def get(self, position: int, default: str = "") -> str:
        """Element ``position`` in X12 numbering (1 = the first after the id), stripped; ``default`` if absent."""
        if 1 <= position <= len(self.elements):
            value = self.elements[position - 1].strip()
            return value if value else default
        return default

    def components(self, position: int, delimiters: Delimiters) -> list[str]:
        return [c.strip() for c in self.get(position).split(delimiters.component)]


@dataclass(frozen=True)
class X12Error:
    """Why a transaction (or a whole file) could not be read: positions and a rule, never element values."""

    file: str
    segment_number: int | None
    segment_id: str | None
    element: int | None
    rule: str

    def message(self) -> str:
        where = [self.file]
        if self.segment_number is not None:
            where.append(f"segment {self.segment_number}")
        if self.segment_id:
            where.append(self.segment_id)
        if self.element is not None:
            where.append(f"element {self.element:02d}")
        return f"{', '.join(where)}: {self.rule}"


@dataclass(frozen=True)
class Transaction:
    """One ST..SE transaction set with the envelope it came in."""

    file: str
    set_id: str  # ST01: "837", "835"
    version: str  # GS08 (or ST03): "005010X222A1", "004010X091A1", ...
    interchange_control: str  # ISA13
    group_control: str  # GS06
    control: str  # ST02
    interchange_date: str  # ISA09 (YYMMDD)
    group_date: str  # GS04 (CCYYMMDD)
    sender: str  # ISA06 / GS02, stripped
    receiver: str  # ISA08 / GS03, stripped
    delimiters: Delimiters
    segments: tuple[Segment, ...] = field(repr=False)


def _delimiters(text: str, start: int) -> Delimiters | str:
    """The ISA at ``start``: its separators, or the rule it breaks."""
    head = text[start : start + _ISA_LENGTH]
    if len(head) < _ISA_LENGTH:
        return "ISA must be 106 characters long"
    element = head[3]
    fields = head.split(element)
    if len(fields) < 17:
        return "ISA must have 16 elements"
    repetition = fields[11] if fields[12].strip() >= "00501" and len(fields[11]) == 1 else None
    component = head[104]
    segment = head[105]
    if len({element, component, segment}) < 3 or segment.isalnum() or element.isalnum():
        return "ISA separators must be distinct and not letters or digits"
    return Delimiters(element=element, component=component, repetition=repetition, segment=segment)


def _split(body: str, delimiters: Delimiters) -> list[str]:
    return [s.strip("\r\n ") for s in body.split(delimiters.segment)]


def read_transactions(text: str, *, file: str) -> Iterator[Transaction | X12Error]:
    """Every transaction set in ``text`` (one file's contents), in order, or an error for each one (or for
    the whole file) that cannot be read. A broken transaction never hides the others of the file."""
    text = text.lstrip("\ufeff")
    start = text.find("ISA")
    if start < 0 or text[:start].strip():
        yield X12Error(file, None, None, None, "no ISA interchange header: not an X12 interchange")
        return
    while start >= 0:
        delimiters = _delimiters(text, start)
        if isinstance(delimiters, str):
            # without its separators the interchange cannot be read, but the next one in the file can
            yield X12Error(file, None, "ISA", None, delimiters)
            start = _next_interchange(text, start + 3)
            continue
        end = text.find(f"{delimiters.segment}IEA{delimiters.element}", start)
        if end < 0:
            end = len(text)
        raw = [s for s in _split(text[start:end], delimiters) if s]
        yield from _interchange(raw, delimiters, file)
        nxt = text.find("ISA", end + 1)
        start = nxt
    return


def _next_interchange(text: str, position: int) -> int:
    """The next readable ISA at or after ``position`` (-1 when none): one that starts the text or a line, or
    follows a separator, and declares valid separators. "ISA" inside a value (a name) is never taken."""
    while (found := text.find("ISA", position)) >= 0:
        if (found == 0 or not text[found - 1].isalnum()) and not isinstance(_delimiters(text, found), str):
            return found
        position = found + 3
    return -1


def _interchange(raw: list[str], delimiters: Delimiters, file: str) -> Iterator[Transaction | X12Error]:
    isa = raw[0].split(delimiters.element)
    isa_control, isa_date = isa[13].strip(), isa[9].strip()
    sender, receiver = isa[6].strip(), isa[8].strip()
    group: list[str] | None = None
    current: list[Segment] | None = None
    st: list[str] = []
    for text in raw[1:]:
        parts = text.split(delimiters.element)
        seg_id = parts[0].strip().upper()
        if seg_id == "ISA":  # a new interchange before this one's IEA: the one before was cut short
            if current is not None:
                yield X12Error(file, len(current), current[-1].id, None, _TRUNCATED)
            isa_control, isa_date = parts[13].strip(), parts[9].strip()
            sender, receiver = parts[6].strip(), parts[8].strip()
            group, current = None, None
        elif seg_id == "GS":
            group = parts
        elif seg_id == "ST":
            if current is not None:
                yield X12Error(file, len(current), "SE", None, "transaction set has no SE before the next ST")
            current = []
            st = parts
            current.append(Segment("ST", tuple(parts[1:]), 1))
        elif current is not None:
            current.append(Segment(seg_id, tuple(parts[1:]), len(current) + 1))
            if seg_id == "SE":
                yield _close(current, st, group, delimiters, file, isa_control, isa_date, sender, receiver)
                current = None
        elif seg_id not in ("GE", "IEA"):
            yield X12Error(file, None, seg_id, None, "segment outside a transaction set (ST..SE)")
            return
    if current is not None:
        yield X12Error(file, len(current), current[-1].id, None, _TRUNCATED)


def _close(
    segments: list[Segment],
    st: list[str],
    group: list[str] | None,
    delimiters: Delimiters,
    file: str,
    isa_control: str,
    isa_date: str,
    sender: str,
    receiver: str,
) -> Transaction | X12Error:
    se = segments[-1]
    count = se.get(1)
    if not count.isdigit() or int(count) != len(segments):
        return X12Error(file, se.number, "SE", 1, f"SE01 must count the {len(segments)} segments of the transaction")
    control = st[2].strip() if len(st) > 2 else ""
    if se.get(2) != control:
        return X12Error(file, se.number, "SE", 2, "SE02 must repeat the ST02 control number")
    set_id = st[1].strip() if len(st) > 1 else ""
    version = (group[8].strip() if group is not None and len(group) > 8 else "") or (
        st[3].strip() if len(st) > 3 else ""
    )
    return Transaction(
        file=file,
        set_id=set_id,
        version=version,
        interchange_control=isa_control,
        group_control=group[6].strip() if group is not None and len(group) > 6 else "",
        control=control,
        interchange_date=isa_date,
        group_date=group[4].strip() if group is not None and len(group) > 4 else "",
        sender=(group[2] if group is not None and len(group) > 2 else sender).strip(),
        receiver=(group[3] if group is not None and len(group) > 3 else receiver).strip(),
        delimiters=delimiters,
        segments=tuple(segments),
    )
