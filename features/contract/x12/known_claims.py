"""What an ingest run must know of the claims already ingested, read once and extended chunk by chunk.

Why this exists: matching a remit to its claim, naming a resubmission and finding a line by its REF*6R all
look up everything ingested so far. Re-reading the tables for every chunk of a big folder made a run
quadratic in its size (the 1M-claim world's 835s went at a third of the 200k world's speed); the index here
is built from the tables once per run and grows with each chunk, so each chunk costs what its own rows cost.

Rules (the ones ``ingest`` documents):
- A claim id seen again (a corrected claim usually repeats the patient control number, CLM01) becomes
  ``<CLM01>#<n>``, n counting the submissions of that CLM01 so far.
- A replacement or void (frequency 7/8) names its original in REF*F8: our claim id when it is one of ours,
  else the claim the payer's claim control number (CLP07) was paid on, else the latest earlier submission of
  the same CLM01.
- A remit (CLP01 = CLM01) goes to the latest submission of its CLM01 to the same payer sent on or before the
  remittance date (the first one when all were sent later). Payer ids in 837s and 835s often come from
  different lists (a clearinghouse's id vs the payer's own), so when no submission carries the remit's payer
  id, every submission of the CLM01 is a candidate.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["KnownClaims", "Submission", "clm01_of"]

_KEY_SEPARATOR = "\x1f"  # between claim id and line control number: neither contains it


def clm01_of(claim_id: str) -> str:
    """The CLM01 a claim id came from (``<CLM01>#<n>`` names a later submission)."""
    return claim_id.split("#")[0]


@dataclass(frozen=True, slots=True)
class Submission:
    submitted: int | None  # nanoseconds since the epoch, None when the date is missing
    claim_id: str
    payer_id: str


def _nanoseconds(values: pd.Series) -> list[int | None]:
    stamps = pd.to_datetime(values, errors="coerce")
    ns = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").tolist()
    return [None if missing else n for n, missing in zip(ns, stamps.isna().tolist(), strict=True)]


def _texts(values: pd.Series) -> list[str]:
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values.tolist()]


@dataclass
class KnownClaims:
    """Claims, payer claim control numbers and line control numbers ingested so far (this run included)."""

    claim_ids: set[str] = field(default_factory=set)
    submissions: dict[str, list[Submission]] = field(default_factory=dict)  # CLM01 -> in submission order
    payer_controls: dict[str, str] = field(default_factory=dict)  # CLP07 -> claim id it was paid on
    line_controls: dict[str, int] = field(default_factory=dict)  # claim id + REF*6R -> 837 line number

    @classmethod
    def from_tables(cls, *, claims: pd.DataFrame, remits: pd.DataFrame, line_controls: pd.DataFrame) -> KnownClaims:
        """``claims`` (claim_id, submitted_at, payer_id), ``remits`` (remit_id, claim_id) and the line controls
        (claim_id, line_number, line_control) already ingested."""
        known = cls()
        known.add_claims(claims)
        known.add_remits(remits)
        known.add_line_controls(
            zip(_texts(line_controls["claim_id"]), line_controls["line_number"].tolist(),
                _texts(line_controls["line_control"]), strict=True)
        )  # fmt: skip
        return known

    # -- growing -------------------------------------------------------------------------------------------

    def add_claims(self, claims: pd.DataFrame) -> None:
        if claims.empty:
            return
        for submitted, claim_id, payer in zip(
            _nanoseconds(claims["submitted_at"]), _texts(claims["claim_id"]), _texts(claims["payer_id"]), strict=True
        ):
            self._register(Submission(submitted, claim_id, payer))

    def _register(self, submission: Submission) -> None:
        self.claim_ids.add(submission.claim_id)
        self.submissions.setdefault(clm01_of(submission.claim_id), []).append(submission)

    def add_remits(self, remits: pd.DataFrame) -> None:
        """Payer claim control numbers (the ``remit_id`` before its ``-``) of remits already attached."""
        if remits.empty:
            return
        for remit_id, claim_id in zip(_texts(remits["remit_id"]), _texts(remits["claim_id"]), strict=True):
            self.payer_controls.setdefault(remit_id.split("-")[0], claim_id)

    def add_line_controls(self, rows: Iterable[tuple[str, object, str]]) -> None:
        for claim_id, line_number, control in rows:
            if control:
                self.line_controls[claim_id + _KEY_SEPARATOR + control] = int(str(line_number))

    # -- new claims ----------------------------------------------------------------------------------------

    def name_new_claims(self, claims: pd.DataFrame, *, remits_in_chunk: pd.DataFrame) -> pd.DataFrame:
        """Give each new claim (in file order) its claim id and its original's claim id, and remember it."""
        chunk_controls: dict[str, str] = {}
        if not remits_in_chunk.empty:
            for remit_id, claim_id in zip(
                _texts(remits_in_chunk["remit_id"]), _texts(remits_in_chunk["claim_id"]), strict=True
            ):
                chunk_controls.setdefault(remit_id.split("-")[0], claim_id)
        # what is already attached wins; no copy of the run-wide map per chunk
        controls = ChainMap(self.payer_controls, chunk_controls)
        ids: list[str] = []
        originals: list[Any] = []
        frequencies = _texts(claims["frequency_code"])
        references = claims["original_claim_id"].tolist()
        for raw, submitted, payer, frequency, reference in zip(
            _texts(claims["claim_id"]), _nanoseconds(claims["submitted_at"]), _texts(claims["payer_id"]),
            frequencies, references, strict=True,
        ):  # fmt: skip
            base = clm01_of(raw)
            earlier = self.submissions.get(base, [])
            claim_id = raw
            if earlier or raw in self.claim_ids:
                n = max(len(earlier), 1) + 1  # the second submission of a CLM01 is <CLM01>#2
                while f"{raw}#{n}" in self.claim_ids:
                    n += 1
                claim_id = f"{raw}#{n}"
            if frequency in ("7", "8"):
                ref = "" if reference is None or pd.isna(reference) else str(reference)
                if ref in self.claim_ids:
                    originals.append(ref)
                elif ref in controls:
                    originals.append(controls[ref])
                else:
                    originals.append(earlier[-1].claim_id if earlier else reference)
            else:
                originals.append(reference)
            ids.append(claim_id)
            self._register(Submission(submitted, claim_id, payer))
        return claims.assign(claim_id=ids, original_claim_id=originals)

    # -- remits --------------------------------------------------------------------------------------------

    def attach(self, remits: pd.DataFrame) -> list[str]:
        """The claim id each remit belongs to (its CLP01 unchanged when no submission of it is known)."""
        payers = _texts(remits["_payer_id"]) if "_payer_id" in remits else [""] * len(remits)
        chosen = []
        for clp01, remitted, payer in zip(_texts(remits["claim_id"]), _nanoseconds(remits["remit_date"]), payers,
                                          strict=True):  # fmt: skip
            subs = self.submissions.get(clm01_of(clp01))
            chosen.append(_pick(subs, remitted=remitted, payer=payer, clp01=clp01) if subs else clp01)
        return chosen

    def is_known(self, claim_ids: Iterable[str]) -> list[bool]:
        return [c in self.claim_ids for c in claim_ids]

    def line_numbers(self, adjustments: pd.DataFrame) -> list[Any]:
        """A line-level adjustment whose SVC carried REF*6R takes the 837 line with that control number."""
        lookup = self.line_controls
        return [
            lookup.get(str(c) + _KEY_SEPARATOR + k, n) if isinstance(k, str) and k else n
            for c, k, n in zip(
                adjustments["claim_id"].tolist(), adjustments["_line_control"].tolist(),
                adjustments["line_number"].tolist(), strict=True,
            )
        ]  # fmt: skip


def _pick(subs: list[Submission], *, remitted: int | None, payer: str, clp01: str) -> str:
    same_payer = [s for s in subs if payer and s.payer_id == payer and s.submitted is not None]
    dated = same_payer or [s for s in subs if s.submitted is not None]
    if not dated:
        return clp01
    first = min(dated, key=lambda s: s.submitted or 0)  # min keeps the earliest listed on ties
    if remitted is None:
        return first.claim_id
    best: Submission | None = None
    for s in dated:  # the latest sent on or before the remittance; the later listed on a tie
        sent = s.submitted or 0
        if sent <= remitted and (best is None or sent >= (best.submitted or 0)):
            best = s
    return (best or first).claim_id
