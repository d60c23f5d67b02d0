"""MLflow wiring: an embedded SQLite store and local artifact folder by default, any server by URI.

Registration records the artifact's sha256 as a model-version tag so a loader can refuse a model
whose files changed after it was registered.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from training.store_lock import store_lock

log = logging.getLogger(__name__)


def default_tracking_uri(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


def configure(*, home: Path, tracking_uri: str | None, experiment: str) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns the experiment id."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    mlflow.set_tracking_uri(tracking_uri or default_tracking_uri(home))
    # the first use of a fresh store creates its schema and experiments: two processes doing that at once
    # race through MLflow's migrations and one crashes, so they take turns
    with store_lock(home, "store"):
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            mlflow.set_experiment(experiment)
            return str(found.experiment_id)
        artifacts = (home / "mlartifacts").resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        exp_id = mlflow.create_experiment(experiment, artifact_location=artifacts.as_uri())
        mlflow.set_experiment(experiment)
        return str(exp_id)


def data_fingerprint(data_dir: Path) -> str:
    """sha256 over the contract tables' bytes (truth/ and quarantine/ are not inputs)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_dir.iterdir() if p.is_file() and p.suffix in (".csv", ".parquet", ".yaml")):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def code_version() -> dict[str, str]:
    from importlib import metadata

    out = {"package_version": metadata.version("claimsight")}
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        out["git_commit"] = sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = "unknown"
    return out


def register(
    *, model_dir: Path, name: str, python_model: Any, sha256: str, tags: dict[str, str], promote_first: bool = True
) -> dict[str, Any]:
    """Log the model directory as a pyfunc in the active run, register a version, and make it the champion
    when the name has none yet (unless `promote_first` is off: the retraining gate decides). Returns version,
    alias state and the model URI."""
    import mlflow
    from mlflow import MlflowClient

    from models.mlflow_model import CHAMPION, pip_requirements

    if model_dir.name != "model":  # the registry keeps the directory's own name; loaders read artifacts/model
        raise ValueError(f"register: the saved model directory must be named 'model', not {model_dir.name!r}")
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts={"model": str(model_dir)},
        pip_requirements=pip_requirements(),
        registered_model_name=name,
    )
    client = MlflowClient()
    version = str(info.registered_model_version)
    for key, value in {**tags, "artifact_sha256": sha256}.items():
        client.set_model_version_tag(name, version, key, value)
    aliases = client.get_registered_model(name).aliases
    promoted = promote_first and CHAMPION not in aliases
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    return {
        "version": version,
        "promoted": promoted,
        "champion": version if promoted else (str(aliases[CHAMPION]) if CHAMPION in aliases else None),
        "model_uri": f"models:/{name}/{version}",
    }
