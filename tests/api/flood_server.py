"""`claimsight serve`'s server, one worker, with fake models: the target of tests/api/test_connection_flood.py.

Run as `python -m api.flood_server LOG_LEVEL REPORT_SECONDS` with `tests` on the path and the `CLAIMSIGHT_*`
settings in the environment. Everything but the app is `serve`'s own: Settings from the environment, the socket
from `listening_socket`, the uvicorn configuration from `server_config` (protocol, limits fitted under the
open-file limit, logging), `uvicorn.Server(...).run`. The app is the real infrastructure (keys, scopes, limits,
error bodies) with the fake scoring router of the API tests, plus an open route with the guard's counts and a
keyed stand-in for the claims route.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import uvicorn
from api.support import ArtifactStore, FakeModel, ScoreKey, scoring_router, verify_fake
from fastapi import APIRouter

from claimsight.commands.service import listening_socket, server_config
from claimsight.settings import Settings
from serving.api import ModelRegistry, ModelSlot, create_app
from serving.api.connections import guards


def stats_router() -> APIRouter:
    """The guard's counts (open), and a keyed stand-in for the claims route that `claimsight loadtest` times."""
    router = APIRouter()

    @router.get("/test/connections")
    def connections() -> dict[str, int]:
        total: Counter[str] = Counter()
        for guard in guards():
            total.update(guard.stats())
        return dict(total)

    @router.post("/v1/claims/score")
    async def score(body: dict[str, Any], _key: ScoreKey) -> dict[str, list[float]]:
        return {"scores": [0.5] * len(body.get("claims", []))}

    return router


def main() -> None:
    log_level, report_seconds = sys.argv[1], float(sys.argv[2])
    settings = Settings()
    store = ArtifactStore(artifacts={"champion": FakeModel("v1")})
    registry = ModelRegistry([ModelSlot("denial_risk", loader=store.load, verify=verify_fake)])
    app = create_app(
        config=settings.api_config(), models=registry, audit=None, routers=[scoring_router(), stats_router()]
    )
    sock = listening_socket(settings.api_host, settings.api_port)
    config = server_config(app, settings=settings, log_level=log_level, report_seconds=report_seconds)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
