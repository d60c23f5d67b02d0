"""The scoring routes: claims before release, denials after, and the appeal queue.

Each route does its model work through `run_model_work`: a small request on the event loop (its work holds the
GIL anyway), a larger batch on a worker thread so the event loop keeps answering (probes, other requests, the
champion poller) while pandas and LightGBM work, at most `ApiConfig.scoring_threads` at a time per process.
A route takes one snapshot of the models it needs (`use_models`), scores with it and reports its version, so a
hot swap during the request changes nothing in its answer.

Scoring goes through the same functions as the batch path, never a second implementation:
- claims: `DenialRiskModel.features` (the fitted `DenialFeatureBuilder.transform`) and `DenialRiskModel.score`,
  with the threshold from `threshold_for`, as `serving.batch_scoring.score_claims` does;
- denials: `features.contract.labels.compute_labels` -> `features.recovery_features.denial_frame` (action, deadline
  and the rules that gave them) -> `RecoveryModel.score`, as `claimsight queue` does;
- queue: the same denial frame -> `serving.appeal_queue.rank_queue`.

The bodies are turned into contract tables with the dtypes validation gives a data directory
(`schemas.claim_tables`), which is what makes the parity with `claimsight score claims` exact; the claims
route gives the feature function the same values as arrays (`schemas.claim_column_tables`, a ColumnTable),
which it reads as it reads those tables, without building DataFrames per request.

The claims route also takes an 837 interchange (`application/edi-x12`, serving/api/x12.py), which becomes the
very `ClaimBatch` a JSON body becomes and is scored by the same `score_claim_batch`: one path, two media types.

What the service does not have is the team's history of claims: the batch path looks for duplicates among
every claim in the data directory, the API among the claims of the request. The frozen point-in-time history
(denial rates by payer, code, provider, ...) travels inside the model, so every other feature is the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from features.contract.codes import CodeTables, load_code_tables
from features.contract.labels import DEFAULT_MATURITY_DAYS, compute_labels, data_as_of
from features.contract.payer_rules import PayerRules, load_payer_rules
from features.contract.run_options import RunOptions
from features.decisions.queue_plan import QueueSettings
from features.recovery_features import denial_frame
from models import catalog
from models.denial_risk import DenialRiskModel
from models.recovery import RecoveryModel
from serving.api.app import run_model_work, use_models
from serving.api.error_bodies import ERROR_RESPONSES
from serving.api.errors import (
    PositionedBodyErrors,
    UnsupportedMediaType,
    check_batch,
    duplicate_key_errors,
    is_json_media_type,
)
from serving.api.model_slots import Snapshot
from serving.api.schemas import (
    ClaimBatch,
    ClaimScore,
    ClaimScores,
    DenialBatch,
    DenialIn,
    DenialScore,
    DenialScores,
    QueueRequest,
    QueueResponse,
    QueueRow,
    Reason,
    claim_column_tables,
    denial_tables,
)
from serving.api.security import require_scope
from serving.api.x12 import X12_MEDIA_TYPE, X12Invalid, is_x12_media_type, public_x12_errors, x12_claims
from serving.appeal_queue import rank_queue

DENIAL_RISK = catalog.DENIAL_RISK.slot
RECOVERY = catalog.RECOVERY.slot
TOP_REASONS = 3


@dataclass(frozen=True)
class ScoringContext:
    """What the denial routes need besides the model: the code tables, the team's payer rules (recommended
    action and deadline), its routine-adjustment set (what counts as a denial) and the maturity window."""

    codes: CodeTables
    rules: PayerRules
    routine: frozenset[tuple[str, str]] | None = None
    maturity_days: int = DEFAULT_MATURITY_DAYS

    @classmethod
    def load(
        cls,
        *,
        rules_dir: Path | None = None,
        rules_file: Path | None = None,
        options: RunOptions | None = None,
    ) -> ScoringContext:
        """Shipped code tables; shipped payer rules, then `rules_dir/payer_rules.yaml`, then `rules_file`
        (the same merge as every command that reads a data directory); the routine adjustments and maturity
        window of `options` (default: the shipped ones)."""
        options = options or RunOptions()
        return cls(
            codes=load_code_tables(),
            rules=load_payer_rules(data_dir=rules_dir, extra_file=rules_file),
            routine=options.routine,
            maturity_days=options.maturity_days,
        )


# ------------------------------------------------------------------------------------- value conversion


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN, and a missing value must not look like a zero)."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _day(value: Any) -> dt.date | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    stamp = pd.Timestamp(value)
    return None if pd.isna(stamp) else stamp.date()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _reasons(frame: pd.DataFrame) -> list[list[Reason]]:
    """Per row, the `reason_k` / `action_k` pairs of `models.reasons.reasons_frame` that are set."""
    none = np.full(len(frame), None, dtype=object)
    pairs = [
        (
            frame[f"reason_{k}"].to_numpy(dtype=object),
            frame[f"action_{k}"].to_numpy(dtype=object) if f"action_{k}" in frame.columns else none,
        )
        for k in range(1, TOP_REASONS + 1)
        if f"reason_{k}" in frame.columns
    ]
    out: list[list[Reason]] = []
    for i in range(len(frame)):
        row = []
        for texts, actions in pairs:
            text, action = texts[i], actions[i]
            if isinstance(text, str):
                row.append(Reason(text=text, action=action if isinstance(action, str) else None))
        out.append(row)
    return out


def json_response(body: BaseModel, exclude: Any = None) -> Response:
    """Serialise a response model already built (and so valid) without FastAPI validating it a second time."""
    return Response(content=body.model_dump_json(exclude=exclude), media_type="application/json")


# ------------------------------------------------------------------------------------------------ claims


def score_claim_batch(
    model: DenialRiskModel, body: ClaimBatch, claim_ids: Sequence[str] | None = None
) -> tuple[float, list[ClaimScore]]:
    """(threshold, one score per claim in request order); exactly the batch path's feature and score calls.

    `claim_ids`: the CLM01 of each claim of an X12 body, named in its result (a JSON body's results do not)."""
    tables = claim_column_tables(body.claims)
    features = model.features(claims=tables["claims"], lines=tables["claim_lines"])
    threshold = model.threshold_for(precision=body.target_precision)
    scored = model.score(features, threshold=threshold, explain=body.explain)
    p_denial = scored["p_denial"].to_numpy(dtype=float)
    p_category = scored["p_category"].to_numpy(dtype=float)
    top = scored["top_category"].to_numpy(dtype=object)
    decision = scored["decision"].to_numpy(dtype=object)
    reasons = _reasons(scored)
    results = [
        ClaimScore(
            index=i,
            p_denial=float(p_denial[i]),
            top_category=str(top[i]),
            p_category=float(p_category[i]),
            decision=decision[i],
            reasons=reasons[i],
            claim_id=None if claim_ids is None else claim_ids[i],
        )
        for i in range(len(scored))
    ]
    return float(threshold), results


# ----------------------------------------------------------------------------------------------- denials


def denial_rows(context: ScoringContext, denials: Sequence[DenialIn]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(contract tables, denial frame) of the request. The denial frame (features.recovery_features) has one
    row per initial denial, with the recommended action, its deadline and the rules that gave them; a request
    whose first remit is not a denial has none."""
    tables = denial_tables(denials)
    labels = compute_labels(tables, codes=context.codes, routine=context.routine, maturity_days=context.maturity_days)
    rows = denial_frame(tables, labels, codes=context.codes, rules=context.rules, routine=context.routine)
    return tables, rows


def _positions(denials: Sequence[DenialIn]) -> dict[str, int]:
    return {d.claim.claim_id: i for i, d in enumerate(denials)}


def score_denial_batch(model: RecoveryModel, context: ScoringContext, body: DenialBatch) -> list[DenialScore]:
    _, rows = denial_rows(context, body.denials)
    position = _positions(body.denials)
    results: dict[int, DenialScore] = {}
    if len(rows):
        scored = model.score(rows, explain=True, top=TOP_REASONS)
        reasons = _reasons(scored)
        for i, row in enumerate(scored.to_dict("records")):
            index = position[str(row["claim_id"])]
            results[index] = DenialScore(
                index=index,
                denied=True,
                denial_category=_text(row["denial_category"]),
                denied_amount=_number(row["denied_amount"]),
                p_recover=_number(row["p_recover"]),
                share_if_recovered=_number(row["share_if_recovered"]),
                expected_recovery=_number(row["expected_recovery"]),
                recommended_action=_text(row["recommended_action"]),
                action_rule=_text(row["action_rule"]),
                action_group=_text(row["action_group"]) or None,
                line_plan=_text(row["line_plan"]) or None,
                patient_amount=_number(row["patient_amount"]),
                payer_amount=_number(row["payer_amount"]),
                write_off_amount=_number(row["write_off_amount"]),
                deadline=_day(row["deadline"]),
                deadline_rule=_text(row["deadline_rule"]),
                reasons=reasons[i],
            )
    return [results.get(i) or DenialScore(index=i, denied=False) for i in range(len(body.denials))]


# ------------------------------------------------------------------------------------------------- queue


def plan_denials(
    model: RecoveryModel, context: ScoringContext, body: QueueRequest
) -> tuple[dt.date, list[QueueRow], list[int]]:
    """(today, queue rows in the plan's order, positions of requests that are not denials)."""
    tables, rows = denial_rows(context, body.denials)
    today = body.today or data_as_of(tables).date()
    position = _positions(body.denials)
    queue: list[QueueRow] = []
    if len(rows):
        settings = QueueSettings(
            capacity_minutes_per_day=body.capacity_minutes_per_day,
            cost_per_minute=body.cost_per_minute,
            horizon_days=body.horizon_days,
        )
        ranked = rank_queue(model, rows, today=today, settings=settings)
        reasons = _reasons(ranked)
        for i, row in enumerate(ranked.to_dict("records")):
            rank = _number(row["rank"])
            queue.append(
                QueueRow(
                    index=position[str(row["claim_id"])],
                    rank=None if rank is None else int(rank),
                    status=str(row["status"]),
                    planned_day=_day(row["planned_day"]),
                    action=str(row["action"]),
                    expected_recovery=_number(row["expected_recovery"]),
                    p_recover=_number(row["p_recover"]),
                    denied_amount=_number(row["denied_amount"]),
                    minutes=_number(row["minutes"]),
                    net_value=_number(row["net_value"]),
                    deadline=_day(row["deadline"]),
                    deadline_rule=_text(row["deadline_rule"]),
                    why=str(row["why"]),
                    denial_category=_text(row["denial_category"]),
                    action_rule=_text(row["action_rule"]),
                    action_group=_text(row["action_group"]) or None,
                    line_plan=_text(row["line_plan"]) or None,
                    reasons=reasons[i],
                )
            )
    denied = set(np.asarray(rows["claim_id"], dtype=object).tolist()) if len(rows) else set()
    not_denied = [i for i, d in enumerate(body.denials) if d.claim.claim_id not in denied]
    return today, queue, not_denied


# ------------------------------------------------------------------------------------------------ router


# Request bodies are validated from the raw bytes by pydantic's JSON parser (`model_validate_json`), a fraction
# of the cost of FastAPI's `json.loads` + validate-a-dict path on a large batch.
# Each body also gets a second, standard-library parse that refuses duplicate keys (`find_duplicate_keys`):
# measured 2026-12-04 on a 1,000-claim batch (0.76 MB), 5.5 ms (best of 15; median about 10 ms on the 2 shared
# cores) beside 13 ms of validation, and linear in the bytes, which the body cap bounds; so it runs on every
# body: limiting it to small ones would leave the large batches, where a repeat is likeliest, unchecked.
# The dependency runs after the key and model checks, so a caller without a key or a service without a
# model never pays for parsing. The body cap (413) applies while the bytes are read.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (ClaimBatch, DenialBatch, QueueRequest)
_SCHEMA_REF = "#/components/schemas/{model}"
_PARSE_IN_THREAD_BYTES = 64_000
M = TypeVar("M", bound=BaseModel)
_NO_CLAIM_IDS: Final = {"results": {"__all__": {"claim_id"}}}  # a JSON body's answer echoes no identifier


class _Duplicated(dict[str, Any]):
    """A JSON object in which some key appeared more than once (what `find_duplicate_keys` looks for)."""


def find_duplicate_keys(raw: bytes) -> list[tuple[str | int, ...]]:
    """Paths (keys and list positions, document order) of the JSON objects in `raw` that hold a key twice.

    Pydantic's JSON parser, like every fast one (orjson too), silently keeps the last value of a repeated key,
    and has no option to refuse it; so this is a second parse, by the standard library with a hook that sees each
    object's pairs. Only objects that survive into the parsed document count (`{"a": {"x":1,"x":2}, "a": 1}`
    reports the top object only). Not JSON, or nested past the recursion limit: [] (the parser reports that).
    """
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        found = True
        return _Duplicated(obj)

    try:
        document = json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return []
    if not found:
        return []
    paths: list[tuple[str | int, ...]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:  # iterative: as deep as json.loads went, without a second recursion limit
        path, node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _Duplicated):
                paths.append(path)
            children: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        stack.extend(((*path, key), child) for key, child in reversed(children))
    return paths


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency giving the request body validated as `model`; errors are 422s in the shape of FastAPI's
    own (`loc` starts with "body"), rendered without input by serving.api.errors.

    Refused before parsing: a body whose Content-Type is not JSON (415, `is_json_media_type`). Refused after:
    a JSON object that holds a key twice (422 `duplicate_key` at the object's path), which pydantic would
    resolve silently to the last value."""

    def parse(raw: bytes) -> M:
        try:
            body = model.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=True)
            located = [{**e, "loc": ("body", *e["loc"])} for e in errors]
            raise RequestValidationError(located + duplicate_key_errors(find_duplicate_keys(raw))) from None
        duplicates = find_duplicate_keys(raw)
        if duplicates:
            raise RequestValidationError(duplicate_key_errors(duplicates))
        return body

    async def dependency(request: Request) -> M:
        if not is_json_media_type(request.headers.get("content-type")):
            raise UnsupportedMediaType()
        raw = await request.body()
        # a big body is parsed off the event loop, a small one is not worth the thread hop
        if len(raw) > _PARSE_IN_THREAD_BYTES:
            return await run_in_threadpool(functools.partial(parse, raw))
        return parse(raw)

    dependency.__name__ = f"{model.__name__}_body"
    return dependency


def _documented_body(model: type[BaseModel], *, x12: bool = False) -> dict[str, Any]:
    """`openapi_extra` declaring the JSON body that `json_body(model)` reads (see `install_request_schemas`),
    and with `x12` the 837 interchange `claims_body` also reads."""
    ref = {"$ref": _SCHEMA_REF.format(model=model.__name__)}
    content: dict[str, Any] = {"application/json": {"schema": ref}}
    if x12:
        content[X12_MEDIA_TYPE] = {"schema": {"type": "string", "description": X12_BODY_DESCRIPTION}}
    return {"requestBody": {"required": True, "content": content}}


X12_BODY_DESCRIPTION = (
    "An 837P or 837I interchange (5010 or 4010) as sent to a clearinghouse. Its claims are scored as the same "
    "claims sent as JSON, with the default threshold and explanations; each result also names the claim by its "
    "CLM01 (`claim_id`). A transaction that cannot be read or mapped is a 422 naming the segment number, segment "
    "id, element and rule, never a value."
)


@dataclass(frozen=True)
class ClaimsRequest:
    """A claims body, JSON or X12, as one batch; an X12 body's CLM01s in batch order (JSON: None), because an
    837's caller finds its claims by claim number, not by their position across transactions."""

    batch: ClaimBatch
    claim_ids: list[str] | None = None


def _x12_batch(raw: bytes) -> ClaimsRequest:
    try:
        claims = x12_claims(raw)
    except X12Invalid as exc:
        raise PositionedBodyErrors(public_x12_errors(exc.errors)) from None
    return ClaimsRequest(claims.batch, claims.claim_ids)


def claims_body() -> Callable[[Request], Awaitable[ClaimsRequest]]:
    """The claims route's body dependency: `application/edi-x12` through `serving.api.x12` into the very batch
    a JSON body gives (`json_body(ClaimBatch)`, which also refuses every other media type with its 415)."""
    from_json = json_body(ClaimBatch)

    async def dependency(request: Request) -> ClaimsRequest:
        if not is_x12_media_type(request.headers.get("content-type")):
            return ClaimsRequest(await from_json(request))
        raw = await request.body()
        if len(raw) > _PARSE_IN_THREAD_BYTES:
            return await run_in_threadpool(functools.partial(_x12_batch, raw))
        return _x12_batch(raw)

    return dependency


def install_request_schemas(app: FastAPI) -> None:
    """Put the request models in the app's OpenAPI components, where the scoring routes' bodies point.

    FastAPI documents only bodies it parses itself; these routes parse theirs from bytes (`json_body`).
    """
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        _, definitions = models_json_schema([(m, "validation") for m in REQUEST_MODELS], ref_template=_SCHEMA_REF)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


ScoreKey = Annotated[str, Depends(require_scope("score"))]
DenialRiskModels = Annotated[dict[str, Snapshot[Any]], Depends(use_models(DENIAL_RISK))]
RecoveryModels = Annotated[dict[str, Snapshot[Any]], Depends(use_models(RECOVERY))]
ClaimBody = Annotated[ClaimsRequest, Depends(claims_body())]
DenialBody = Annotated[DenialBatch, Depends(json_body(DenialBatch))]
QueueBody = Annotated[QueueRequest, Depends(json_body(QueueRequest))]


def _versions(models: dict[str, Snapshot[Any]]) -> dict[str, str]:
    return {name: snap.version for name, snap in models.items()}


def scoring_router(context: ScoringContext) -> APIRouter:
    """`POST /v1/claims/score`, `POST /v1/denials/score`, `POST /v1/queue` (scope `score`).

    Mount with `serving.api.runtime.build_app`, which also installs the request schemas in the OpenAPI document.
    """
    router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

    @router.post(
        "/claims/score",
        response_model=ClaimScores,
        tags=["claims"],
        openapi_extra=_documented_body(ClaimBatch, x12=True),
    )
    async def score_claims(request: Request, _key: ScoreKey, models: DenialRiskModels, body: ClaimBody) -> Response:
        """Before release: P(denial), the likely root cause, release or review, and what to fix first.

        Results are in request order (`index`). A JSON body's results return no identifier the caller sent; an
        X12 (837) body's also name each claim by its CLM01 (`claim_id`), the number its sender files it under.
        """
        claims = body.batch.claims
        check_batch(len(claims), request.app.state.config, field="body.claims")
        request.state.claim_ids = [c.claim_id for c in claims]
        work = functools.partial(score_claim_batch, models[DENIAL_RISK].model, body.batch, body.claim_ids)
        threshold, results = await run_model_work(request, work, items=len(claims))
        scores = ClaimScores(model_versions=_versions(models), threshold=threshold, results=results)
        return json_response(scores, exclude=_NO_CLAIM_IDS if body.claim_ids is None else None)

    @router.post(
        "/denials/score", response_model=DenialScores, tags=["denials"], openapi_extra=_documented_body(DenialBatch)
    )
    async def score_denials(request: Request, _key: ScoreKey, models: RecoveryModels, body: DenialBody) -> Response:
        """After a denial: P(recovery if worked), expected dollars, the recommended action and its deadline,
        with the rules that gave them and the reasons."""
        check_batch(len(body.denials), request.app.state.config, field="body.denials")
        request.state.claim_ids = [d.claim.claim_id for d in body.denials]
        results = await run_model_work(
            request,
            functools.partial(score_denial_batch, models[RECOVERY].model, context, body),
            items=len(body.denials),
        )
        return json_response(DenialScores(model_versions=_versions(models), results=results))

    @router.post("/queue", response_model=QueueResponse, tags=["denials"], openapi_extra=_documented_body(QueueRequest))
    async def plan_queue(request: Request, _key: ScoreKey, models: RecoveryModels, body: QueueBody) -> Response:
        """The appeal queue: which of these open denials to work today and in the next days, within capacity,
        without missing the deadlines worth meeting."""
        check_batch(len(body.denials), request.app.state.config, field="body.denials")
        request.state.claim_ids = [d.claim.claim_id for d in body.denials]
        today, rows, not_denied = await run_model_work(
            request, functools.partial(plan_denials, models[RECOVERY].model, context, body), items=len(body.denials)
        )
        return json_response(
            QueueResponse(model_versions=_versions(models), today=today, rows=rows, not_denied=not_denied)
        )

    return router


__all__ = [
    "DENIAL_RISK",
    "RECOVERY",
    "REQUEST_MODELS",
    "ClaimsRequest",
    "ScoringContext",
    "claims_body",
    "denial_rows",
    "install_request_schemas",
    "json_body",
    "plan_denials",
    "score_claim_batch",
    "score_denial_batch",
    "scoring_router",
]
