"""The service commands: `serve` (the scoring API) and `loadtest` (its latency, measured on loopback)."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claimsight import shell
from claimsight.asgi import SERVE_DATA_ENV, open_audit, service_app, service_from_environment
from claimsight.errors import UsageProblem
from claimsight.settings import Settings

if TYPE_CHECKING:
    from serving.api.connections import GuardedConfig

# uvicorn imports the factory by name in each worker; derived, so a move of the factory cannot leave it stale
FACTORY = f"{service_from_environment.__module__}:{service_from_environment.__name__}"


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The server's socket, bound here rather than by uvicorn so it carries TCP_NODELAY.

    Accepted connections inherit it. uvicorn binds the socket of `--workers N` without it, and every
    response then waits for the client's delayed ACK (Nagle's algorithm; MEASURED.md has the figures).

    An address that cannot be bound (in use, not this machine's, a privileged port, an IPv6 address on a
    machine without IPv6) is the user's to change.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock: socket.socket | None = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reuse_port:  # one socket per worker on the same address (claimsight.worker_sockets)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        if sock is not None:
            sock.close()
        where = "--host/--port (or CLAIMSIGHT_API_HOST/CLAIMSIGHT_API_PORT)"
        if exc.errno == errno.EADDRINUSE:
            raise UsageProblem(
                f"port {port} on {host} is already in use: stop the server using it or choose another with {where}"
            ) from None
        unusable = (errno.EACCES, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
        if exc.errno in unusable or isinstance(exc, socket.gaierror):
            problem = f"cannot listen on {host}:{port} ({exc.strerror})"
            raise UsageProblem(f"{problem}: choose another with {where}") from None
        raise
    sock.set_inheritable(True)
    return sock


def server_config(
    app: Any, *, settings: Settings, log_level: str, workers: int = 1, report_seconds: float | None = None
) -> GuardedConfig:
    """The uvicorn configuration `serve` runs, with one worker (`app` the service) or several (`app` the factory's
    import string): uvicorn's h11 protocol under the connection limits of `settings` (serving.api.connections),
    fitted under this process's open-file limit after raising it to the hard limit, and a log that repeats
    cannot grow (serving.api.log_limits). `report_seconds` shortens the summary interval, for tests.

    An open-file limit too small for any connections is the operator's to raise (exit 2).
    """
    from serving.api.connections import LOGGER_NAME, GuardedConfig, fit_to_open_files, raise_open_file_limit
    from serving.api.log_limits import server_log_config

    wanted = settings.connection_limits()
    if report_seconds is not None:
        wanted = dataclasses.replace(wanted, report_seconds=report_seconds)
    open_files = raise_open_file_limit()
    try:
        limits, backlog = fit_to_open_files(wanted, open_files=open_files)
    except ValueError as exc:
        raise UsageProblem(f"{exc} to serve (CLAIMSIGHT_API_MAX_CONNECTIONS is per process)") from None
    config = GuardedConfig(
        app,
        limits=limits,
        factory=isinstance(app, str),
        workers=workers,
        log_level=log_level,
        log_config=server_log_config(),
        timeout_graceful_shutdown=10,
        server_header=False,
        backlog=backlog,
    )
    log = logging.getLogger(LOGGER_NAME)  # configured by the GuardedConfig just built
    if limits.max_connections < wanted.max_connections:
        log.warning(
            "CLAIMSIGHT_API_MAX_CONNECTIONS lowered from %s to %s per process to stay under the open-file limit "
            "(%s); raise that limit (ulimit -n) to allow more",
            f"{wanted.max_connections:,}",
            f"{limits.max_connections:,}",
            f"{open_files:,}",
        )
    log.info(
        "at most %s open connections per process; request headers within %g s of their first byte",
        f"{limits.max_connections:,}",
        limits.header_timeout_seconds,
    )
    return config


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
    per core, a one-claim prediction waits at a barrier for the other threads, far longer than the prediction
    itself on a busy machine. Requests run in parallel in the threadpool and across `--workers`.

    Each process keeps at most CLAIMSIGHT_API_MAX_CONNECTIONS connections open and closes those whose request
    headers take longer than CLAIMSIGHT_API_HEADER_TIMEOUT_SECONDS (`server_config`); run it behind a reverse
    proxy in production all the same (README, "Production deployment").
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read when LightGBM's OpenMP runtime loads, which is below
    import uvicorn

    from claimsight.worker_sockets import SpreadWorkers, worker_sockets
    from serving.api.security import new_key

    if data is not None and not data.is_dir():
        raise typer.BadParameter("not a directory", param_hint="--data")
    settings = shell.settings(api_host=host, api_port=port)
    if not settings.api_keys:  # Settings refuses an empty key list outside development
        secret, entry = new_key(key_id="dev", scopes=("score", "admin"))
        os.environ["CLAIMSIGHT_API_KEYS"] = entry  # the hashed entry, for this process and its workers
        settings = shell.settings(api_host=host, api_port=port)
        typer.echo(f"development API key for this run (shown once, stored nowhere): {secret}")
        typer.echo(
            f'  curl -H "Authorization: Bearer {secret}" http://{settings.api_host}:{settings.api_port}/v1/models'
        )
    if workers > 1:  # each worker opens the audit log; a wrong setting is reported here, once
        open_audit(settings).engine.dispose()
    sockets = worker_sockets(listening_socket, host=settings.api_host, port=settings.api_port, workers=workers)
    if workers == 1:
        try:
            app_ = service_app(settings, data=data)
            config = server_config(app_, settings=settings, log_level=log_level)
        except BaseException:
            sockets[0].close()
            raise
        uvicorn.Server(config).run(sockets=sockets)
        return
    if data is not None:
        os.environ[SERVE_DATA_ENV] = str(data.resolve())
    try:
        config = server_config(FACTORY, settings=settings, log_level=log_level, workers=workers)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    SpreadWorkers(config, slots=sockets).run()


def _counts(text: str, *, option: str, most: int) -> list[int]:
    """`1,4,16` -> [1, 4, 16]: each a whole number from 1 to `most`."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= c <= most for c in counts):
        raise typer.BadParameter(f"expected whole numbers from 1 to {most} separated by commas", param_hint=option)
    return counts


def loadtest(
    single: Annotated[int, typer.Option(min=1, help="sequential one-claim requests (with explanations)")] = 2000,
    batches: Annotated[int, typer.Option(min=0, help="sequential batch requests")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="claims per batch request")] = 1000,
    claims: Annotated[int, typer.Option(min=2000, help="claims in the synthetic world the models learn from")] = 20_000,
    months: Annotated[int, typer.Option(min=6)] = 12,
    seed: Annotated[int, typer.Option()] = 7,
    workers: Annotated[
        str, typer.Option(help="server worker processes; several (e.g. 1,2) are measured one after another")
    ] = "1",
    max_seconds: Annotated[float, typer.Option(min=1.0, help="stop sending single requests after this long")] = 60.0,
    concurrency: Annotated[
        str | None,
        typer.Option(help="then one-claim requests over this many connections at once, e.g. 1,4,16,32"),
    ] = None,
    level_seconds: Annotated[float, typer.Option(min=1.0, help="seconds at each --concurrency level")] = 10.0,
    flood: Annotated[
        int,
        typer.Option(min=0, max=50_000, help="then time single requests again while N slow connections press on"),
    ] = 0,
) -> None:
    """A bounded load benchmark on loopback: trains both models on a small synthetic world in a temporary
    MLflow home, starts `claimsight serve` on a free port, and times single-claim and batch requests, then
    (with --concurrency) throughput and latency with several connections sending at once.

    With `--flood N`, it then times `--single` keyed one-claim requests on the idle server and again while N
    connections trickle request headers that never end (claimsight/flood_bench.py); target: p99 under the flood
    <= 3x idle, no errors."""
    from claimsight.flood_bench import FloodReport, flood_figures, print_flood_report
    from claimsight.load_bench import run_loadtest

    console = shell.console()
    flooded: list[FloodReport] = []

    def flood_after(base_url: str, secret: str, bodies: list[dict[str, Any]]) -> None:
        console.print(f"timing {single:,} single-claim requests idle, then under a flood of {flood:,} slow connections")
        flooded.append(
            flood_figures(base_url, secret, bodies, connections=flood, requests=single, max_seconds=max_seconds)
        )

    run_loadtest(
        console,
        then=flood_after if flood else None,
        single=single,
        batches=batches,
        batch_size=batch_size,
        claims=claims,
        months=months,
        seed=seed,
        workers=_counts(workers, option="--workers", most=16),
        max_seconds=max_seconds,
        concurrency=_counts(concurrency, option="--concurrency", most=256) if concurrency else (),
        level_seconds=level_seconds,
    )
    for report in flooded:
        print_flood_report(console, report)


def register(app: typer.Typer) -> None:
    """Order matters: it is the order `claimsight --help` lists the commands in."""
    app.command()(serve)
    app.command()(loadtest)
