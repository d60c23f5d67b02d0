"""Calls refused without a valid key are budgeted by address and recorded as counts (issue 12, item 6)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from api.support import Keys, Service, bearer
from fastapi.testclient import TestClient

from serving.api.audit import AuditLog
from serving.api.rate_limit import RateLimiter
from serving.api.refusal_counts import RefusalCounts


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_without_a_key_is_refused_by_address_and_recorded_as_counts(
    make_service: Callable[..., Service], keys: Keys
) -> None:
    service = make_service(unauthenticated_per_minute=50)
    # The budget refills by 50 a minute, one call every 1.2 s: on the wall clock a slow run of the flood (a busy
    # machine) would earn the address a 51st call. The limiter's clock stands still here, so the test counts calls.
    assert service.app.state.address_limiter.per_minute == 50
    service.app.state.address_limiter = RateLimiter(per_minute=50, clock=_Clock())
    body = {"claims": [{"claim_id": "CLM-1", "lines": [{"code": "97110", "units": 1}]}]}
    with TestClient(service.app) as client:
        codes = [client.post("/v1/test/score", json=body, headers=bearer("csk_wrong")).status_code for _ in range(300)]
        assert codes[:50] == [401] * 50  # the address's budget of calls without a valid key
        assert set(codes[50:]) == {429}
        over = client.get("/v1/models")
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert "valid API key" in over.json()["detail"]
        # a caller with a key from the same address is not held back by the flood
        assert client.post("/v1/test/score", json=body, headers=bearer(keys.score)).status_code == 200
        assert service.audit is not None
        assert [r.status_code for r in service.audit.recent()] == [200]  # the flood has no row of its own
    rows = service.audit.recent(100)  # the client's shutdown wrote the window's counts
    summaries = sorted((r.route, r.status_code, r.calls) for r in rows if r.key_id is None)
    assert summaries == [("/v1/models", 429, 1), ("/v1/test/score", 401, 50), ("/v1/test/score", 429, 250)]
    assert len(rows) == 4
    assert len({r.client_ref for r in rows}) == 1 and rows[0].client_ref is not None
    assert "testclient" not in str(rows)  # the address is on record only as a keyed hash
    assert all(r.request_id.startswith("summary:") for r in rows if r.key_id is None)


def test_counts_are_written_when_their_window_closes_or_too_many_groups_are_open() -> None:
    clock = _Clock()
    counts = RefusalCounts(window_seconds=60, max_groups=3, clock=clock)
    at = datetime(2026, 12, 5, tzinfo=UTC)
    for _ in range(5):
        assert counts.add(("k", "a"), at=at, request_id="r1", latency_ms=2.0) == []
    clock.now += 60
    due = counts.add(("k", "a"), at=at, request_id="r2", latency_ms=4.0)
    assert [(group, tally.calls, tally.first_request_id) for group, tally in due] == [(("k", "a"), 6, "r1")]
    assert due[0][1].mean_latency_ms == (5 * 2.0 + 4.0) / 6
    assert counts.add(("k", "b"), at=at, request_id="r", latency_ms=1.0) == []  # a new window
    assert counts.add(("k", "c"), at=at, request_id="r", latency_ms=1.0) == []
    assert len(counts.add(("k", "d"), at=at, request_id="r", latency_ms=1.0)) == 3  # bounded memory
    assert counts.take_all() == []


def test_the_address_buckets_are_bounded() -> None:
    clock = _Clock()
    limiter = RateLimiter(per_minute=60, clock=clock, max_buckets=100)
    for i in range(100):
        limiter.take(f"address:{i}")
    clock.now += 120  # every bucket has refilled
    for i in range(100, 150):
        limiter.take(f"address:{i}")
    assert len(limiter._buckets) <= 100


def test_an_audit_database_of_the_previous_release_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    with sqlite3.connect(path) as conn:  # the table as the previous release created it, with one row
        conn.execute(
            "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME NOT NULL, request_id "
            "VARCHAR(64) NOT NULL, key_id VARCHAR(64), route VARCHAR(256), method VARCHAR(16) NOT NULL, status_code "
            "INTEGER NOT NULL, claim_refs TEXT NOT NULL, model_versions TEXT NOT NULL, latency_ms FLOAT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO audit_log (at, request_id, key_id, route, method, status_code, claim_refs, model_versions,"
            " latency_ms) VALUES ('2026-12-01 10:00:00', 'old', 'k', '/v1/models', 'GET', 200, '[]', '{}', 1.0)"
        )
    log = AuditLog(url=f"sqlite:///{path}", secret="s")
    log.append(request_id="new", key_id="k", route="/x", method="GET", status_code=200, latency_ms=1.0, client="h")
    rows = log.recent()
    log.close()
    assert [(r.request_id, r.calls, r.client_ref is None) for r in rows] == [("new", 1, False), ("old", 1, True)]
