"""Hot swap with the real loader: the MLflow registry, the artifact hash recorded at registration, the warm-up.

A version whose stored files changed after registration (one byte), or that carries no recorded hash, is
promoted to `champion`; a reload refuses it while scoring requests run, and the version that worked keeps
answering every one of them. Then a good version is promoted and swapped in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api.service_support import DENIAL_NAME, RealService, make_real_service, register_model, tracking_uri
from api.support import Keys, bearer
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from models.mlflow_model import CHAMPION
from serving.api.runtime import MlflowModels
from serving.api.schemas import claim_bodies

pytestmark = pytest.mark.slow  # trains and registers models on the session world


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, trained: tuple[Any, Any, Path], recovery_model: Any) -> Path:
    home = tmp_path_factory.mktemp("swap_home")
    work = tmp_path_factory.mktemp("swap_models")
    assert register_model(home, trained[0], workdir=work / "d1") == "1"
    assert register_model(home, recovery_model, workdir=work / "r1") == "1"
    return home


@pytest.fixture(scope="module")
def service(
    home: Path, keys: Keys, small_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealService]:
    made = make_real_service(home=home, keys=keys, rules_dir=small_world, audit_dir=tmp_path_factory.mktemp("audit"))
    yield made
    assert made.audit is not None
    made.audit.close()


@pytest.fixture(scope="module")
def body(world_tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    claims = world_tables["claims"].tail(5).reset_index(drop=True)
    return {"claims": claim_bodies(claims, world_tables["claim_lines"]), "explain": "all"}


def _stored_model_dir(home: Path, version: str) -> Path:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(home))
    return Path(mlflow.artifacts.download_artifacts(f"models:/{DENIAL_NAME}/{version}")) / "artifacts" / "model"


def _promote(home: Path, version: str) -> None:
    MlflowClient(tracking_uri=tracking_uri(home)).set_registered_model_alias(DENIAL_NAME, CHAMPION, version)


def _reload_while_scoring(
    client: TestClient, service: RealService, body: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """POST /v1/admin/reload in one thread while 4 threads keep scoring; (reload answer, scoring answers)."""
    stop = threading.Event()
    answers: list[Any] = []

    def score(_: int) -> None:
        while not stop.is_set():
            response = client.post("/v1/claims/score", json=body, headers=bearer(service.keys.score))
            answers.append((response.status_code, response.json()))

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(score, i) for i in range(4)]
        reload = client.post("/v1/admin/reload", headers=bearer(service.keys.admin)).json()
        stop.set()
        for f in futures:
            f.result()
    return reload, answers


def test_resolver_names_the_champion_version(home: Path) -> None:
    source = MlflowModels(tracking_uri(home))
    assert source.resolve_champion("denial_risk") == "1" and source.resolve_champion("recovery") == "1"
    model, version, sha = source.load("recovery", "champion")
    assert version == "1" and len(sha) == 64 and type(model).__name__ == "RecoveryModel"


def test_refused_promotions_keep_the_working_version(
    home: Path, service: RealService, body: dict[str, Any], trained: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    client_registry = MlflowClient(tracking_uri=tracking_uri(home))
    with TestClient(service.app) as client:
        assert client.get("/readyz").status_code == 200

        # 1. a tampered artifact: version 2's stored files change after registration
        assert register_model(home, trained[0], workdir=tmp_path / "d2") == "2"
        target = _stored_model_dir(home, "2") / "binary.txt"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        _promote(home, "2")
        reload, answers = _reload_while_scoring(client, service, body)
        result = {r["name"]: r for r in reload["results"]}["denial_risk"]
        outcome = (result["ok"], result["changed"], result["version"], result["error"])
        assert outcome == (False, False, "1", "ArtifactIntegrityError")
        assert reload["ready"] is True
        assert answers and {status for status, _ in answers} == {200}
        assert {a["model_versions"]["denial_risk"] for _, a in answers} == {"1"}

        # 2. a version with no recorded hash at all
        assert register_model(home, trained[0], workdir=tmp_path / "d3") == "3"
        client_registry.delete_model_version_tag(DENIAL_NAME, "3", "artifact_sha256")
        _promote(home, "3")
        reload = client.post("/v1/admin/reload", headers=bearer(service.keys.admin)).json()
        result = {r["name"]: r for r in reload["results"]}
        assert (result["denial_risk"]["ok"], result["denial_risk"]["error"]) == (False, "ArtifactIntegrityError")

        models = {m["name"]: m for m in client.get("/v1/models", headers=bearer(service.keys.score)).json()["models"]}
        assert models["denial_risk"]["version"] == "1" and models["recovery"]["version"] == "1"
        assert client.get("/readyz").status_code == 200

        # 3. a sound version swaps in, under load, and answers from then on
        assert register_model(home, trained[0], workdir=tmp_path / "d4") == "4"
        _promote(home, "4")
        reload, answers = _reload_while_scoring(client, service, body)
        result = {r["name"]: r for r in reload["results"]}["denial_risk"]
        assert (result["ok"], result["changed"], result["version"]) == (True, True, "4")
        assert {status for status, _ in answers} == {200}
        assert {a["model_versions"]["denial_risk"] for _, a in answers} <= {"1", "4"}
        after = client.post("/v1/claims/score", json=body, headers=bearer(service.keys.score)).json()
        assert after["model_versions"] == {"denial_risk": "4"}
        before_scores = [r["p_denial"] for r in answers[0][1]["results"]]
        assert [r["p_denial"] for r in after["results"]] == before_scores  # same model, re-registered
