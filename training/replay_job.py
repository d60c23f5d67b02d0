"""`claimsight simulate`: set up the held-out replay of the appeal queue, and log what it found.

The replay must judge ClaimSight the way it would have lived: a recovery model trained on the history
as known the day the replay starts (features/time_cut.known_at), scoring each denial as it arrives.
Outcomes come from the synthetic truth (truth/denials: the true probability of recovery if worked
promptly, and the expected dollars), never from the labels the model learned from.

Only denials whose recommended action can bring the payer's money back (correct and resubmit, appeal,
verify status) enter the replay: billing the patient or writing off recovers nothing from the payer
under any policy, so they would only add the same clerical minutes to every column.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels, data_as_of
from features.contract.payer_rules import load_payer_rules
from features.contract.run_options import RunOptions
from features.contract.validation import load_validated
from features.recovery_features import denial_frame
from models.recovery import PAYER_ACTIONS
from training.recovery_job import build_recovery_data, fit_recovery, recovery_split
from training.truth import read_truth

EXPERIMENT = "claimsight-simulation"


@dataclass(frozen=True)
class ReplaySetup:
    denials: pd.DataFrame  # the simulator's input (training/simulation.py), one row per replayed denial
    start: pd.Timestamp  # first arrival day, also the day the model's knowledge stops
    end: pd.Timestamp  # last arrival day
    excluded: int  # arriving denials whose recommended action brings nothing back from the payer
    model_rows: Mapping[str, int]


def prepare_replay(
    data_dir: Path,
    *,
    months: int,
    tail_days: int,
    minutes_by_action: Mapping[str, float],
    options: RunOptions,
) -> ReplaySetup:
    """Arrivals in the `months` before the last `tail_days` of the history, scored by a model trained on
    what was known on the first arrival day, with their true outcome probabilities attached."""
    truth = read_truth(data_dir, "denials")
    if truth is None:
        raise ValueError(
            "simulate needs truth/denials (a directory written by `claimsight synth`): outcomes of work never done "
            "come from the synthetic truth"
        )
    tables = load_validated(data_dir, max_reject_rate=options.max_reject_rate, threads=options.feature_threads).tables
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data_dir)
    seed, maturity_days, routine = options.seed, options.maturity_days, options.routine
    end = (data_as_of(tables) - pd.Timedelta(days=tail_days)).normalize()
    start = end - pd.DateOffset(months=months) + pd.Timedelta(days=1)

    # the model as it would have been trained on the morning of `start`
    known = build_recovery_data(tables, codes=codes, rules=rules, maturity_days=maturity_days, routine=routine,
                                as_of=start)  # fmt: skip
    months_known = known.denials.loc[known.mature, "first_remit_date"].dt.strftime("%Y-%m")
    model, _, _ = fit_recovery(known, seed=seed, split=recovery_split(months_known, eval_months=0))

    labels = compute_labels(tables, codes=codes, routine=routine, maturity_days=maturity_days)
    frame = denial_frame(tables, labels, codes=codes, rules=rules, routine=routine)
    frame = frame[frame["first_remit_date"].between(start, end)].reset_index(drop=True)
    pays = frame["recommended_action"].isin(PAYER_ACTIONS).to_numpy()
    frame = frame[pays].reset_index(drop=True)
    scored = model.score(frame, explain=False)

    t = truth.set_index("claim_id").reindex(frame["claim_id"])
    true_p = np.nan_to_num(t["p_recover_if_worked"].to_numpy(dtype=float))
    expected = np.nan_to_num(t["expected_recovered_amount"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        true_amount = np.where(true_p > 0, expected / true_p, 0.0)
    unknown = sorted(set(frame["recommended_action"]) - set(minutes_by_action))
    if unknown:
        raise ValueError(f"minutes_by_action has no minutes for actions {unknown}")
    denials = pd.DataFrame(
        {
            "claim_id": frame["claim_id"].astype(str).to_numpy(),
            "arrival": pd.to_datetime(frame["first_remit_date"]).to_numpy(),
            "deadline": pd.to_datetime(frame["deadline"]).to_numpy(),
            "action": frame["recommended_action"].astype(str).to_numpy(),
            "minutes": frame["recommended_action"].map(dict(minutes_by_action)).to_numpy(dtype=float),
            "denied_amount": frame["denied_amount"].to_numpy(dtype=float),
            "expected_recovery": scored["expected_recovery"].to_numpy(dtype=float),
            "true_p": np.clip(true_p, 0.0, 1.0),
            "true_amount": np.clip(true_amount, 0.0, None),
        }
    )
    return ReplaySetup(
        denials=denials,
        start=start,
        end=end,
        excluded=int((~pays).sum()),
        model_rows=dict(model.metadata_["rows"]),
    )


def default_capacities(denials: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp) -> tuple[float, float]:
    """(tight, loose) minutes per working day: a quarter of, and all of, the minutes that arrive per working day."""
    workdays = int(np.busday_count(start.date(), (end + pd.Timedelta(days=1)).date()))
    per_day = float(denials["minutes"].sum()) / max(workdays, 1)
    tight = max(30.0, round(per_day * 0.25 / 30.0) * 30.0)
    loose = max(tight + 30.0, round(per_day / 30.0) * 30.0)
    return tight, loose


def log_replay(
    summaries: Mapping[float, pd.DataFrame],
    *,
    setup: ReplaySetup,
    params: Mapping[str, Any],
    options: RunOptions,
) -> str:
    """One MLflow run: every policy at every capacity side by side, plus the summary table as an artifact."""
    import mlflow

    from training.tracking import code_version, configure

    configure(home=options.home, tracking_uri=options.tracking_uri, experiment=EXPERIMENT)
    with mlflow.start_run(run_name="appeal-queue-replay") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                **params,
                "start": setup.start.strftime("%Y-%m-%d"),
                "end": setup.end.strftime("%Y-%m-%d"),
                "denials": len(setup.denials),
                "excluded_no_payer_action": setup.excluded,
                "capacities": ",".join(f"{c:g}" for c in summaries),
            }
        )
        mlflow.set_tags({f"code.{k}": v for k, v in code_version().items()})
        metrics = {}
        for capacity, summary in summaries.items():
            for _, row in summary.iterrows():
                for key in ("expected_dollars", "recovered_dollars", "dollars_per_staff_hour", "deadlines_missed",
                            "missed_worth_meeting", "share_of_oracle", "staff_hours"):  # fmt: skip
                    value = float(row[key])
                    if np.isfinite(value):
                        metrics[f"cap{capacity:g}.{row['policy']}.{key}"] = value
        mlflow.log_metrics(metrics)
        table = pd.concat([s.assign(capacity_minutes=c) for c, s in summaries.items()], ignore_index=True)
        path = Path(tmp) / "replay_summary.csv"
        table.to_csv(path, index=False)
        (Path(tmp) / "replay_summary.json").write_text(json.dumps(table.to_dict("records"), indent=1, default=str))
        mlflow.log_artifacts(tmp, artifact_path="simulation")
        return str(run.info.run_id)
