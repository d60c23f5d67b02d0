"""Every model kind ClaimSight trains, registers and serves, named once.

The command line, the training jobs, the monthly retrain, the scoring service, rendering and bench iterate
`kinds()` instead of naming models themselves. Adding a model is: its feature module (the one function that
turns records into its features), its model class (a `BoostedModel`), its training job (training/), and one
entry in `KINDS` below (README, "Adding a model").

The training job is named by import path rather than imported: training builds on models, not the other way
round, and the path is resolved only when something trains (`training.jobs.job_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.base import BoostedModel
from models.denial_risk import DenialRiskModel
from models.mlflow_model import DenialRiskPyfunc, RecoveryPyfunc
from models.recovery import RecoveryModel


@dataclass(frozen=True)
class ModelKind:
    """One kind of model. Its name is the `--model` value and the tag prefix of retrain runs; the service's
    slot (the key in /v1/models and in responses) and the MLflow registered model are derived from it."""

    name: str  # "denial-risk"
    model_class: type[BoostedModel]
    pyfunc: type[Any]  # the MLflow wrapper logged with every registered version
    training_job: str  # "module:attribute" of its TrainingJob, resolved by training.jobs.job_for
    summary: str  # one line for help texts

    @property
    def slot(self) -> str:
        return self.name.replace("-", "_")

    @property
    def registry_name(self) -> str:
        """The MLflow registered model, also the experiment its training runs log to."""
        return f"claimsight-{self.name}"

    @property
    def builder(self) -> type[Any]:
        """The fitted feature function's class, saved inside every model of this kind."""
        return self.model_class.builder_class

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.model_class.feature_names)


DENIAL_RISK = ModelKind(
    "denial-risk", DenialRiskModel, DenialRiskPyfunc, "training.denial_job:JOB",
    summary="P(denial) of a claim before release, its likely cause, reasons and preventive actions",
)  # fmt: skip
RECOVERY = ModelKind(
    "recovery", RecoveryModel, RecoveryPyfunc, "training.recovery_job:JOB",
    summary="P(recovery) and expected dollars of working a denial, for the appeal queue",
)  # fmt: skip
KINDS: tuple[ModelKind, ...] = (DENIAL_RISK, RECOVERY)


def kinds() -> tuple[ModelKind, ...]:
    """The catalog, read at call time (a test may extend `KINDS`)."""
    return KINDS


def names() -> tuple[str, ...]:
    return tuple(k.name for k in kinds())


def kind(name: str) -> ModelKind:
    """By `--model` name, slot or registry name."""
    for k in kinds():
        if name in (k.name, k.slot, k.registry_name):
            return k
    raise KeyError(f"no model kind {name!r}; choose from {', '.join(names())}")
