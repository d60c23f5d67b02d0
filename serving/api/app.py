"""The FastAPI application: probes, model status and reload, and the middleware every route runs behind.

Scoring routes are written elsewhere as `APIRouter`s and passed to `create_app(routers=...)`. A scoring
route depends on `require_scope("score")` and `use_models(...)`, checks its batch with `check_batch`, and
sets `request.state.claim_ids` so the audit row names the claims (as keyed hashes):

    @router.post("/v1/claims/score")
    async def score(body: ClaimBatch, request: Request,
                    _: Annotated[str, Depends(require_scope("score"))],
                    models: Annotated[dict[str, Snapshot[Any]], Depends(use_models("denial_risk"))]):
        check_batch(len(body.claims), request.app.state.config, field="body.claims")
        request.state.claim_ids = [c.claim_id for c in body.claims]
        ...

Middleware, outermost first: request id + last-resort 500 (`RequestContextMiddleware`), audit, body cap.
The audit sits outside the body cap so a 413 is on record too, and inside the request id so the row
carries it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from serving.api.audit import AuditLog, AuditMiddleware
from serving.api.config import ApiConfig
from serving.api.errors import BodyLimitMiddleware, RequestContextMiddleware, install_error_handlers
from serving.api.model_slots import ChampionPoller, ModelRegistry, NoModel, Snapshot
from serving.api.rate_limit import RateLimiter
from serving.api.reports import reports_router
from serving.api.security import KeyRing, require_scope

if TYPE_CHECKING:
    from serving.workspace.web import WorkspaceOptions

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = "5"
OPEN_PATHS = ("/livez", "/readyz")


class Health(BaseModel):
    status: str
    missing: list[str] = []


class ModelInfo(BaseModel):
    name: str
    ref: str | None
    version: str | None
    sha256: str | None
    loaded_at: datetime | None


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ReloadResult(BaseModel):
    name: str
    ok: bool
    changed: bool
    version: str | None
    error: str | None


class ReloadResponse(BaseModel):
    ready: bool
    results: list[ReloadResult]


def use_models(*names: str) -> Callable[[Request], Awaitable[dict[str, Snapshot[Any]]]]:
    """A dependency giving the route one snapshot per named model, all taken at the same moment.

    The route scores with these and reports their versions; a swap during the request does not touch them.
    503 with Retry-After when any is not loaded. The versions go to `request.state.model_versions` for the
    audit row.
    """

    async def dependency(request: Request) -> dict[str, Snapshot[Any]]:
        registry: ModelRegistry = request.app.state.models
        try:
            snapshots = registry.snapshot(*names)
        except NoModel:
            raise HTTPException(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="model not ready",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from None
        request.state.model_versions = {name: snap.version for name, snap in snapshots.items()}
        return snapshots

    dependency.__name__ = "use_models_" + "_".join(names)
    return dependency


INLINE_ITEMS = 16  # requests of at most this many claims or denials do their model work on the event loop


async def run_model_work(request: Request, work: Callable[[], T], *, items: int) -> T:
    """Run `work` (features, prediction, reasons for `items` claims or denials) where it contends least.

    A small request (at most INLINE_ITEMS) runs right here, on the event loop: its few milliseconds of
    model work hold the GIL anyway, and handing it to a thread makes the loop and that thread trade the GIL
    back and forth (measured on two cores, one worker, one claim with reasons: 110 req/s at 4 connections and
    105 at 16 through a thread, 131 and 128 inline; 123 at one connection either way). A larger batch runs on
    a worker thread, at most `config.scoring_threads` at a time per process, so that probes and small
    requests are not held behind it for its whole duration.
    """
    if items <= INLINE_ITEMS:
        return work()
    state = request.app.state
    limiter = getattr(state, "scoring_limiter", None)
    if limiter is None:  # made on first use, inside the running event loop
        limiter = state.scoring_limiter = anyio.CapacityLimiter(state.config.scoring_threads)
    return await anyio.to_thread.run_sync(work, limiter=limiter)


def _ops_router() -> APIRouter:
    router = APIRouter()

    @router.get("/livez", response_model=Health, tags=["ops"])
    async def livez() -> Health:
        """Live = the process answers. Nothing else is checked, so a slow model load never gets it killed."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Health,
        tags=["ops"],
        responses={
            503: {
                "model": Health,
                "description": "a model is not loaded and verified yet, or the audit log is not writable",
            }
        },
    )
    async def readyz(request: Request) -> Any:
        """Ready = every model loaded and verified, and the audit log can store a row: a scoring call that
        cannot be audited is refused (503), so a service whose audit store is read-only is not ready."""
        registry: ModelRegistry = request.app.state.models
        audit: AuditLog | None = request.app.state.audit
        missing = registry.missing()
        audit_ok = audit is None or await run_in_threadpool(audit.writable)
        if registry.ready and audit_ok:
            return Health(status="ready")
        if not audit_ok:
            missing.append("audit")
        body = Health(status="not ready", missing=missing).model_dump()
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})

    @router.get("/v1/models", response_model=ModelsResponse, tags=["models"])
    async def list_models(request: Request, _key: Annotated[str, Depends(require_scope("score"))]) -> ModelsResponse:
        """Which version of each model serves now, with the artifact hash it was verified against."""
        registry: ModelRegistry = request.app.state.models
        infos = []
        for slot in registry:
            snap = slot.peek()
            infos.append(
                ModelInfo(
                    name=slot.name,
                    ref=snap.ref if snap else None,
                    version=snap.version if snap else None,
                    sha256=snap.sha256 if snap else None,
                    loaded_at=snap.loaded_at if snap else None,
                )
            )
        return ModelsResponse(models=infos)

    @router.post("/v1/admin/reload", response_model=ReloadResponse, tags=["admin"])
    async def reload_models(request: Request, _key: Annotated[str, Depends(require_scope("admin"))]) -> ReloadResponse:
        """Load every champion now (e.g. right after a promotion) instead of waiting for the poller.

        Always 200: the per-slot results say which loads failed, and a failed load changed nothing.
        """
        registry: ModelRegistry = request.app.state.models
        results = await run_in_threadpool(lambda: registry.refresh(force=True))
        return ReloadResponse(
            ready=registry.ready,
            results=[
                ReloadResult(name=r.name, ok=r.ok, changed=r.changed, version=r.version, error=r.error)
                for r in results.values()
            ],
        )

    return router


def _flush_refusals(audit: AuditLog) -> None:
    """At shutdown, the refusal counts of the window still open; a failure is logged (type only), not raised."""
    try:
        audit.flush_refusals()
    except Exception as exc:
        log.error("audit: the last window's refusal counts were not written (%s)", type(exc).__name__)


def create_app(
    *,
    config: ApiConfig,
    models: ModelRegistry,
    audit: AuditLog | None = None,
    routers: Sequence[APIRouter] = (),
    workspace: WorkspaceOptions | None = None,
) -> FastAPI:
    """Build the service. Models load in the lifespan (not on the first request); a load that fails leaves
    the app live but not ready, and the poller (when `config.poll_seconds` > 0) keeps trying.

    `audit=None` turns auditing off; only tests and throw-away development runs should do that.
    `workspace`: serve the team workspace's pages under its prefix (`/app`); None = the API alone.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(models.refresh)
        poller = ChampionPoller(models, interval=config.poll_seconds) if config.poll_seconds > 0 else None
        app.state.poller = poller
        if poller is not None:
            poller.start()
        try:
            yield
        finally:
            if poller is not None:
                await poller.stop()
            if audit is not None:
                await run_in_threadpool(_flush_refusals, audit)

    app = FastAPI(
        title="ClaimSight",
        summary="Denial risk and recovery scores for medical claims",
        lifespan=lifespan,
        docs_url="/docs" if config.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if config.docs else None,
    )
    app.state.config = config
    app.state.keyring = KeyRing(config.api_keys)
    app.state.rate_limiter = (
        RateLimiter(per_minute=config.rate_limit_per_minute) if config.rate_limit_per_minute > 0 else None
    )
    app.state.address_limiter = (
        RateLimiter(per_minute=config.unauthenticated_per_minute) if config.unauthenticated_per_minute > 0 else None
    )
    app.state.models = models
    app.state.audit = audit
    app.state.poller = None
    install_error_handlers(app)
    app.include_router(_ops_router())
    app.include_router(reports_router())
    for router in routers:
        app.include_router(router)
    if workspace is not None:
        from serving.workspace.web import mount_workspace

        mount_workspace(app, workspace)
    # add_middleware puts each new one outside the previous ones: innermost first.
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=config.max_body_bytes, body_timeout_seconds=config.body_timeout_seconds
    )
    if audit is not None:
        app.add_middleware(AuditMiddleware, audit=audit, skip_paths=OPEN_PATHS)
    app.add_middleware(RequestContextMiddleware)
    return app
