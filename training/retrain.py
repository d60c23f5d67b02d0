"""`claimsight retrain --as-of YYYY-MM`: the monthly loop's one step, safe to re-run and safe to crash.

For each model: train a challenger on the history as known on the first day of the month, register it
(without the alias), score the serving champion on the challenger's evaluation rows (the latest mature
months) with point-in-time features in the champion's own coding, run the gate
(training/gate.py) plus a round trip through the registry, and only when every model has been judged
move the `champion` aliases. A crash before that point leaves every alias where it was. The decision is
written on the challenger's version (tag `gate_decision`), so re-running the same month with the same
data and seed finds it and repeats the verdict instead of training again.

The champion is not scored through its frozen snapshot: that answers every query as of the champion's
training day, which comes after the evaluation months, so each evaluated claim's history would count
outcomes from after its submission, its own among them (measured on the demo world: a champion trained on
2024-06-01 scored AUC 0.897 that way on the July challenger's evaluation months, 0.863 with honest
features, and the challenger, 0.866, was refused). Both models are judged on what was knowable at each
claim's submission.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from features.denial_features import DenialFeatureBuilder
from features.recovery_features import RecoveryFeatureBuilder, denial_frame
from models.denial_risk import DenialRiskModel
from models.mlflow_model import CHAMPION, download_model
from models.recovery import RecoveryModel
from training.denial_job import MODEL_NAME as DENIAL_MODEL
from training.denial_job import train_denial_risk
from training.gate import GateDecision, GateSettings, judge
from training.recovery_job import MODEL_NAME as RECOVERY_MODEL
from training.recovery_job import train_recovery

log = logging.getLogger(__name__)
EXPERIMENT = "claimsight-retrain"
KINDS = ("denial-risk", "recovery")
REGISTRY_NAMES = {"denial-risk": DENIAL_MODEL, "recovery": RECOVERY_MODEL}


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


def retrain(
    data_dir: Path,
    *,
    as_of_month: str,
    home: Path,
    tracking_uri: str | None,
    seed: int = 7,
    max_reject_rate: float = 0.05,
    maturity_days: int = 180,
    routine: frozenset[tuple[str, str]] | None = None,
    gate: GateSettings | None = None,
    kinds: Sequence[str] = KINDS,
) -> RetrainResult:
    import mlflow
    from mlflow import MlflowClient

    from training.tracking import configure, data_fingerprint

    as_of = month_start(as_of_month)
    gate = gate or GateSettings()
    configure(home=home, tracking_uri=tracking_uri, experiment=EXPERIMENT)
    client = MlflowClient()
    fingerprint = data_fingerprint(data_dir)
    tables = known_at(load_validated(data_dir, max_reject_rate=max_reject_rate).tables, as_of)
    common: dict[str, Any] = {
        "home": home,
        "tracking_uri": tracking_uri,
        "seed": seed,
        "max_reject_rate": max_reject_rate,
        "maturity_days": maturity_days,
        "routine": routine,
        "as_of": as_of,
        "promote_first": False,
    }
    outcomes: list[ModelOutcome] = []
    for kind in kinds:
        name = REGISTRY_NAMES[kind]
        champion = _alias(client, name)
        found = _judged_version(client, name, as_of=as_of, fingerprint=fingerprint, seed=seed)
        if found is not None:
            promote = found.tags["gate_decision"] == "promote"
            reasons = tuple(json.loads(found.tags.get("gate_reasons", "[]")))
            outcomes.append(ModelOutcome(kind, name, str(found.version), champion, None, promote, reasons, True))
            continue
        outcomes.append(_challenge(kind, name, champion, client=client, tables=tables, data_dir=data_dir,
                                   gate=gate, maturity_days=maturity_days, routine=routine, common=common))  # fmt: skip

    # every model judged: now, and only now, move the aliases
    for o in outcomes:
        if not o.reused:
            client.set_model_version_tag(o.name, o.challenger, "gate_decision", "promote" if o.promote else "refuse")
            client.set_model_version_tag(o.name, o.challenger, "gate_reasons", json.dumps(list(o.reasons)))
    for o in outcomes:
        if o.promote and o.champion_before != o.challenger:
            client.set_registered_model_alias(o.name, CHAMPION, o.challenger)

    configure(home=home, tracking_uri=tracking_uri, experiment=EXPERIMENT)
    with mlflow.start_run(run_name=f"retrain-{as_of_month}") as run:
        mlflow.log_params({"as_of": as_of_month, "seed": seed, "data_fingerprint": fingerprint, **vars(gate)})
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
        run_id = run.info.run_id
    return RetrainResult(as_of=as_of, outcomes=tuple(outcomes), run_id=run_id)


def _challenge(
    kind: str,
    name: str,
    champion: str | None,
    *,
    client: Any,
    tables: Mapping[str, pd.DataFrame],
    data_dir: Path,
    gate: GateSettings,
    maturity_days: int,
    routine: frozenset[tuple[str, str]] | None,
    common: Mapping[str, Any],
) -> ModelOutcome:
    """Train and register a challenger, score it and the champion on the same rows, and judge."""
    registry: Mapping[str, Any]
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data_dir)
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity_days, as_of=common["as_of"])
    if kind == "denial-risk":
        _, report = train_denial_risk(data_dir, **common)
        assert report.evaluation is not None
        evaluation = report.evaluation
        score: Callable[..., np.ndarray] = lambda path, history=None: _denial_scores(  # noqa: E731
            path, evaluation, tables, history=history
        )
        history: Callable[[], Any] = lambda: DenialFeatureBuilder().fit(  # noqa: E731
            tables=tables, labels=labels, rules=rules, codes=codes, routine=routine
        )
        y = evaluation["denied"].to_numpy(dtype=float)
        p_new = evaluation["p"].to_numpy()
        registry = report.registry
    else:
        _, rec = train_recovery(data_dir, **common)
        assert rec.evaluation is not None
        evaluation = rec.evaluation[rec.evaluation["worked"]]
        frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
        rows = frame.set_index("claim_id").loc[evaluation["claim_id"]].reset_index()
        score = lambda path, history=None: _recovery_scores(path, rows, history=history)  # noqa: E731
        history = lambda: RecoveryFeatureBuilder(maturity_days=maturity_days).fit(  # noqa: E731
            denials=frame, labels=labels
        )
        y = evaluation["recovered"].to_numpy(dtype=float)
        p_new = evaluation["p"].to_numpy()
        registry = rec.registry
    version = str(registry["version"])
    extra: dict[str, tuple[bool, str]] = {}
    # round trip through the registry: hash-checked download, reload, same answers
    registered = score(download_model(name=name, ref=version))
    with tempfile.TemporaryDirectory(prefix="claimsight-roundtrip-") as tmp:
        fresh = score(_saved_copy(kind, name, version, into=Path(tmp)))
    extra["round trip"] = (bool(np.array_equal(registered, fresh)), "registry download == saved model, same scores")
    p_old = None
    if champion is not None and champion != version:
        mv = client.get_model_version(name, champion)
        trained = pd.Timestamp(mv.tags.get("trained_as_of", "1900-01-01"))
        older = trained <= common["as_of"]
        extra["champion older"] = (bool(older), f"champion trained as of {trained:%Y-%m-%d}, not after this month")
        if older:
            p_old = score(download_model(name=name, ref=champion), history=history())
    decision = judge(y=y, p_challenger=p_new, p_champion=p_old, extra_checks=extra, settings=gate)
    promote = decision.promote or champion == version
    return ModelOutcome(kind, name, version, champion, decision, promote, tuple(decision.reasons), False)


def _saved_copy(kind: str, name: str, version: str, *, into: Path) -> Path:
    """The registered directory re-saved through the model class: what a fresh load would serve."""
    cls: Any = DenialRiskModel if kind == "denial-risk" else RecoveryModel
    model = cls.load(download_model(name=name, ref=version))
    return Path(model.save(into / "model"))


def _denial_scores(
    path: Path,
    evaluation: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    *,
    history: DenialFeatureBuilder | None = None,
) -> np.ndarray:
    """The saved model's scores; over `history` (an unfrozen builder) instead of its snapshot when given."""
    model = DenialRiskModel.load(path)
    if history is not None:
        model.builder_ = model.builder_.with_history_of(history)
    claims = tables["claims"].set_index("claim_id", drop=False).loc[evaluation["claim_id"]].reset_index(drop=True)
    fs = model.features(claims=claims, lines=tables["claim_lines"], context_claims=tables["claims"],
                        context_lines=tables["claim_lines"])  # fmt: skip
    return np.asarray(model.predict_proba(fs.X))


def _recovery_scores(path: Path, rows: pd.DataFrame, *, history: RecoveryFeatureBuilder | None = None) -> np.ndarray:
    model = RecoveryModel.load(path)
    if history is not None:
        model.builder_ = model.builder_.with_history_of(history)
    return model.predict(model.features(denials=rows))["p_recover"].to_numpy()


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
    for mv in sorted(versions, key=lambda v: int(v.version)):
        t = mv.tags
        if (t.get("trained_as_of") == as_of.strftime("%Y-%m-%d") and t.get("data_fingerprint") == fingerprint
                and t.get("seed") == str(seed) and "gate_decision" in t):  # fmt: skip
            return mv
    return None
