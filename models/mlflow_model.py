"""Packaging a saved model directory as one MLflow pyfunc model.

The registry holds the whole directory (boosters, feature state, calibrator, metadata) as an artifact,
with explicit pip requirements so logging does not spend seconds inferring them. Serving loads the
directory and calls the model directly: `pyfunc.predict` costs ~35 ms a call (MEASURED.md), so it is
only the registry's generic entry point, scoring a frame of already-built features.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.denial_features import FEATURE_NAMES

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


class DenialRiskPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from models.denial_risk import DenialRiskModel

        self.model = DenialRiskModel.load(Path(context.artifacts["model"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict_proba(model_input[list(FEATURE_NAMES)].to_numpy(dtype=np.float32))


class RecoveryPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from models.recovery import RecoveryModel

        self.model = RecoveryModel.load(Path(context.artifacts["model"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from features.recovery_features import FEATURE_NAMES as RECOVERY_FEATURES

        return self.model.predict(model_input[list(RECOVERY_FEATURES)].to_numpy(dtype=np.float32))


def download_model(*, name: str, ref: str) -> Path:
    """Local directory of a registered model's saved files (`ref` = alias or version number)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    mv = client.get_model_version(name, ref) if ref.isdigit() else client.get_model_version_by_alias(name, ref)
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}"))
    model_dir = local / "artifacts" / "model"
    expected = mv.tags.get("artifact_sha256")
    if expected and directory_sha256(model_dir) != expected:
        raise RuntimeError(f"model {name} version {mv.version}: artifact hash does not match the registered one")
    return model_dir
