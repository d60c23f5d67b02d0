"""Property-based tests of the whole OpenAPI surface (schemathesis 4) against the real service.

Positive cases (bodies the schema allows) reach the real models, so "no server error" covers the feature and
scoring code with inputs nobody wrote by hand; negative cases (bodies the schema forbids) must be refused with a
4xx; and every operation that declares a security scheme must refuse a request without a key or with a wrong
one. A score-only key is sent: `/v1/admin/reload` answers it 403 (and would otherwise reload both models on
every example).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api.service_support import make_real_service
from api.support import Keys, bearer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection, response_schema_conformance

from serving.api import ApiConfig, ModelRegistry, new_key, parse_key_entry
from serving.api.routes import ScoringContext
from serving.api.runtime import build_app

pytestmark = pytest.mark.slow  # schemathesis against the real service on the session's trained models

CHECKS = [not_a_server_error, negative_data_rejection, ignored_auth, response_schema_conformance]


class DeferredApp:
    """An ASGI app that forwards to `target`, set once the fixtures have built the real service.

    The schema must exist when pytest collects this module (schemathesis parametrizes at collection; its lazy
    `from_fixture` loader does not run on pytest 9), but the real service needs the session's trained models.
    The OpenAPI document does not depend on the models, so it is read from the same app factory without them.
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


def _documentation_app() -> Any:
    config = ApiConfig(api_keys=(parse_key_entry(new_key(key_id="docs")[1]),), docs=True, poll_seconds=0)
    return build_app(config=config, registry=ModelRegistry([]), context=ScoringContext.load(), audit=None)


APP = DeferredApp(_documentation_app())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def real_service(
    model_home: Path, keys: Keys, small_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    service = make_real_service(
        home=model_home,
        keys=keys,
        rules_dir=small_world,
        audit_dir=tmp_path_factory.mktemp("audit"),
        docs=True,
        # every case comes from one address, hundreds with bad keys: the address budget would turn the 401s
        # that `ignored_auth` checks for into 429s (that budget has its own tests: test_refusal_counts.py)
        unauthenticated_per_minute=0,
    )
    service.registry.refresh()  # loaded once here; the lifespan of each ASGI call finds nothing new
    assert service.registry.ready
    before, APP.target = APP.target, service.app
    yield
    APP.target = before
    assert service.audit is not None
    service.audit.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_openapi_contract(case: Any, keys: Keys) -> None:
    case.call_and_validate(headers=bearer(keys.score), checks=CHECKS)
