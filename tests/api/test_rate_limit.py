"""A key over its request budget gets 429 with Retry-After; other keys are untouched; budgets refill."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from api.support import Keys, Service, bearer
from fastapi.testclient import TestClient

from serving import api_defaults
from serving.api.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, clock=clock)  # one a second, burst of 60
    assert [limiter.take("a") for _ in range(60)] == [0.0] * 60
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0  # another key has its own budget
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)  # half a token back: half a second to go
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    clock.now += 3_600  # a long pause refills to the burst, not beyond
    assert sum(limiter.take("a") == 0.0 for _ in range(100)) == 60
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(per_minute=0)


def test_over_budget_is_429_with_retry_after_per_key(make_service: Callable[..., Service], keys: Keys) -> None:
    service = make_service(rate_limit_per_minute=3)
    body = {"claims": [{"claim_id": "CLM-1", "lines": [{"code": "97110", "units": 1}]}]}
    with TestClient(service.app) as client:
        codes = [client.post("/v1/test/score", json=body, headers=bearer(keys.score)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        over = client.post("/v1/test/score", json=body, headers=bearer(keys.score))
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) >= 1
        assert over.json()["detail"] == "request budget of this API key used up; retry later"
        assert keys.score not in over.text
        # the admin key has its own budget; wrong keys are refused before any budget is counted
        assert client.get("/v1/models", headers=bearer(keys.admin)).status_code != 429
        assert client.post("/v1/test/score", json=body, headers=bearer("csk_wrong")).status_code == 401
    assert service.audit is not None  # the refused call is audited like any other, under its key
    refused = [r for r in service.audit.recent() if r.status_code == 429]
    assert len(refused) == 1 and refused[0].key_id == "scorer"


def test_the_default_budget_is_the_shared_default_and_zero_turns_it_off(
    make_service: Callable[..., Service], keys: Keys
) -> None:
    limiter = make_service(audit=False).app.state.rate_limiter
    assert limiter is not None and limiter.per_minute == api_defaults.RATE_LIMIT_PER_MINUTE  # as `claimsight serve`
    service = make_service(rate_limit_per_minute=0)
    assert service.app.state.rate_limiter is None
    with TestClient(service.app) as client:
        codes = {client.get("/v1/test/claims/CLM-1", headers=bearer(keys.score)).status_code for _ in range(50)}
    assert codes == {200}
