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

State lives under ``DATA_DIR/ingest/`` (not a DATA.md table, so the contract reader never sees it).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract.codes import CodeKind, load_code_tables
from features.contract.schema import TABLES
from features.contract.tables_io import read_tables, write_table
from features.contract.x12.claims_837 import claims_from_837
from features.contract.x12.errors import X12MappingError
from features.contract.x12.remits_835 import remits_from_835
from features.contract.x12.segments import Transaction, X12Error, read_transactions

__all__ = ["EXTENSIONS", "IngestReport", "ingest", "x12_files"]

EXTENSIONS = (".837", ".835", ".txt", ".edi", ".x12")
STATE_DIR = "ingest"
_QUARANTINE_COLUMNS = ("file", "segment_number", "segment_id", "element", "rule")
_MANIFEST_COLUMNS = ("key", "file", "set_id", "version")
_ADDED = ("claims", "claim_lines", "remits", "adjustments", "provider_adjustments")


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
    digest = hashlib.sha256()
    for segment in tx.segments:
        digest.update(segment.id.encode())
        digest.update("\x1d".join(segment.elements).encode())
        digest.update(b"\x1e")
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
    mapped rows at a time."""
    files = x12_files(paths)
    state = out / STATE_DIR
    manifest = _read_state(state / "manifest.parquet", _MANIFEST_COLUMNS)
    seen = set(manifest["key"].astype(str))
    report = IngestReport(files=len(files), added=dict.fromkeys(_ADDED, 0))
    batch = _Batch()
    for done, path in enumerate(files, start=1):
        _read_file(path, seen=seen, batch=batch, report=report)
        if batch.size() >= flush_rows or done == len(files):
            # rows go to the tables in chunks, so a big folder never sits in memory as Python objects
            _merge(out, batch=batch, report=report)
            manifest = pd.concat([manifest, pd.DataFrame(batch.manifest, columns=list(_MANIFEST_COLUMNS))])
            _write_state(state / "manifest.parquet", manifest.reset_index(drop=True))
            batch = _Batch()
        if on_file is not None:
            on_file(done, len(files), path.name)
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
        return pq.read_table(parquet, columns=list(columns)).to_pandas().astype("string")
    if csv.exists():
        return pd.read_csv(csv, dtype=str, usecols=list(columns), keep_default_na=False).replace("", None)
    return pd.DataFrame({c: pd.Series(dtype="string") for c in columns})


def _append(out: Path, table: str, frame: pd.DataFrame) -> None:
    """Add rows to a table: Parquet tables are extended as Arrow (the old rows are not converted to Python
    objects again), a CSV table is rewritten, a missing table is written."""
    parquet = out / f"{table}.parquet"
    if (out / f"{table}.csv").exists():
        old = read_tables(out, required=()).frames[table]
        write_table(_typed(pd.concat([old, frame], ignore_index=True), table), table=table, data_dir=out, fmt="csv")
        return
    if not parquet.exists():
        write_table(_typed(frame, table), table=table, data_dir=out)
        return
    old_arrow = pq.read_table(parquet)
    staged = out / STATE_DIR / f".{table}.new"
    write_table(_typed(frame, table), table=table, data_dir=staged)
    new_arrow = pq.read_table(staged / f"{table}.parquet").cast(old_arrow.schema)
    pq.write_table(pa.concat_tables([old_arrow, new_arrow]), parquet, compression="zstd", row_group_size=1 << 20)


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


def _typed(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Tables read back arrive as text; new rows as numbers: one type per column before writing."""
    out = frame.copy()
    for column in TABLES[table].columns:
        if column.kind in ("int", "money"):
            out[column.name] = pd.to_numeric(out[column.name], errors="coerce")
            if column.kind == "int":
                out[column.name] = out[column.name].astype("Int64")
        elif column.kind == "bool":
            out[column.name] = out[column.name].map({"true": True, "false": False, True: True, False: False})
    return out


def _columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with every column of ``table`` (missing ones empty); other columns are dropped later."""
    out = frame.copy()
    for name in TABLES[table].names:
        if name not in out:
            out[name] = None
    return out


def _unique_claim_ids(new: pd.DataFrame, known: pd.Series) -> pd.DataFrame:
    """A claim id already taken (a resubmission repeating CLM01) becomes ``<CLM01>#<n>``."""
    if new.empty:
        return new
    taken = set(known.astype(str))
    counts: dict[str, int] = {}
    ids = []
    for claim_id in new["claim_id"].astype(str):
        n = counts.get(claim_id, 1 if claim_id in taken else 0)
        counts[claim_id] = n + 1
        ids.append(claim_id if n == 0 else f"{claim_id}#{n + 1}")
    return new.assign(claim_id=ids)


def _merge(out: Path, *, batch: _Batch, report: IngestReport) -> None:
    state = out / STATE_DIR
    old = {
        "claims": _columns_of(out, "claims", ("claim_id", "submitted_at")),
        "remits": _columns_of(out, "remits", ("remit_id", "claim_id")),
    }

    claims = _columns(pd.DataFrame(batch.claims), "claims")
    lines = _columns(pd.DataFrame(batch.lines), "claim_lines")
    new_id: dict[int, str] = {}
    if not claims.empty:
        claims = _unique_claim_ids(claims, old["claims"]["claim_id"])
        new_id = dict(zip(claims["_seq"].astype(int), claims["claim_id"].astype(str), strict=True))
        if not lines.empty:
            lines["claim_id"] = [new_id[int(s)] for s in lines["_seq"]]
        claims = _resolve_originals(claims, old["claims"], old["remits"], batch.remits)
    controls = _read_state(state / "line_controls.parquet", ("claim_id", "line_number", "line_control"))
    if batch.line_controls:
        rows = [(new_id[s], n, k) for s, n, k in batch.line_controls]
        controls = pd.concat([controls, pd.DataFrame(rows, columns=list(controls.columns))], ignore_index=True)
        _write_state(state / "line_controls.parquet", controls)

    all_claims = pd.concat([old["claims"], claims], ignore_index=True)
    pending_remits = _read_state(state / "pending_remits.parquet", ())
    pending_adj = _read_state(state / "pending_adjustments.parquet", ())
    remits = pd.concat([pending_remits, pd.DataFrame(batch.remits)], ignore_index=True)
    adjustments = pd.concat([pending_adj, pd.DataFrame(batch.adjustments)], ignore_index=True)
    remits, adjustments = _attach_to_claims(remits, adjustments, all_claims)
    known = remits["claim_id"].isin(set(all_claims["claim_id"].astype(str))) if len(remits) else pd.Series(dtype=bool)
    waiting = remits[~known] if len(remits) else remits
    ready = remits[known] if len(remits) else remits
    ready_ids = set(ready["remit_id"].astype(str)) if len(ready) else set()
    adj_ready = adjustments["remit_id"].astype(str).isin(ready_ids) if len(adjustments) else pd.Series(dtype=bool)
    _write_state(state / "pending_remits.parquet", waiting)
    _write_state(state / "pending_adjustments.parquet", adjustments[~adj_ready] if len(adjustments) else adjustments)
    report.pending_remits = len(waiting)
    adj_new = _with_line_numbers(adjustments[adj_ready] if len(adjustments) else adjustments, controls)
    _count_unknown_codes(adj_new, report)

    new = {
        "claims": claims,
        "claim_lines": lines,
        "remits": _columns(ready, "remits"),
        "adjustments": _columns(adj_new, "adjustments"),
    }
    for name, frame in new.items():
        report.added[name] += len(frame)
        if frame.empty and ((out / f"{name}.parquet").exists() or (out / f"{name}.csv").exists()):
            continue
        _append(out, name, frame[TABLES[name].names])
    if batch.provider_adjustments:
        plb = _read_state(state / "provider_adjustments.parquet", ())
        _write_state(state / "provider_adjustments.parquet", pd.concat([plb, pd.DataFrame(batch.provider_adjustments)]))
    report.added["provider_adjustments"] += len(batch.provider_adjustments)


def _resolve_originals(
    claims: pd.DataFrame, known: pd.DataFrame, remits: pd.DataFrame, new_remits: list[dict[str, object]]
) -> pd.DataFrame:
    """A replacement or void names its original in REF*F8, usually by the payer's claim control number
    (CLP07 of the original's 835), sometimes by the original's own CLM01. Point it at our claim id: the
    claim itself when REF*F8 is one of ours, else the claim the payer's control number was paid on, else the
    latest earlier submission of the same CLM01."""
    if "original_claim_id" not in claims or not claims["frequency_code"].isin(["7", "8"]).any():
        return claims
    control_to_claim: dict[str, str] = {}
    for frame in (remits, pd.DataFrame(new_remits)):
        if len(frame) and "remit_id" in frame:
            for remit_id, claim_id in zip(frame["remit_id"].astype(str), frame["claim_id"].astype(str), strict=True):
                control_to_claim.setdefault(remit_id.split("-")[0], claim_id)
    seen: set[str] = set(known["claim_id"].astype(str)) if len(known) else set()
    latest: dict[str, str] = {c.split("#")[0]: c for c in sorted(seen)}
    originals = []
    for claim_id, freq, ref in zip(
        claims["claim_id"].astype(str), claims["frequency_code"], claims["original_claim_id"], strict=True
    ):
        base = claim_id.split("#")[0]
        if freq in ("7", "8"):
            ref_text = "" if ref is None or pd.isna(ref) else str(ref)
            if ref_text in seen:
                originals.append(ref_text)
            elif ref_text in control_to_claim:
                originals.append(control_to_claim[ref_text])
            else:
                originals.append(latest.get(base, ref))
        else:
            originals.append(ref)
        seen.add(claim_id)
        latest[base] = claim_id
    return claims.assign(original_claim_id=originals)


def _attach_to_claims(
    remits: pd.DataFrame, adjustments: pd.DataFrame, claims: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Point each remit at the latest submission of its CLM01 sent on or before the remit date (the first
    submission when all were sent later)."""
    if remits.empty or claims.empty:
        return remits, adjustments
    subs = pd.DataFrame(
        {
            "_clm01": claims["claim_id"].astype(str).str.split("#").str[0].to_numpy(),
            "_chosen": claims["claim_id"].astype(str).to_numpy(),
            "_date": pd.to_datetime(claims["submitted_at"], errors="coerce").to_numpy(),
        }
    ).dropna(subset=["_date"])
    r = pd.DataFrame(
        {
            "_clm01": remits["claim_id"].astype(str).str.split("#").str[0].to_numpy(),
            "_date": pd.to_datetime(remits["remit_date"], errors="coerce").to_numpy(),
            "_row": range(len(remits)),
        }
    )
    dated = r.dropna(subset=["_date"]).sort_values("_date", kind="stable")
    matched = pd.merge_asof(dated, subs.sort_values("_date", kind="stable"), on="_date", by="_clm01")
    first = subs.sort_values("_date", kind="stable").drop_duplicates("_clm01").set_index("_clm01")["_chosen"]
    chosen = pd.Series(remits["claim_id"].astype(str).to_numpy(), index=range(len(remits)))
    picked = matched.set_index("_row")["_chosen"]
    fallback = r["_clm01"].map(first)
    chosen = chosen.mask(fallback.notna(), fallback).mask(picked.reindex(chosen.index).notna(), picked)
    remap = dict(zip(remits["remit_id"].astype(str), chosen, strict=True))
    remits = remits.assign(claim_id=chosen.to_numpy())
    if len(adjustments):
        adjustments = adjustments.assign(
            claim_id=adjustments["remit_id"].astype(str).map(remap).fillna(adjustments["claim_id"])
        )
    return remits, adjustments


def _with_line_numbers(adjustments: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """A line-level adjustment whose SVC carried REF*6R takes the 837 line with that control number."""
    if adjustments.empty or "_line_control" not in adjustments or controls.empty:
        return adjustments
    lookup = {(str(c), str(k)): int(n) for c, n, k in controls[["claim_id", "line_number", "line_control"]].itertuples(
        index=False, name=None)}  # fmt: skip
    numbers = [
        lookup.get((str(c), str(k)), n) if isinstance(k, str) and k else n
        for c, k, n in zip(
            adjustments["claim_id"], adjustments["_line_control"], adjustments["line_number"], strict=True
        )
    ]
    return adjustments.assign(line_number=numbers)


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
