"""`claimsight retrain --as-of YYYY-MM`: the monthly loop's one step, safe to re-run and safe to crash.

First, every chosen kind's training job says whether the history as known on the first day of the month is
long enough to train it; if one is not, nothing is trained or registered (a challenger registered before the
run stopped would carry no verdict). Then, for each model kind of the catalog (its training job says how to
train it and which rows judge it): train a challenger on that history, register it (without the alias),
score the serving champion on the challenger's evaluation rows (the latest mature months) with point-in-time
features in the champion's own coding, run the gate (training/gate.py) plus a round trip through the
registry, and only when every model has been judged move the `champion` aliases. A crash before that point
leaves every alias where it was. The decision is written on the challenger's version (tag `gate_decision`),
so re-running the same month with the same data and seed finds it and repeats the verdict instead of
training again.

The champion is not scored through its frozen snapshot: that answers every query as of the champion's
training day, which comes after the evaluation months, so each evaluated claim's history would count
outcomes from after its submission, its own among them, and look better than it is (the README's monthly
loop section has the figures). Both models are judged on what was knowable at each claim's submission.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.run_options import RunOptions
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from models import catalog
from models.catalog import ModelKind
from models.mlflow_model import CHAMPION, download_model
from training.gate import GateDecision, GateSettings, judge
from training.jobs import TrainRun, job_for
from training.splits import NotEnoughHistory
from training.store_lock import store_lock

log = logging.getLogger(__name__)
EXPERIMENT = "claimsight-retrain"


@dataclass(frozen=True)
class ModelOutcome:
    kind: str
    name: str
    challenger: str  # registry version
    champion_before: str | None
    decision: GateDecision | None  # None when the verdict was found on the version (a re-run)
    promote: bool
    reasons: tuple[str, ...]
    reused: bool


@dataclass(frozen=True)
class RetrainResult:
    as_of: pd.Timestamp
    outcomes: tuple[ModelOutcome, ...]
    run_id: str | None


def month_start(text: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(f"{text}-01")
    except ValueError:
        raise ValueError("--as-of must be a month YYYY-MM") from None
    if len(text) != 7 or day.strftime("%Y-%m") != text:
        raise ValueError("--as-of must be a month YYYY-MM")
    return day


JUDGED_AGAINST = "gate_champion"  # version tag: the champion a verdict was judged against ("None": none served)


def retrain(
    data_dir: Path,
    *,
    as_of_month: str,
    options: RunOptions,
    gate: GateSettings | None = None,
    kinds: Sequence[str] | None = None,
) -> RetrainResult:
    """Judge a challenger of every catalog kind (or of `kinds`, by name) for the month; move aliases last."""
    from mlflow import MlflowClient

    from training.tracking import configure, data_fingerprint

    as_of = month_start(as_of_month)
    gate = gate or GateSettings()
    chosen = catalog.kinds() if kinds is None else tuple(catalog.kind(k) for k in kinds)
    configure(home=options.home, tracking_uri=options.tracking_uri, experiment=EXPERIMENT)
    client = MlflowClient()
    fingerprint = data_fingerprint(data_dir)
    tables = known_at(
        load_validated(data_dir, max_reject_rate=options.max_reject_rate, threads=options.feature_threads).tables, as_of
    )
    check_history(chosen, tables=tables, data_dir=data_dir, options=options, as_of=as_of)
    with ExitStack() as held:
        # one retrain per store and model at a time, locks taken in one order so two retrains cannot deadlock
        for name in sorted(k.registry_name for k in chosen):
            held.enter_context(store_lock(options.home, f"retrain-{name}"))
        month = _Month(client=client, tables=tables, data_dir=data_dir, gate=gate, options=options, as_of=as_of,
                       fingerprint=fingerprint)  # fmt: skip
        outcomes = _judge_all(chosen, month)
        run_id = _log_decision(outcomes, options=options, as_of_month=as_of_month, fingerprint=fingerprint, gate=gate)
    return RetrainResult(as_of=as_of, outcomes=tuple(outcomes), run_id=run_id)


def check_history(
    chosen: Sequence[ModelKind],
    *,
    tables: Mapping[str, pd.DataFrame],
    data_dir: Path,
    options: RunOptions,
    as_of: pd.Timestamp,
) -> None:
    """Every chosen kind's history, checked before any kind is trained: a kind that lacked it would otherwise
    stop the run after the kinds before it had registered challengers that no verdict judges. Raises one
    NotEnoughHistory naming each kind that lacks history and what it lacks."""
    short: dict[str, str] = {}
    for kind in chosen:
        try:
            job_for(kind).check_history(tables, data_dir=data_dir, options=options, as_of=as_of)
        except NotEnoughHistory as exc:
            short[kind.name] = str(exc)
    if not short:
        return
    others = [k.name for k in chosen if k.name not in short]
    names = " and ".join(short)
    leave_out = f", or leave {names} out with {' '.join(f'--model {n}' for n in others)}" if others else ""
    why = "; ".join(f"{name}: {problem}" for name, problem in short.items())
    raise NotEnoughHistory(
        f"too little history as known on {as_of:%Y-%m-%d} to retrain {names}, so nothing was trained or "
        f"registered: {why}, or choose a later --as-of{leave_out}"
    )


@dataclass(frozen=True)
class _Month:
    """What every model's judgement for one month shares: the registry, the history as known, the gate."""

    client: Any
    tables: Mapping[str, pd.DataFrame]
    data_dir: Path
    gate: GateSettings
    options: RunOptions
    as_of: pd.Timestamp
    fingerprint: str


def _judge_all(chosen: Sequence[ModelKind], month: _Month) -> list[ModelOutcome]:
    """Every kind judged (or its recorded verdict found), then the verdicts written, then the aliases moved,
    each only if the champion is still the one it was judged against (compare-and-set)."""
    client = month.client
    outcomes: list[ModelOutcome] = []
    for kind in chosen:
        name = kind.registry_name
        champion = _alias(client, name)
        found = _judged_version(client, name, as_of=month.as_of, fingerprint=month.fingerprint,
                                seed=month.options.seed)  # fmt: skip
        if found is not None:
            outcomes.append(_recorded(kind, found, champion))
            continue
        outcomes.append(_challenge(kind, champion, month))

    # every model judged: now, and only now, move the aliases
    outcomes = [_still_current(o, client) for o in outcomes]
    for o in outcomes:
        if not o.reused:
            client.set_model_version_tag(o.name, o.challenger, "gate_decision", "promote" if o.promote else "refuse")
            client.set_model_version_tag(o.name, o.challenger, "gate_reasons", json.dumps(list(o.reasons)))
            client.set_model_version_tag(o.name, o.challenger, JUDGED_AGAINST, str(o.champion_before))
    for o in outcomes:
        if o.promote and o.champion_before != o.challenger and _alias(client, o.name) == o.champion_before:
            client.set_registered_model_alias(o.name, CHAMPION, o.challenger)
    return outcomes


def _recorded(kind: ModelKind, found: Any, champion: str | None) -> ModelOutcome:
    """The recorded verdict of a version judged before for this month, data and seed.

    A promotion was a verdict against the champion of that moment: it stands only while that champion (or
    the version itself) serves. Once a later month has promoted another version, re-running this month must
    not move the champion back to a model judged only against an older one."""
    version = str(found.version)
    promote = found.tags["gate_decision"] == "promote"
    reasons = tuple(json.loads(found.tags.get("gate_reasons", "[]")))
    against = found.tags.get(JUDGED_AGAINST)
    if promote and champion != version and against != str(champion):
        promote = False
        reasons = (*reasons, f"FAILED champion unchanged: judged against {against or 'an unrecorded champion'}, "
                             f"the champion is now {champion}; retrain a later month to judge against it")  # fmt: skip
    return ModelOutcome(kind.name, kind.registry_name, version, champion, None, promote, reasons, True)


def _still_current(outcome: ModelOutcome, client: Any) -> ModelOutcome:
    """A promotion stands only if the champion it was judged against still serves."""
    now = _alias(client, outcome.name)
    if outcome.reused or not outcome.promote or now == outcome.champion_before:
        return outcome
    moved = f"FAILED champion unchanged: it moved from {outcome.champion_before} to {now} while this was judged"
    return replace(outcome, promote=False, reasons=(*outcome.reasons, moved))


def _log_decision(
    outcomes: Sequence[ModelOutcome], *, options: RunOptions, as_of_month: str, fingerprint: str, gate: GateSettings
) -> str:
    import mlflow

    from training.tracking import configure

    configure(home=options.home, tracking_uri=options.tracking_uri, experiment=EXPERIMENT)
    with mlflow.start_run(run_name=f"retrain-{as_of_month}") as run:
        mlflow.log_params({"as_of": as_of_month, "seed": options.seed, "data_fingerprint": fingerprint, **vars(gate)})
        for o in outcomes:
            mlflow.set_tags({f"{o.kind}.decision": "promote" if o.promote else "refuse",
                             f"{o.kind}.challenger": o.challenger, f"{o.kind}.champion_before": str(o.champion_before),
                             f"{o.kind}.reused": str(o.reused)})  # fmt: skip
            if o.decision is not None:
                mlflow.log_metrics({f"{o.kind}.challenger.{k}": v for k, v in o.decision.challenger.items()
                                    if np.isfinite(v)})  # fmt: skip
                mlflow.log_metrics({f"{o.kind}.champion.{k}": v for k, v in o.decision.champion.items()
                                    if np.isfinite(v)})  # fmt: skip
        mlflow.log_dict({o.kind: list(o.reasons) for o in outcomes}, "decision.json")
        return str(run.info.run_id)


def _challenge(kind: ModelKind, champion: str | None, month: _Month) -> ModelOutcome:
    """Train and register a challenger, score it and the champion on the same rows, and judge."""
    job = job_for(kind)
    name, as_of = kind.registry_name, month.as_of
    _, report = job.train(month.data_dir, options=month.options, run=TrainRun(as_of=as_of, promote_first=False))
    rows = job.judging(report, data_dir=month.data_dir, tables=month.tables, options=month.options, as_of=as_of)
    version = str(report.registry["version"])
    extra: dict[str, tuple[bool, str]] = {}
    # round trip through the registry: hash-checked download, reload, same answers
    registered = rows.score(download_model(name=name, ref=version), False)
    with tempfile.TemporaryDirectory(prefix="claimsight-roundtrip-") as tmp:
        fresh = rows.score(_saved_copy(kind, version, into=Path(tmp)), False)
    extra["round trip"] = (bool(np.array_equal(registered, fresh)), "registry download == saved model, same scores")
    p_old = None
    if champion is not None and champion != version:
        mv = month.client.get_model_version(name, champion)
        trained = pd.Timestamp(mv.tags.get("trained_as_of", "1900-01-01"))
        older = trained <= as_of
        extra["champion older"] = (bool(older), f"champion trained as of {trained:%Y-%m-%d}, not after this month")
        if older:
            p_old = rows.score(download_model(name=name, ref=champion), True)
    decision = judge(y=rows.y, p_challenger=rows.p_challenger, p_champion=p_old, extra_checks=extra,
                     settings=month.gate)  # fmt: skip
    promote = decision.promote or champion == version
    return ModelOutcome(kind.name, name, version, champion, decision, promote, tuple(decision.reasons), False)


def _saved_copy(kind: ModelKind, version: str, *, into: Path) -> Path:
    """The registered directory re-saved through the model class: what a fresh load would serve."""
    model = kind.model_class.load(download_model(name=kind.registry_name, ref=version))
    return Path(model.save(into / "model"))


def _alias(client: Any, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _judged_version(client: Any, name: str, *, as_of: pd.Timestamp, fingerprint: str, seed: int) -> Any | None:
    """A version already trained for this month, data and seed, with the gate's verdict on it."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    judged = [
        mv for mv in sorted(versions, key=lambda v: int(v.version))
        if mv.tags.get("trained_as_of") == as_of.strftime("%Y-%m-%d") and mv.tags.get("data_fingerprint") == fingerprint
        and mv.tags.get("seed") == str(seed) and "gate_decision" in mv.tags
    ]  # fmt: skip
    champion = _alias(client, name)
    # the verdict that stands is the one of the version serving, if one of them does
    return next((mv for mv in judged if str(mv.version) == champion), judged[0] if judged else None)
