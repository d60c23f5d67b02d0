"""Helpers for the tests of the real scoring service: models registered in a private MLflow home, the app.

Each home gets its own copies of the session's trained models (registered as `champion`, with the artifact
hash tag, exactly as training registers them), so a test may tamper with its home without touching the
session's `trained` store that other test folders read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.support import AUDIT_SECRET, Keys
from fastapi import FastAPI

from models.denial_risk import DenialRiskModel
from models.recovery import RecoveryModel
from serving.api import ApiConfig, AuditLog, ModelRegistry, parse_key_entry
from serving.api.routes import ScoringContext
from serving.api.runtime import build_app, build_registry

DENIAL_NAME = "claimsight-denial-risk"
RECOVERY_NAME = "claimsight-recovery"


def register_model(
    home: Path, model: DenialRiskModel | RecoveryModel, *, workdir: Path, sha256: str | None = None
) -> str:
    """Register `model` in the MLflow store of `home` (champion when it is the first version); its version."""
    import mlflow

    from models.mlflow_model import DenialRiskPyfunc, RecoveryPyfunc, directory_sha256
    from training.tracking import configure, register

    denial = isinstance(model, DenialRiskModel)
    name = DENIAL_NAME if denial else RECOVERY_NAME
    configure(home=home, tracking_uri=None, experiment=name)
    saved = model.save(workdir / "model")  # the registry keeps the directory under its own name
    with mlflow.start_run():
        info = register(
            model_dir=saved,
            name=name,
            python_model=DenialRiskPyfunc() if denial else RecoveryPyfunc(),
            sha256=sha256 or directory_sha256(saved),
            tags={},
        )
    return str(info["version"])


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


@dataclass
class RealService:
    app: FastAPI
    registry: ModelRegistry
    audit: AuditLog | None
    config: ApiConfig
    keys: Keys
    home: Path
    audit_dir: Path


def make_real_service(
    *,
    home: Path,
    keys: Keys,
    rules_dir: Path | None,
    audit_dir: Path | None,
    **config: Any,
) -> RealService:
    cfg = ApiConfig(
        api_keys=tuple(parse_key_entry(e) for e in keys.entries),
        audit_secret=AUDIT_SECRET,
        poll_seconds=config.pop("poll_seconds", 0),
        docs=config.pop("docs", True),
        **config,
    )
    context = ScoringContext.load(rules_dir=rules_dir)
    # no gc.freeze in the shared test process (the serve-command test covers the service's default)
    registry = build_registry(tracking_uri=tracking_uri(home), context=context, config=cfg, freeze_heap=False)
    audit = None
    if audit_dir is not None:
        audit = AuditLog(url=f"sqlite:///{audit_dir / 'audit.sqlite'}", secret=AUDIT_SECRET)
    app = build_app(config=cfg, registry=registry, context=context, audit=audit)
    return RealService(
        app=app, registry=registry, audit=audit, config=cfg, keys=keys, home=home, audit_dir=audit_dir or home
    )


def audit_bytes(directory: Path) -> bytes:
    """Every byte of the audit database, WAL and journal files included."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("audit.sqlite*")))


def audit_rows(directory: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(directory / "audit.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id")]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
