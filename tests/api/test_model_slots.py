"""Ready only with verified models; a bad model never replaces a good one; swaps are atomic per request."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from api.support import CANARY, ArtifactStore, FakeModel, Service, bearer, verify_fake
from fastapi.testclient import TestClient

from serving.api.model_slots import ChampionPoller, ModelRegistry, ModelSlot, NoModel


def _slot(store: ArtifactStore, name: str = "denial_risk") -> ModelSlot[FakeModel]:
    return ModelSlot(name, loader=store.load, verify=verify_fake)


def test_readyz_is_503_until_every_slot_is_verified(make_service: Callable[..., Service]) -> None:
    service = make_service(slots=("denial_risk", "recovery"))
    client = TestClient(service.app)  # no `with`: the lifespan has not loaded anything
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {"status": "not ready", "missing": ["denial_risk", "recovery"]}
    assert client.get("/livez").status_code == 200

    scored = client.get("/v1/test/claims/C1", headers=bearer(service.keys.score))
    assert scored.status_code == 503 and scored.headers["Retry-After"] == "5"
    assert scored.json()["detail"] == "model not ready"

    service.registry["denial_risk"].load()
    assert client.get("/readyz").status_code == 503  # recovery is still missing
    service.registry["recovery"].load()
    assert client.get("/readyz").json() == {"status": "ready", "missing": []}


def test_zero_slots_is_not_ready() -> None:
    assert ModelRegistry().ready is False


def test_lifespan_loads_and_a_failed_start_stays_live(make_service: Callable[..., Service]) -> None:
    service = make_service()
    with TestClient(service.app) as client:
        assert client.get("/readyz").status_code == 200
    broken = make_service()
    broken.store.fail = OSError
    with TestClient(broken.app) as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize("how", ["loader", "verify"])
def test_failed_load_never_replaces_the_working_model(store: ArtifactStore, how: str) -> None:
    slot = _slot(store)
    assert slot.load().ok
    before = slot.current()
    if how == "loader":
        store.fail = OSError  # artifact missing, sha256 mismatch, ...
    else:
        store.artifacts["champion"] = FakeModel("v2-corrupt", broken=True)  # loads, but the warm-up fails
    result = slot.load()
    assert (result.ok, result.changed, result.version) == (False, False, "v1")
    assert result.error == ("OSError" if how == "loader" else "ValueError")
    assert slot.current() is before
    assert slot.last_failure is not None and slot.last_failure.error == result.error
    assert "CANARY" not in result.error  # type name only, never the message


def test_empty_slot_raises_no_model(store: ArtifactStore) -> None:
    store.fail = OSError
    slot = _slot(store)
    assert not slot.load().ok
    with pytest.raises(NoModel):
        slot.current()
    with pytest.raises(NoModel):
        ModelRegistry([slot]).snapshot("no_such_model")


def _failure_log(caplog: pytest.LogCaptureFixture) -> str:
    (record,) = [r for r in caplog.records if r.name == "serving.api.models" and "failed" in r.getMessage()]
    return record.getMessage()


@pytest.mark.parametrize("step", ["load", "resolve"])
def test_a_failed_first_load_says_nothing_serves_and_what_to_do(
    store: ArtifactStore, step: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At start-up with a corrupt artifact (or a registry that cannot be asked) there is no previous model."""

    def resolve(name: str) -> str:
        raise ConnectionError(f"registry down {CANARY}")

    store.fail = OSError
    registry = ModelRegistry([_slot(store)], resolve_champion=resolve if step == "resolve" else None)
    with caplog.at_level(logging.INFO, logger="serving.api.models"):
        assert not registry.refresh()["denial_risk"].ok
    message = _failure_log(caplog)
    assert "keeps serving" not in message and "previous" not in message
    assert "no version of it is loaded" in message and "not ready" in message
    assert "check the registered artifact" in message and "champion alias" in message
    assert CANARY not in caplog.text


def test_a_failed_later_load_names_the_version_that_keeps_serving(
    store: ArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    slot = _slot(store)
    assert slot.load().ok
    store.fail = OSError
    with caplog.at_level(logging.INFO, logger="serving.api.models"):
        assert not slot.load().ok
    message = _failure_log(caplog)
    assert "the previous version v1 keeps serving" in message and "not ready" not in message
    assert CANARY not in caplog.text


@pytest.mark.slow  # stress: 200 requests on 8 threads while another thread swaps models
def test_swap_under_concurrent_requests(service: Service, client: TestClient) -> None:
    """Threads hammer a route while another thread promotes good and corrupt models in turn."""
    store, slot = service.store, service.registry["denial_risk"]
    store.artifacts.update({"good-a": FakeModel("v1"), "good-b": FakeModel("v2"), "bad": FakeModel("v3", broken=True)})
    stop = threading.Event()
    swaps: list[bool] = []

    def swapper() -> None:
        refs = ["good-b", "bad", "good-a", "bad"]
        i = 0
        while not stop.is_set():
            swaps.append(slot.load(refs[i % len(refs)]).ok)
            i += 1

    def call(_: int) -> tuple[int, dict[str, str]]:
        response = client.get("/v1/test/slow", headers=bearer(service.keys.score))
        return response.status_code, response.json()

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, range(200)))
    finally:
        stop.set()
        thread.join()
    assert {status for status, _ in results} == {200}
    for _, body in results:
        assert body["version"] == body["model_version"] == body["again"]
        assert body["version"] in {"v1", "v2"}
    assert True in swaps and False in swaps  # both kinds of promotion happened during the run
    assert len({body["version"] for _, body in results}) == 2  # and requests saw both good versions


def test_poller_step_loads_only_when_the_champion_moves(store: ArtifactStore) -> None:
    champion = {"denial_risk": "v1"}
    registry = ModelRegistry([_slot(store)], resolve_champion=lambda name: champion[name])
    poller = ChampionPoller(registry, interval=60)

    assert asyncio.run(poller.step())["denial_risk"].version == "v1"
    assert store.calls == ["v1"]
    unchanged = asyncio.run(poller.step())["denial_risk"]
    assert (unchanged.ok, unchanged.changed) == (True, False)
    assert store.calls == ["v1"]  # nothing downloaded

    champion["denial_risk"] = "v2"
    moved = asyncio.run(poller.step())["denial_risk"]
    assert (moved.ok, moved.changed, moved.version) == (True, True, "v2")
    assert registry["denial_risk"].current().ref == "v2"

    champion["denial_risk"] = "v3-missing"
    failed = asyncio.run(poller.step())["denial_risk"]
    assert (failed.ok, failed.version, failed.error) == (False, "v2", "KeyError")
    assert registry["denial_risk"].current().version == "v2"


def test_poller_survives_a_resolver_failure(store: ArtifactStore) -> None:
    def resolve(name: str) -> str:
        raise ConnectionError("registry down")

    registry = ModelRegistry([_slot(store)], resolve_champion=resolve)
    result = asyncio.run(ChampionPoller(registry, interval=60).step())["denial_risk"]
    assert (result.ok, result.error) == (False, "ConnectionError")


def test_poller_task_runs_and_cancels(store: ArtifactStore) -> None:
    champion = {"denial_risk": "v1"}
    registry = ModelRegistry([_slot(store)], resolve_champion=lambda name: champion[name])

    async def scenario() -> None:
        poller = ChampionPoller(registry, interval=0.01)
        poller.start()
        assert poller.running
        for _ in range(200):
            await asyncio.sleep(0.01)
            if registry.ready:
                break
        champion["denial_risk"] = "v2"
        for _ in range(200):
            await asyncio.sleep(0.01)
            if registry["denial_risk"].current().version == "v2":
                break
        await poller.stop()
        assert not poller.running

    asyncio.run(scenario())
    assert registry["denial_risk"].current().version == "v2"


def test_models_and_admin_reload_routes(service: Service, client: TestClient) -> None:
    models = client.get("/v1/models", headers=bearer(service.keys.score)).json()["models"]
    assert [(m["name"], m["version"], m["ref"]) for m in models] == [("denial_risk", "v1", "champion")]
    assert len(models[0]["sha256"]) == 64 and models[0]["loaded_at"]

    service.store.artifacts["champion"] = FakeModel("v2")
    reload = client.post("/v1/admin/reload", headers=bearer(service.keys.admin)).json()
    assert reload == {
        "ready": True,
        "results": [{"name": "denial_risk", "ok": True, "changed": True, "version": "v2", "error": None}],
    }
    assert client.get("/v1/models", headers=bearer(service.keys.score)).json()["models"][0]["version"] == "v2"

    service.store.artifacts["champion"] = FakeModel("v3", broken=True)
    failed = client.post("/v1/admin/reload", headers=bearer(service.keys.admin)).json()
    expected = {"name": "denial_risk", "ok": False, "changed": False, "version": "v2", "error": "ValueError"}
    assert failed["results"][0] == expected
    assert client.get("/readyz").status_code == 200


def test_lifespan_starts_and_stops_the_poller(make_service: Callable[..., Service]) -> None:
    service = make_service(poll_seconds=30)
    with TestClient(service.app):
        poller = service.app.state.poller
        assert poller is not None and poller.running
    assert not poller.running
    assert make_service().app.state.poller is None  # poll_seconds=0: off
