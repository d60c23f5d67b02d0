"""The service's models from the MLflow registry: loading with the hash check, warm-up, champion resolution.

One slot per model kind of the catalog (`models.catalog`): "denial_risk" (`claimsight-denial-risk`) and
"recovery" (`claimsight-recovery`) today, and any kind added there:

- `resolve_champion(slot)` asks the registry which version the slot's alias (`champion` unless configured)
  points at now, and returns that version number as the ref to load, so the poller and `/v1/admin/reload`
  compare versions, not alias names, and an unchanged champion costs one registry call.
- `load(slot, ref)` refuses a version without a recorded `artifact_sha256` tag, downloads the saved model
  directory with `models.mlflow_model.download_model` (which refuses files whose hash differs from the
  registered one), and loads the model object. Scoring never goes through `pyfunc.predict` (MEASURED.md).
- `verify_*` score a small synthetic claim / denial built here (no real data) through the very functions the
  routes use, so a model that loads but cannot score never replaces one that works, and the first real
  request does not pay for cold caches. A kind without a route of its own is checked by its heads answering
  (`BoostedModel.check_loaded`).

`serving` may not import `training` or `claimsight`, so this module talks to MLflow directly; the tracking URI
comes from the caller (the `claimsight serve` shell resolves it from Settings).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI

from models import catalog
from models.denial_risk import DenialRiskModel
from models.mlflow_model import CHAMPION, ArtifactIntegrityError, download_model
from models.recovery import RecoveryModel
from serving.api.app import create_app
from serving.api.audit import AuditLog
from serving.api.config import ApiConfig
from serving.api.model_slots import ModelRegistry, ModelSlot
from serving.api.routes import (
    ScoringContext,
    install_request_schemas,
    plan_denials,
    score_claim_batch,
    score_denial_batch,
    scoring_router,
)
from serving.api.schemas import ClaimBatch, DenialBatch, QueueRequest

if TYPE_CHECKING:
    from serving.workspace.web import WorkspaceOptions

# mlflow keeps its tracking URI in process-wide state; loads from several threads take turns.
_MLFLOW_LOCK = threading.Lock()


def registered_names() -> dict[str, str]:
    """Slot -> registered model name, for every kind in the catalog."""
    return {k.slot: k.registry_name for k in catalog.kinds()}


class WarmupFailed(RuntimeError):
    """The warm-up prediction on the synthetic input gave no answer or an impossible one."""


class MlflowModels:
    """Loader and champion resolver for the service's slots, against one MLflow tracking URI."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        refs: Mapping[str, str] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.names = dict(registered_names() if names is None else names)
        self.refs = {slot: (refs or {}).get(slot, CHAMPION) for slot in self.names}

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)

    def _version(self, slot: str, ref: str) -> Any:
        client = self._client()
        name = self.names[slot]
        return client.get_model_version(name, ref) if ref.isdigit() else client.get_model_version_by_alias(name, ref)

    def resolve_champion(self, slot: str) -> str:
        """The version number the slot's ref (an alias, or a pinned version) names now."""
        ref = self.refs[slot]
        return ref if ref.isdigit() else str(self._version(slot, ref).version)

    def load(self, slot: str, ref: str) -> tuple[Any, str, str]:
        """(model, version, sha256) of `ref` (a version number or an alias); raises when the hash is not right."""
        import mlflow

        with _MLFLOW_LOCK:
            mlflow.set_tracking_uri(self.tracking_uri)
            mv = self._version(slot, ref)
            path: Path = download_model(name=self.names[slot], ref=str(mv.version))  # refuses unverifiable files
            expected = mv.tags["artifact_sha256"]
        model = catalog.kind(slot).model_class.load(path)
        return model, str(mv.version), str(expected)


# ------------------------------------------------------------------------------------------------ warm-up


def _claim(claim_id: str, **changes: Any) -> dict[str, Any]:
    """A plausible synthetic claim (no real data), valid under the request schema."""
    claim: dict[str, Any] = {
        "claim_id": claim_id,
        "patient_id": f"warmup-patient-{claim_id}",
        "patient_birth_date": "1970-06-15",
        "patient_sex": "F",
        "payer_id": "warmup-payer",
        "plan_type": "commercial",
        "billing_npi": "1000000001",
        "rendering_npi": "1000000002",
        "specialty": "physical_therapy",
        "facility_id": "warmup-facility",
        "place_of_service": "11",
        "service_from": "2024-03-04",
        "service_to": "2024-03-04",
        "submitted_at": "2024-03-06",
        "diagnosis_codes": "M545|M6281",
        "eligibility_verified": True,
        "total_charge": 310.0,
        "lines": [
            {"line_number": 1, "procedure_code": "97110", "modifiers": "GP", "units": 2, "charge": 180.0,
             "diagnosis_pointers": "1"},
            {"line_number": 2, "procedure_code": "97140", "modifiers": "GP|59", "units": 1, "charge": 130.0,
             "diagnosis_pointers": "1|2"},
        ],
    }  # fmt: skip
    claim.update(changes)
    return claim


WARMUP_CLAIMS: Final = (
    _claim("warmup-1"),
    _claim(
        "warmup-2",
        plan_type="medicare",
        claim_type="institutional",
        eligibility_verified=None,
        secondary_payer_id="warmup-secondary",
        prior_auth_number="warmup-auth",
        total_charge=2400.0,
        lines=[{"line_number": 1, "procedure_code": "72148", "units": 1, "charge": 2400.0, "revenue_code": "0610"}],
    ),
)


def warmup_claims() -> ClaimBatch:
    return ClaimBatch.model_validate({"claims": list(WARMUP_CLAIMS), "explain": "all"})


def _denials() -> list[dict[str, Any]]:
    remit = {"remit_date": "2024-04-01", "paid_amount": 0.0}
    return [
        {  # authorization denial on the whole claim
            "claim": _claim("warmup-1"),
            "remit": {**remit, "remit_id": "warmup-remit-1", "status_code": "4"},
            "adjustments": [{"group_code": "CO", "carc": "197", "amount": 310.0}],
        },
        {  # missing information on a line, with a remark code
            "claim": WARMUP_CLAIMS[1],
            "remit": {**remit, "remit_id": "warmup-remit-2", "status_code": "1", "paid_amount": 1200.0},
            "adjustments": [
                {"line_number": 1, "group_code": "CO", "carc": "16", "amount": 1200.0, "remark_codes": "N290"},
                {"line_number": 1, "group_code": "CO", "carc": "45", "amount": 0.0},
            ],
        },
    ]


def warmup_denials() -> DenialBatch:
    return DenialBatch.model_validate({"denials": _denials()})


def _probability(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and 0.0 <= value <= 1.0


def verify_denial_risk(model: Any) -> None:
    """Score the synthetic claims with reasons for all of them; refuse the model on any impossible answer."""
    if not isinstance(model, DenialRiskModel):
        raise WarmupFailed("not a denial-risk model")
    batch = warmup_claims()
    threshold, results = score_claim_batch(model, batch)
    if not math.isfinite(threshold) or len(results) != len(batch.claims):
        raise WarmupFailed("warm-up claims were not all scored")
    if not all(_probability(r.p_denial) and _probability(r.p_category) for r in results):
        raise WarmupFailed("warm-up claim scores are not probabilities")


def verify_loaded(model_class: type[Any]) -> Callable[[Any], None]:
    """For a kind the routes do not score: the right class, and every head answers."""

    def verify(model: Any) -> None:
        if not isinstance(model, model_class):
            raise WarmupFailed(f"not a {model_class.__name__}")
        try:
            model.check_loaded()
        except ValueError as exc:
            raise WarmupFailed(str(exc)) from None

    return verify


def verify_recovery(context: ScoringContext) -> Callable[[Any], None]:
    """Score the synthetic denials and plan them into a queue: the two routes the recovery model serves."""

    def verify(model: Any) -> None:
        if not isinstance(model, RecoveryModel):
            raise WarmupFailed("not a recovery model")
        batch = warmup_denials()
        results = score_denial_batch(model, context, batch)
        if len(results) != len(batch.denials) or not all(r.denied for r in results):
            raise WarmupFailed("warm-up denials were not all scored")
        for r in results:
            money = r.expected_recovery
            if not _probability(r.p_recover) or money is None or not math.isfinite(money) or money < 0:
                raise WarmupFailed("warm-up recovery scores are out of range")
        request = QueueRequest(denials=batch.denials, capacity_minutes_per_day=60.0, today=dt.date(2024, 4, 2))
        _, rows, _ = plan_denials(model, context, request)
        if len(rows) != len(batch.denials):
            raise WarmupFailed("warm-up queue did not plan every denial")

    return verify


# ------------------------------------------------------------------------------------------------ wiring


def settle_heap() -> None:
    """Collect, then move every live object into the GC's permanent generation (`gc.freeze`).

    A loaded service holds hundreds of thousands of long-lived objects (models, their feature state, MLflow,
    pandas); each full collection walks them all, a pause that a large batch request triggers every few calls
    and that shows as a latency spike. Frozen objects are skipped by the cyclic GC and still freed by
    reference counting. Called after each verified load: `unfreeze` first, so cyclic garbage of a model that
    was swapped out since the last load is collected before the new freeze.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _verified(verify: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(model: Any) -> None:
        verify(model)
        settle_heap()  # the model is about to serve: its objects are as long-lived as they get

    return run


def build_registry(
    *,
    tracking_uri: str,
    context: ScoringContext,
    config: ApiConfig | None = None,
    source: MlflowModels | None = None,
    freeze_heap: bool = True,
) -> ModelRegistry:
    """One slot per catalog kind, loading from the registry at `tracking_uri` what `config` says (default:
    the champions).

    `freeze_heap`: settle the garbage collector after each verified load (`settle_heap`); what a service
    process wants, and what a test process sharing its heap with everything else does not.
    """
    settle = _verified if freeze_heap else (lambda verify: verify)
    source = source or MlflowModels(tracking_uri, refs=None if config is None else _refs(config))
    warmups: dict[str, Callable[[Any], None]] = {
        catalog.DENIAL_RISK.slot: verify_denial_risk,
        catalog.RECOVERY.slot: verify_recovery(context),
    }
    slots = [
        ModelSlot(
            kind.slot,
            loader=functools.partial(source.load, kind.slot),
            verify=settle(warmups.get(kind.slot) or verify_loaded(kind.model_class)),
            ref=source.refs[kind.slot],
        )
        for kind in catalog.kinds()
        if kind.slot in source.names
    ]
    return ModelRegistry(slots, resolve_champion=source.resolve_champion)


def _refs(config: ApiConfig) -> dict[str, str]:
    return {slot: config.ref_for(slot) for slot in registered_names()}


def build_app(
    *,
    config: ApiConfig,
    registry: ModelRegistry,
    context: ScoringContext,
    audit: AuditLog | None,
    workspace: WorkspaceOptions | None = None,
) -> FastAPI:
    """The whole service: infrastructure (create_app) plus the scoring routes and their request schemas, and
    the team workspace's pages when `workspace` is given."""
    app = create_app(
        config=config, models=registry, audit=audit, routers=[scoring_router(context)], workspace=workspace
    )
    install_request_schemas(app)
    return app


__all__ = [
    "ArtifactIntegrityError",
    "MlflowModels",
    "WarmupFailed",
    "build_app",
    "build_registry",
    "registered_names",
    "settle_heap",
    "verify_denial_risk",
    "verify_loaded",
    "verify_recovery",
    "warmup_claims",
    "warmup_denials",
]
