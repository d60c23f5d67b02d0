"""One writer at a time per store: concurrent first use, concurrent retrains of one month, and the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from training.store_lock import StoreBusy, store_lock
from training.tracking import configure

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_holder_waits_and_gives_up_after_its_limit(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store_lock(tmp_path, "retrain-x"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    with pytest.raises(StoreBusy, match="retrain-x lock"), store_lock(tmp_path, "retrain-x", wait_seconds=0.3):
        pass
    with store_lock(tmp_path, "other-model", wait_seconds=0.3):  # another name is another lock
        pass
    threading.Timer(0.3, release.set).start()
    t0 = time.monotonic()
    with store_lock(tmp_path, "retrain-x", wait_seconds=10):
        assert time.monotonic() - t0 >= 0.2  # it waited for the holder
    thread.join(10)


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_concurrent_first_use_of_a_fresh_store_does_not_crash(tmp_path: Path) -> None:
    """Each process creates the SQLite schema and its experiment on first use; they take turns."""
    code = (
        "import sys; from pathlib import Path; from training.tracking import configure; "
        "configure(home=Path(sys.argv[1]), tracking_uri=None, experiment=sys.argv[2])"
    )
    procs = [_python(code, str(tmp_path / "home"), f"exp-{i % 2}") for i in range(4)]
    results = [(p.wait(timeout=300), p.stdout.read() if p.stdout else "") for p in procs]
    assert [code for code, _ in results] == [0, 0, 0, 0], [out[-2000:] for _, out in results]
    configure(home=tmp_path / "home", tracking_uri=None, experiment="exp-0")
    assert {e.name for e in MlflowClient().search_experiments()} >= {"exp-0", "exp-1"}


def _retrain(world: Path, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CLAIMSIGHT_HOME": str(home), "CLAIMSIGHT_SEED": "3", "COLUMNS": "200"}
    args = ["retrain", "--data", str(world), "--as-of", "2024-03", "--model", "denial-risk"]
    return subprocess.Popen([sys.executable, "-m", "claimsight.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_two_retrains_of_one_month_at_once_promote_once_and_a_third_repeats_it(
    small_world: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first, second = _retrain(small_world, home), _retrain(small_world, home)
    outputs = [(p.wait(timeout=900), p.stdout.read() if p.stdout else "") for p in (first, second)]
    assert [code for code, _ in outputs] == [0, 0], [out[-3000:] for _, out in outputs]
    texts = [out for _, out in outputs]
    fresh = [t for t in texts if "PROMOTED" in t and "verdict recorded by an earlier run" not in t]
    waited = [t for t in texts if "verdict recorded by an earlier run" in t]
    assert len(fresh) == 1 and len(waited) == 1, texts

    third = _retrain(small_world, home)
    code, text = third.wait(timeout=900), third.stdout.read() if third.stdout else ""
    assert code == 0 and "verdict recorded by an earlier run" in text, text[-3000:]

    configure(home=home, tracking_uri=None, experiment="claimsight-retrain")
    client = MlflowClient()
    versions = client.search_model_versions("name = 'claimsight-denial-risk'")
    assert [(str(v.version), v.tags.get("gate_decision")) for v in versions] == [("1", "promote")]
    assert str(client.get_model_version_by_alias("claimsight-denial-risk", "champion").version) == "1"


class _Registry:
    """Just enough of an MlflowClient: which version the alias names, and the versions with their tags."""

    def __init__(self, champion: str, versions: dict[str, dict[str, str]]) -> None:
        self.champion, self.versions = champion, versions

    def get_model_version_by_alias(self, name: str, alias: str) -> object:
        return SimpleNamespace(version=self.champion)

    def search_model_versions(self, query: str) -> list[object]:
        return [SimpleNamespace(version=v, tags=t) for v, t in self.versions.items()]


def test_a_promotion_stands_only_if_the_judged_champion_still_serves() -> None:
    from training.retrain import ModelOutcome, _still_current

    judged = ModelOutcome("recovery", "claimsight-recovery", "7", "4", None, True, ("ok AUC: ...",), False)
    assert _still_current(judged, _Registry("4", {})) == judged
    moved = _still_current(judged, _Registry("5", {}))
    assert not moved.promote and moved.reasons[-1].startswith("FAILED champion unchanged: it moved from 4 to 5")


def test_a_rerun_repeats_the_verdict_of_the_version_that_serves() -> None:
    import pandas as pd

    from training.retrain import _judged_version

    month = {"trained_as_of": "2024-03-01", "data_fingerprint": "f", "seed": "3"}
    versions = {"1": {**month, "gate_decision": "promote"}, "2": {**month, "gate_decision": "promote"}, "3": {}}
    found = _judged_version(_Registry("2", versions), "m", as_of=pd.Timestamp("2024-03-01"), fingerprint="f", seed=3)
    assert found is not None and found.version == "2"
    found = _judged_version(_Registry("3", versions), "m", as_of=pd.Timestamp("2024-03-01"), fingerprint="f", seed=3)
    assert found is not None and found.version == "1"  # none of them serves: the first verdict
