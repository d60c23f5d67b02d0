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

    from serving.api.audit import AuditLog

SERVE_DATA_ENV = "CLAIMSIGHT_SERVE_DATA"  # the --data of `serve`, for worker processes (not a Settings field)


def service_app(settings: Settings, *, data: Path | None = None) -> FastAPI:
    """The scoring service as `claimsight serve` runs it: champions from the MLflow registry of `settings`, the
    payer rules of `data` (shipped rules when None), the audit log of `settings` (SQLite in home by default)."""
    from serving.api.routes import ScoringContext
    from serving.api.runtime import build_app, build_registry
    from training.tracking import default_tracking_uri

    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = settings.api_config()
    audit = open_audit(settings)  # first: a wrong setting fails before the models load
    context = ScoringContext.load(rules_dir=data, options=settings.run_options())
    tracking_uri = settings.mlflow_tracking_uri or default_tracking_uri(settings.home)
    registry = build_registry(tracking_uri=tracking_uri, context=context, config=config)
    return build_app(config=config, registry=registry, context=context, audit=audit)


def open_audit(settings: Settings) -> AuditLog:
    """The audit log of `settings`; a database that cannot be opened is the configuration's fault (exit 2).

    The message names the setting, never its value: a database URL may hold a password.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from claimsight.errors import UsageProblem
    from serving.api.audit import AuditLog

    config = settings.api_config()
    try:
        return AuditLog(url=config.audit_url or settings.audit_url(), secret=config.audit_secret)
    except (SQLAlchemyError, OSError):
        setting = "CLAIMSIGHT_AUDIT_DATABASE_URL" if settings.audit_database_url else "CLAIMSIGHT_HOME"
        raise UsageProblem(
            f"cannot open the audit database: set {setting} to a reachable database, or to a writable file in a "
            "directory that exists"
        ) from None


def service_from_environment() -> FastAPI:
    """App factory for `serve --workers N`: each worker process builds its own service from the environment."""
    data = os.environ.get(SERVE_DATA_ENV)
    return service_app(Settings(), data=Path(data) if data else None)
