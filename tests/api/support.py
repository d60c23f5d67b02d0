"""Helpers for the API tests: fake models, a synthetic scoring router, keys. Fixtures are in conftest.py.

A scoring service is built from the real infrastructure with fake models and a synthetic test router.

Models are `FakeModel`s from an in-memory artifact store, so these tests need no training run and no MLflow.
The test router mimics a scoring route: a strict request model, the score scope, a model snapshot, a batch
check, and claim ids handed to the audit log.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.api import (
    ApiConfig,
    AuditLog,
    ModelRegistry,
    Snapshot,
    check_batch,
    new_key,
    require_scope,
    use_models,
)

CANARY = "CANARY-PHI-Zq81"
AUDIT_SECRET = b"test-audit-secret-0123456789abcdef"


@dataclass(frozen=True)
class FakeModel:
    version: str
    broken: bool = False

    def predict(self, n: int) -> list[float]:
        if self.broken:
            raise ValueError("corrupt booster")
        return [0.5] * n


def verify_fake(model: FakeModel) -> None:
    """Warm-up prediction, as the real verify does on a fixed synthetic claim."""
    assert model.predict(1) == [0.5]


@dataclass
class ArtifactStore:
    """Refs -> artifacts; `fail` makes the next loads raise, `calls` counts loads."""

    artifacts: dict[str, FakeModel] = field(default_factory=dict)
    fail: type[Exception] | None = None
    calls: list[str] = field(default_factory=list)

    def load(self, ref: str) -> tuple[FakeModel, str, str]:
        self.calls.append(ref)
        if self.fail is not None:
            raise self.fail(f"cannot read artifact {CANARY}")
        model = self.artifacts[ref]
        return model, model.version, hashlib.sha256(model.version.encode()).hexdigest()


@dataclass(frozen=True)
class Keys:
    score: str
    admin: str
    both: str
    entries: tuple[str, ...]


def make_keys() -> Keys:
    score, e1 = new_key(key_id="scorer", scopes=("score",))
    admin, e2 = new_key(key_id="operator", scopes=("admin",))
    both, e3 = new_key(key_id="both", scopes=("score", "admin"))
    return Keys(score=score, admin=admin, both=both, entries=(e1, e2, e3))


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=5)
    units: int = Field(ge=0)


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claim_id: str = Field(max_length=40)
    lines: list[Line]


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claims: list[Claim]


Models = Annotated[dict[str, Snapshot[Any]], Depends(use_models("denial_risk"))]
ScoreKey = Annotated[str, Depends(require_scope("score"))]


def scoring_router() -> APIRouter:
    router = APIRouter(prefix="/v1/test")

    @router.post("/score")
    async def score(body: Batch, request: Request, key_id: ScoreKey, models: Models) -> dict[str, Any]:
        check_batch(len(body.claims), request.app.state.config, field="body.claims")
        request.state.claim_ids = [c.claim_id for c in body.claims]
        snap = models["denial_risk"]
        return {"version": snap.version, "scores": snap.model.predict(len(body.claims)), "key_id": key_id}

    @router.get("/claims/{claim_id}")
    async def one_claim(claim_id: str, request: Request, _key: ScoreKey, models: Models) -> dict[str, str]:
        request.state.claim_ids = [claim_id]
        return {"version": models["denial_risk"].version}

    @router.get("/slow")
    def slow(_key: ScoreKey, models: Models) -> dict[str, str]:
        """Sync, so it runs in the threadpool beside the swapping thread; reads its snapshot twice, apart."""
        snap = models["denial_risk"]
        first = snap.model.version
        time.sleep(0.002)
        return {"version": snap.version, "model_version": first, "again": snap.model.version}

    @router.post("/boom")
    async def boom(_key: ScoreKey) -> None:
        raise RuntimeError(f"lookup failed for patient {CANARY}")

    @router.get("/teapot")
    async def teapot(_key: ScoreKey) -> None:
        raise HTTPException(status_code=418, detail="short and stout", headers={"X-Tea": "earl grey"})

    return router


@dataclass
class Service:
    app: FastAPI
    store: ArtifactStore
    registry: ModelRegistry
    audit: AuditLog | None
    config: ApiConfig
    keys: Keys
