"""One append-only audit row per call, naming claims only by keyed hash."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy.exc
from api.support import AUDIT_SECRET, Service, bearer
from fastapi.testclient import TestClient
from sqlalchemy import text

from serving.api.audit import AuditLog, claim_ref

RAW_IDS = ["CLMRAW-000417-ALPHA", "CLMRAW-000418-BRAVO"]


def _batch(claim_ids: list[str]) -> dict[str, object]:
    return {"claims": [{"claim_id": c, "lines": [{"code": "97110", "units": 1}]} for c in claim_ids]}


def test_one_row_per_scoring_call_with_hashed_claims(service: Service, client: TestClient, tmp_path: Path) -> None:
    assert service.audit is not None
    response = client.post("/v1/test/score", json=_batch(RAW_IDS), headers=bearer(service.keys.score))
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "v1"
    client.get("/livez")
    client.get("/readyz")

    rows = service.audit.recent()
    assert len(rows) == 1
    row = rows[0]
    assert (row.route, row.method, row.status_code, row.key_id) == ("/v1/test/score", "POST", 200, "scorer")
    assert row.request_id == response.headers["X-Request-ID"]
    assert row.model_versions == {"denial_risk": "v1"}
    assert set(row.claim_refs) == {claim_ref(AUDIT_SECRET, c) for c in RAW_IDS}
    assert all(len(ref) == 32 for ref in row.claim_refs)  # 16 bytes, hex
    assert row.at.tzinfo is not None and row.latency_ms >= 0

    # Keyed, not a plain hash: another secret gives other references.
    assert claim_ref(b"another-secret", RAW_IDS[0]) != claim_ref(AUDIT_SECRET, RAW_IDS[0])
    service.audit.close()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "audit").iterdir())
    assert on_disk  # the database (and its WAL) are there
    for raw in RAW_IDS:
        assert raw.encode() not in on_disk


def test_route_template_not_raw_path(service: Service, client: TestClient) -> None:
    assert service.audit is not None
    response = client.get(f"/v1/test/claims/{RAW_IDS[0]}", headers=bearer(service.keys.score))
    assert response.status_code == 200
    row = service.audit.recent(1)[0]
    assert row.route == "/v1/test/claims/{claim_id}"
    assert row.claim_refs == (claim_ref(AUDIT_SECRET, RAW_IDS[0]),)


def test_refused_calls_are_on_record_too(service: Service, client: TestClient) -> None:
    assert service.audit is not None
    client.get("/v1/models")
    client.post("/v1/admin/reload", headers=bearer(service.keys.score))
    client.get("/no/such/route/" + RAW_IDS[0])
    client.get("/v1/models")
    rows = service.audit.recent()
    assert [(r.route, r.status_code, r.key_id) for r in rows] == [("/v1/admin/reload", 403, "scorer")]  # who tried
    assert service.audit.flush_refusals() == 2  # calls without a key: counted, one row per group and window
    summaries = {
        (r.route, r.status_code, r.key_id, r.calls) for r in service.audit.recent() if r.calls != 1 or r.key_id is None
    }
    assert summaries == {
        ("/v1/models", 401, None, 2),
        (None, 404, None, 1),  # no template, and never the raw path
    }


def test_update_and_delete_are_refused_by_the_database(service: Service, client: TestClient) -> None:
    assert service.audit is not None
    client.get("/v1/models", headers=bearer(service.keys.score))
    engine = service.audit.engine
    for statement in ("UPDATE audit_log SET status_code = 200", "DELETE FROM audit_log"):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert len(service.audit.recent()) == 1
    assert not [m for m in dir(service.audit) if m.startswith(("update", "delete", "remove"))]


def test_triggers_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    AuditLog(url=url, secret="s").close()
    log = AuditLog(url=url, secret="s")
    log.append(request_id="r", key_id=None, route="/x", method="GET", status_code=200, latency_ms=1.0)
    with pytest.raises(sqlalchemy.exc.DBAPIError), log.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    log.close()


def test_in_memory_database_works_across_threads() -> None:
    log = AuditLog(url="sqlite://", secret=b"k")
    log.append(request_id="r", key_id="k1", route="/x", method="GET", status_code=200, latency_ms=1.0)
    assert log.recent()[0].key_id == "k1"
    with pytest.raises(ValueError, match="secret"):
        AuditLog(url="sqlite://", secret=b"")


class _BrokenAudit(AuditLog):
    def append_rows(self, rows: object) -> None:
        raise sqlalchemy.exc.OperationalError(f"INSERT ... {RAW_IDS}", {}, Exception("disk I/O error"))


def test_failed_audit_write_fails_closed(
    make_service: Callable[..., Service], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service()
    assert service.audit is not None
    service.audit.__class__ = _BrokenAudit
    with TestClient(service.app) as client, caplog.at_level(logging.INFO):
        response = client.post("/v1/test/score", json=_batch(RAW_IDS), headers=bearer(service.keys.score))
        assert client.get("/livez").status_code == 200  # probes are not audited, so they still answer
    assert response.status_code == 503
    assert response.json() == {"detail": "audit unavailable", "request_id": response.headers["X-Request-ID"]}
    assert response.headers["Retry-After"] == "5"
    assert "scores" not in response.text  # the computed answer is not released
    assert any(response.headers["X-Request-ID"] in r.getMessage() for r in caplog.records)
    for raw in RAW_IDS:
        assert raw not in caplog.text


def test_concurrent_calls_share_audit_transactions_and_each_is_on_record(service: Service, client: TestClient) -> None:
    """Group commit through the app: 40 calls at once, 40 rows, far fewer transactions (issue 12, item 4)."""
    import asyncio

    import httpx

    assert service.audit is not None
    committer = service.audit._committer
    before = (committer.batches, committer.items)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            calls = [
                ac.post("/v1/test/score", json=_batch([f"C{i}"]), headers=bearer(service.keys.score)) for i in range(40)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(burst()) == [200] * 40
    assert committer.items - before[1] == 40
    assert committer.batches - before[0] < 40
    rows = [r for r in service.audit.recent(100) if r.route == "/v1/test/score"]
    assert len(rows) == 40 and len({r.request_id for r in rows}) == 40


def test_readyz_reports_an_audit_store_that_cannot_be_written(
    service: Service, client: TestClient, tmp_path: Path
) -> None:
    """With the audit database read-only every scoring call is 503, so the service must not claim to be ready;
    once it is writable again, ready again (issue 12, item 5)."""
    from sqlalchemy import create_engine

    assert service.audit is not None
    assert client.get("/readyz").status_code == 200
    writable = service.audit.engine
    database = tmp_path / "audit" / "audit.sqlite"
    assert database.exists()
    service.audit.engine = create_engine(f"sqlite:///file:{database}?mode=ro&uri=true")  # SQLite itself refuses
    try:
        scored = client.post("/v1/test/score", json=_batch(RAW_IDS), headers=bearer(service.keys.score))
        assert scored.status_code == 503 and scored.json()["detail"] == "audit unavailable"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "missing": ["audit"]}
        assert ready.headers["Retry-After"] == "5"
    finally:
        service.audit.engine.dispose()
        service.audit.engine = writable
    service.audit._checked = None  # the last probe's answer is reused for a second
    assert client.get("/readyz").status_code == 200
