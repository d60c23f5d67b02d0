# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Denial-risk model card
#
# What the model predicts, from what, how well, where it is weaker, and what it cannot see: the page a
# revenue-cycle leader and a reviewer read before trusting the scores. A plain Python file in the
# "percent" notebook format (jupytext and VS Code open it as a notebook); the test suite runs it on a
# small synthetic world (`tests/notebooks`), so it cannot rot.
#
# Run it on your own history: `CLAIMSIGHT_NOTEBOOK_DATA=DIR CLAIMSIGHT_NOTEBOOK_OUT=OUT python
# notebooks/denial_risk_model_card.py` (without DATA it generates a 20,000-claim synthetic world). It
# trains once without touching any model registry and writes `OUT/MODEL_CARD.md`.

# %%
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from features.auth_evidence import MIN_LINES, MIN_RATE
from features.auth_evidence import WINDOW_DAYS as AUTH_WINDOW_DAYS
from features.contract.run_options import RunOptions
from models.reasons import DENIAL_REASONS, group_contributions
from synthetic import generate_world, write_world
from training.denial_job import build_dataset, train_denial_risk
from training.jobs import TrainRun

OUT = Path(os.environ.get("CLAIMSIGHT_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="claimsight-card-"))
OUT.mkdir(parents=True, exist_ok=True)
if os.environ.get("CLAIMSIGHT_NOTEBOOK_DATA"):
    DATA = Path(os.environ["CLAIMSIGHT_NOTEBOOK_DATA"])
else:
    DATA = OUT / "world"
    write_world(generate_world(claims=20_000, months=12, seed=7), out_dir=DATA, fmt="parquet")
SEED = int(os.environ.get("CLAIMSIGHT_SEED", "7"))

# %% [markdown]
# ## Train and evaluate
# The same job as `claimsight train`: the latest mature months are held out, the two before them
# calibrate, everything earlier is learned from.

# %%
model, report = train_denial_risk(DATA, options=RunOptions(home=OUT / "home", seed=SEED), run=TrainRun(register=False))
split = report.split
metrics = pd.DataFrame(
    {"model": report.metrics}
    | {name: values for name, values in report.baselines.items()}
    | ({"oracle (knowable)": {"roc_auc": report.oracle["oracle_knowable_auc"]}} if report.oracle else {})
).T[["roc_auc", "pr_auc", "brier", "ece", "recall_at_80_precision", "lift_top_decile"]]
metrics

# %% [markdown]
# ## Calibration
# Mean predicted probability (`mean_p`) vs observed denial rate (`rate`) by decile of the score on the
# evaluation months: a billing team reads "30%" as "about 3 in 10 of these are denied", so the two must agree.

# %%
evaluation = report.evaluation
assert evaluation is not None
deciles = pd.qcut(evaluation["p"].rank(method="first"), 10, labels=False)
calibration = evaluation.groupby(deciles).agg(rows=("p", "size"), mean_p=("p", "mean"), rate=("denied", "mean"))
calibration.index.name = "decile"
calibration

# %% [markdown]
# ## Where it is weaker
# Payers with at least 200 evaluation claims, lowest AUC first.

# %%
by_payer = report.by_payer.copy()
weak = by_payer[by_payer["rows"] >= 200].sort_values("roc_auc").head(10)
weak

# %% [markdown]
# ## What drives the scores
# Mean absolute TreeSHAP contribution (log-odds) per reason group over the evaluation rows: the groups
# whose phrases a biller will read most often.

# %%
dataset = build_dataset(DATA, options=RunOptions())
rows = np.flatnonzero(dataset.labels["role"].to_numpy() == "evaluate")
grouped = group_contributions(model.contributions(dataset.features.X[rows]))
drivers = (
    pd.Series(np.abs(grouped).mean(axis=0), index=list(DENIAL_REASONS.group_names), name="mean abs contribution")
    .sort_values(ascending=False)
    .head(12)
)
drivers

# %% [markdown]
# ## The model card

# %%
m = report.metrics
oracle = report.oracle.get("oracle_knowable_auc")


def table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A Markdown table (index first), numbers rounded."""

    def cell(v: object) -> str:
        if not isinstance(v, float | np.floating):
            return str(v)
        x = float(v)
        if np.isnan(x):
            return "-"
        return f"{x:,.0f}" if x.is_integer() and abs(x) >= 10 else f"{x:.{digits}f}"

    head = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [
        "| " + " | ".join([str(i), *(cell(v) for v in row)]) + " |"
        for i, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join(lines)


card = f"""# ClaimSight denial-risk model

**Predicts** the probability that a claim is denied on its first payer answer (any CARC outside the
routine contractual adjustments), before it is released, with the likely root-cause category and the
reasons (TreeSHAP grouped into phrases) and a preventive action for each.

**Learns from** the team's own claims, remits and adjustments ({DATA.name}); learned on
{split.learn[0]}..{split.learn[-1]}, calibrated on {", ".join(split.calibrate)}, evaluated on
{", ".join(split.evaluate)} ({int(m["rows"]):,} claims, {m["rate"]:.1%} denied). Features use only
what was known at submission: each claim's own fields and history rates over outcomes whose first
remit came before it.

## How well

{table(metrics)}

{"" if oracle is None else f"The generator's oracle reaches {oracle:.4f} with what is knowable at submission."}

## Calibration (evaluation months, deciles of the score)

{table(calibration)}

## Weakest payers (at least 200 evaluation claims)

{table(weak.set_index("group")[["rows", "rate", "mean_p", "roc_auc"]]) if len(weak) else "None with 200 claims."}

## What drives the scores (mean absolute TreeSHAP per reason group, log-odds)

{table(drivers.to_frame())}

## What it cannot see

- Facts that never reach the claim: coverage that lapsed after verification, a wrong payer order the
  patient did not report, an authorization on file that does not match the service, a missing
  attachment. They limit any model; on synthetic data the oracle above shows what can be reached
  without them.
- Payer policy changes before their first remits. New prior-authorization requirements are learned
  from the payer's own denials ({MIN_LINES}+ lines without authorization in {AUTH_WINDOW_DAYS} days, at
  least {MIN_RATE:.0%} denied for it) and reach the model at the next monthly retrain; other changes
  (coverage, edits) only through the history rates, more slowly. `claimsight monitor` flags both.
- Claims unlike any in the history (a new payer, a new code): the history rates fall back to coarser
  levels (plan type, code family), so their scores rest on less.

Trained in {report.seconds["total"]:.0f} s; seed {SEED}; calibration by {model.calibrator_.method}.
"""
(OUT / "MODEL_CARD.md").write_text(card)
print(f"wrote {OUT / 'MODEL_CARD.md'}")
