"""The monthly retrain and its gate against a real local MLflow store: promote, refuse, re-run, crash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.contract.run_options import RunOptions
from models import catalog
from training import recovery_job as recovery_job_module
from training.denial_job import denial_scores
from training.gate import GateDecision, GateSettings, judge
from training.jobs import TrainRun
from training.recovery_job import recovery_scores
from training.retrain import month_start, retrain
from training.tracking import configure

pytestmark = pytest.mark.slow  # retraining runs on the session world
REGISTRY_NAMES = {k.name: k.registry_name for k in catalog.kinds()}


def aliases(home: Path) -> dict[str, str | None]:
    configure(home=home, tracking_uri=None, experiment="claimsight-retrain")
    client = MlflowClient()
    out: dict[str, str | None] = {}
    for kind, name in REGISTRY_NAMES.items():
        try:
            out[kind] = str(client.get_model_version_by_alias(name, "champion").version)
        except Exception:
            out[kind] = None
    return out


def versions(home: Path, kind: str) -> int:
    configure(home=home, tracking_uri=None, experiment="claimsight-retrain")
    return len(MlflowClient().search_model_versions(f"name = '{REGISTRY_NAMES[kind]}'"))


# As of 2024-02 / 2024-03 the small world has only 300-340 mature worked denials to judge the recovery model
# on: a perfectly calibrated model shows an ECE near 0.09 there by chance, and these models 0.09-0.10. Tests
# of the promotion mechanics need champions and challengers that pass, not a calibration verdict (the gate's
# own tests judge that), so they allow a ceiling of 0.15.
SMALL_WORLD_ECE_CEILING = 0.15


@pytest.fixture(scope="module")
def store(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose champions were trained as of 2024-02 (the first retrain promotes: nothing serves yet)."""
    home = tmp_path_factory.mktemp("retrain_home")
    setup_gate = GateSettings(ece_ceiling=SMALL_WORLD_ECE_CEILING)
    first = retrain(small_world, as_of_month="2024-02", options=RunOptions(home=home, seed=3), gate=setup_gate)
    assert all(o.promote and o.champion_before is None for o in first.outcomes)
    assert aliases(home) == {"denial-risk": "1", "recovery": "1"}
    return home


def test_month_must_be_a_month() -> None:
    assert month_start("2024-03").strftime("%Y-%m-%d") == "2024-03-01"
    for bad in ("2024-3", "2024-13", "March", "2024-03-05"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_start(bad)


def test_challenger_that_is_not_worse_is_promoted_and_a_rerun_changes_nothing(small_world: Path, store: Path) -> None:
    gate = GateSettings(auc_tolerance=0.05, ece_tolerance=0.05, ece_ceiling=SMALL_WORLD_ECE_CEILING)
    result = retrain(small_world, as_of_month="2024-03", options=RunOptions(home=store, seed=3), gate=gate)
    for o in result.outcomes:
        assert o.promote, o.reasons
        assert o.champion_before == "1" and o.challenger == "2"
        assert any(r.startswith("ok AUC") for r in o.reasons)
        assert any(r.startswith("ok round trip") for r in o.reasons)
    assert aliases(store) == {"denial-risk": "2", "recovery": "2"}
    again = retrain(small_world, as_of_month="2024-03", options=RunOptions(home=store, seed=3), gate=gate)
    assert all(o.reused and o.promote and o.challenger == "2" for o in again.outcomes)
    assert versions(store, "denial-risk") == 2 and versions(store, "recovery") == 2
    assert aliases(store) == {"denial-risk": "2", "recovery": "2"}


def _shuffled(ev: pd.DataFrame) -> pd.DataFrame:  # ranks nothing: AUC ~0.5
    return ev.assign(p=np.random.default_rng(0).permutation(ev["p"].to_numpy()))


def _scaled_down(ev: pd.DataFrame) -> pd.DataFrame:  # same ranking, probabilities a fifth of the truth
    return ev.assign(p=ev["p"] * 0.2)


def _one_outcome(ev: pd.DataFrame) -> pd.DataFrame:  # an evaluation set with no recovered denial
    return ev[ev["recovered"] == 0]


@pytest.mark.parametrize(
    ("break_challenger", "failed"),
    [(_shuffled, "FAILED AUC"), (_scaled_down, "FAILED calibration"), (_one_outcome, "FAILED data")],
)
def test_gate_refuses_a_worse_challenger_and_the_champion_keeps_serving(
    small_world: Path, store: Path, monkeypatch: pytest.MonkeyPatch, break_challenger, failed: str
) -> None:
    """The challenger really is trained and registered; its evaluation predictions are then made worse in one
    way each, as a regression in the model would make them, and the gate must refuse it."""
    real = recovery_job_module.train_recovery

    def worse(*args, **kwargs):
        model, report = real(*args, **kwargs)
        report.evaluation = break_challenger(report.evaluation)
        return model, report

    monkeypatch.setattr(recovery_job_module, "JOB", replace(recovery_job_module.JOB, train=worse))
    before = aliases(store)
    n_before = versions(store, "recovery")
    seed = 100 + len(failed)
    result = retrain(small_world, as_of_month="2024-03", options=RunOptions(home=store, seed=seed),
                     kinds=("recovery",))  # fmt: skip
    (outcome,) = result.outcomes
    assert not outcome.promote
    assert any(r.startswith(failed) for r in outcome.reasons), outcome.reasons
    assert versions(store, "recovery") == n_before + 1
    assert aliases(store) == before


def test_a_crash_midway_moves_no_alias(small_world: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = aliases(store)
    n_denial = versions(store, "denial-risk")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash while training the recovery challenger")

    monkeypatch.setattr(recovery_job_module, "JOB", replace(recovery_job_module.JOB, train=boom))
    with pytest.raises(RuntimeError, match="simulated crash"):
        retrain(
            small_world,
            as_of_month="2024-03",
            options=RunOptions(home=store, seed=55),
            gate=GateSettings(auc_tolerance=0.5, ece_tolerance=0.5),
        )
    assert versions(store, "denial-risk") == n_denial + 1  # the denial challenger was registered ...
    assert aliases(store) == before  # ... but nothing moved


def test_a_challenger_with_impossible_probabilities_is_refused_not_crashed() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.1, 0.9, 1000)
    y = rng.random(1000) < p
    broken = p.copy()
    broken[[3, 7]] = [np.nan, np.inf]
    decision = judge(y=y, p_challenger=broken, p_champion=p)
    assert not decision.promote
    assert any(r.startswith("FAILED predictions") for r in decision.reasons), decision.reasons


def test_calibration_allowance_shrinks_with_more_rows() -> None:
    rng = np.random.default_rng(1)
    small_p, large_p = rng.uniform(0.2, 0.8, 300), rng.uniform(0.2, 0.8, 30_000)
    small = judge(y=(rng.random(300) < small_p), p_challenger=small_p, p_champion=None)
    large = judge(y=(rng.random(30_000) < large_p), p_challenger=large_p, p_champion=None)
    assert isinstance(small, GateDecision) and small.promote and large.promote
    assert small.challenger["ece_noise_q95"] > 3 * large.challenger["ece_noise_q95"]
    off = judge(y=(rng.random(30_000) < large_p), p_challenger=large_p * 0.5, p_champion=None)
    assert not off.promote and any(r.startswith("FAILED calibration ceiling") for r in off.reasons)


def test_the_champion_is_judged_on_point_in_time_features(small_world: Path, tmp_path: Path) -> None:
    """Scoring a saved model the way the gate scores a champion reproduces, exactly, the scores its own training
    run gave its evaluation rows with features as of each submission; its frozen snapshot does not (it counts
    outcomes that arrived after the evaluated claims, their own among them)."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.payer_rules import load_payer_rules
    from features.contract.time_cut import known_at
    from features.contract.validation import load_validated
    from features.denial_features import DenialFeatureBuilder
    from features.recovery_features import RecoveryFeatureBuilder, denial_frame
    from training.denial_job import train_denial_risk
    from training.recovery_job import train_recovery

    as_of = month_start("2024-03")
    tables = known_at(load_validated(small_world, max_reject_rate=0.05).tables, as_of)
    codes, rules = load_code_tables(), load_payer_rules(data_dir=small_world)
    labels = compute_labels(tables, codes=codes, maturity_days=180, as_of=as_of)

    options, run = RunOptions(home=tmp_path, seed=3), TrainRun(register=False, as_of=as_of)
    model, report = train_denial_risk(small_world, options=options, run=run)
    assert report.evaluation is not None
    saved = Path(model.save(tmp_path / "denial"))
    history = DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=codes)
    honest = denial_scores(saved, report.evaluation, tables, history=history)
    np.testing.assert_allclose(honest, report.evaluation["p"].to_numpy(), rtol=0, atol=1e-12)
    snapshot = denial_scores(saved, report.evaluation, tables)
    assert not np.allclose(snapshot, honest)

    rec_model, rec = train_recovery(small_world, options=options, run=run)
    assert rec.evaluation is not None
    worked = rec.evaluation[rec.evaluation["worked"]]
    frame = denial_frame(tables, labels, codes=codes, rules=rules)
    rows = frame.set_index("claim_id").loc[worked["claim_id"]].reset_index()
    saved_rec = Path(rec_model.save(tmp_path / "recovery"))
    rec_history = RecoveryFeatureBuilder(maturity_days=180).fit(denials=frame, labels=labels)
    honest_rec = recovery_scores(saved_rec, rows, history=rec_history)
    np.testing.assert_allclose(honest_rec, worked["p"].to_numpy(), rtol=0, atol=1e-12)


def test_history_must_be_unfrozen_and_built_alike(small_world: Path) -> None:
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.payer_rules import load_payer_rules
    from features.contract.validation import load_validated
    from features.denial_features import DenialFeatureBuilder

    tables = load_validated(small_world, max_reject_rate=0.05).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    fit = lambda **kw: DenialFeatureBuilder(**kw).fit(  # noqa: E731
        tables=tables, labels=labels, rules=load_payer_rules(data_dir=small_world), codes=codes
    )
    model_state, history = fit(), fit()
    frozen = fit().freeze(as_of_day=19_800)
    with pytest.raises(ValueError, match="unfrozen"):
        model_state.with_history_of(frozen)
    with pytest.raises(ValueError, match="window or prior"):
        model_state.with_history_of(fit(prior_strength=5.0))
    twin = model_state.with_history_of(history)
    assert twin.line_aggregates_ is history.line_aggregates_ and twin.levels_ is model_state.levels_


def test_rerunning_an_earlier_month_does_not_move_the_champion_back(small_world: Path, tmp_path: Path) -> None:
    """A promotion recorded for 2024-02 was judged against no champion; after 2024-03 promoted another version,
    re-running 2024-02 repeats that verdict only while its champion serves (issue 12, item 2)."""
    options = RunOptions(home=tmp_path, seed=3)
    gate = GateSettings(auc_tolerance=0.05, ece_tolerance=0.05)
    retrain(small_world, as_of_month="2024-02", options=options, kinds=["denial-risk"])
    later = retrain(small_world, as_of_month="2024-03", options=options, gate=gate, kinds=["denial-risk"])
    assert later.outcomes[0].promote and aliases(tmp_path)["denial-risk"] == "2"
    again = retrain(small_world, as_of_month="2024-02", options=options, gate=gate, kinds=["denial-risk"])
    (outcome,) = again.outcomes
    assert outcome.reused and outcome.challenger == "1" and not outcome.promote
    assert any("judged against None, the champion is now 2" in r for r in outcome.reasons)
    assert aliases(tmp_path)["denial-risk"] == "2"
    assert versions(tmp_path, "denial-risk") == 2
