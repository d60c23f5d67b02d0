"""One source for the scoring service's defaults: `claimsight serve` (Settings) and a directly built ApiConfig
enforce the same limits unless someone configures otherwise."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from claimsight.settings import Settings
from serving import api_defaults
from serving.api.config import ApiConfig
from serving.api.connections import ConnectionLimits

# ApiConfig fields whose Settings value is derived from other settings rather than a default of its own.
DERIVED = {
    "audit_url": "Settings points at a SQLite file in `home`; ApiConfig() means the caller brings its own log",
    "audit_secret": "Settings carries the development secret (refused in production); ApiConfig() has none",
    "docs": "Settings turns the docs on in development only; ApiConfig() keeps them off",
    "report_dir": "Settings finds the demo's report in `home` when one was built; ApiConfig() serves none",
}


@pytest.fixture(autouse=True)
def _no_claimsight_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("CLAIMSIGHT_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the default home (.claimsight) is relative: never a developer's demo


def test_settings_and_api_config_agree_on_every_shared_default() -> None:
    from_settings = Settings().api_config()
    direct = ApiConfig()
    shared = [f.name for f in dataclasses.fields(ApiConfig) if f.name not in DERIVED]
    assert {"max_body_bytes", "max_batch", "poll_seconds", "rate_limit_per_minute", "body_timeout_seconds"} <= set(
        shared
    )
    differ = {n: (getattr(from_settings, n), getattr(direct, n)) for n in shared}
    assert {n: pair for n, pair in differ.items() if pair[0] != pair[1]} == {}


def test_the_defaults_are_the_shared_constants() -> None:
    config = ApiConfig()
    assert (
        config.max_body_bytes,
        config.max_batch,
        config.poll_seconds,
        config.rate_limit_per_minute,
        config.body_timeout_seconds,
    ) == (
        api_defaults.MAX_BODY_BYTES,
        api_defaults.MAX_BATCH,
        api_defaults.POLL_SECONDS,
        api_defaults.RATE_LIMIT_PER_MINUTE,
        api_defaults.BODY_TIMEOUT_SECONDS,
    )


def test_the_server_limits_default_to_the_shared_constants() -> None:
    assert Settings().connection_limits() == ConnectionLimits()
    assert (ConnectionLimits().max_connections, ConnectionLimits().header_timeout_seconds) == (
        api_defaults.MAX_CONNECTIONS,
        api_defaults.HEADER_TIMEOUT_SECONDS,
    )
