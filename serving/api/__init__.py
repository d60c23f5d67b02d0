"""The scoring service's infrastructure: keys and scopes, audit log, error bodies, model slots, app factory.

Configuration comes in as `ApiConfig` (built by the `claimsight` shell from `Settings`), never from the
environment directly, so `serving` does not depend on `claimsight`.
"""

from __future__ import annotations

from serving.api.app import create_app, use_models
from serving.api.audit import AuditLog, AuditRecord, claim_ref
from serving.api.config import ApiConfig
from serving.api.errors import check_batch
from serving.api.model_slots import ChampionPoller, LoadResult, ModelRegistry, ModelSlot, NoModel, Snapshot
from serving.api.security import ApiKey, KeyRing, hash_key, new_key, parse_key_entry, require_scope

__all__ = [
    "ApiConfig",
    "ApiKey",
    "AuditLog",
    "AuditRecord",
    "ChampionPoller",
    "KeyRing",
    "LoadResult",
    "ModelRegistry",
    "ModelSlot",
    "NoModel",
    "Snapshot",
    "check_batch",
    "claim_ref",
    "create_app",
    "hash_key",
    "new_key",
    "parse_key_entry",
    "require_scope",
    "use_models",
]
