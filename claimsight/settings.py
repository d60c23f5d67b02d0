"""One Settings object, validated when a command starts, so a typo in configuration fails at once.

Values come from keyword arguments, then `CLAIMSIGHT_*` environment variables, then the defaults here.
Nothing is read at import time.

Validation errors never quote the input (`hide_input_in_errors`): pydantic would otherwise print every value
it was given, secrets included, next to an unrelated mistake.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from features.contract.run_options import (
    DEFAULT_CHUNK_CLAIMS,
    DEFAULT_FEATURE_THREADS,
    DEFAULT_HOME,
    DEFAULT_MATURITY_DAYS,
    DEFAULT_MAX_REJECT_RATE,
    DEFAULT_SEED,
    RunOptions,
)
from features.contract.schema import GROUP_CODES
from features.patient_keys import DEVELOPMENT_PATIENT_KEY, use_patient_key
from serving import api_defaults

if TYPE_CHECKING:
    from serving.api.config import ApiConfig
    from serving.api.connections import ConnectionLimits
    from serving.workspace.web import WorkspaceBackend, WorkspaceOptions

# Known to everyone who reads this file, so it only keeps development running; production refuses it.
DEVELOPMENT_AUDIT_SECRET = "claimsight-development-audit-secret-not-for-production"
MIN_AUDIT_SECRET_CHARS = 32
_NETWORK_DATABASES = frozenset({"postgresql", "postgres"})
_LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "[::1]"})  # "" = a Unix socket
_ENCRYPTED_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
DEMO_REPORT = Path("demo") / "report"  # in HOME: where `make demo` builds the dashboard report the workspace serves


LOCAL_CLUSTER = re.compile(r"local(?::([1-9][0-9]{0,2}))?")  # N worker processes on this machine
SCHEDULER = re.compile(r"(tcp|tls|ucx|inproc)://\S+")


def check_address(address: str) -> str:
    """A Dask cluster: `local`, `local:N` or a scheduler URL; ValueError naming the rule otherwise."""
    if LOCAL_CLUSTER.fullmatch(address) or SCHEDULER.fullmatch(address):
        return address
    raise ValueError(
        "must be local, local:N (N workers on this machine) or a scheduler address such as tcp://host:8786"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMSIGHT_", extra="forbid", frozen=True, hide_input_in_errors=True)

    environment: Literal["development", "production"] = "development"
    home: Path = Field(DEFAULT_HOME, description="local store: demo data, MLflow runs and models")
    max_reject_rate: float = Field(
        DEFAULT_MAX_REJECT_RATE, ge=0.0, le=1.0, description="share of a table's rows that may be quarantined"
    )
    maturity_days: int = Field(
        DEFAULT_MATURITY_DAYS, gt=0, le=3650, description="days after a denial before its outcome counts"
    )
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking URI; unset = SQLite store in `home`")
    seed: int = Field(DEFAULT_SEED, description="random seed for training: same data + seed = same model")
    chunk_claims: int = Field(
        DEFAULT_CHUNK_CLAIMS,
        ge=1000,
        description="claims whose features are built at once in training and batch scoring: fewer use less memory",
    )
    feature_threads: int = Field(
        DEFAULT_FEATURE_THREADS,
        ge=1,
        le=64,
        description="chunks of claims whose features are built side by side in training and batch scoring "
        "(threads; each holds one chunk's arrays): about one per core",
    )
    routine_adjustments: tuple[str, ...] | None = Field(
        None, description="GROUP-CARC pairs that are not denials, e.g. CO-45; unset = the shipped set"
    )
    dask_scheduler: str | None = Field(
        None,
        description="build training features and score batches on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or local / local:N (N worker processes here); unset = in this process",
    )
    dask_fit: bool = Field(
        False,
        description="also fit the denial-risk model's LightGBM heads on the Dask cluster (lightgbm.dask, "
        "data-parallel; the trees differ from one process's); needs dask_scheduler",
    )
    # --- scoring API. Empty api_keys in development: `claimsight serve` prints a freshly generated key
    # (serving.api.security.new_key) instead of any fixed default key existing. The limits' defaults are
    # serving.api_defaults, the same ones a directly built serving.api.ApiConfig has.
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validate_default=True,
        description="API keys as key_id:sha256hex:scope1,scope2 entries (scopes: score, admin); in the environment "
        "a JSON list or entries separated by spaces",
    )
    audit_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the audit log (PostgreSQL in production); unset = SQLite file in `home`"
    )
    workspace_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the team workspace (PostgreSQL for a team); unset = SQLite file in `home`",
    )
    audit_secret: SecretStr = Field(
        SecretStr(DEVELOPMENT_AUDIT_SECRET),
        validate_default=True,
        description="HMAC key for claim references in the audit log; the default is refused in production",
    )
    patient_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_PATIENT_KEY),
        validate_default=True,
        description="HMAC key for the patient history the models count (features/patient_keys.py); never in a "
        "model; the default is refused in production",
    )
    api_max_body_bytes: int = Field(
        api_defaults.MAX_BODY_BYTES, ge=1_024, le=100_000_000, description="request body cap (413 above)"
    )
    api_max_batch: int = Field(
        api_defaults.MAX_BATCH, ge=1, le=100_000, description="claims or denials per request (422 above)"
    )
    api_rate_limit_per_minute: int = Field(
        api_defaults.RATE_LIMIT_PER_MINUTE,
        ge=0,
        le=10_000_000,
        description="requests per API key per minute and burst (429 above); 0 = off",
    )
    api_body_timeout_seconds: float = Field(
        api_defaults.BODY_TIMEOUT_SECONDS,
        gt=0,
        le=600,
        description="seconds a request body may take to arrive (408 after)",
    )
    api_unauthenticated_per_minute: int = Field(
        api_defaults.UNAUTHENTICATED_PER_MINUTE,
        ge=0,
        le=1_000_000,
        description="calls without a valid API key per client address per minute (429 after); 0 = off",
    )
    api_scoring_threads: int = Field(
        api_defaults.SCORING_THREADS,
        ge=1,
        le=64,
        description="requests per worker process whose model work runs at once (the rest wait their turn)",
    )
    api_max_connections: int = Field(
        api_defaults.MAX_CONNECTIONS,
        ge=16,
        le=1_000_000,
        description="open connections per server process; past it the one waiting longest for request headers is "
        "closed (lowered to fit the open-file limit)",
    )
    api_header_timeout_seconds: float = Field(
        api_defaults.HEADER_TIMEOUT_SECONDS,
        gt=0,
        le=600,
        description="seconds a request's headers may take from its first byte (the connection is closed after)",
    )
    model_poll_seconds: float = Field(
        api_defaults.POLL_SECONDS, ge=0, le=86_400, description="champion poll interval; 0 = off"
    )
    workspace_secure_cookies: bool = Field(
        True,
        description="mark the team workspace's cookies Secure (HTTPS only); false only for local http in "
        "development, refused in production",
    )
    workspace_today: dt.date | None = Field(
        None,
        description="the workspace pages' today (YYYY-MM-DD), pinned for a demo or a replay of past data, where the "
        "calendar's date would put every deadline in the past; unset = the calendar's date",
    )
    workspace_letters_dir: Path | None = Field(
        None,
        description="the team's own appeal letter and checklist templates (start one with `claimsight workspace "
        "letters copy DIR`); unset = the shipped ones",
    )
    workspace_report_dir: Path | None = Field(
        None,
        description="the leader's dashboard the workspace serves at /app/dashboard: a folder `claimsight report` "
        "wrote; unset = HOME/demo/report when `make demo` built one there, else none",
    )
    workspace_data_dir: Path | None = Field(
        None,
        description="the team's data directory where the dashboard's decisions are written (accepted or rejected "
        "learned edits into payer_rules.yaml and edit_decisions.yaml, prevention fixes into "
        "prevention_decisions.yaml); unset = the `--data` of `claimsight serve`, else the forms are off",
    )
    # --- single sign-on by a reverse proxy's header (serving.workspace.web.sso): off unless the header is set
    workspace_sso_header: str | None = Field(
        None,
        description="header the reverse proxy sets to the signed-in person's workspace username, e.g. "
        "X-Forwarded-User, believed only from CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES; unset = off",
    )
    workspace_sso_trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validate_default=True,
        description="the reverse proxy's IP addresses or CIDR networks as the service sees them (required with "
        "the header); in the environment a JSON list or entries separated by commas or spaces",
    )
    workspace_sso_only: bool = Field(
        False,
        validate_default=True,
        description="turn the password sign-in off: single sign-on only (needs the header)",
    )
    api_host: str = Field("127.0.0.1", description="address `claimsight serve` binds to")
    api_port: int = Field(8000, ge=1, le=65_535, description="port `claimsight serve` binds to")

    @field_validator("dask_scheduler")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @field_validator("routine_adjustments")
    @classmethod
    def _pairs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for pair in value or ():
            group, _, carc = pair.partition("-")
            if group not in GROUP_CODES or not carc.isalnum():
                raise ValueError(f"routine adjustment must look like CO-45 (group one of {', '.join(GROUP_CODES)})")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Environment text: a JSON list, or entries separated by whitespace (entries never contain any)."""
        if isinstance(value, str):
            text = value.strip()
            return tuple(json.loads(text)) if text.startswith("[") else tuple(text.split())
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value:
            from serving.api.security import parse_key_entry

            ids = []
            for i, entry in enumerate(value):
                try:
                    ids.append(parse_key_entry(entry).key_id)
                except ValueError as exc:  # the message names the part that is wrong, not the entry
                    raise ValueError(f"api_keys[{i}]: {exc}") from None
            if len(set(ids)) != len(ids):
                raise ValueError("api_keys: key ids must be unique")
        elif info.data.get("environment", "development") != "development":
            raise ValueError(
                "api_keys: at least one key is required outside development; set CLAIMSIGHT_API_KEYS "
                "(make one with serving.api.security.new_key)"
            )
        return value

    @field_validator("audit_secret", "patient_key")
    @classmethod
    def _secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # Messages name the setting only: the value is a secret even when it is a bad one.
        if info.data.get("environment", "development") == "development":
            return value
        name = str(info.field_name)
        env = f"CLAIMSIGHT_{name.upper()}"
        secret = value.get_secret_value()
        if secret in (DEVELOPMENT_AUDIT_SECRET, DEVELOPMENT_PATIENT_KEY):
            raise ValueError(
                f"{name}: the development default is refused outside development; "
                f"set {env} to a random value of at least {MIN_AUDIT_SECRET_CHARS} characters"
            )
        if len(secret) < MIN_AUDIT_SECRET_CHARS:
            raise ValueError(
                f"{name}: must be at least {MIN_AUDIT_SECRET_CHARS} characters outside development (set {env})"
            )
        return value

    @field_validator("workspace_secure_cookies")
    @classmethod
    def _secure_cookies(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and info.data.get("environment", "development") != "development":
            raise ValueError(
                "workspace_secure_cookies: session cookies without Secure are refused outside development "
                "(serve the workspace over HTTPS)"
            )
        return value

    @field_validator("workspace_today", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("workspace_sso_header")
    @classmethod
    def _sso_header(cls, value: str | None) -> str | None:
        from serving.workspace.proxy_trust import check_header_name

        if value is None or not value.strip():
            return None  # set but empty: off, as unset
        try:
            return check_header_name(value.strip())
        except ValueError as exc:
            raise ValueError(f"workspace_sso_header: {exc} (CLAIMSIGHT_WORKSPACE_SSO_HEADER)") from None

    @field_validator("workspace_sso_trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        """Environment text: a JSON list, or entries separated by commas or whitespace."""
        if isinstance(value, str):
            text = value.strip()
            return tuple(json.loads(text)) if text.startswith("[") else tuple(text.replace(",", " ").split())
        return value

    @field_validator("workspace_sso_trusted_proxies")
    @classmethod
    def _sso_proxies(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        from serving.workspace.proxy_trust import parse_trusted_proxies

        name = "workspace_sso_trusted_proxies"
        try:
            parse_trusted_proxies(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc} (CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES)") from None
        if info.data.get("workspace_sso_header") and not value:
            raise ValueError(
                f"{name}: required when CLAIMSIGHT_WORKSPACE_SSO_HEADER is set; set "
                "CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES to the reverse proxy's address(es), e.g. 127.0.0.1 or "
                "10.0.0.0/24: the header is believed only from them"
            )
        return value

    @field_validator("workspace_sso_only")
    @classmethod
    def _sso_only(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("workspace_sso_header"):
            raise ValueError(
                "workspace_sso_only: turning the password sign-in off needs single sign-on "
                "(set CLAIMSIGHT_WORKSPACE_SSO_HEADER and CLAIMSIGHT_WORKSPACE_SSO_TRUSTED_PROXIES)"
            )
        return value

    @field_validator("mlflow_tracking_uri", "audit_database_url", "workspace_database_url")
    @classmethod
    def _encrypted_transport(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Outside development, nothing that carries PHI-derived data travels in plaintext. Messages name the
        setting and the rule, never the URL (it may hold a password)."""
        if value is None or info.data.get("environment", "development") == "development":
            return value
        name = f"CLAIMSIGHT_{str(info.field_name).upper()}"
        scheme, _, rest = value.partition("://")
        scheme = scheme.lower()
        if scheme == "http":
            raise ValueError(f"{info.field_name}: plain http:// is refused outside development; use https:// ({name})")
        driver = scheme.split("+", 1)[0]
        if driver in _NETWORK_DATABASES:
            host = rest.rpartition("@")[2].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
            query = dict(part.partition("=")[::2] for part in rest.partition("?")[2].split("&") if part)
            if host not in _LOCAL_HOSTS and query.get("sslmode") not in _ENCRYPTED_SSLMODES:
                raise ValueError(
                    f"{info.field_name}: a {driver} connection to another host needs sslmode=require, verify-ca "
                    f"or verify-full outside development ({name})"
                )
        return value

    def audit_url(self) -> str:
        """The audit database: the configured URL, or a SQLite file in `home` (absolute, so cwd does not matter)."""
        return self.audit_database_url or f"sqlite:///{(self.home / 'audit.sqlite').resolve()}"

    def workspace_url(self) -> str:
        """The workspace database: the configured URL, or `workspace.db` in `home` (serving.workspace.database)."""
        from serving.workspace.database import default_workspace_url

        return self.workspace_database_url or default_workspace_url(self.home)

    def api_config(self) -> ApiConfig:
        """The scoring service's configuration; `serving` cannot import this module, so it gets a plain value."""
        from serving.api.config import ApiConfig
        from serving.api.security import parse_key_entry

        return ApiConfig(
            api_keys=tuple(parse_key_entry(e) for e in self.api_keys),
            audit_url=self.audit_url(),
            audit_secret=self.audit_secret.get_secret_value().encode("utf-8"),
            max_body_bytes=self.api_max_body_bytes,
            max_batch=self.api_max_batch,
            poll_seconds=self.model_poll_seconds,
            rate_limit_per_minute=self.api_rate_limit_per_minute,
            body_timeout_seconds=self.api_body_timeout_seconds,
            scoring_threads=self.api_scoring_threads,
            unauthenticated_per_minute=self.api_unauthenticated_per_minute,
            docs=self.environment == "development",
            report_dir=self.report_dir(),
        )

    def workspace_options(self, backend: WorkspaceBackend, *, data_dir: Path | None = None) -> WorkspaceOptions:
        """The team workspace's options around `backend` (the store), for `create_app(workspace=...)`; `data_dir`
        (the `--data` of `claimsight serve`) is where the dashboard's decisions go unless the setting says
        otherwise."""
        from serving.workspace.web import HeaderSso, WorkspaceOptions

        today: Callable[[], dt.date] = dt.date.today
        if self.workspace_today is not None:
            pinned: dt.date = self.workspace_today
            today = lambda: pinned  # noqa: E731 - the options take a callable
        sso = None
        if self.workspace_sso_header is not None:
            sso = HeaderSso(
                header=self.workspace_sso_header,
                trusted_proxies=self.workspace_sso_trusted_proxies,
                only=self.workspace_sso_only,
            )
        return WorkspaceOptions(
            backend=backend,
            secure_cookies=self.workspace_secure_cookies,
            letters_dir=self.workspace_letters_dir,
            routine=self.routine_set(),
            sso=sso,
            today=today,
            report_dir=self.report_dir(),
            data_dir=self.workspace_data_dir or data_dir,
        )

    def report_dir(self) -> Path | None:
        """The dashboard report the workspace serves: the setting, else the demo's when it has been built (so a
        fresh clone's `make demo` then `make serve` shows it with nothing to set)."""
        from serving.dashboard import MANIFEST_FILE

        if self.workspace_report_dir is not None:
            return self.workspace_report_dir
        demo = self.home / DEMO_REPORT
        return demo if (demo / MANIFEST_FILE).is_file() else None

    def connection_limits(self) -> ConnectionLimits:
        """The HTTP server's own limits (serving.api.connections), before fitting them to the open-file limit."""
        from serving.api.connections import ConnectionLimits

        return ConnectionLimits(
            max_connections=self.api_max_connections, header_timeout_seconds=self.api_header_timeout_seconds
        )

    def routine_set(self) -> frozenset[tuple[str, str]] | None:
        if self.routine_adjustments is None:
            return None
        return frozenset(tuple(p.split("-", 1)) for p in self.routine_adjustments)  # type: ignore[misc]

    def install_patient_key(self) -> None:
        """Every model this process trains or loads keys patient history with this key (start-up only)."""
        use_patient_key(self.patient_key.get_secret_value())

    def run_options(self) -> RunOptions:
        """The run's choices as one frozen value, built once per command and handed to every layer."""
        return RunOptions(
            home=self.home,
            tracking_uri=self.mlflow_tracking_uri,
            seed=self.seed,
            max_reject_rate=self.max_reject_rate,
            maturity_days=self.maturity_days,
            routine=self.routine_set(),
            chunk_claims=self.chunk_claims,
            feature_threads=self.feature_threads,
        )
