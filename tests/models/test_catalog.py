"""The catalog is the one place a model kind is named: a third kind added there alone is trained, gated and
served by the existing commands, and the catalog's own entries agree with the classes they name."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from models import catalog
from models.mlflow_model import CHAMPION
from training.jobs import job_for
from training.tracking import configure, default_tracking_uri

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_entries_name_their_parts_once() -> None:
    kinds = catalog.kinds()
    assert (catalog.DENIAL_RISK.slot, catalog.DENIAL_RISK.registry_name) == ("denial_risk", "claimsight-denial-risk")
    for attribute in ("name", "slot", "registry_name", "training_job"):
        values = [getattr(k, attribute) for k in kinds]
        assert len(set(values)) == len(values), attribute
    for k in kinds:
        assert job_for(k).kind is k
        assert k.feature_names == tuple(k.model_class.feature_names)
        assert catalog.kind(k.name) is catalog.kind(k.slot) is catalog.kind(k.registry_name) is k
    with pytest.raises(KeyError, match="choose from denial-risk, recovery"):
        catalog.kind("nope")


def test_a_job_must_train_the_kind_that_names_it() -> None:
    from dataclasses import replace

    wrong = replace(catalog.RECOVERY, training_job=catalog.DENIAL_RISK.training_job)
    with pytest.raises(ValueError, match="trains 'denial-risk', not 'recovery'"):
        job_for(wrong)


@pytest.fixture
def with_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> catalog.ModelKind:
    from tiny_kind import TINY

    monkeypatch.setattr(catalog, "KINDS", (*catalog.KINDS, TINY))
    monkeypatch.setenv("CLAIMSIGHT_HOME", str(tmp_path / "home"))
    return TINY


def test_a_third_kind_added_to_the_catalog_alone_is_trained_gated_and_served(
    with_tiny: catalog.ModelKind, small_world: Path, tmp_path: Path
) -> None:
    from claimsight.cli import main
    from serving.api.config import ApiConfig
    from serving.api.routes import ScoringContext
    from serving.api.runtime import MlflowModels, build_app, build_registry
    from serving.api.security import new_key, parse_key_entry

    home = tmp_path / "home"
    # trained and registered by `claimsight train`
    assert main(["train", "--data", str(small_world), "--model", "tiny"]) == 0
    configure(home=home, tracking_uri=None, experiment=with_tiny.registry_name)
    client = MlflowClient()
    first = client.get_model_version_by_alias(with_tiny.registry_name, CHAMPION)
    assert str(first.version) == "1" and first.tags["artifact_sha256"]

    # judged by `claimsight retrain` (the month before the champion's data ends: it is newer, so the gate refuses
    # to compare against it and the challenger is registered and judged all the same)
    assert main(["retrain", "--data", str(small_world), "--as-of", "2024-03", "--model", "tiny"]) == 0
    configure(home=home, tracking_uri=None, experiment=with_tiny.registry_name)
    challenger = client.get_model_version(with_tiny.registry_name, "2")
    assert challenger.tags["gate_decision"] in {"promote", "refuse"}
    assert "round trip" in challenger.tags["gate_reasons"]

    # served: the service's registry has a slot for it, loads the champion with the hash check, lists it
    uri = default_tracking_uri(home)
    source = MlflowModels(uri, names={with_tiny.slot: with_tiny.registry_name})
    registry = build_registry(tracking_uri=uri, context=ScoringContext.load(), source=source, freeze_heap=False)
    assert registry.names == (with_tiny.slot,)
    results = registry.refresh(force=True)
    assert results[with_tiny.slot].ok, results
    champion = str(client.get_model_version_by_alias(with_tiny.registry_name, CHAMPION).version)
    assert registry[with_tiny.slot].current().version == champion
    secret, entry = new_key(key_id="t", scopes=("score", "admin"))
    config = ApiConfig(api_keys=(parse_key_entry(entry),), poll_seconds=0)
    app = build_app(config=config, registry=registry, context=ScoringContext.load(), audit=None)
    with TestClient(app) as http:
        assert http.get("/readyz").status_code == 200
        listed = http.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}).json()
    assert {m["name"]: m["version"] for m in listed["models"]} == {with_tiny.slot: champion}
