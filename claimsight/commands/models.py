"""The model commands: `train`, `score claims` (before release) and `queue` (after a denial)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from claimsight import shell
from claimsight.shell import DataDir

if TYPE_CHECKING:
    from serving.appeal_queue import OpenDenials

CLUSTER_HELP = (
    "build the features (and score) on a Dask cluster: tcp://scheduler:8786, or local / local:N for N worker "
    "processes here; default CLAIMSIGHT_DASK_SCHEDULER, unset = this process"
)


def train(
    data: DataDir,
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
    register: Annotated[bool, typer.Option(help="log to MLflow and register the model")] = True,
    model: Annotated[
        list[str] | None, typer.Option(help="a model kind of the catalog: denial-risk, recovery (repeat; default all)")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help=CLUSTER_HELP)] = None,
    cluster_fit: Annotated[
        bool | None,
        typer.Option(
            "--cluster-fit", help="also fit LightGBM on the cluster (lightgbm.dask); default CLAIMSIGHT_DASK_FIT"
        ),
    ] = None,
) -> dict[str, str | None]:
    """Train every model kind (denial risk, recovery), evaluate each on its latest mature months, register it.

    With a team workspace configured, the followups it recorded are learned from with the data's own."""
    from claimsight.render import job_report
    from claimsight.team_workspace import training_data
    from training.jobs import TrainRun, job_for

    chosen = shell.model_kinds(model)
    settings = shell.settings(seed=seed, dask_scheduler=cluster, dask_fit=cluster_fit)
    if settings.dask_fit and settings.dask_scheduler is None:
        raise typer.BadParameter("fitting on a cluster needs one: give --cluster too", param_hint="--cluster-fit")
    options = settings.run_options()
    versions: dict[str, str | None] = {}
    with (
        training_data(data, settings) as source,  # the team workspace's recorded work, when there is one
        shell.cluster(settings) as client,
    ):
        if source != data:
            shell.console().print("learning from the work recorded in the team workspace too (its followups)")
        shell.validated(source, options=options)
        for kind in chosen:
            run = TrainRun(
                register=register, client=client, fit_on_cluster=settings.dask_fit,
                progress=shell.progress(f"train {kind.name}"),
            )  # fmt: skip
            _, report = job_for(kind).train(source, options=options, run=run)
            job_report(shell.console(), kind, report)
            versions[kind.name] = str(report.registry["version"]) if report.registry else None
    return versions


def ablate(
    data: DataDir,
    family: Annotated[
        list[str] | None,
        typer.Option(help="a feature family to leave out (repeat; a+b leaves both out at once; default: every family)"),
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="also write the table to this CSV file")] = None,
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
) -> None:
    """Train the denial-risk model again without each feature family, beside the full model (nothing registered).

    The families are the history aggregates and the claim's own fields by reason group (training/ablation.py);
    the table says what each family is worth on this history: AUC and its change, ECE, recall at 95% precision,
    the category head's top-1/top-3 accuracy, and on synthetic data the gap to the knowable oracle."""
    import time

    from rich.table import Table

    from training.ablation import run_ablation

    options = shell.settings(seed=seed).run_options()
    console = shell.console()
    shell.validated(data, options=options)
    t0 = time.perf_counter()
    try:
        table = run_ablation(
            data, options=options, families=family,
            say=lambda text: console.print(f"ablation: {text}", highlight=False),
        )  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--family") from None
    shown = Table(title=f"denial risk without each feature family ({time.perf_counter() - t0:.0f} s)")
    for column in table.columns:
        shown.add_column(column, justify="left" if column == "without" else "right")
    for row in table.itertuples(index=False):
        shown.add_row(*(f"{v:+.4f}" if k == "auc_change" else f"{v:.4f}" if isinstance(v, float) else str(v)
                        for k, v in zip(table.columns, row, strict=True)))  # fmt: skip
    console.print(shown)
    if csv is not None:
        table.to_csv(csv, index=False)
        console.print(f"wrote {csv}")


def score_claims_command(
    data: DataDir,
    out: Annotated[Path, typer.Option(help="CSV to write, highest risk first")],
    model: Annotated[
        str, typer.Option(help="registry alias/version of claimsight-denial-risk, or a saved model directory")
    ] = "champion",
    claims_file: Annotated[
        Path | None,
        typer.Option(help="score these claims (CSV/Parquet with a claim_id column) instead of the pending ones"),
    ] = None,
    x12: Annotated[
        Path | None,
        typer.Option(
            "--x12", help="score the claims of this 837 file (gz too) instead of the pending ones; history from --data"
        ),
    ] = None,
    target_precision: Annotated[
        float | None,
        typer.Option(min=0.01, max=1.0, help="review when at least this share of reviewed claims would be denials"),
    ] = None,
    review_capacity: Annotated[int | None, typer.Option(min=0, help="review at most this many claims")] = None,
    show: Annotated[int, typer.Option(help="riskiest claims to print")] = 5,
    cluster: Annotated[str | None, typer.Option(help=CLUSTER_HELP)] = None,
) -> None:
    """p_denial, likely cause, release/review decision and the top reasons for claims not yet answered, or for
    the claims of an 837 batch held before release (`--x12`)."""
    from claimsight.render import riskiest_claims
    from features.memory import release_unused_memory
    from serving.batch_scoring import SCORING_TABLES, pending_claims, score_claims

    if x12 is not None and claims_file is not None:
        raise typer.BadParameter("give --x12 or --claims-file, not both", param_hint="--x12")
    held = None if x12 is None else shell.read_x12_claims(x12)
    settings = shell.settings(dask_scheduler=cluster)
    options = settings.run_options()
    loaded = shell.load_denial_risk(model, options=options)
    tables = shell.validated(data, options=options, tables=SCORING_TABLES).tables
    release_unused_memory()  # what reading and validating freed: scoring starts from what is alive
    if held is not None:
        claims, tables = held["claims"], shell.with_claims(tables, held)
    elif claims_file is not None:
        claims = shell.read_claims_file(claims_file, tables=tables)
    else:
        claims = pending_claims(tables)
    threshold = loaded.threshold_for(precision=target_precision)
    with shell.cluster(settings) as client:
        if client is None:
            scored = score_claims(
                loaded, claims=claims, tables=tables, threshold=threshold, review_capacity=review_capacity,
                chunk_claims=options.chunk_claims, threads=options.feature_threads, progress=shell.progress("score"),
            )  # fmt: skip
        else:
            from serving.cluster_scoring import score_claims_on_cluster

            scored = score_claims_on_cluster(
                loaded, claims=claims, tables=tables, threshold=threshold, review_capacity=review_capacity,
                chunk_claims=options.chunk_claims, client=client, progress=shell.progress("score"),
            )  # fmt: skip
    scored.to_csv(out, index=False)
    riskiest_claims(shell.console(), scored, limit=show, threshold=threshold)
    n_review = int((scored["decision"] == "review").sum())
    shell.console().print(
        f"scored {len(scored):,} claims: {n_review:,} to review (threshold {threshold:.3f}"
        f"{'' if review_capacity is None else f', capacity {review_capacity:,}'}); wrote {out}"
    )


def queue(
    data: DataDir,
    out: Annotated[Path, typer.Option(help="CSV to write, in rank order")],
    capacity_minutes: Annotated[float, typer.Option(min=1.0, help="team minutes per working day")] = 480.0,
    model: Annotated[
        str, typer.Option(help="registry alias/version of claimsight-recovery, or a saved model directory")
    ] = "champion",
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
    horizon_days: Annotated[
        int,
        typer.Option(
            min=1, help="calendar days to plan ahead (longer defers good work; see features/decisions/queue_plan.py)"
        ),
    ] = 3,
    cost_per_minute: Annotated[float, typer.Option(min=0.0, help="loaded staff cost, $ per minute")] = 0.75,
    show: Annotated[int, typer.Option(help="queue rows to print")] = 8,
) -> RankedQueue:
    """Rank the open denials: expected recovery, action, deadline, and the work plan that fits the capacity."""
    from claimsight.render import queue_table
    from features.decisions.queue_plan import summarise

    ranked = ranked_queue(
        data, model=model, capacity_minutes=capacity_minutes, today=today, horizon_days=horizon_days,
        cost_per_minute=cost_per_minute,
    )  # fmt: skip
    ranked.frame.to_csv(out, index=False)
    queue_table(shell.console(), ranked.frame, limit=show, capacity=capacity_minutes)
    s = summarise(ranked.frame)
    counts = ", ".join(f"{k} {v:,}" for k, v in s.count_by_status.items())
    found = ranked.found
    shell.console().print(
        f"{found.open_total:,} open denials ({found.in_progress:,} already worked, waiting for the payer); "
        f"queued {len(ranked.frame):,} as of {ranked.day}: {counts}\n"
        f"today: {s.items_today:,} items, {s.minutes_today:,.0f} min, ${s.expected_today:,.0f} expected; "
        f"next {horizon_days} days: {s.items_in_horizon:,} items, ${s.expected_in_horizon:,.0f} expected; wrote {out}"
    )
    return ranked


@dataclass(frozen=True)
class RankedQueue:
    frame: pd.DataFrame  # rank_queue rows (QUEUE_COLUMNS)
    found: OpenDenials  # the open denials ranked, with the counts
    tables: dict[str, pd.DataFrame]  # the validated data directory
    day: dt.date  # the queue's today


def ranked_queue(
    data: Path,
    *,
    model: str = "champion",
    capacity_minutes: float = 480.0,
    today: str | None = None,
    horizon_days: int = 3,
    cost_per_minute: float = 0.75,
) -> RankedQueue:
    """The appeal queue of `data` as `claimsight queue` ranks it (also what `workspace sync` loads)."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import data_as_of
    from features.contract.payer_rules import load_payer_rules
    from features.decisions.queue_plan import QueueSettings
    from models.catalog import RECOVERY
    from models.recovery import RecoveryModel
    from serving.appeal_queue import open_denials, rank_queue

    options = shell.settings().run_options()
    recovery = RecoveryModel.load(shell.model_dir(RECOVERY, model, options=options))
    tables = shell.validated(data, options=options).tables
    found = open_denials(tables, codes=load_code_tables(), rules=load_payer_rules(data_dir=data), options=options)
    day = (data_as_of(tables) if today is None else shell.parse_date(today, option="--today")).date()
    plan_settings = QueueSettings(
        capacity_minutes_per_day=capacity_minutes, cost_per_minute=cost_per_minute, horizon_days=horizon_days
    )
    ranked = rank_queue(recovery, found.denials, today=day, settings=plan_settings)
    return RankedQueue(frame=ranked, found=found, tables=dict(tables), day=day)


score_app = typer.Typer(
    no_args_is_help=True, help="Score claims before release (denials: `claimsight queue` and the API)."
)
score_app.command("claims")(score_claims_command)


def register(app: typer.Typer) -> None:
    """Order matters: it is the order `claimsight --help` lists the commands in."""
    app.command()(train)
    app.command()(ablate)
    app.add_typer(score_app, name="score")
    app.command()(queue)
