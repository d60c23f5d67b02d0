"""The leader's dashboard in the workspace: `/dashboard` shows the report `claimsight report` wrote into
`WorkspaceOptions.report_dir`, `/dashboard/figures/NAME.svg` and `/dashboard/data/NAME.csv` serve its files.

Why prebuilt: the page must answer in well under a second on a large practice's history, so it never reads
the data or draws; it reads the report's small manifest (cached until the file changes) and links the SVGs
(shown as images: the Content-Security-Policy allows images from the workspace itself, no inline script or
style) and CSVs. Only file names the manifest lists are served, so nothing else in the folder is reachable.
The routes sit on the protected router: the CSVs are aggregates, not PHI, but they are the team's business.
The prevention part's decision forms (accept or reject a learned edit, mark a fix done) are web/decisions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from serving.dashboard import Manifest, load_manifest
from serving.workspace.web.backend import Session
from serving.workspace.web.decisions import HOW_TO_ENABLE, REBUILD, RECORDED, add_decision_routes, decision_state

if TYPE_CHECKING:
    from serving.workspace.web.app import Workspace

PERMISSION = "view_dashboard"
MEDIA_TYPES = {"figures": "image/svg+xml", "data": "text/csv; charset=utf-8"}
HOW_TO_BUILD = "claimsight report --data DIR --out REPORT_DIR"


def add_dashboard_routes(
    router: APIRouter, ws: Workspace, *, forbidden: Callable[[Session, str], HTMLResponse]
) -> None:
    """Add the dashboard's routes to `router` (the protected one: a session is already checked)."""

    def manifest() -> tuple[Manifest | None, str | None]:
        folder = ws.options.report_dir
        if folder is None:
            return None, None
        try:
            return load_manifest(folder), None
        except (ValueError, KeyError, TypeError, OSError):
            return None, "The report in the configured folder cannot be read; build it again."

    async def page(
        session: Session, *, status: int = 200, recorded: str | None = None, error: str | None = None
    ) -> Response:
        found, problem = manifest()
        return ws.render(
            "dashboard.html",
            status=status,
            session=session,
            nav="dashboard",
            report=found,
            problem=problem,
            configured=ws.options.report_dir is not None,
            how_to_build=HOW_TO_BUILD,
            how_to_enable=HOW_TO_ENABLE,
            decide=decision_state(ws, session),
            recorded=f"{RECORDED[recorded]}: recorded; {REBUILD}" if recorded in RECORDED else None,
            decision_error=error,
        )

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        session: Session = request.state.workspace_session
        if not session.user.can(PERMISSION):
            return forbidden(session, PERMISSION)
        return await page(session, recorded=request.query_params.get("recorded"))

    @router.get("/dashboard/{folder}/{name}", include_in_schema=False)
    async def dashboard_file(folder: str, name: str, request: Request) -> Response:
        session: Session = request.state.workspace_session
        if not session.user.can(PERMISSION):
            return forbidden(session, PERMISSION)
        found, _ = manifest()
        path = found.path_of(f"{folder}/{name}") if found is not None and folder in MEDIA_TYPES else None
        if path is None:
            return ws.error(404, "Not found", "The dashboard has no such file; it may have been rebuilt.", session)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'} if folder == "data" else None
        return FileResponse(path, media_type=MEDIA_TYPES[folder], headers=headers)

    add_decision_routes(router, ws, forbidden=forbidden, page=page, manifest=manifest)
