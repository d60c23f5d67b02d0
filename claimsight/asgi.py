"""The scoring service as an ASGI app, outside the command line: `serve --workers N` hands uvicorn the
factory's import string, and each worker process imports only this module, not the commands.

Each worker also ends when the `serve` process that started it ends. uvicorn's supervisor stops its workers
when it is stopped, but one killed outright (kill -9, the OOM killer) cannot, and its workers would keep the
port and serve on unsupervised: a restarted `serve` could not bind, and nobody would restart a dying worker.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from claimsight.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from serving.api.audit import AuditLog

SERVE_DATA_ENV = "CLAIMSIGHT_SERVE_DATA"  # the --data of `serve`, for worker processes (not a Settings field)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
log = logging.getLogger(__name__)


def service_app(settings: Settings, *, data: Path | None = None) -> FastAPI:
    """The scoring service as `claimsight serve` runs it: champions from the MLflow registry of `settings`, the
    payer rules of `data` (shipped rules when None), the audit log of `settings` (SQLite in home by default),
    and the team workspace's pages under /app when a workspace database is configured or exists
    (claimsight.team_workspace)."""
    # A fatal signal (SIGSEGV, SIGBUS: e.g. a memory-mapped file truncated under us) leaves a traceback on stderr,
    # the server's log, instead of a process that vanished without a line (issue 12, item 5).
    if not faulthandler.is_enabled() and sys.__stderr__ is not None:
        faulthandler.enable(file=sys.__stderr__)  # the process's own stderr, not a stand-in without a file
    from serving.api.routes import ScoringContext
    from serving.api.runtime import build_app, build_registry
    from training.tracking import default_tracking_uri

    settings.install_patient_key()
    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from claimsight.team_workspace import workspace_backend

    config = settings.api_config()
    audit = open_audit(settings)  # first: a wrong setting fails before the models load
    backend = workspace_backend(settings)
    workspace = None if backend is None else settings.workspace_options(backend, data_dir=data)
    if backend is not None:
        log.info("team workspace at /app (%s)", "CLAIMSIGHT_WORKSPACE_DATABASE_URL" if settings.workspace_database_url
                 else "workspace.db in CLAIMSIGHT_HOME")  # fmt: skip
    context = ScoringContext.load(rules_dir=data, options=settings.run_options())
    tracking_uri = settings.mlflow_tracking_uri or default_tracking_uri(settings.home)
    registry = build_registry(tracking_uri=tracking_uri, context=context, config=config)
    return build_app(config=config, registry=registry, context=context, audit=audit, workspace=workspace)


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
    """App factory for `serve --workers N`: each worker process builds its own service from the environment,
    and shuts down when the process that started it is gone."""
    exit_with_parent()
    data = os.environ.get(SERVE_DATA_ENV)
    return service_app(Settings(), data=Path(data) if data else None)


def exit_with_parent(
    *, parent_pid: int | None = None, poll_seconds: float = 1.0, kernel_signal: bool = True
) -> threading.Thread | None:
    """Send this process SIGTERM (uvicorn's graceful shutdown: requests in flight finish) when its parent ends.

    `parent_pid` defaults to the multiprocessing parent (uvicorn's supervisor, for a worker of `serve --workers
    N`); outside a multiprocessing child, with no `parent_pid`, nothing is watched. Two ways, either enough:

    - on Linux, `kernel_signal`: prctl(PR_SET_PDEATHSIG, SIGTERM), delivered by the kernel the moment the parent
      ends. Strictly it fires when the parent *thread* that started this process ends; uvicorn's supervisor
      starts workers from its main thread (`Multiprocess.run`), which lives as long as the supervisor does;
    - everywhere, a daemon thread that compares os.getppid() with `parent_pid` every `poll_seconds` (an orphan
      is re-parented). Its first look is at once, so a parent that ended before the prctl is caught too.

    Returns the watching thread, or None when there is no parent to watch.
    """
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        if parent is None or parent.pid is None:
            return None
        parent_pid = parent.pid
    if kernel_signal and sys.platform.startswith("linux"):
        _parent_death_signal(signal.SIGTERM)
    watch = threading.Thread(
        target=_watch_parent, args=(parent_pid, poll_seconds), name="claimsight-parent-watch", daemon=True
    )
    watch.start()
    return watch


def _parent_death_signal(signum: int) -> None:
    """Linux only: the kernel sends `signum` to this process when its parent ends. Best effort: the watching
    thread covers a libc without prctl."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d); watching the parent process instead",
                        ctypes.get_errno())  # fmt: skip
    except (OSError, AttributeError):
        log.warning("prctl is not available; watching the parent process instead")


def _watch_parent(parent_pid: int, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    log.warning("the serve process [%d] that started this worker is gone: this worker shuts down", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)
