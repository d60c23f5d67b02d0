"""Loading from the registry: one policy for every caller, refuse files nobody can vouch for."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from models.mlflow_model import ArtifactIntegrityError, directory_sha256, download_model
from training.tracking import configure


class _Echo(PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input


def _register(home: Path, files: dict[str, str]) -> tuple[str, str]:
    """(name, version) of a registered directory, with no artifact_sha256 tag yet."""
    source = home / "model"  # MLflow keeps the directory's own name under artifacts/
    source.mkdir(parents=True)
    for name, text in files.items():
        (source / name).write_text(text)
    configure(home=home, tracking_uri=None, experiment="integrity")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Echo(), artifacts={"model": str(source)}, registered_model_name="integrity"
        )
    return "integrity", str(info.registered_model_version)


def test_a_version_without_a_recorded_hash_is_refused_and_one_with_the_right_hash_loads(tmp_path: Path) -> None:
    name, version = _register(tmp_path, {"model.json": "{}\n", "binary.txt": "tree\n"})
    with pytest.raises(ArtifactIntegrityError, match="registered without an artifact_sha256 tag"):
        download_model(name=name, ref=version)

    client = MlflowClient()
    client.set_model_version_tag(name, version, "artifact_sha256", "0" * 64)
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        download_model(name=name, ref=version)

    client.set_model_version_tag(name, version, "artifact_sha256", directory_sha256(tmp_path / "model"))
    loaded = download_model(name=name, ref=version)
    assert (loaded / "binary.txt").read_text() == "tree\n"
