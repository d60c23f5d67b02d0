"""Say why a table file cannot be read: the file, the line or byte, and what was wrong.

Only runs after the fast reader (Arrow) has already failed, so the second pass over the raw bytes
here never slows a good file down. Messages are for a billing analyst and carry positions, counts
and the rule, never a cell value: Arrow's own message quotes the offending row, so it is only ever
mined for its counts, never passed on.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

_SAMPLE = 64 * 1024  # bytes looked at to decide "binary"
# Control bytes that never appear in a text CSV (tab, line feed, form feed and carriage return do).
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}
_MAGIC = (
    (b"PAR1", "it looks like a Parquet file: name it .parquet"),
    (b"PK\x03\x04", "it looks like an Excel workbook or a zip archive: save the sheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "it looks like an old Excel workbook: save the sheet as CSV UTF-8"),
    (b"\x1f\x8b", "it looks gzip-compressed: unpack it first"),
    (b"%PDF", "it looks like a PDF document"),
    (b"\x89PNG", "it looks like a PNG image"),
    (b"\xff\xfe", "it looks like UTF-16 text: save it as CSV UTF-8"),
    (b"\xfe\xff", "it looks like UTF-16 text: save it as CSV UTF-8"),
    (b"\xff\xd8\xff", "it looks like a JPEG image"),
)
_ARROW_COUNTS = re.compile(r"Expected (\d+) columns, got (\d+)")


def _line(n: int) -> str:
    return f"line {n:,}"


def _first_non_text(sample: bytes, *, whole_file: bool) -> tuple[int | None, int]:
    """(offset of the first byte that is not UTF-8 text or is a control byte, how many such bytes)."""
    if not whole_file:  # drop a character the sample's end cut in two: that is not bad text
        cut = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        cut.decode(sample, final=False)
        sample = sample[: len(sample) - len(cut.getstate()[0])]
    control = [i for i, b in enumerate(sample) if b in _CONTROL]
    invalid = len(sample) - len(sample.decode("utf-8", errors="ignore").encode("utf-8"))
    first_invalid = None
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_invalid = exc.start
    starts = [i for i in (first_invalid, control[0] if control else None) if i is not None]
    return (min(starts) if starts else None), len(control) + invalid


def _binary(path: Path, name: str) -> str | None:
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE)
        whole = not fh.read(1)
    first, count = _first_non_text(sample, whole_file=whole)
    hint = next((h for magic, h in _MAGIC if sample.startswith(magic)), None)
    if hint is None and (first is None or (b"\x00" not in sample and count * 10 < len(sample))):
        return None  # text, perhaps with a few bad characters: the line-by-line check says where
    where = f"binary content at byte {0 if hint or first is None else first:,}"
    return f"{name} is not a text CSV file ({where}{'; ' + hint if hint else ''})"


def explain_binary_csv(path: Path) -> str | None:
    """For a CSV that parsed but lacks the contract's columns: say so if it is really a binary file."""
    try:
        return _binary(path, path.name)
    except OSError:
        return None


def _bad_utf8(path: Path, name: str) -> str | None:
    offset = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"{name} {_line(number)} (byte {offset + exc.start:,} of the file): not UTF-8 text "
                    "(save the file as CSV UTF-8)"
                )
            offset += len(raw)
    return None


def _ragged(path: Path, name: str) -> str | None:
    """The first record whose field count differs from the header's, read with Python's csv module."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        expected: int | None = None
        previous_end = 0
        try:
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if not row:
                    continue  # a blank line: Arrow skips those too
                if expected is None:
                    expected = len(row)
                    continue
                if len(row) != expected:
                    return _ragged_message(name, start, expected, len(row))
        except csv.Error:
            return None
    if expected is None:
        return f"{name} is empty (no header line)"
    return None


def _ragged_message(name: str, line: int | None, expected: int, found: int) -> str:
    where = f"{name} {_line(line)}" if line is not None else f"{name} (a row)"
    if found > expected:
        why = "a comma inside an unquoted value?"
    else:
        why = "a missing value, a line break inside a value, or a quote that is never closed?"
    return f"{where}: expected {expected:,} fields, found {found:,} ({why})"


def _from_arrow(name: str, message: str) -> str:
    """Fallback when the byte pass finds nothing: keep Arrow's counts, drop the row text it quotes."""
    counts = _ARROW_COUNTS.search(message)
    if counts:
        return _ragged_message(name, None, int(counts.group(1)), int(counts.group(2)))
    if "Empty CSV" in message:
        return f"{name} is empty (no header line)"
    if "UTF8" in message or "utf-8" in message:
        return f"{name} is not UTF-8 text (save the file as CSV UTF-8)"
    return f"cannot read {name} (not a CSV file this reader understands)"


def explain_csv(path: Path, exc: BaseException) -> str:
    """Why Arrow could not read the CSV at `path`: name, line or byte, and the rule broken."""
    name = path.name
    if isinstance(exc, OSError):
        return f"cannot read {name} ({exc.strerror or type(exc).__name__})"
    try:
        if path.stat().st_size == 0:
            return f"{name} is empty (no header line)"
        found = _binary(path, name) or _bad_utf8(path, name) or _ragged(path, name)
    except OSError as err:
        return f"cannot read {name} ({err.strerror or type(err).__name__})"
    return found or _from_arrow(name, str(exc))


def explain_parquet(path: Path, exc: BaseException) -> str:
    """Why the Parquet file at `path` could not be read, from its size and its start and end markers."""
    name = path.name
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read {name} ({exc.strerror})"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(max(size - 4, 0))
            tail = fh.read(4)
    except OSError as err:
        return f"cannot read {name} ({err.strerror or type(err).__name__})"
    if size == 0:
        return f"{name} is empty (0 bytes)"
    if head != b"PAR1":
        return f"{name} is not a Parquet file (it does not start with the Parquet marker)"
    if tail != b"PAR1":
        return f"{name} is truncated or not a Parquet file (no Parquet footer at the end; copy it again)"
    if isinstance(exc, NotImplementedError):
        return f"{name}: a column has a type that cannot be read as text (nested or unsupported Parquet type)"
    return f"{name} is damaged inside (its start and end look like Parquet, its contents do not decode)"
