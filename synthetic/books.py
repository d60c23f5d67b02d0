"""Column-oriented in-memory claim and line records (numpy arrays), shared by every generator stage.

Stages pass these around instead of DataFrames: integer indices into the entity tables and day numbers
keep the arithmetic vectorised and cheap, and strings are only built once, in ``assemble.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypeVar

import numpy as np

MODIFIERS: tuple[str, ...] = ("25", "GP", "50", "RT", "LT", "59", "26", "95", "TC", "KX", "GA")
MOD = {m: i for i, m in enumerate(MODIFIERS)}


@dataclass
class ClaimBook:
    patient: np.ndarray
    payer: np.ndarray
    secondary: np.ndarray  # -1 none
    provider: np.ndarray
    facility: np.ndarray
    pos: np.ndarray
    institutional: np.ndarray
    service_from: np.ndarray
    service_to: np.ndarray
    submitted: np.ndarray
    dx: np.ndarray  # [n, 4] diagnosis indices, -1 empty
    has_auth: np.ndarray
    auth_number: np.ndarray
    referral_required: np.ndarray
    has_referral: np.ndarray
    referral_number: np.ndarray
    verified: np.ndarray
    rendering_missing: np.ndarray
    frequency: np.ndarray  # 1, 7, 8
    original: np.ndarray  # claim index a replacement / void refers to, -1 none
    duplicate_of: np.ndarray  # hidden: the claim this one re-sends, -1 none
    stale: np.ndarray  # hidden: the payer on file no longer covers the patient
    cob_wrong: np.ndarray  # hidden: payer order is wrong
    generic_missing: np.ndarray  # hidden: some other claim field is missing or invalid
    line_start: np.ndarray
    n_lines: np.ndarray

    def __len__(self) -> int:
        return len(self.patient)


@dataclass
class LineBook:
    claim: np.ndarray
    line_number: np.ndarray
    code: np.ndarray
    units: np.ndarray
    charge: np.ndarray
    dx_slot: np.ndarray  # 0-based pointer into the claim's diagnoses
    mod_req: np.ndarray  # required modifier (index into MODIFIERS), -1 none
    mod_present: np.ndarray  # the required modifier is on the line
    mod_extra: np.ndarray  # harmless extra modifier, -1 none
    mod_bad: np.ndarray  # invalid modifier for this code, -1 none
    revenue: np.ndarray  # index into the revenue vocabulary, -1 none
    auth_true: np.ndarray  # payer truly requires auth for this line
    auth_obtained: np.ndarray
    auth_mismatch: np.ndarray  # hidden: the auth on file does not match the service
    attach_missing: np.ndarray  # hidden: a needed attachment was not sent
    unsupported: np.ndarray  # no pointed diagnosis supports the procedure family
    over_units: np.ndarray
    bundled: np.ndarray  # the bundling partner appears earlier on the same claim
    retired: np.ndarray  # code not valid on the date of service
    noncovered: np.ndarray
    abn: np.ndarray  # a signed advance beneficiary notice is on file: modifier GA (Medicare)
    uncertified: np.ndarray  # the clinician's certification for this service had lapsed on the service date

    def __len__(self) -> int:
        return len(self.claim)


T = TypeVar("T", ClaimBook, LineBook)


def subset(book: T, idx: np.ndarray) -> T:
    return replace(book, **{f.name: getattr(book, f.name)[idx] for f in fields(book)})


def concat(books: list[T]) -> T:
    first = books[0]
    return replace(first, **{f.name: np.concatenate([getattr(b, f.name) for b in books]) for f in fields(first)})


def expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + counts[i]) (vectorised)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + (np.arange(total) - offsets)


def copy_claims(
    claims: ClaimBook, lines: LineBook, src: np.ndarray, *, first_index: int, line_offset: int | None = None
) -> tuple[ClaimBook, LineBook]:
    """Copies of claims ``src`` (with their lines), numbered from ``first_index`` on.

    ``line_offset`` is where the copied lines will sit once appended (default: right after ``lines``).
    """
    offset = len(lines) if line_offset is None else line_offset
    new_claims = subset(claims, src)
    line_idx = expand(claims.line_start[src], claims.n_lines[src])
    new_lines = subset(lines, line_idx)
    new_ids = first_index + np.arange(len(src))
    new_lines.claim = np.repeat(new_ids, claims.n_lines[src])
    new_claims.line_start = offset + np.cumsum(claims.n_lines[src]) - claims.n_lines[src]
    return new_claims, new_lines


def reorder(claims: ClaimBook, lines: LineBook, order: np.ndarray) -> tuple[ClaimBook, LineBook]:
    """Renumber claims so that new claim i is old claim order[i]; lines follow their claims."""
    new_claims = subset(claims, order)
    line_idx = expand(claims.line_start[order], claims.n_lines[order])
    new_lines = subset(lines, line_idx)
    new_lines.claim = np.repeat(np.arange(len(order)), claims.n_lines[order])
    new_claims.line_start = np.cumsum(new_claims.n_lines) - new_claims.n_lines
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    for name in ("original", "duplicate_of"):
        ref = getattr(new_claims, name)
        setattr(new_claims, name, np.where(ref >= 0, inverse[np.maximum(ref, 0)], -1))
    return new_claims, new_lines
