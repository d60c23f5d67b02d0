"""The commands that run on the synthetic world: `simulate` (the queue policy judged against the generator's
truth), `demo` (the main job end to end) and `bench` (speed and memory at scale).

With `synth`, they are the only commands allowed to reach the generator (tests/architecture/test_layers.py),
so a team's own data never flows through it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from claimsight import shell
from claimsight.commands.data import ingest, kpis, synth
from claimsight.commands.models import RankedQueue, queue, ranked_queue, score_claims_command, train
from claimsight.commands.report import report
from claimsight.shell import DataDir

DEMO_TODAY_FILE = "workspace-today"  # in CLAIMSIGHT_HOME/demo: the demo queue's day, which `make serve` pins


def simulate(
    data: DataDir,
    capacity_minutes: Annotated[
        list[float] | None,
        typer.Option(min=1.0, help="team minutes per working day (repeat); default: tight and loose for the data"),
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=12, help="months of denials to replay")] = 3,
    tail_days: Annotated[int, typer.Option(min=0, help="days of work after the last arrival")] = 30,
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
    log: Annotated[bool, typer.Option(help="log the results to MLflow")] = True,
) -> dict[float, pd.DataFrame]:
    """Replay held-out months day by day: oldest, largest, nearest-deadline first, ClaimSight and an oracle."""
    from claimsight.render import simulation_table
    from features.decisions.queue_plan import DEFAULT_MINUTES
    from training.replay_job import default_capacities, log_replay, prepare_replay
    from training.simulation import simulate as replay
    from training.simulation import standard_policies
    from training.truth import read_truth

    options = shell.settings(seed=seed).run_options()
    if read_truth(data, "denials") is None:
        raise typer.BadParameter(
            "no truth/denials here: the replay draws outcomes from the synthetic truth of `claimsight synth`",
            param_hint="--data",
        )
    shell.validated(data, options=options)
    setup = prepare_replay(
        data,
        months=months,
        tail_days=tail_days,
        minutes_by_action=DEFAULT_MINUTES,
        options=options,
    )
    capacities = (
        tuple(capacity_minutes)
        if capacity_minutes
        else default_capacities(setup.denials, start=setup.start, end=setup.end)
    )
    summaries: dict[float, pd.DataFrame] = {}
    for capacity in capacities:
        result = replay(
            setup.denials,
            policies=standard_policies(capacity_minutes=capacity),
            capacity_minutes=capacity,
            start=setup.start.date(),
            end=setup.end.date(),
            tail_days=tail_days,
            seed=options.seed,
        )
        simulation_table(shell.console(), result.summary, capacity=capacity, days=result.days, denials=result.denials)
        summaries[capacity] = result.summary
        by = result.summary.set_index("policy")["expected_dollars"]
        shell.console().print(
            f"ClaimSight: {by['claimsight'] / by['oracle']:.1%} of the oracle's expected dollars, "
            f"{by['claimsight'] / by['largest_first']:.3f}x largest-amount-first"
        )
    shell.console().print(
        f"replayed denials arriving {setup.start:%Y-%m-%d}..{setup.end:%Y-%m-%d} with a recovery model trained on "
        f"what was known on {setup.start:%Y-%m-%d}; {setup.excluded:,} arrivals whose action recovers nothing from "
        "the payer (bill patient, write off) left out"
    )
    if log:
        run = log_replay(
            summaries,
            setup=setup,
            params={"months": months, "tail_days": tail_days, "seed": options.seed},
            options=options,
        )
        shell.console().print(f"logged to MLflow experiment claimsight-simulation, run {run}")
    return summaries


def demo(
    claims: Annotated[int, typer.Option(min=1000)] = 200_000,
    months: Annotated[int, typer.Option(min=6)] = 24,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """The main job end to end on the embedded default: synthetic history (written as 837/835 files and read
    back with `ingest`) -> validation -> KPIs -> train the
    denial-risk and recovery models (local MLflow store) -> score the claims still waiting for a payer answer
    -> rank the open denials into today's appeal queue -> load it into the team workspace with demo accounts and
    a month of simulated team work, and say how to open the workspace in a browser -> build the leader's
    dashboard and say where to see it."""
    from claimsight.team_workspace import default_file

    settings = shell.settings()
    demo_dir = settings.home / "demo"
    world = demo_dir / f"synthetic-{claims}-{months}-{seed}"
    for stale in (default_file(settings), *(default_file(settings).with_name(default_file(settings).name + s)
                                            for s in ("-wal", "-shm"))):  # fmt: skip
        stale.unlink(missing_ok=True)  # the demo's workspace is rebuilt each run (and not learned from in step 3)
    shell.console().rule("1. synthetic history, as a billing team has it: 837 and 835 files")
    if (world / "x12").is_dir():
        shell.console().print(f"reusing {world}")
    else:
        synth(out=world, claims=claims, months=months, seed=seed, fmt="x12")
    data = demo_dir / f"from-x12-{claims}-{months}-{seed}"
    shell.console().rule("1b. claimsight ingest: the X12 files into the DATA.md tables")
    ingest(paths=[world / "x12"], out=data)  # idempotent: a second demo adds nothing
    for name in ("followups.parquet", "payer_rules.yaml"):  # the team's work log and rules: not X12
        shutil.copyfile(world / name, data / name)
    shell.console().rule("2. validation, labels and KPIs")
    kpis(data=data, by=["month", "payer", "category"], csv=demo_dir / "kpis.csv", top=8, as_of=None)
    shell.console().rule("3. train the denial-risk and recovery models (MLflow store in " + str(settings.home) + ")")
    versions = train(data=data, seed=None, register=True, model=None)
    shell.console().rule("4. score the claims awaiting a payer answer (the version just trained)")
    score_claims_command(
        data=data,
        out=demo_dir / "scores.csv",
        model=versions.get("denial-risk") or "champion",
        claims_file=None,
        target_precision=None,
        review_capacity=None,
        show=3,
    )
    shell.console().rule("5. today's appeal queue for one biller (480 minutes a day)")
    ranked = queue(
        data=data,
        out=demo_dir / "queue.csv",
        capacity_minutes=480.0,
        model=versions.get("recovery") or "champion",
        today=None,
        horizon_days=3,
        cost_per_minute=0.75,
        show=5,
    )
    demo_workspace(ranked, data=data, model=versions.get("recovery") or "champion", scores=demo_dir / "scores.csv",
                   seed=seed)  # fmt: skip
    demo_report(data=data)


def demo_report(*, data: Path) -> Path:
    """Step 7 of the demo: the leader's dashboard built into CLAIMSIGHT_HOME/demo/report (with the month of team
    work the workspace recorded, and the models just trained), where `claimsight serve` finds it by itself."""
    from claimsight.settings import DEMO_REPORT

    settings = shell.settings()
    console = shell.console()
    console.rule("7. the leader's dashboard: KPIs, prevention, learned edits, the team's work and model health")
    out = report(data=data, out=settings.home / DEMO_REPORT, as_of=None, model_health=True, monitor=True,
                 backtest=None, edits=True)  # fmt: skip
    address = f"http://{settings.api_host}:{settings.api_port}/app/dashboard"
    console.print(
        f"the dashboard: open [bold]{(out / 'index.html').resolve()}[/] from disk, or after [bold]make serve[/] "
        f"sign in as the manager at [bold]{address}[/]"
    )
    if settings.workspace_report_dir is not None:
        console.print("[yellow]note[/]: CLAIMSIGHT_WORKSPACE_REPORT_DIR is set, so the workspace serves that report, "
                      "not this one; unset it to see the demo's.")  # fmt: skip
    return out


def demo_workspace(ranked: RankedQueue, *, data: Path, model: str, scores: Path, seed: int) -> None:
    """Step 6 of the demo: the team workspace in CLAIMSIGHT_HOME (workspace.db) with one account per role, a
    month of simulated team work on the queue, today's queue ranked again without what the month worked, the
    claims held for review; then how to open it."""
    import datetime as dt

    from claimsight.commands.workspace import print_logins, sync_ranked
    from claimsight.team_workspace import default_file, review_rows, training_data
    from serving.appeal_queue import workspace_rows
    from serving.workspace.database import default_workspace_url, open_workspace
    from serving.workspace.demo import create_demo_users, simulate_team_month
    from serving.workspace.reviews import sync_review_claims

    settings = shell.settings()
    console = shell.console()
    console.rule("6. the team workspace: accounts, the queue, a month of simulated team work")
    engine = open_workspace(default_workspace_url(settings.home))
    try:
        logins = create_demo_users(engine)
        rows = workspace_rows(ranked.frame, ranked.found.denials, ranked.tables)
        start = ranked.day - dt.timedelta(days=30)
        with console.status(f"simulating the team's month from {start} (as the pages would record it)"):
            month = simulate_team_month(engine, rows, seed=seed, start=start, days=30)
        with console.status("re-ranking today's queue without the denials the month worked"):
            with training_data(data, settings) as source:  # the month's work merged into followups
                today = ranked_queue(source, model=model, capacity_minutes=480.0, today=ranked.day.isoformat())
            sync_ranked(engine, today)
        flagged = sync_review_claims(engine, review_rows(pd.read_csv(scores, dtype={"claim_id": str}), ranked.tables))
    finally:
        engine.dispose()
    resolved = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in month.resolved.items()) or "none yet"
    console.print(
        f"{default_file(settings)}: {len(rows):,} queued denials; in the month {month.items_worked:,} were worked "
        f"({month.minutes:,.0f} minutes), {month.sent:,} sent to payers, resolved: {resolved}; "
        f"{month.unresolved:,} still open. {flagged:,} claims wait in pre-release review."
    )
    console.rule("open the team workspace")
    # The demo's history ends long before the calendar's today, which would put every deadline in the past:
    # `make serve` pins the pages' today to the queue's (CLAIMSIGHT_WORKSPACE_TODAY) from this file.
    (settings.home / "demo" / DEMO_TODAY_FILE).write_text(ranked.day.isoformat() + "\n", encoding="utf-8")
    address = f"http://{settings.api_host}:{settings.api_port}/app"
    console.print(
        f"run [bold]make serve[/] (or `CLAIMSIGHT_WORKSPACE_TODAY={ranked.day} claimsight serve`: the demo's today is "
        f"its queue's, {ranked.day}), then open [bold]{address}[/] and sign in:"
    )
    print_logins(console, logins)
    console.print(
        "the specialist works the queue, the reviewer decides the pre-release claims, the manager sees the team's "
        "queue and assigns items, the admin manages accounts (`claimsight workspace user add`)."
    )
    if settings.workspace_database_url:
        console.print(
            "[yellow]note[/]: CLAIMSIGHT_WORKSPACE_DATABASE_URL is set, so `claimsight serve` opens that database, "
            "not this demo's; unset it to open the demo workspace."
        )


def bench(
    claims: Annotated[int, typer.Option(min=1000)] = 1_000_000,
    months: Annotated[int, typer.Option(min=6)] = 36,
    seed: Annotated[int, typer.Option()] = 7,
    structure: Annotated[
        str, typer.Option(help="the synthetic world: standard, or scrambled (the second world, `claimsight synth`)")
    ] = "standard",
    workdir: Annotated[Path | None, typer.Option(help="default: a temporary directory")] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(help="synth, load, train, score, ingest, report (repeat; default all of these), or workspace"),
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="train and score on this Dask cluster (local:N, or a scheduler address)")
    ] = None,
    cluster_fit: Annotated[bool, typer.Option("--cluster-fit", help="with --cluster: fit LightGBM there too")] = False,
) -> None:
    """Measure each stage in its own process: wall time, peak RSS, and the denial model's accuracy and speed.

    `--stage workspace`: the team workspace's queue page, item page and recording work on the world's open
    denials (SQLite in the work directory, or CLAIMSIGHT_BENCH_WORKSPACE_URL)."""
    from claimsight.bench import EXTRA_STAGES, STAGES, run_bench

    stages = tuple(stage) if stage else STAGES
    if structure not in ("standard", "scrambled"):
        raise typer.BadParameter("must be standard or scrambled", param_hint="--structure")
    if any(s not in STAGES + EXTRA_STAGES for s in stages):
        raise typer.BadParameter(f"choose from {', '.join(STAGES + EXTRA_STAGES)}", param_hint="--stage")
    if cluster is not None:
        from claimsight.settings import check_address

        try:
            check_address(cluster)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--cluster") from None
    run_bench(shell.console(), claims=claims, months=months, seed=seed, workdir=workdir, stages=stages,
              structure=structure, cluster=cluster, cluster_fit=cluster_fit)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Order matters: it is the order `claimsight --help` lists the commands in."""
    app.command()(simulate)
    app.command()(demo)
    app.command()(bench)
