"""Packaging a saved model directory as one MLflow pyfunc model.

The registry holds the whole directory (boosters, feature state, calibrator, metadata) as an artifact,
with explicit pip requirements so logging does not spend seconds inferring them. Serving loads the
directory and calls the model directly: `pyfunc.predict` adds a fixed cost per call that a one-claim
request cannot afford (MEASURED.md), so it is only the registry's generic entry point, scoring a frame of
already-built features.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

CHAMPION = "champion"
PIP_PACKAGES = ("lightgbm", "numpy", "pandas", "pyarrow", "scikit-learn", "pydantic", "PyYAML")


def pip_requirements() -> list[str]:
    return [f"{p}=={metadata.version(p)}" for p in PIP_PACKAGES]


def directory_sha256(path: Path) -> str:
    """One digest over every file's relative name and bytes: what registration records and loading checks."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


class ArtifactIntegrityError(RuntimeError):
    """A registered version whose files cannot be shown to be the ones registered."""


class SavedModelPyfunc(PythonModel):
    """The registry's generic entry point: a saved model directory scored on a frame of built features."""

    def _model_class(self) -> Any:
        raise NotImplementedError

    def load_context(self, context: Any) -> None:
        self.model = self._model_class().load(Path(context.artifacts["model"]))

    def _matrix(self, model_input: pd.DataFrame) -> np.ndarray:
        return model_input[list(self.model.feature_names)].to_numpy(dtype=np.float32)


class DenialRiskPyfunc(SavedModelPyfunc):
    def _model_class(self) -> Any:
        from models.denial_risk import DenialRiskModel

        return DenialRiskModel

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict_proba(self._matrix(model_input))


class RecoveryPyfunc(SavedModelPyfunc):
    def _model_class(self) -> Any:
        from models.recovery import RecoveryModel

        return RecoveryModel

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.model.predict(self._matrix(model_input))


def download_model(*, name: str, ref: str) -> Path:
    """Local directory of a registered model's saved files (`ref` = alias or version number).

    Refuses a version registered without an `artifact_sha256` tag as firmly as one whose files changed: the
    command line and the service load through here alike, so neither serves files nobody can vouch for."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    mv = client.get_model_version(name, ref) if ref.isdigit() else client.get_model_version_by_alias(name, ref)
    expected = (mv.tags or {}).get("artifact_sha256")
    if not expected:
        raise ArtifactIntegrityError(f"model {name} version {mv.version}: registered without an artifact_sha256 tag")
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}"))
    model_dir = local / "artifacts" / "model"
    if directory_sha256(model_dir) != expected:
        raise ArtifactIntegrityError(
            f"model {name} version {mv.version}: artifact hash does not match the registered one"
        )
    return model_dir
