"""A folder of 837s and 835s in, the DATA.md tables out: what a billing team actually has, made usable.

Why this exists: a team has the 837 files its practice-management system or clearinghouse sends and the
835s its payers send back, not ClaimSight's tables. ``ingest`` reads any mix of them (folders, gz), maps
each transaction set (``claims_837``, ``remits_835``) and merges the result into a data directory that
``validate``, ``train``, ``score`` and ``queue`` read as they read any export.

Rules a team relies on:
- Nothing is lost: a transaction that breaks the structure goes to ``ingest/quarantine.csv`` with file,
  segment number, segment id, element and rule (never a value); the file's other transactions still load,
  and a malformed file never stops a folder.
- Idempotent: each transaction is keyed on its envelope (sender, receiver, interchange, group and set
  control numbers) and a hash of its content (``ingest/manifest.parquet``); ingesting a file twice, or a
  folder that overlaps an earlier run, adds nothing.
- A remit whose claim is not known yet is kept in ``ingest/pending_*.parquet`` and reported; a later 837
  completes it and the next run moves it into the tables.
- A claim id seen again in a later submission (a corrected claim usually repeats the patient control
  number) becomes ``<CLM01>#<n>``; a remit goes to the latest submission of its claim id sent on or before
  the remittance date.
- Provider-level adjustments (PLB) are not claim denials: they are kept in ``ingest/provider_adjustments``.
- A run is whole or nothing: rows are staged per chunk and joined to the tables at the end, the manifest
  written last (``staged_tables``); what the run must look up is read once (``known_claims``).

State lives under ``DATA_DIR/ingest/`` (not a DATA.md table, so the contract reader never sees it).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.contract.codes import CodeKind, load_code_tables
from features.contract.schema import TABLES
from features.contract.x12.claims_837 import claims_from_837
from features.contract.x12.errors import X12MappingError
from features.contract.x12.known_claims import KnownClaims
from features.contract.x12.remits_835 import remits_from_835
from features.contract.x12.segments import Transaction, X12Error, read_transactions
from features.contract.x12.staged_tables import StagedTables

__all__ = ["EXTENSIONS", "IngestReport", "ingest", "x12_files"]

EXTENSIONS = (".837", ".835", ".txt", ".edi", ".x12")
STATE_DIR = "ingest"
_QUARANTINE_COLUMNS = ("file", "segment_number", "segment_id", "element", "rule")
_MANIFEST_COLUMNS = ("key", "file", "set_id", "version")
_ADDED = ("claims", "claim_lines", "remits", "adjustments", "provider_adjustments")
_ELEMENTS, _SEGMENT = "\x1d", "\x1e"  # separators inside the content hash (never in X12 text)
_TABLES = ("claims", "claim_lines", "remits", "adjustments")
_CONTROL_COLUMNS = ("claim_id", "line_number", "line_control")


@dataclass
class IngestReport:
    """What one run read and what it added (counts only: no PHI)."""

    files: int = 0
    transactions: int = 0
    already_ingested: int = 0
    added: dict[str, int] = field(default_factory=dict)
    pending_remits: int = 0
    quarantined: list[X12Error] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)
    unknown_codes: dict[str, int] = field(default_factory=dict)  # "CARC 999" / "RARC N999": rows
    # known codes on a remit dated on or after their stop date: "CARC 15 (deactivated 2018-05-01)": rows
    inactive_codes: dict[str, int] = field(default_factory=dict)


def x12_files(paths: Iterable[Path]) -> list[Path]:
    """Files to read: the given files, and every X12-looking file (also ``.gz``) under the given folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and _looks_x12(p))
        else:
            found.append(path)
    return found


def _looks_x12(path: Path) -> bool:
    name = path.name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return name.endswith(EXTENSIONS)


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def _key(tx: Transaction) -> str:
    """Envelope ids plus a content hash: the same transaction read twice has the same key."""
    # one string, one update: the same bytes as hashing segment by segment, in a fraction of the time
    content = "".join([segment.id + _ELEMENTS.join(segment.elements) + _SEGMENT for segment in tx.segments])
    digest = hashlib.sha256(content.encode())
    ids = (tx.sender, tx.receiver, tx.interchange_control, tx.group_control, tx.control)
    return "|".join(ids) + "|" + digest.hexdigest()[:32]


@dataclass
class _Batch:
    claims: list[dict[str, object]] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    line_controls: list[tuple[int, int, str]] = field(default_factory=list)  # (claim _seq, line, REF*6R)
    remits: list[dict[str, object]] = field(default_factory=list)
    adjustments: list[dict[str, object]] = field(default_factory=list)
    provider_adjustments: list[dict[str, object]] = field(default_factory=list)
    manifest: list[dict[str, object]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.claims) + len(self.lines) + len(self.remits) + len(self.adjustments)


def _read_file(path: Path, *, seen: set[str], batch: _Batch, report: IngestReport) -> None:
    name = path.name  # positions name the file, never its folder (it may carry a patient's name)
    try:
        text = _text(path)
    except (OSError, EOFError, gzip.BadGzipFile):
        report.quarantined.append(X12Error(name, None, None, None, "file cannot be read or decompressed"))
        return
    for item in read_transactions(text, file=name):
        if isinstance(item, X12Error):
            report.quarantined.append(item)
            continue
        report.transactions += 1
        key = _key(item)
        if key in seen:
            report.already_ingested += 1
            continue
        if not _map(item, batch=batch, report=report):
            continue
        seen.add(key)
        batch.manifest.append({"key": key, "file": name, "set_id": item.set_id, "version": item.version})


def _map(tx: Transaction, *, batch: _Batch, report: IngestReport) -> bool:
    """Map one transaction into the batch; False (and quarantined) when it cannot be mapped."""
    try:
        if tx.set_id == "837":
            claims = claims_from_837(tx)
            # a sequence number per claim of the run, so its lines follow it if its id must change
            seq = {str(c["claim_id"]): len(batch.claims) + i for i, c in enumerate(claims.claims)}
            batch.claims += [{**c, "_seq": seq[str(c["claim_id"])]} for c in claims.claims]
            batch.lines += [{**line, "_seq": seq[str(line["claim_id"])]} for line in claims.lines]
            batch.line_controls += [(seq[c], n, k) for c, n, k in claims.line_controls]
        elif tx.set_id == "835":
            remits = remits_from_835(tx)
            batch.remits += remits.remits
            batch.adjustments += remits.adjustments
            batch.provider_adjustments += remits.provider_adjustments
        else:
            report.unsupported[tx.set_id] = report.unsupported.get(tx.set_id, 0) + 1
            return False
    except X12MappingError as exc:
        report.quarantined.append(exc.to_error(tx.file))
        return False
    return True


def ingest(
    paths: Sequence[Path],
    *,
    out: Path,
    on_file: Callable[[int, int, str], None] | None = None,
    flush_rows: int = 200_000,
) -> IngestReport:
    """Read every X12 file under ``paths`` and merge what is new into the tables in ``out``, ``flush_rows``
    mapped rows at a time (rows are staged on disk per chunk, so a big folder never sits in memory)."""
    files = x12_files(paths)
    state = out / STATE_DIR
    manifest = _read_state(state / "manifest.parquet", _MANIFEST_COLUMNS)
    seen = set(manifest["key"].astype(str))
    report = IngestReport(files=len(files), added=dict.fromkeys(_ADDED, 0))
    run = _Run.start(out)
    batch = _Batch()
    for done, path in enumerate(files, start=1):
        _read_file(path, seen=seen, batch=batch, report=report)
        if batch.size() >= flush_rows or done == len(files):
            run.merge(batch, report=report)
            batch = _Batch()
        if on_file is not None:
            on_file(done, len(files), path.name)
    run.finish(report=report)  # the tables first, the manifest last: a run cut short is read again whole
    _write_state(state / "manifest.parquet", pd.concat([manifest, pd.DataFrame(run.manifest, columns=list(
        _MANIFEST_COLUMNS))], ignore_index=True))  # fmt: skip
    _append_quarantine(state / "quarantine.csv", report.quarantined)
    return report


# -- merging into the tables ----------------------------------------------------------------------------


def _read_state(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    if path.exists():
        return pd.read_parquet(path)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _write_state(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.astype(object).where(frame.notna(), None).to_parquet(path, index=False)


def _append_quarantine(path: Path, errors: Sequence[X12Error]) -> None:
    if not errors:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame([[e.file, e.segment_number, e.segment_id, e.element, e.rule] for e in errors],
                        columns=list(_QUARANTINE_COLUMNS))  # fmt: skip
    if path.exists():  # a run over the same folder reports the same problem once
        rows = pd.concat([pd.read_csv(path, dtype=str), rows.astype(str)], ignore_index=True)
    rows.astype(str).drop_duplicates().to_csv(path, index=False)


def _columns_of(out: Path, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """Some columns of a table already in ``out`` as text (empty when the table is not there yet)."""
    parquet, csv = out / f"{table}.parquet", out / f"{table}.csv"
    if parquet.exists():
        return pq.read_table(parquet, columns=list(columns)).to_pandas().astype(object)
    if csv.exists():
        return pd.read_csv(csv, dtype=str, usecols=list(columns), keep_default_na=False).replace("", None)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _count_unknown_codes(adjustments: pd.DataFrame, report: IngestReport) -> None:
    """CARCs and RARCs the code tables do not know (read as category "other"), and known ones used on a remit
    dated on or after the code's stop date in the published list: both reported, never guessed.

    Vectorised: each distinct code is resolved once (``isin``, ``CodeTables.deactivated_on``), then counted.
    """
    if adjustments.empty:
        return
    codes = load_code_tables()
    adjustments = adjustments.reset_index(drop=True)
    missing = pd.Series(None, index=adjustments.index, dtype="object")
    dates = adjustments.get("_remit_date", missing)  # set by remits_from_835
    carcs = adjustments["carc"].astype("string").str.strip().str.upper()
    remarks = adjustments["remark_codes"].astype("string").str.split("|").explode().str.strip().str.upper()
    checks: tuple[tuple[CodeKind, pd.Series, pd.Series, pd.DataFrame], ...] = (
        ("CARC", carcs, dates, codes.carc),
        ("RARC", remarks, dates.reindex(remarks.index), codes.rarc),
    )
    for kind, found, when, table in checks:
        present = found.notna() & (found != "")
        found, when = found[present], when[present]
        known = found.isin(table.index)
        for code, n in found[~known].value_counts(sort=False).items():
            report.unknown_codes[f"{kind} {code}"] = report.unknown_codes.get(f"{kind} {code}", 0) + int(n)
        late = codes.deactivated_on(kind, found, when)
        for code, n in found[late].value_counts(sort=False).items():
            key = f"{kind} {code} (deactivated {str(table.at[code, 'stop_date'])[:10]})"
            report.inactive_codes[key] = report.inactive_codes.get(key, 0) + int(n)


def _columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with every column of ``table`` (missing ones empty); other columns are dropped later."""
    out = frame.copy()
    for name in TABLES[table].names:
        if name not in out:
            out[name] = None
    return out


def _rows(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame()


@dataclass
class _Run:
    """One ingest run: what is known (read once), remits still waiting, and the rows staged so far."""

    out: Path
    known: KnownClaims
    pending_remits: pd.DataFrame
    pending_adjustments: pd.DataFrame
    staged: StagedTables
    new_controls: list[tuple[str, int, str]] = field(default_factory=list)
    provider_adjustments: list[dict[str, object]] = field(default_factory=list)
    manifest: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def start(cls, out: Path) -> _Run:
        state = out / STATE_DIR
        known = KnownClaims.from_tables(
            claims=_columns_of(out, "claims", ("claim_id", "submitted_at", "payer_id")),
            remits=_columns_of(out, "remits", ("remit_id", "claim_id")),
            line_controls=_read_state(state / "line_controls.parquet", _CONTROL_COLUMNS),
        )
        return cls(
            out=out,
            known=known,
            pending_remits=_read_state(state / "pending_remits.parquet", ()),
            pending_adjustments=_read_state(state / "pending_adjustments.parquet", ()),
            staged=StagedTables(out=out, staging=state / ".staged"),
        )

    def merge(self, batch: _Batch, *, report: IngestReport) -> None:
        """Name the chunk's claims, attach every remit whose claim is known, stage the new rows."""
        self.manifest += batch.manifest
        claims = _columns(_rows(batch.claims), "claims")
        lines = _columns(_rows(batch.lines), "claim_lines")
        batch_remits = _rows(batch.remits)
        new_id: dict[int, str] = {}
        if not claims.empty:
            claims = self.known.name_new_claims(claims, remits_in_chunk=batch_remits)
            new_id = dict(zip(claims["_seq"].astype(int), claims["claim_id"].astype(str), strict=True))
            if not lines.empty:
                lines["claim_id"] = [new_id[int(s)] for s in lines["_seq"]]
        controls = [(new_id[s], n, k) for s, n, k in batch.line_controls]
        self.known.add_line_controls(controls)
        self.new_controls += controls

        remits = pd.concat([self.pending_remits, batch_remits], ignore_index=True)
        adjustments = pd.concat([self.pending_adjustments, _rows(batch.adjustments)], ignore_index=True)
        if len(remits):
            remap = dict(zip(remits["remit_id"].astype(str), self.known.attach(remits), strict=True))
            remits = remits.assign(claim_id=remits["remit_id"].astype(str).map(remap))
            if len(adjustments):
                attached = adjustments["remit_id"].astype(str).map(remap)
                adjustments = adjustments.assign(claim_id=attached.fillna(adjustments["claim_id"]))
            ready = pd.Series(self.known.is_known(remits["claim_id"].astype(str)), index=remits.index)
        else:
            ready = pd.Series(False, index=remits.index)
        ready_ids = set(remits.loc[ready, "remit_id"].astype(str)) if len(remits) else set()
        adj_ready = adjustments["remit_id"].astype(str).isin(ready_ids) if len(adjustments) else pd.Series(dtype=bool)
        self.pending_remits = remits[~ready]
        self.pending_adjustments = adjustments[~adj_ready] if len(adjustments) else adjustments
        report.pending_remits = len(self.pending_remits)
        ready_remits = remits[ready]
        self.known.add_remits(ready_remits)
        adj_new = adjustments[adj_ready] if len(adjustments) else adjustments
        if len(adj_new) and "_line_control" in adj_new:
            adj_new = adj_new.assign(line_number=self.known.line_numbers(adj_new))
        _count_unknown_codes(adj_new, report)

        new = {
            "claims": claims,
            "claim_lines": lines,
            "remits": _columns(ready_remits, "remits"),
            "adjustments": _columns(adj_new, "adjustments"),
        }
        for name, frame in new.items():
            report.added[name] += len(frame)
            self.staged.add(name, frame)
        self.provider_adjustments += batch.provider_adjustments
        report.added["provider_adjustments"] += len(batch.provider_adjustments)

    def finish(self, *, report: IngestReport) -> None:
        """Join the staged rows to the tables and write the run's state beside them."""
        state = self.out / STATE_DIR
        self.staged.finish(_TABLES)
        if self.new_controls:
            old = _read_state(state / "line_controls.parquet", _CONTROL_COLUMNS)
            new = pd.DataFrame(self.new_controls, columns=list(_CONTROL_COLUMNS))
            _write_state(state / "line_controls.parquet", pd.concat([old, new], ignore_index=True))
        _write_state(state / "pending_remits.parquet", self.pending_remits)
        _write_state(state / "pending_adjustments.parquet", self.pending_adjustments)
        if self.provider_adjustments:
            plb = _read_state(state / "provider_adjustments.parquet", ())
            _write_state(state / "provider_adjustments.parquet", pd.concat([plb, _rows(self.provider_adjustments)]))


def iter_report_lines(report: IngestReport) -> Iterator[str]:
    """The run summary a person reads (and cron logs): counts only."""
    yield (
        f"{report.files:,} files, {report.transactions:,} transactions "
        f"({report.already_ingested:,} already ingested, {len(report.quarantined):,} quarantined)"
    )
    added = ", ".join(f"{name} {n:,}" for name, n in report.added.items())
    yield f"added: {added}"
    if report.pending_remits:
        where = f"{STATE_DIR}/pending_remits.parquet"
        yield f"{report.pending_remits:,} remits wait for their claim's 837 (kept in {where})"
    if report.unknown_codes:
        listed = ", ".join(f"{code} ({n:,})" for code, n in sorted(report.unknown_codes.items())[:20])
        yield f"codes not in ClaimSight's CARC/RARC tables (read as category other): {listed}"
    if report.inactive_codes:
        listed = ", ".join(f"{code} ({n:,})" for code, n in sorted(report.inactive_codes.items())[:20])
        yield f"codes used on remits dated after the published list deactivated them: {listed}"
    for set_id, n in sorted(report.unsupported.items()):
        yield f"{n:,} transactions of set {set_id} are not read (ClaimSight reads 837 and 835)"
