"""What the scoring service needs to know, as a plain frozen value.

`serving` may not import `claimsight` (layers point one way), so the shell turns its validated `Settings`
into this object (`Settings.api_config()`) and tests build it directly. Checks here are the ones the service
itself relies on; policy (which secrets are acceptable in production) lives in `Settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from serving import api_defaults
from serving.api.security import ApiKey

DEFAULT_MODEL_REF = "champion"


@dataclass(frozen=True)
class ApiConfig:
    """Configuration of one API process.

    `audit_url`: SQLAlchemy URL of the audit database (None: the caller passes its own `AuditLog` or none).
    `poll_seconds`: how often to ask the registry whether the champion moved; 0 turns the poller off.
    `model_refs`: the ref each named model slot loads (default `default_model_ref`, the MLflow alias).
    `docs`: serve `/docs` and `/openapi.json`; off outside development (fewer open routes, less surface).
    `rate_limit_per_minute`: requests per API key per minute (also the burst); 0 turns the limit off.
    `body_timeout_seconds`: a request body must arrive within this (408 otherwise).
    `unauthenticated_per_minute`: calls without a valid key per client address per minute (then 429); 0 = off.
    `scoring_threads`: batch requests of one process whose model work (features, prediction, reasons) runs at
    once on worker threads (small requests run on the event loop: `serving.api.app.run_model_work`). The work
    holds the GIL most of the time, so more threads than cores only interleave it: measured on two cores, 16
    connections on one process gave 71 req/s with every request in its own thread and about 110 with one or
    two at a time (issue 12). Two lets one batch overtake another, long one.

    The limits' defaults are `serving.api_defaults`, which `claimsight.settings.Settings` reads too.
    """

    api_keys: tuple[ApiKey, ...] = ()
    audit_url: str | None = None
    audit_secret: bytes = field(default=b"", repr=False)
    max_body_bytes: int = api_defaults.MAX_BODY_BYTES
    max_batch: int = api_defaults.MAX_BATCH
    poll_seconds: float = api_defaults.POLL_SECONDS
    default_model_ref: str = DEFAULT_MODEL_REF
    model_refs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    docs: bool = False
    rate_limit_per_minute: int = api_defaults.RATE_LIMIT_PER_MINUTE
    body_timeout_seconds: float = api_defaults.BODY_TIMEOUT_SECONDS
    scoring_threads: int = api_defaults.SCORING_THREADS
    report_dir: Path | None = None  # the dashboard report `claimsight report` wrote: GET /v1/reports/prevention
    unauthenticated_per_minute: int = api_defaults.UNAUTHENTICATED_PER_MINUTE

    def __post_init__(self) -> None:
        if isinstance(self.audit_secret, str):  # accept text for convenience, store bytes for HMAC
            object.__setattr__(self, "audit_secret", self.audit_secret.encode("utf-8"))
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "model_refs", MappingProxyType(dict(self.model_refs)))
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        if self.max_batch <= 0:
            raise ValueError("max_batch must be positive")
        if self.body_timeout_seconds <= 0:
            raise ValueError("body_timeout_seconds must be positive")
        if self.scoring_threads < 1:
            raise ValueError("scoring_threads must be at least 1")
        if self.rate_limit_per_minute < 0:
            raise ValueError("rate_limit_per_minute must be 0 (off) or positive")
        if self.unauthenticated_per_minute < 0:
            raise ValueError("unauthenticated_per_minute must be 0 (off) or positive")
        if self.poll_seconds < 0:
            raise ValueError("poll_seconds must be 0 (off) or positive")
        if len({k.key_id for k in self.api_keys}) != len(self.api_keys):
            raise ValueError("API key ids must be unique")

    def ref_for(self, name: str) -> str:
        """The ref the slot `name` loads at start-up and on reload when no champion resolver is given."""
        return self.model_refs.get(name, self.default_model_ref)
