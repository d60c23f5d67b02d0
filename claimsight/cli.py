"""The `claimsight` command line: thin wrappers over the layers' functions.

Exit codes: 0 ok, 2 the input breaks the data contract, 3 too many rows quarantined.
Messages name tables, columns and rules, never a value from the data.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import pandas as pd
import typer
from rich.console import Console

from claimsight.loop_commands import register as register_loop_commands
from claimsight.settings import Settings
from features.contract.tables_io import Format

if TYPE_CHECKING:
    from fastapi import FastAPI

    from models.denial_risk import DenialRiskModel

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ClaimSight: denial prediction and recovery.")


def _console(*, stderr: bool = False) -> Console:
    """Made per use, not at import, so the width follows the terminal (and COLUMNS) of this run.

    Output to a file or pipe gets 140 columns instead of Rich's 80, so a logged demo stays readable.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 140
    return Console(stderr=stderr, width=width)


log = logging.getLogger("claimsight")

DataDir = Annotated[Path, typer.Option("--data", help="directory with the DATA.md tables (CSV or Parquet)")]


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="directory to write the synthetic history into")],
    claims: Annotated[int, typer.Option(min=100, help="original claims to generate")] = 100_000,
    months: Annotated[int, typer.Option(min=3, max=120, help="months of history")] = 24,
    seed: Annotated[int, typer.Option(help="random seed: same seed, byte-identical files")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
) -> None:
    """Write a synthetic claims history (tables, payer_rules.yaml, and truth/ which training never reads)."""
    from synthetic import generate_world, write_world

    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("must be parquet or csv", param_hint="--format")
    t0 = time.perf_counter()
    world = generate_world(claims=claims, months=months, seed=seed)
    write_world(world, out_dir=out, fmt=cast(Format, fmt))
    sizes = ", ".join(f"{name} {len(df):,}" for name, df in world.tables.items())
    _console().print(f"wrote {out}: {sizes} in {time.perf_counter() - t0:.1f} s")


@app.command()
def validate(
    data: DataDir,
    quarantine_dir: Annotated[Path | None, typer.Option(help="default: DATA/quarantine")] = None,
    max_reject_rate: Annotated[float | None, typer.Option(help="fail above this share of quarantined rows")] = None,
) -> None:
    """Check the tables against the data contract; bad rows go to quarantine/<table>.csv with a reason."""
    from claimsight.render import validation_report
    from features.contract.validation import load_validated

    settings = _settings(max_reject_rate=max_reject_rate)
    result = load_validated(data, max_reject_rate=settings.max_reject_rate, quarantine_dir=quarantine_dir)
    validation_report(_console(), result)
    _console().print(f"{result.total_quarantined:,} rows quarantined")


@app.command()
def kpis(
    data: DataDir,
    by: Annotated[list[str] | None, typer.Option(help="month, payer, category, provider, facility (repeat)")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write every KPI row to this CSV")] = None,
    top: Annotated[int, typer.Option(help="rows per dimension on screen")] = 12,
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
) -> None:
    """Print the denial KPIs (denial rate, avoidable share, recovery, days to resolution, open $)."""
    from claimsight.render import kpi_tables, validation_report
    from features.contract.codes import load_code_tables
    from features.contract.kpis import DIMENSIONS, compute_kpis
    from features.contract.labels import compute_labels
    from features.contract.validation import load_validated

    dims = tuple(by) if by else ("month", "payer", "category", "provider", "facility")
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise typer.BadParameter(f"choose from {', '.join(DIMENSIONS)}", param_hint="--by")
    settings = _settings()
    result = load_validated(data, max_reject_rate=settings.max_reject_rate)
    if result.total_quarantined:
        validation_report(_console(), result)
    codes = load_code_tables()
    labels = compute_labels(
        result.tables,
        codes=codes,
        routine=settings.routine_set(),
        maturity_days=settings.maturity_days,
        as_of=None if as_of is None else _date(as_of),
    )
    table = compute_kpis(labels, result.tables["claims"], codes=codes, by=dims)
    kpi_tables(_console(), table, dimensions=dims, limit=top)
    if csv is not None:
        table.to_csv(csv, index=False)
        _console().print(f"wrote {len(table):,} KPI rows to {csv}")


MODELS = ("denial-risk", "recovery")


@app.command()
def train(
    data: DataDir,
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
    register: Annotated[bool, typer.Option(help="log to MLflow and register the model")] = True,
    model: Annotated[list[str] | None, typer.Option(help="denial-risk, recovery (repeat; default both)")] = None,
) -> dict[str, str | None]:
    """Train the denial-risk and recovery models, evaluate them on the latest mature months, register them."""
    from claimsight.render import recovery_report, training_report
    from training.denial_job import train_denial_risk
    from training.recovery_job import train_recovery

    chosen = tuple(model) if model else MODELS
    if any(m not in MODELS for m in chosen):
        raise typer.BadParameter(f"choose from {', '.join(MODELS)}", param_hint="--model")
    settings = _settings(seed=seed)
    common = {
        "home": settings.home,
        "tracking_uri": settings.mlflow_tracking_uri,
        "seed": settings.seed,
        "max_reject_rate": settings.max_reject_rate,
        "maturity_days": settings.maturity_days,
        "routine": settings.routine_set(),
        "register": register,
    }
    versions: dict[str, str | None] = {}
    if "denial-risk" in chosen:
        _, report = train_denial_risk(data, **common)  # type: ignore[arg-type]
        training_report(_console(), report)
        versions["denial-risk"] = str(report.registry["version"]) if report.registry else None
    if "recovery" in chosen:
        _, rec = train_recovery(data, **common)  # type: ignore[arg-type]
        recovery_report(_console(), rec)
        versions["recovery"] = str(rec.registry["version"]) if rec.registry else None
    return versions


score_app = typer.Typer(
    no_args_is_help=True, help="Score claims before release (denials: `claimsight queue` and the API)."
)
app.add_typer(score_app, name="score")


@score_app.command("claims")
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
    target_precision: Annotated[
        float | None,
        typer.Option(min=0.01, max=1.0, help="review when at least this share of reviewed claims would be denials"),
    ] = None,
    review_capacity: Annotated[int | None, typer.Option(min=0, help="review at most this many claims")] = None,
    show: Annotated[int, typer.Option(help="riskiest claims to print")] = 5,
) -> None:
    """p_denial, likely cause, release/review decision and the top reasons for claims not yet answered."""
    from claimsight.render import riskiest_claims
    from features.contract.validation import load_validated
    from serving.batch_scoring import pending_claims, score_claims

    settings = _settings()
    loaded = _load_model(model, settings)
    result = load_validated(data, max_reject_rate=settings.max_reject_rate)
    claims = pending_claims(result.tables) if claims_file is None else _read_claims(claims_file, result.tables)
    threshold = loaded.threshold_for(precision=target_precision)
    scored = score_claims(
        loaded, claims=claims, tables=result.tables, threshold=threshold, review_capacity=review_capacity
    )
    scored.to_csv(out, index=False)
    riskiest_claims(_console(), scored, limit=show, threshold=threshold)
    n_review = int((scored["decision"] == "review").sum())
    _console().print(
        f"scored {len(scored):,} claims: {n_review:,} to review (threshold {threshold:.3f}"
        f"{'' if review_capacity is None else f', capacity {review_capacity:,}'}); wrote {out}"
    )


def _load_model(ref: str, settings: Settings) -> DenialRiskModel:
    from models.denial_risk import DenialRiskModel

    return DenialRiskModel.load(_model_dir("claimsight-denial-risk", ref, settings))


def _model_dir(name: str, ref: str, settings: Settings) -> Path:
    """A saved model directory: `ref` itself when it is one, else the registry's alias/version (hash-checked)."""
    path = Path(ref)
    if path.is_dir():
        return path
    from mlflow.exceptions import MlflowException

    from models.mlflow_model import download_model
    from training.tracking import configure

    configure(home=settings.home, tracking_uri=settings.mlflow_tracking_uri, experiment=name)
    try:
        return download_model(name=name, ref=ref)
    except MlflowException:
        raise typer.BadParameter(
            f"no {name} model '{ref}' in the registry; run `claimsight train` first", param_hint="--model"
        ) from None


@app.command()
def queue(
    data: DataDir,
    out: Annotated[Path, typer.Option(help="CSV to write, in rank order")],
    capacity_minutes: Annotated[float, typer.Option(min=1.0, help="team minutes per working day")] = 480.0,
    model: Annotated[
        str, typer.Option(help="registry alias/version of claimsight-recovery, or a saved model directory")
    ] = "champion",
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
    horizon_days: Annotated[
        int, typer.Option(min=1, help="calendar days to plan ahead (longer defers good work; see queue_policy)")
    ] = 3,
    cost_per_minute: Annotated[float, typer.Option(min=0.0, help="loaded staff cost, $ per minute")] = 0.75,
    show: Annotated[int, typer.Option(help="queue rows to print")] = 8,
) -> None:
    """Rank the open denials: expected recovery, action, deadline, and the work plan that fits the capacity."""
    from claimsight.render import queue_table
    from features.contract.codes import load_code_tables
    from features.contract.labels import data_as_of
    from features.contract.payer_rules import load_payer_rules
    from features.contract.validation import load_validated
    from features.decisions.queue_plan import QueueSettings, summarise
    from models.recovery import RecoveryModel
    from serving.appeal_queue import open_denials, rank_queue

    settings = _settings()
    recovery = RecoveryModel.load(_model_dir("claimsight-recovery", model, settings))
    tables = load_validated(data, max_reject_rate=settings.max_reject_rate).tables
    found = open_denials(
        tables,
        codes=load_code_tables(),
        rules=load_payer_rules(data_dir=data),
        maturity_days=settings.maturity_days,
        routine=settings.routine_set(),
    )
    day = (data_as_of(tables) if today is None else _date(today)).date()
    plan_settings = QueueSettings(
        capacity_minutes_per_day=capacity_minutes, cost_per_minute=cost_per_minute, horizon_days=horizon_days
    )
    ranked = rank_queue(recovery, found.denials, today=day, settings=plan_settings)
    ranked.to_csv(out, index=False)
    queue_table(_console(), ranked, limit=show, capacity=capacity_minutes)
    s = summarise(ranked)
    counts = ", ".join(f"{k} {v:,}" for k, v in s.count_by_status.items())
    _console().print(
        f"{found.open_total:,} open denials ({found.in_progress:,} already worked, waiting for the payer); "
        f"queued {len(ranked):,} as of {day}: {counts}\n"
        f"today: {s.items_today:,} items, {s.minutes_today:,.0f} min, ${s.expected_today:,.0f} expected; "
        f"next {horizon_days} days: {s.items_in_horizon:,} items, ${s.expected_in_horizon:,.0f} expected; wrote {out}"
    )


@app.command()
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

    settings = _settings(seed=seed)
    if read_truth(data, "denials") is None:
        raise typer.BadParameter(
            "no truth/denials here: the replay draws outcomes from the synthetic truth of `claimsight synth`",
            param_hint="--data",
        )
    setup = prepare_replay(
        data,
        months=months,
        tail_days=tail_days,
        minutes_by_action=DEFAULT_MINUTES,
        seed=settings.seed,
        max_reject_rate=settings.max_reject_rate,
        maturity_days=settings.maturity_days,
        routine=settings.routine_set(),
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
            seed=settings.seed,
        )
        simulation_table(_console(), result.summary, capacity=capacity, days=result.days, denials=result.denials)
        summaries[capacity] = result.summary
        by = result.summary.set_index("policy")["expected_dollars"]
        _console().print(
            f"ClaimSight: {by['claimsight'] / by['oracle']:.1%} of the oracle's expected dollars, "
            f"{by['claimsight'] / by['largest_first']:.3f}x largest-amount-first"
        )
    _console().print(
        f"replayed denials arriving {setup.start:%Y-%m-%d}..{setup.end:%Y-%m-%d} with a recovery model trained on "
        f"what was known on {setup.start:%Y-%m-%d}; {setup.excluded:,} arrivals whose action recovers nothing from "
        "the payer (bill patient, write off) left out"
    )
    if log:
        run = log_replay(
            summaries,
            setup=setup,
            params={"months": months, "tail_days": tail_days, "seed": settings.seed},
            home=settings.home,
            tracking_uri=settings.mlflow_tracking_uri,
        )
        _console().print(f"logged to MLflow experiment claimsight-simulation, run {run}")
    return summaries


def _read_claims(path: Path, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Claim ids from a CSV/Parquet file (a `claim_id` column), looked up in the data directory."""
    ids = (
        pd.read_parquet(path, columns=["claim_id"])
        if path.suffix == ".parquet"
        else pd.read_csv(path, usecols=["claim_id"], dtype=str)
    )
    known = tables["claims"].set_index("claim_id", drop=False)
    missing = ~ids["claim_id"].isin(known.index)
    if missing.any():
        raise typer.BadParameter(
            f"{int(missing.sum())} claim ids are not in the data directory's claims table", param_hint="--claims-file"
        )
    return known.loc[ids["claim_id"]].reset_index(drop=True)


@app.command()
def demo(
    claims: Annotated[int, typer.Option(min=1000)] = 200_000,
    months: Annotated[int, typer.Option(min=6)] = 24,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """The main job end to end on the embedded default: synthetic history -> validation -> KPIs -> train the
    denial-risk and recovery models (local MLflow store) -> score the claims still waiting for a payer answer
    -> rank the open denials into today's appeal queue."""
    settings = _settings()
    demo_dir = settings.home / "demo"
    data = demo_dir / f"synthetic-{claims}-{months}-{seed}"
    _console().rule("1. synthetic history")
    if (data / "claims.parquet").exists():
        _console().print(f"reusing {data}")
    else:
        synth(out=data, claims=claims, months=months, seed=seed, fmt="parquet")
    _console().rule("2. validation, labels and KPIs")
    kpis(data=data, by=["month", "payer", "category"], csv=demo_dir / "kpis.csv", top=8, as_of=None)
    _console().rule("3. train the denial-risk and recovery models (MLflow store in " + str(settings.home) + ")")
    versions = train(data=data, seed=None, register=True, model=None)
    _console().rule("4. score the claims awaiting a payer answer (the version just trained)")
    score_claims_command(
        data=data,
        out=demo_dir / "scores.csv",
        model=versions.get("denial-risk") or "champion",
        claims_file=None,
        target_precision=None,
        review_capacity=None,
        show=3,
    )
    _console().rule("5. today's appeal queue for one biller (480 minutes a day)")
    queue(
        data=data,
        out=demo_dir / "queue.csv",
        capacity_minutes=480.0,
        model=versions.get("recovery") or "champion",
        today=None,
        horizon_days=3,
        cost_per_minute=0.75,
        show=5,
    )


@app.command()
def bench(
    claims: Annotated[int, typer.Option(min=1000)] = 1_000_000,
    months: Annotated[int, typer.Option(min=6)] = 36,
    seed: Annotated[int, typer.Option()] = 7,
    workdir: Annotated[Path | None, typer.Option(help="default: a temporary directory")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="synth, load, train, score (repeat; default all)")] = None,
) -> None:
    """Measure each stage in its own process: wall time, peak RSS, and the denial model's accuracy and speed."""
    from claimsight.bench import STAGES, run_bench

    stages = tuple(stage) if stage else STAGES
    if any(s not in STAGES for s in stages):
        raise typer.BadParameter(f"choose from {', '.join(STAGES)}", param_hint="--stage")
    run_bench(_console(), claims=claims, months=months, seed=seed, workdir=workdir, stages=stages)


SERVE_DATA_ENV = "CLAIMSIGHT_SERVE_DATA"  # the --data of `serve`, for worker processes (not a Settings field)


def service_app(settings: Settings, *, data: Path | None = None) -> FastAPI:
    """The scoring service as `claimsight serve` runs it: champions from the MLflow registry of `settings`, the
    payer rules of `data` (shipped rules when None), the audit log of `settings` (SQLite in home by default)."""
    from serving.api.audit import AuditLog
    from serving.api.routes import ScoringContext
    from serving.api.runtime import build_app, build_registry
    from training.tracking import default_tracking_uri

    for noisy in ("alembic", "mlflow.store.db.utils", "mlflow.pyfunc", "mlflow.models.model"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = settings.api_config()
    context = ScoringContext.load(rules_dir=data, routine=settings.routine_set(), maturity_days=settings.maturity_days)
    tracking_uri = settings.mlflow_tracking_uri or default_tracking_uri(settings.home)
    registry = build_registry(tracking_uri=tracking_uri, context=context, config=config)
    audit = AuditLog(url=config.audit_url or settings.audit_url(), secret=config.audit_secret)
    return build_app(config=config, registry=registry, context=context, audit=audit)


def service_from_environment() -> FastAPI:
    """App factory for `serve --workers N`: each worker process builds its own service from the environment."""
    data = os.environ.get(SERVE_DATA_ENV)
    return service_app(Settings(), data=Path(data) if data else None)


def _listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here rather than by uvicorn so it carries TCP_NODELAY.

    Accepted connections inherit it. uvicorn binds the socket of `--workers N` without it, and every
    response then waits ~40 ms for the client's delayed ACK (Nagle's algorithm; MEASURED.md: p50 44 ms with
    2 stock workers, 1.1 ms with this option).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: CLAIMSIGHT_API_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65_535, help="default: CLAIMSIGHT_API_PORT (8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes sharing one socket")] = 1,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="directory whose payer_rules.yaml the denial routes use; default: shipped rules"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the scoring API: /v1/claims/score, /v1/denials/score, /v1/queue on the champion models.

    With no API key configured (development only), a key with the score and admin scopes is made for this
    run: its secret is printed here once and kept nowhere; the service holds only its hash.

    Each request predicts on one thread (OMP_NUM_THREADS=1 unless set): with OpenMP's default of one thread
    per core, a one-claim prediction waits at a barrier for the other threads, 12 ms instead of 0.02 ms on a
    busy 2-core machine. Requests run in parallel in the threadpool and across `--workers`.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read when LightGBM's OpenMP runtime loads, which is below
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from serving.api.security import new_key

    if data is not None and not data.is_dir():
        raise typer.BadParameter("not a directory", param_hint="--data")
    settings = _settings(api_host=host, api_port=port)
    if not settings.api_keys:  # Settings refuses an empty key list outside development
        secret, entry = new_key(key_id="dev", scopes=("score", "admin"))
        os.environ["CLAIMSIGHT_API_KEYS"] = entry  # the hashed entry, for this process and its workers
        settings = _settings(api_host=host, api_port=port)
        typer.echo(f"development API key for this run (shown once, stored nowhere): {secret}")
        typer.echo(
            f'  curl -H "Authorization: Bearer {secret}" http://{settings.api_host}:{settings.api_port}/v1/models'
        )
    sock = _listening_socket(settings.api_host, settings.api_port)
    if workers == 1:
        app_ = service_app(settings, data=data)
        config = uvicorn.Config(app_, log_level=log_level, timeout_graceful_shutdown=10, server_header=False)
        uvicorn.Server(config).run(sockets=[sock])
        return
    if data is not None:
        os.environ[SERVE_DATA_ENV] = str(data.resolve())
    config = uvicorn.Config(
        "claimsight.cli:service_from_environment",
        factory=True,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    Multiprocess(config, sockets=[sock]).run()


@app.command()
def loadtest(
    single: Annotated[int, typer.Option(min=1, help="sequential one-claim requests (with explanations)")] = 2000,
    batches: Annotated[int, typer.Option(min=0, help="sequential batch requests")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="claims per batch request")] = 1000,
    claims: Annotated[int, typer.Option(min=2000, help="claims in the synthetic world the models learn from")] = 20_000,
    months: Annotated[int, typer.Option(min=6)] = 12,
    seed: Annotated[int, typer.Option()] = 7,
    workers: Annotated[int, typer.Option(min=1, max=16, help="server worker processes")] = 1,
    max_seconds: Annotated[float, typer.Option(min=1.0, help="stop sending single requests after this long")] = 60.0,
) -> None:
    """A bounded load benchmark on loopback: trains both models on a small synthetic world in a temporary
    MLflow home, starts `claimsight serve` on a free port, and times single-claim and batch requests."""
    from claimsight.load_bench import run_loadtest

    run_loadtest(
        _console(),
        single=single,
        batches=batches,
        batch_size=batch_size,
        claims=claims,
        months=months,
        seed=seed,
        workers=workers,
        max_seconds=max_seconds,
    )


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter("must be a date YYYY-MM-DD", param_hint="--as-of") from None


register_loop_commands(app)


def main(argv: list[str] | None = None) -> Literal[0, 1, 2, 3] | int:
    """Entry point: map the layers' errors to exit codes with a message that carries no data values."""
    from pydantic import ValidationError

    from features.contract.tables_io import ContractError
    from features.contract.validation import RejectRateExceeded

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except ContractError as exc:
        _console(stderr=True).print(f"[red]error[/]: {exc}")
        return exc.exit_code
    except RejectRateExceeded as exc:
        _console(stderr=True).print(f"[red]error[/]: {exc}")
        return exc.exit_code
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        _console(stderr=True).print(f"[red]configuration error[/]: {fields}")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _console(stderr=True).print(f"[red]error[/]: {exc.format_message()}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
