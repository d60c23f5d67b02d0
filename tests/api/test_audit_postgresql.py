"""The audit log on a real PostgreSQL server (tests/pg_server.py): append-only there too, triggers and all."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from serving.api.audit import AuditLog, claim_ref

SECRET = b"audit-postgresql-test-secret-0123456789"


def _row(log: AuditLog, request_id: str) -> None:
    log.append(
        request_id=request_id,
        key_id="k1",
        route="/v1/claims/score",
        method="POST",
        status_code=200,
        claim_ids=["CLM-1", "CLM-2"],
        model_versions={"denial_risk": "3"},
        latency_ms=1.5,
        client="10.0.0.7",
    )


def test_audit_log_is_append_only_on_postgresql(postgresql_url: str) -> None:
    log = AuditLog(url=postgresql_url, secret=SECRET)
    try:
        _row(log, "r1")
        for statement in (
            "UPDATE audit_log SET status_code = 500",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE request_id = 'r1'",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), log.engine.begin() as conn:
                conn.execute(text(statement))
        (record,) = log.recent()
        assert record.status_code == 200 and record.at.tzinfo is not None
        assert record.claim_refs == tuple(sorted(claim_ref(SECRET, c) for c in ("CLM-1", "CLM-2")))
        with log.engine.connect() as conn:
            stored = conn.execute(text("SELECT claim_refs, client_ref FROM audit_log")).one()
        assert "CLM-" not in stored.claim_refs and "10.0.0.7" not in stored.client_ref
        assert log.writable()
    finally:
        log.close()


def test_reopening_keeps_rows_and_triggers_on_postgresql(postgresql_url: str) -> None:
    AuditLog(url=postgresql_url, secret=SECRET).close()
    log = AuditLog(url=postgresql_url, secret=SECRET)  # the trigger DDL runs again without error
    try:
        _row(log, "r1")
        _row(log, "r2")
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET key_id = 'someone-else'"))
        assert [r.request_id for r in log.recent()] == ["r2", "r1"]
        assert log.recent()[0].at <= dt.datetime.now(dt.UTC)
    finally:
        log.close()
