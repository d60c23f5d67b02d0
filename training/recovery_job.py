"""`claimsight train` (recovery half): denials in, a registered and evaluated recovery model out.

Steps: the history as known on `as_of` -> labels -> one denial_frame (codes, action, deadline) ->
point-in-time recovery features for every mature denial -> split by month of the denial (learn,
calibrate, latest mature months to evaluate) -> fit the propensity-weighted model and, beside it, the
unweighted one the issue asks to compare -> evaluate on worked denials (and against the synthetic
oracle when truth/ exists) -> freeze the history snapshot -> save, write the model card, log and
register `claimsight-recovery` in MLflow.

Selection bias: the recovery head can only learn from denials the team worked; the ones it skipped
were mostly small or hopeless-looking. The propensity head P(worked | X) re-weights the worked
denials toward all denials; the report shows whether that helped on this history (it is a measured
choice, not an article of faith).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.claim_fields import day_number
from features.contract.codes import CodeTables, load_code_tables
from features.contract.labels import compute_labels, data_as_of
from features.contract.payer_rules import PayerRules, load_payer_rules
from features.contract.resubmissions import new_claim_links
from features.contract.run_options import RunOptions
from features.contract.time_cut import known_at
from features.contract.validation import load_validated
from features.recovery_features import RecoveryFeatureBuilder, denial_frame, recovery_events
from models.catalog import RECOVERY
from models.recovery import RecoveryModel, expected_dollars, worked_mask
from training import evaluation as ev
from training.jobs import DEFAULT_RUN, JobReport, Judging, TrainingJob, TrainRun, log_and_register
from training.splits import NotEnoughHistory, TimeSplit
from training.truth import read_truth

log = logging.getLogger(__name__)
MODEL_NAME = RECOVERY.registry_name


@dataclass(kw_only=True)
class RecoveryReport(JobReport):
    """`metrics`: the registered (propensity-weighted) model on worked evaluation denials; `evaluation`:
    claim_id, worked, recovered, p (the rows a champion is judged on)."""

    unweighted: dict[str, float]  # the same evaluation for the model without weights
    dollars: dict[str, float]  # expected-dollar ranking vs the synthetic truth (when truth/ exists)
    oracle: dict[str, float]
    rows: dict[str, int]

    def logged_metrics(self) -> dict[str, Mapping[str, float]]:
        return {
            "eval": self.metrics,
            "unweighted": self.unweighted,
            "oracle": self.oracle,
            "dollars": self.dollars,
            "rows": {k: float(v) for k, v in self.rows.items()},
        }

    def summary(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "unweighted": self.unweighted, "oracle": self.oracle,
                "dollars": self.dollars, "rows": self.rows}  # fmt: skip


@dataclass
class RecoveryData:
    """Every denial of the history with its point-in-time features; the mature ones carry outcomes."""

    denials: pd.DataFrame  # denial_frame of every initial denial (time order), with recovered/worked where mature
    X: np.ndarray  # features of `denials`, same rows
    builder: RecoveryFeatureBuilder
    as_of: pd.Timestamp

    @property
    def mature(self) -> np.ndarray:
        return self.denials["recovered"].notna().to_numpy()


def build_recovery_data(
    tables: Mapping[str, pd.DataFrame],
    *,
    codes: CodeTables,
    rules: PayerRules,
    maturity_days: int,
    routine: frozenset[tuple[str, str]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> RecoveryData:
    """Cut the history at `as_of` (default: its last date), label it, and build every denial's features."""
    if as_of is not None:
        tables = known_at(tables, as_of)
    as_of = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity_days, as_of=as_of)
    frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
    builder = RecoveryFeatureBuilder(maturity_days=maturity_days).fit(denials=frame, labels=labels)
    order = np.lexsort((frame["claim_id"].to_numpy(), day_number(frame["first_remit_date"])))
    frame = frame.iloc[order].reset_index(drop=True)
    outcomes = recovery_events(frame, labels, maturity_days=maturity_days).set_index("claim_id")
    frame["recovered"] = frame["claim_id"].map(outcomes["recovered"])
    frame["recovered_share"] = frame["claim_id"].map(outcomes["recovered_share"])
    links = new_claim_links(tables, codes=codes, routine=routine, maturity_days=maturity_days)
    frame["worked"] = worked_mask(tables, frame, links=links)
    X, _ = builder.transform(denials=frame)
    return RecoveryData(denials=frame, X=X, builder=builder, as_of=as_of)


def mature_months(denials: pd.DataFrame) -> pd.Series:
    """YYYY-MM of the first remit of every denial whose outcome counts (its maturity window has closed): what
    `recovery_split` splits."""
    return denials.loc[denials["recovered"].notna(), "first_remit_date"].dt.strftime("%Y-%m")


def check_history(
    tables: Mapping[str, pd.DataFrame], *, data_dir: Path, options: RunOptions, as_of: pd.Timestamp
) -> None:
    """Raise NotEnoughHistory when the history as known on `as_of` (`tables`, already cut) is too short for the
    split `train_recovery` would choose; labels and outcomes only, no features, so it is cheap to ask first."""
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data_dir)
    routine, maturity = options.routine, options.maturity_days
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity, as_of=as_of)
    frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
    outcomes = recovery_events(frame, labels, maturity_days=maturity).set_index("claim_id")
    recovery_split(mature_months(frame.assign(recovered=frame["claim_id"].map(outcomes["recovered"]))))


def recovery_split(months: pd.Series, *, eval_months: int = 3, calibrate_months: int = 2) -> TimeSplit:
    """Months (YYYY-MM of the denial) of the mature denials: latest to evaluate, before them to calibrate."""
    present = [str(m) for m in sorted(months.dropna().unique())]
    need = eval_months + calibrate_months + 2
    if len(present) < need:
        raise NotEnoughHistory(
            f"need denials whose maturity window has closed in at least {need} months to train and evaluate the "
            f"recovery model; found {len(present)}: give --data a longer history"
        )
    cut = len(present) - eval_months
    evaluate = present[cut:]
    calibrate = present[cut - calibrate_months : cut]
    learn = present[: cut - calibrate_months]
    return TimeSplit(tuple(learn), tuple(calibrate), tuple(evaluate), ())


def fit_recovery(
    data: RecoveryData, *, seed: int, model: RecoveryModel | None = None, split: TimeSplit | None = None
) -> tuple[RecoveryModel, RecoveryModel, TimeSplit]:
    """(propensity-weighted model, unweighted model, split), both fitted on the same rows."""
    mature = data.mature
    months = mature_months(data.denials)
    split = split or recovery_split(months)
    role = split.role(months).to_numpy()
    rows = np.flatnonzero(mature)[np.isin(role, ["learn", "calibrate"])]
    cal = data.denials["first_remit_date"].dt.strftime("%Y-%m").to_numpy()[rows]
    fitted = []
    for weighting in (True, False):
        base = model if (model is not None and weighting) else RecoveryModel(seed=seed)
        base.propensity_weighting = weighting
        fitted.append(
            base.fit(
                builder=data.builder,
                X=data.X[rows],
                recovered=data.denials["recovered"].to_numpy(dtype=float, na_value=np.nan)[rows],
                recovered_share=data.denials["recovered_share"].to_numpy(dtype=float, na_value=np.nan)[rows],
                worked=data.denials["worked"].to_numpy(dtype=bool)[rows],
                calibrate_rows=np.isin(cal, split.calibrate),
            )
        )
    return fitted[0], fitted[1], split


def evaluation_rows(data: RecoveryData, split: TimeSplit) -> np.ndarray:
    months = data.denials["first_remit_date"].dt.strftime("%Y-%m")
    return np.flatnonzero(data.mature & months.isin(split.evaluate).to_numpy())


def evaluate_recovery(
    model: RecoveryModel, data: RecoveryData, rows: np.ndarray, *, truth: pd.DataFrame | None = None
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(metrics on worked denials, oracle comparison, dollar ranking) for the evaluation rows."""
    frame = data.denials.iloc[rows]
    X = data.X[rows]
    pred = model.predict(X)
    worked = frame["worked"].to_numpy(dtype=bool)
    y = frame["recovered"].to_numpy(dtype=float, na_value=np.nan)[worked]
    p = pred["p_recover"].to_numpy()[worked]
    metrics = ev.score_metrics(y, p)
    # the same ranking judged on all denials: worked rows re-weighted by 1 / P(worked)
    w = 1.0 / np.clip(pred["p_worked"].to_numpy()[worked], 0.05, 1.0)
    if len(np.unique(y)) == 2:
        metrics["roc_auc_reweighted"] = float(roc_auc_score(y, p, sample_weight=w))
    metrics["worked_share"] = float(worked.mean()) if len(worked) else float("nan")
    oracle: dict[str, float] = {}
    dollars: dict[str, float] = {}
    if truth is not None:
        t = truth.set_index("claim_id").reindex(frame["claim_id"])
        true_p = t["p_recover_if_worked"].to_numpy(dtype=float)
        if len(np.unique(y)) == 2 and np.isfinite(true_p[worked]).all():
            oracle["oracle_auc"] = float(roc_auc_score(y, true_p[worked]))
            oracle["oracle_gap"] = oracle["oracle_auc"] - metrics["roc_auc"]
        true_value = np.nan_to_num(t["expected_recovered_amount"].to_numpy(dtype=float))
        expected = expected_dollars(pred, frame["denied_amount"].to_numpy(dtype=float))
        dollars = dollar_capture(true_value, {"model": expected, "largest_amount": frame["denied_amount"].to_numpy()})
    return metrics, oracle, dollars


def dollar_capture(true_value: np.ndarray, scores: Mapping[str, np.ndarray], *, share: float = 0.2) -> dict[str, float]:
    """True expected dollars in each score's top `share` of denials, over the most any ranking could put there."""
    k = max(1, int(len(true_value) * share))
    best = float(np.sort(true_value)[::-1][:k].sum())
    out = {}
    for name, s in scores.items():
        top = np.argsort(-np.asarray(s, dtype=float), kind="stable")[:k]
        out[f"capture_top{int(share * 100)}_{name}"] = float(true_value[top].sum() / best) if best > 0 else float("nan")
    return out


def train_recovery(
    data_dir: Path, *, options: RunOptions, run: TrainRun = DEFAULT_RUN
) -> tuple[RecoveryModel, RecoveryReport]:
    """`run.as_of`: train on the history as known that morning (features/contract/time_cut.py); default everything."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    tables = load_validated(data_dir, max_reject_rate=options.max_reject_rate, threads=options.feature_threads).tables
    data = build_recovery_data(
        tables,
        codes=load_code_tables(),
        rules=load_payer_rules(data_dir=data_dir),
        maturity_days=options.maturity_days,
        routine=options.routine,
        as_of=run.as_of,
    )
    seconds["features"] = time.perf_counter() - t0

    t = time.perf_counter()
    weighted, unweighted, split = fit_recovery(data, seed=options.seed)
    seconds["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = evaluation_rows(data, split)
    truth = read_truth(data_dir, "denials")
    metrics, oracle, dollars = evaluate_recovery(weighted, data, rows, truth=truth)
    plain, _, plain_dollars = evaluate_recovery(unweighted, data, rows, truth=truth)
    dollars |= {f"{k}_unweighted": v for k, v in plain_dollars.items() if k.endswith("_model")}
    seconds["evaluate"] = time.perf_counter() - t

    weighted.builder_.freeze(as_of_day=int(day_number(pd.Series([data.as_of]))[0]))
    weighted.metadata_ |= {
        "trained_as_of": data.as_of.strftime("%Y-%m-%d"),
        "split": {"learn": list(split.learn), "calibrate": list(split.calibrate), "evaluate": list(split.evaluate)},
        "metrics": metrics,
        "metrics_unweighted": plain,
        "calibration": weighted.calibrator_.method,
    }
    mature = data.mature
    report = RecoveryReport(
        metrics=metrics,
        unweighted=plain,
        dollars=dollars,
        oracle=oracle,
        split=split,
        rows={
            "denials": len(data.denials),
            "mature": int(mature.sum()),
            "mature_worked": int((mature & data.denials["worked"].to_numpy(dtype=bool)).sum()),
            "evaluate": len(rows),
            **weighted.metadata_["rows"],
        },
        seconds=seconds,
        evaluation=pd.DataFrame(
            {
                "claim_id": data.denials["claim_id"].to_numpy()[rows].astype(str),
                "worked": data.denials["worked"].to_numpy(dtype=bool)[rows],
                "recovered": data.denials["recovered"].to_numpy(dtype=float, na_value=np.nan)[rows],
                "p": weighted.predict(data.X[rows])["p_recover"].to_numpy(),
            }
        ),
    )
    if run.register:
        t = time.perf_counter()
        _log_and_register(weighted, report, data_dir=data_dir, options=options, run=run)
        seconds["mlflow"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return weighted, report


def model_card(report: RecoveryReport) -> str:
    """The recovery model's card: what it predicts, from what, how well, and the selection bias it carries."""
    m, u = report.metrics, report.unweighted

    def fmt(d: Mapping[str, float], key: str) -> str:
        v = d.get(key)
        return "n/a" if v is None or not np.isfinite(v) else f"{v:.4f}"

    lines = [
        "# claimsight-recovery: model card",
        "",
        "Predicts, for a denial on the day its remit arrives, P(money comes back | the team works it) and the",
        "share of the denied amount that comes back if it does; expected_recovery = p x share x denied amount",
        "(zero for bill_patient / write_off, which bring nothing back from the payer).",
        "",
        f"Split by month of the denial: learn {report.split.learn[0]}..{report.split.learn[-1]}, calibrate "
        f"{', '.join(report.split.calibrate)}, evaluate {', '.join(report.split.evaluate)}.",
        f"Rows: {report.rows['mature']:,} mature denials, {report.rows['mature_worked']:,} of them worked.",
        "",
        "## Selection bias",
        "",
        "Outcomes exist only for denials the team chose to work. The team worked larger denials and some",
        "categories far more often, so worked denials are not a random sample of the denials the model scores.",
        "Unworked denials are not negatives (nobody asked the payer). What the model does about it: a",
        "propensity head P(worked | features) is fitted on every mature denial, and the recovery head is fitted",
        "on worked denials weighted by 1 / clip(P(worked), 0.05, 1), so the rare kinds of worked denials stand",
        "for the many unworked ones like them. It cannot fix kinds of denials the team never works (no",
        "outcome at all): their scores lean on the category / CARC / payer history of the nearest worked kinds.",
        "",
        "| evaluation (worked denials, latest mature months) | weighted (registered) | unweighted |",
        "|---|---|---|",
        f"| ROC AUC | {fmt(m, 'roc_auc')} | {fmt(u, 'roc_auc')} |",
        f"| ROC AUC re-weighted to all denials | {fmt(m, 'roc_auc_reweighted')} | {fmt(u, 'roc_auc_reweighted')} |",
        f"| PR AUC | {fmt(m, 'pr_auc')} | {fmt(u, 'pr_auc')} |",
        f"| ECE | {fmt(m, 'ece')} | {fmt(u, 'ece')} |",
        f"| Brier | {fmt(m, 'brier')} | {fmt(u, 'brier')} |",
    ]
    if report.oracle:
        lines += ["", f"Synthetic oracle (true P(recover if worked)) AUC {fmt(report.oracle, 'oracle_auc')}, "
                  f"gap {fmt(report.oracle, 'oracle_gap')}."]  # fmt: skip
    if report.dollars:
        captured = ", ".join(f"{k.removeprefix('capture_top20_')} {v:.3f}" for k, v in report.dollars.items())
        lines += ["", f"True expected dollars in the top 20% of denials, share of the best possible: {captured}."]
    return "\n".join(lines) + "\n"


def _log_and_register(
    model: RecoveryModel,
    report: RecoveryReport,
    *,
    data_dir: Path,
    options: RunOptions,
    run: TrainRun,
) -> None:
    def model_files(model_dir: Path) -> None:
        (model_dir / "MODEL_CARD.md").write_text(model_card(report))

    log_and_register(model, report, kind=RECOVERY, data_dir=data_dir, options=options, model_files=model_files, run=run)


def recovery_scores(path: Path, rows: pd.DataFrame, *, history: RecoveryFeatureBuilder | None = None) -> np.ndarray:
    """A saved model's P(recovered | worked) for denial_frame rows; over `history` when given."""
    model = RecoveryModel.load(path)
    if history is not None:
        model.builder_ = model.builder_.with_history_of(history)
    return model.predict(model.features(denials=rows))["p_recover"].to_numpy()


def judging(
    report: RecoveryReport,
    *,
    data_dir: Path,
    tables: Mapping[str, pd.DataFrame],
    options: RunOptions,
    as_of: pd.Timestamp,
) -> Judging:
    """The worked evaluation denials (only they have an outcome); point-in-time recovery history as known on
    `as_of`."""
    assert report.evaluation is not None
    evaluation = report.evaluation[report.evaluation["worked"]]
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data_dir)
    routine, maturity = options.routine, options.maturity_days
    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity, as_of=as_of)
    frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
    rows = frame.set_index("claim_id").loc[evaluation["claim_id"]].reset_index()

    def score(path: Path, point_in_time: bool) -> np.ndarray:
        history = (
            RecoveryFeatureBuilder(maturity_days=maturity).fit(denials=frame, labels=labels) if point_in_time else None
        )
        return recovery_scores(path, rows, history=history)

    return Judging(
        y=evaluation["recovered"].to_numpy(dtype=float), p_challenger=evaluation["p"].to_numpy(), score=score
    )


JOB = TrainingJob(kind=RECOVERY, train=train_recovery, judging=judging, check_history=check_history)
