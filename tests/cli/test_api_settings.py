"""API settings: production refuses the development secret and an empty key list, and never prints a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from claimsight.settings import DEVELOPMENT_AUDIT_SECRET, Settings
from features.patient_keys import DEVELOPMENT_PATIENT_KEY
from serving.api.security import new_key, parse_key_entry

REAL_SECRET = "prod-secret-CANARY-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
REAL_PATIENT_KEY = "patient-key-CANARY-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "API_KEYS", "AUDIT_SECRET", "PATIENT_KEY", "AUDIT_DATABASE_URL"):
        monkeypatch.delenv(f"CLAIMSIGHT_{name}", raising=False)


def test_development_runs_with_defaults_and_no_keys() -> None:
    settings = Settings()
    assert settings.api_keys == ()
    assert settings.audit_secret.get_secret_value() == DEVELOPMENT_AUDIT_SECRET
    assert DEVELOPMENT_AUDIT_SECRET not in repr(settings)
    config = settings.api_config()
    assert config.api_keys == () and config.docs is True
    assert (config.max_body_bytes, config.max_batch, config.poll_seconds) == (4_000_000, 1000, 60.0)


def test_production_refuses_default_secret_and_empty_keys() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(environment="production")
    fields = {e["loc"][0] for e in info.value.errors()}
    assert fields == {"api_keys", "audit_secret", "patient_key"}
    message = str(info.value)
    assert "CLAIMSIGHT_AUDIT_SECRET" in message and "CLAIMSIGHT_API_KEYS" in message
    assert "CLAIMSIGHT_PATIENT_KEY" in message
    assert DEVELOPMENT_AUDIT_SECRET not in message and DEVELOPMENT_PATIENT_KEY not in message


def test_secret_never_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A good secret next to a bad setting: pydantic would print every input; these settings print none."""
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "production")
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_SECRET", REAL_SECRET)
    monkeypatch.setenv("CLAIMSIGHT_PATIENT_KEY", REAL_PATIENT_KEY)
    monkeypatch.setenv("CLAIMSIGHT_PATIENT_KEY", REAL_PATIENT_KEY)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "api_keys" in str(info.value)
    assert "CANARY" not in str(info.value) and "CANARY" not in repr(info.value)
    assert all("CANARY" not in e["msg"] for e in info.value.errors())

    with pytest.raises(ValidationError) as short:
        Settings(audit_secret="CANARY-too-short", api_keys=(new_key()[1],))
    assert "at least 32 characters" in str(short.value) and "CANARY" not in str(short.value)
    with pytest.raises(ValidationError) as short_key:
        Settings(patient_key="CANARY-too-short", api_keys=(new_key()[1],))
    assert [e["loc"][0] for e in short_key.value.errors()] == ["patient_key"]
    assert "CLAIMSIGHT_PATIENT_KEY" in str(short_key.value) and "CANARY" not in str(short_key.value)


def test_production_accepts_real_secret_and_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret, entry = new_key(key_id="billing-app")
    monkeypatch.setenv("CLAIMSIGHT_ENVIRONMENT", "production")
    monkeypatch.setenv("CLAIMSIGHT_AUDIT_SECRET", REAL_SECRET)
    monkeypatch.setenv("CLAIMSIGHT_PATIENT_KEY", REAL_PATIENT_KEY)
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", f'["{entry}"]')
    settings = Settings(home=tmp_path, api_max_batch=50, model_poll_seconds=0)
    config = settings.api_config()
    assert config.api_keys == (parse_key_entry(entry),)
    assert config.audit_secret == REAL_SECRET.encode()
    assert config.audit_url == f"sqlite:///{(tmp_path / 'audit.sqlite').resolve()}"
    assert (config.max_batch, config.poll_seconds, config.docs) == (50, 0, False)
    assert REAL_SECRET not in repr(settings) and REAL_SECRET not in repr(config)
    assert secret not in repr(config)


def test_keys_from_the_environment_as_words(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [new_key(key_id="a")[1], new_key(key_id="b", scopes=("admin",))[1]]
    monkeypatch.setenv("CLAIMSIGHT_API_KEYS", " ".join(entries))
    assert Settings().api_keys == tuple(entries)


def test_audit_database_url_is_passed_through() -> None:
    url = "postgresql+psycopg://claimsight@db.internal/audit"
    assert Settings(audit_database_url=url).api_config().audit_url == url


@pytest.mark.parametrize(
    "keys",
    [("not-an-entry",), ("k:" + "0" * 64 + ":root",)],
)
def test_bad_key_entries_are_refused_by_position(keys: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(api_keys=keys)
    assert "api_keys[0]" in str(info.value)
    assert keys[0] not in str(info.value)


def test_duplicate_key_ids_are_refused() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Settings(api_keys=(new_key(key_id="same")[1], new_key(key_id="same")[1]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_port": 0},
        {"api_max_batch": 0},
        {"api_max_body_bytes": 10},
        {"model_poll_seconds": -1},
        {"api_max_connections": 8},
        {"api_header_timeout_seconds": 0},
        {"api_header_timeout_seconds": 3600},
    ],
)
def test_api_limits_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_connection_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMSIGHT_API_MAX_CONNECTIONS", "600")
    monkeypatch.setenv("CLAIMSIGHT_API_HEADER_TIMEOUT_SECONDS", "2.5")
    limits = Settings().connection_limits()
    assert (limits.max_connections, limits.header_timeout_seconds) == (600, 2.5)


def test_workspace_url_defaults_to_a_file_in_home(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).workspace_url() == f"sqlite:///{(tmp_path / 'workspace.db').resolve()}"
    url = "postgresql+psycopg://u:pw@localhost/workspace"
    assert Settings(home=tmp_path, workspace_database_url=url).workspace_url() == url


@pytest.mark.parametrize(
    ("field", "url", "refused"),
    [
        ("mlflow_tracking_uri", "http://mlflow.internal:5000", True),
        ("mlflow_tracking_uri", "HTTP://mlflow.internal", True),
        ("mlflow_tracking_uri", "https://mlflow.internal", False),
        ("mlflow_tracking_uri", "sqlite:////srv/claimsight/mlflow.db", False),
        ("mlflow_tracking_uri", "postgresql://u:CANARY-pw@db.internal/mlflow", True),
        ("mlflow_tracking_uri", "postgresql://u:CANARY-pw@db.internal/mlflow?sslmode=verify-full", False),
        ("audit_database_url", "postgresql+psycopg://u:CANARY-pw@db.internal:5432/audit", True),
        ("audit_database_url", "postgresql+psycopg://u:CANARY-pw@db.internal:5432/audit?sslmode=prefer", True),
        ("audit_database_url", "postgresql+psycopg://u:CANARY-pw@db.internal:5432/audit?sslmode=require", False),
        ("audit_database_url", "postgresql+psycopg://u:CANARY-pw@localhost/audit", False),
        ("audit_database_url", "postgresql+psycopg:///audit?host=/var/run/postgresql", False),
        ("audit_database_url", "sqlite:////srv/claimsight/audit.sqlite", False),
        ("workspace_database_url", "postgresql://u:CANARY-pw@db.internal/workspace", True),
        ("workspace_database_url", "postgresql://u:CANARY-pw@db.internal/workspace?sslmode=verify-full", False),
        ("workspace_database_url", "sqlite:////srv/claimsight/workspace.db", False),
    ],
)
def test_production_refuses_plaintext_transport(field: str, url: str, refused: bool) -> None:
    production = {"environment": "production", "audit_secret": REAL_SECRET, "patient_key": REAL_PATIENT_KEY,
                  "api_keys": (new_key()[1],)}  # fmt: skip
    assert getattr(Settings(**{field: url}), field) == url  # development takes anything
    if not refused:
        assert getattr(Settings(**production, **{field: url}), field) == url
        return
    with pytest.raises(ValidationError) as info:
        Settings(**production, **{field: url})
    assert [e["loc"][0] for e in info.value.errors()] == [field]
    message = str(info.value)
    assert f"CLAIMSIGHT_{field.upper()}" in message and "CANARY" not in message and "db.internal" not in message
