"""Prevention fixes a team marked done: ``<data_dir>/prevention_decisions.yaml``.

Why a file next to the data: the before/after comparison (``features.prevention.effects``) needs the day a fix
went in, and the team that made the fix is the one that knows it; the file sits with the team's other
decisions (``edit_decisions.yaml``, ``payer_rules.yaml``) and travels with the data directory.

Format::

    version: 1
    fixes:
      "authorization:payer=P0025:plan=commercial:group=physical_medicine":
        date: 2025-03-01
        note: front desk checks the auth list for PT
        by: lee   # the workspace username that marked it (absent when marked from the command line)

Keys are pattern keys (``features.prevention.patterns.parse_pattern_key``), dates ISO days. The file is
validated on load (an error names the file and the key at fault, never a value) and rewritten atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from features.contract.atomic_files import write_text_atomic
from features.prevention.patterns import PatternKeyError, parse_pattern_key

__all__ = ["FIXES_FILE", "Fix", "FixFileError", "load_fixes", "mark_done", "undo_done"]

FIXES_FILE = "prevention_decisions.yaml"
MAX_NOTE = 500


class FixFileError(ValueError):
    """The fixes file or a key given for it is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class Fix:
    key: str
    date: pd.Timestamp
    note: str = ""
    by: str = ""


def _day(value: object, *, where: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        raise FixFileError(f"{where}: date must be YYYY-MM-DD") from None
    if pd.isna(day) or day != day.normalize():
        raise FixFileError(f"{where}: date must be YYYY-MM-DD")
    return day


def _check_key(key: str, *, where: str) -> str:
    try:
        return parse_pattern_key(key).key
    except PatternKeyError as exc:
        raise FixFileError(f"{where}: {exc}") from None


def load_fixes(*, data_dir: Path) -> dict[str, Fix]:
    """key -> Fix from ``data_dir/prevention_decisions.yaml`` (empty when the file does not exist)."""
    path = Path(data_dir) / FIXES_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, ValueError):  # ValueError: a date like 2024-13-01
        raise FixFileError(f"{path}: unreadable YAML (or an impossible date)") from None
    fixes = data.get("fixes", {}) if isinstance(data, dict) else None
    if not isinstance(fixes, dict) or (isinstance(data, dict) and set(data) - {"version", "fixes"}):
        raise FixFileError(f"{path}: expected 'version: 1' and 'fixes: {{KEY: {{date, note}}}}'")
    out: dict[str, Fix] = {}
    for n, (key, entry) in enumerate(fixes.items(), start=1):
        where = f"{path}: fixes entry {n} ({key})" if isinstance(key, str) else f"{path}: fixes entry {n}"
        key = _check_key(str(key), where=where)
        if not isinstance(entry, dict) or "date" not in entry or set(entry) - {"date", "note", "by"}:
            raise FixFileError(f"{where}: expected {{date: YYYY-MM-DD, note: TEXT}}")
        note, by = entry.get("note") or "", entry.get("by") or ""
        if not isinstance(note, str) or not isinstance(by, str):
            raise FixFileError(f"{where}: note and by must be text")
        out[key] = Fix(key=key, date=_day(entry["date"], where=where), note=note, by=by)
    return out


def _write(data_dir: Path, fixes: dict[str, Fix]) -> Path:
    path = Path(data_dir) / FIXES_FILE
    body = {
        k: {"date": f.date.date().isoformat(), **({"note": f.note} if f.note else {}), **({"by": f.by} if f.by else {})}
        for k, f in sorted(fixes.items())
    }
    text = "# ClaimSight: prevention fixes marked done (claimsight prevent done / undo)\n"
    text += yaml.safe_dump({"version": 1, "fixes": body}, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path


def mark_done(*, data_dir: Path, key: str, day: pd.Timestamp, note: str = "", by: str = "") -> Path:
    """Record that the fix of pattern `key` went in on `day` (marking it again moves the date); `by`: the
    workspace username that marked it."""
    key = _check_key(key, where=f"pattern key {key!r}")
    if len(note) > MAX_NOTE:
        raise FixFileError(f"{FIXES_FILE}: {key}: a note holds at most {MAX_NOTE} characters")
    fixes = load_fixes(data_dir=data_dir)
    fixes[key] = Fix(key=key, date=_day(pd.Timestamp(day).normalize().date(), where=key), note=note, by=by)
    return _write(data_dir, fixes)


def undo_done(*, data_dir: Path, key: str) -> Path:
    """Forget that the fix of `key` was done; FixFileError when it was not marked."""
    fixes = load_fixes(data_dir=data_dir)
    if key not in fixes:
        raise FixFileError(f"{Path(data_dir) / FIXES_FILE}: {key} is not marked done")
    del fixes[key]
    return _write(data_dir, fixes)
