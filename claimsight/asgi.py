"""The scoring service as an ASGI app, outside the command line: `serve --workers N` hands uvicorn the
factory's import string, and each worker process imports only this module, not the commands.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from claimsight.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVE_DATA_ENV = "CLAIMSIGHT_SERVE_DATA"  # the --data of `serve`, for worker processes (not a Settings field)


def service_app(settings: Settings, *, data: Path | None = None) -> FastAPI:
    """The scoring service as `claimsight serve` runs it: champions from the MLflow registry of `settings`, the
    payer rules of `data` (shipped rules when None), the audit log of `settings` (SQLite in home by default)."""
    from serving.api.audit import AuditLog
    from serving.api.routes import ScoringContext
    from serving.api.runtime import build_app, build_registry
    from training.tracking import default_tracking_uri

    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = settings.api_config()
    context = ScoringContext.load(rules_dir=data, options=settings.run_options())
    tracking_uri = settings.mlflow_tracking_uri or default_tracking_uri(settings.home)
    registry = build_registry(tracking_uri=tracking_uri, context=context, config=config)
    audit = AuditLog(url=config.audit_url or settings.audit_url(), secret=config.audit_secret)
    return build_app(config=config, registry=registry, context=context, audit=audit)


def service_from_environment() -> FastAPI:
    """App factory for `serve --workers N`: each worker process builds its own service from the environment."""
    data = os.environ.get(SERVE_DATA_ENV)
    return service_app(Settings(), data=Path(data) if data else None)
