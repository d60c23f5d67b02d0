"""Append-only audit log: one row per API call (HIPAA 45 CFR 164.312(b) audit controls).

A row says who (key id), when (UTC), what (route template, method, status), which claims (keyed hashes)
and which model versions answered. It never holds a raw claim id: `claim_ref` is HMAC-SHA256 under the
audit secret, cut to 16 bytes, so an auditor who knows a claim id (and the secret) can find its calls while
someone who only has the database cannot enumerate or confirm ids.

Append-only twice over: this class has no update or delete, and the database refuses them (SQLite and
PostgreSQL triggers). On PostgreSQL also grant the service's role only INSERT and SELECT on the table, so
the owner of the triggers is the only one who could drop them.

Writes go through a synchronous SQLAlchemy Core engine on one writer thread that commits the rows of
concurrent requests together (`serving.api.group_commit`), so a slow disk does not stall the event loop and
concurrent requests do not queue on the database's write lock one transaction each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.routing import iter_route_contexts
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.group_commit import GroupCommitter
from serving.api.refusal_counts import RefusalCounts, Tally
from serving.claim_refs import claim_ref

log = logging.getLogger("serving.api.audit")

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=True),
    Column("route", String(256), nullable=True),
    Column("method", String(16), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("claim_refs", Text, nullable=False),
    Column("model_versions", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
    # added for issue 12 (older databases get them by ALTER TABLE in AuditLog._create):
    Column("calls", Integer, nullable=False, server_default=text("1")),  # > 1 only on a refusal summary row
    Column("client_ref", String(64), nullable=True),  # keyed hash of the caller's address
)

# columns added after the first release, with the DDL that adds them to an existing table
_ADDED_COLUMNS = {
    "calls": "ALTER TABLE audit_log ADD COLUMN calls INTEGER NOT NULL DEFAULT 1",
    "client_ref": "ALTER TABLE audit_log ADD COLUMN client_ref VARCHAR(64)",
}

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)

# Tested on a real server (tests/api/test_audit_postgresql.py); DROP + CREATE rather than CREATE OR REPLACE TRIGGER
# so it also runs on PostgreSQL 13. TRUNCATE is a separate statement-level event and is refused too.
_POSTGRES_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$""",
    "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    request_id: str
    key_id: str | None
    route: str | None
    method: str
    status_code: int
    claim_refs: tuple[str, ...]
    model_versions: dict[str, str]
    latency_ms: float
    calls: int = 1
    client_ref: str | None = None


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if not database or database == ":memory:":
        # One shared connection, or each pooled connection would see its own empty in-memory database.
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged audit row survives a power cut
        cursor.close()

    return engine


class AuditLog:
    """Writes and reads audit rows. Only `append` writes; there is deliberately no way to change a row."""

    def __init__(self, *, url: str, secret: bytes | str, refusal_window_seconds: float = 60.0) -> None:
        if not secret:
            raise ValueError("audit secret must not be empty: claim references would be plain hashes")
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self.engine = _engine(url)
        self._create()
        self._committer: GroupCommitter[Mapping[str, Any]] = GroupCommitter(self._store, name="audit-writer")
        self._failed_at: float | None = None  # monotonic time of the last failed write
        self._checked: tuple[float, bool] | None = None  # (when, writable) of the last probe
        self.refusals = RefusalCounts(window_seconds=refusal_window_seconds)

    def _create(self) -> None:
        metadata.create_all(self.engine, tables=[audit_log])
        present = {c["name"] for c in inspect(self.engine).get_columns("audit_log")}
        with self.engine.begin() as conn:
            for name, ddl in _ADDED_COLUMNS.items():
                if name not in present:
                    conn.execute(text(ddl))
        dialect = self.engine.dialect.name
        statements = _SQLITE_TRIGGERS if dialect == "sqlite" else _POSTGRES_TRIGGERS if dialect == "postgresql" else ()
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))

    def claim_ref(self, claim_id: str) -> str:
        return claim_ref(self._secret, claim_id)

    def row(
        self,
        *,
        request_id: str,
        key_id: str | None,
        route: str | None,
        method: str,
        status_code: int,
        claim_ids: Iterable[str] = (),
        model_versions: Mapping[str, str] | None = None,
        latency_ms: float,
        at: datetime | None = None,
        client: str | None = None,
        calls: int = 1,
    ) -> dict[str, Any]:
        """The row as stored; raw claim ids and the client's address are hashed here and go no further."""
        refs = sorted({self.claim_ref(c) for c in claim_ids})
        return {
            "at": at or datetime.now(UTC),
            "request_id": request_id,
            "key_id": key_id,
            "route": route,
            "method": method,
            "status_code": status_code,
            "claim_refs": json.dumps(refs),
            "model_versions": json.dumps(dict(model_versions or {}), sort_keys=True),
            "latency_ms": round(latency_ms, 3),
            "calls": calls,
            "client_ref": None if client is None else claim_ref(self._secret, f"client:{client}"),
        }

    def append(self, **fields: Any) -> None:
        """Write one row now, in its own transaction (blocking: call from a thread). Fields as `row` takes."""
        self.append_rows([self.row(**fields)])

    def append_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write `rows` in one transaction: all are stored or none (blocking)."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(audit_log), list(rows))

    def _store(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.append_rows(rows)  # looked up per call, so a subclass (or a test's stand-in) decides

    async def submit(self, **fields: Any) -> None:
        """Store one row and return once it is committed, sharing the transaction with the rows of other
        requests waiting at the same moment (`GroupCommitter`). Raises if it was not stored."""
        row = self.row(**fields)
        try:
            await self._committer.submit(row)
        except Exception:
            self._failed_at = time.monotonic()
            raise

    def count_refusal(
        self,
        *,
        request_id: str,
        key_id: str | None,
        client: str | None,
        route: str | None,
        method: str,
        status_code: int,
        latency_ms: float,
    ) -> list[dict[str, Any]]:
        """Count a refused call (`refusal_counts`); returns the summary rows now due, to be stored by the caller."""
        group = (key_id, client, route, method, status_code)
        due = self.refusals.add(group, at=datetime.now(UTC), request_id=request_id, latency_ms=latency_ms)
        return [self._summary_row(g, t) for g, t in due]

    def _summary_row(self, group: Any, tally: Tally) -> dict[str, Any]:
        key_id, client, route, method, status_code = group
        return self.row(
            request_id=f"summary:{tally.first_request_id}"[:64],
            key_id=key_id,
            route=route,
            method=method,
            status_code=status_code,
            latency_ms=tally.mean_latency_ms,
            at=tally.first_at,
            client=client,
            calls=tally.calls,
        )

    async def submit_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store rows already built (`count_refusal`'s), sharing transactions like `submit`."""
        await asyncio.gather(*(self._committer.submit(row) for row in rows))

    def flush_refusals(self) -> int:
        """Write every refusal count now (at shutdown; blocking). Returns the rows written."""
        rows = [self._summary_row(g, t) for g, t in self.refusals.take_all()]
        self.append_rows(rows)
        return len(rows)

    def writable(self, *, max_age_seconds: float = 1.0) -> bool:
        """Whether a row can be stored now: a real insert, rolled back (for `/readyz`; blocking).

        The answer is reused for `max_age_seconds` so frequent probes do not queue on the write lock, except
        that a write that failed since the last probe forces a new one. It tests what scoring needs, the
        insert, so a read-only file, a full disk, a revoked INSERT grant or a lost server all count.
        """
        now = time.monotonic()
        checked = self._checked
        failed_since = self._failed_at is not None and checked is not None and self._failed_at >= checked[0]
        if checked is not None and now - checked[0] < max_age_seconds and not failed_since:
            return checked[1]
        probe = self.row(request_id="readiness-probe", key_id=None, route=None, method="-", status_code=0, latency_ms=0)
        try:
            with self.engine.connect() as conn:
                transaction = conn.begin()
                try:
                    conn.execute(insert(audit_log), probe)
                finally:
                    transaction.rollback()
            ok = True
        except Exception as exc:
            log.error("audit store not writable (%s): the service is not ready", type(exc).__name__)
            ok = False
        self._checked = (now, ok)
        return ok

    def recent(self, limit: int = 100) -> list[AuditRecord]:
        """The newest `limit` rows, newest first (for tests and an admin view)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditRecord(
                id=r["id"],
                at=r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC),
                request_id=r["request_id"],
                key_id=r["key_id"],
                route=r["route"],
                method=r["method"],
                status_code=r["status_code"],
                claim_refs=tuple(json.loads(r["claim_refs"])),
                model_versions=json.loads(r["model_versions"]),
                latency_ms=r["latency_ms"],
                calls=r["calls"],
                client_ref=r["client_ref"],
            )
            for r in rows
        ]

    def close(self) -> None:
        try:
            self.flush_refusals()
        except Exception as exc:  # the database is gone: say how many counts are lost, nothing else
            log.error("audit: refusal counts not written at close (%s)", type(exc).__name__)
        self._committer.close()
        self.engine.dispose()


def route_template(scope: Scope) -> str | None:
    """The template of the route this request matches (`/v1/claims/{claim_id}`), never the raw path, which
    may hold an id; None for a path no route knows.

    Matched here against the app's routes, as the router does (first full match, else the first partial
    match, i.e. wrong method), rather than read from `scope["route"]`: FastAPI puts the route object there
    without the prefix of `include_router`, and a request answered before routing (413) has none.
    """
    router = getattr(scope.get("app"), "router", None)
    partial: str | None = None
    for context in iter_route_contexts(getattr(router, "routes", ())):
        try:
            match, _ = context.matches(scope)
        except Exception:  # a route that cannot judge this scope is not the one
            continue
        template = context.path_format or context.path
        if match == Match.FULL:
            return template
        if match == Match.PARTIAL and partial is None:
            partial = template
    return partial


def counted_refusal(status_code: int, key_id: str | None) -> bool:
    """A call refused before it could read or score anything: no valid key (401, and 404/405/413/429 without
    one), or a key past its request budget (429). Counted per window (`refusal_counts`), not a row each."""
    return 400 <= status_code < 500 and (key_id is None or status_code == 429)


class AuditMiddleware:
    """Writes one audit row per request (except the probes in `skip_paths`) before the response leaves.

    The row is written when the response starts, so the status is known, and the client gets the response
    only after the row is stored. If the write fails the call fails closed with 503 "audit unavailable":
    RELIABILITY.md promises an audit record for every scoring call, and a score released without one is
    exactly what HIPAA audit controls forbid; the work done is lost, the caller may retry. The error log
    holds only the request id and the exception type (database errors quote the statement's parameters).

    Refused calls (`counted_refusal`) are the exception: counted, and written as one summary row per key,
    address, route, method and status and window (`serving.api.refusal_counts`), so a flood without a key
    cannot grow the log without limit.

    The route may set `request.state.claim_ids` (raw ids; hashed on write) and `use_models` sets
    `request.state.model_versions`; `require_scope` sets `request.state.key_id`.
    """

    def __init__(self, app: ASGIApp, *, audit: AuditLog, skip_paths: Iterable[str] = ("/livez", "/readyz")) -> None:
        self.app = app
        self.audit = audit
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        request_id = str(state.get("request_id", "-"))
        route = route_template(scope)  # before routing changes the scope (mounts rewrite root_path)
        written = False
        blocked = False

        async def write(status_code: int) -> bool:
            nonlocal written
            written = True
            key_id = state.get("key_id")
            client = scope.get("client")
            address = str(client[0]) if client else None
            latency_ms = (time.perf_counter() - started_at) * 1000.0
            if counted_refusal(status_code, key_id):
                due = self.audit.count_refusal(
                    request_id=request_id,
                    key_id=key_id,
                    client=address,
                    route=route,
                    method=scope["method"],
                    status_code=status_code,
                    latency_ms=latency_ms,
                )
                if due:
                    try:
                        await self.audit.submit_rows(due)
                    except Exception as exc:  # the refusal stands; only its count is lost
                        calls = sum(int(row["calls"]) for row in due)
                        log.error("audit: %d refused calls not recorded (%s)", calls, type(exc).__name__)
                return True
            try:
                await self.audit.submit(
                    request_id=request_id,
                    key_id=key_id,
                    route=route,
                    method=scope["method"],
                    status_code=status_code,
                    claim_ids=[str(c) for c in state.get("claim_ids") or ()],
                    model_versions=state.get("model_versions"),
                    latency_ms=latency_ms,
                    client=address,
                )
            except Exception as exc:
                log.error("audit write failed (%s) request_id=%s", type(exc).__name__, request_id)
                return False
            return True

        async def audited_send(message: Message) -> None:
            nonlocal blocked
            if blocked:
                return  # the original response is dropped once we answered 503
            if message["type"] == "http.response.start" and not written and not await write(message["status"]):
                blocked = True
                body = {"detail": "audit unavailable", "request_id": request_id}
                await JSONResponse(body, status_code=503, headers={"Retry-After": "5"})(scope, receive, send)
                return
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not written:
                await write(500)  # the outer middleware answers 500; the attempt is still on record
            raise


__all__ = [
    "AuditLog",
    "AuditMiddleware",
    "AuditRecord",
    "audit_log",
    "claim_ref",
    "counted_refusal",
    "route_template",
]
