"""`GET /v1/reports/prevention`: the denial patterns worth preventing, for a billing system or a BI tool.

It reads what `claimsight report` last wrote (the folder the workspace's dashboard serves: ApiConfig.report_dir),
never the claims data: the route answers in milliseconds and the scoring service holds no history. The rows
are aggregates (payer, procedure group, provider NPI or location, counts and dollars), no patient or claim.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from serving.api.error_bodies import ERROR_RESPONSES, ErrorBody
from serving.api.security import require_scope

PATTERNS_FILE = "data/prevention-patterns.csv"  # serving.dashboard's file for the section "prevention-patterns"


class PreventionResponse(BaseModel):
    facts: dict[str, str]  # what the report covers (its data's dates), as the dashboard shows them
    patterns: list[dict[str, Any]]


def _read(folder: Path, top: int) -> PreventionResponse | None:
    from serving.dashboard.manifest import load_manifest

    manifest = load_manifest(folder)
    if manifest is None or not (folder / PATTERNS_FILE).is_file():
        return None
    rows = pd.read_csv(folder / PATTERNS_FILE, nrows=top).to_dict("records")
    clean = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
    return PreventionResponse(facts={str(k): str(v) for k, v in manifest.facts.items()}, patterns=clean)


def reports_router() -> APIRouter:
    responses: dict[int | str, dict[str, Any]] = {code: ERROR_RESPONSES[code] for code in (401, 403, 422, 429)}
    responses[404] = {"model": ErrorBody, "description": "no report written yet (the detail says how to make one)"}
    router = APIRouter(responses=responses)

    @router.get("/v1/reports/prevention", response_model=PreventionResponse, tags=["reports"])
    async def prevention(
        request: Request,
        _key: Annotated[str, Depends(require_scope("score"))],
        top: Annotated[int, Query(ge=1, le=500, description="patterns, in the report's rank order")] = 25,
    ) -> PreventionResponse:
        """The ranked denial patterns of the latest `claimsight report`, with their owning team and fix."""
        folder: Path | None = request.app.state.config.report_dir
        found = None if folder is None else await run_in_threadpool(_read, folder, top)
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                "no prevention report: run `claimsight report --data DIR --out DIR` and set "
                "CLAIMSIGHT_WORKSPACE_REPORT_DIR to that folder",
            )
        return found

    return router


__all__ = ["PATTERNS_FILE", "PreventionResponse", "reports_router"]
