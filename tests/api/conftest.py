"""Fixtures for the API tests: a service with fake models, a SQLite audit log in tmp_path, and keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api.support import (
    AUDIT_SECRET,
    ArtifactStore,
    FakeModel,
    Keys,
    Service,
    make_keys,
    scoring_router,
    verify_fake,
)
from fastapi.testclient import TestClient

from features.contract.run_options import RunOptions
from serving.api import ApiConfig, AuditLog, ModelRegistry, ModelSlot, create_app, parse_key_entry
from training.jobs import TrainRun


@pytest.fixture(scope="session")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def store() -> ArtifactStore:
    return ArtifactStore(artifacts={"champion": FakeModel("v1"), "v1": FakeModel("v1"), "v2": FakeModel("v2")})


@pytest.fixture
def make_service(tmp_path: Path, keys: Keys, store: ArtifactStore) -> Iterator[Callable[..., Service]]:
    """Build a service; `audit=False` for none, extra ApiConfig fields as keywords."""
    made: list[AuditLog] = []

    def make(*, audit: bool = True, slots: tuple[str, ...] = ("denial_risk",), **config: Any) -> Service:
        cfg = ApiConfig(
            api_keys=tuple(parse_key_entry(e) for e in keys.entries),
            audit_secret=AUDIT_SECRET,
            poll_seconds=config.pop("poll_seconds", 0),
            **config,
        )
        registry = ModelRegistry([ModelSlot(name, loader=store.load, verify=verify_fake) for name in slots])
        log = AuditLog(url=f"sqlite:///{tmp_path / 'audit' / 'audit.sqlite'}", secret=AUDIT_SECRET) if audit else None
        if log is not None:
            made.append(log)
        app = create_app(config=cfg, models=registry, audit=log, routers=[scoring_router()])
        return Service(app=app, store=store, registry=registry, audit=log, config=cfg, keys=keys)

    yield make
    for log in made:
        log.close()


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    """A client whose lifespan has run: models loaded."""
    with TestClient(service.app) as c:
        yield c


# ---------------------------------------------------------------------------------------- the real service


@pytest.fixture(scope="session")
def recovery_model(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A recovery model trained on the session's synthetic world (not registered: each home gets a copy)."""
    from training.recovery_job import train_recovery

    home = tmp_path_factory.mktemp("recovery_home")
    model, _ = train_recovery(small_world, options=RunOptions(home=home), run=TrainRun(register=False))
    return model


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Any, Any, Path], recovery_model: Any) -> Path:
    """A private MLflow home with both models registered as champions (version 1 each). Read-only by convention:
    a test that changes the registry makes its own home with `register_model`."""
    from api.service_support import register_model

    home = tmp_path_factory.mktemp("api_home")
    work = tmp_path_factory.mktemp("api_models")
    register_model(home, trained[0], workdir=work / "denial")
    register_model(home, recovery_model, workdir=work / "recovery")
    return home


@pytest.fixture(scope="session")
def world_tables(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The session world's validated tables (quarantine files written outside the shared world)."""
    from features.contract.validation import load_validated

    quarantine = tmp_path_factory.mktemp("quarantine")
    return load_validated(small_world, max_reject_rate=0.05, quarantine_dir=quarantine).tables
