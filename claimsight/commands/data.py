"""The data commands: `synth`, `validate`, `kpis`, `prevent` (what a team runs before any model exists)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, cast

import typer

from claimsight import shell
from claimsight.shell import DataDir
from features.contract.tables_io import Format


def synth(
    out: Annotated[Path, typer.Option(help="directory to write the synthetic history into")],
    claims: Annotated[int, typer.Option(min=100, help="original claims to generate")] = 100_000,
    months: Annotated[int, typer.Option(min=3, max=120, help="months of history")] = 24,
    seed: Annotated[int, typer.Option(help="random seed: same seed, byte-identical files")] = 7,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet, csv, or x12 (parquet tables plus x12/ with 837 and 835 files)")
    ] = "parquet",
    structure: Annotated[
        str,
        typer.Option(
            help="standard: the world the models were developed on; scrambled: a second, independent world that "
            "breaks its assumptions (random policy groups, per-code diagnosis lists, clinician habits, lapses that "
            "persist, rules per plan within a payer, a mid-history coverage change)"
        ),
    ] = "standard",
    policy_change: Annotated[
        str,
        typer.Option(
            help="scrambled only: the mid-history policy change, stops_covering (a plan stops covering 30 codes) or "
            "requires_modifier (it starts denying them without modifier KX)"
        ),
    ] = "stops_covering",
) -> None:
    """Write a synthetic claims history (tables, payer_rules.yaml, and truth/ which training never reads).

    ``--format x12`` also writes the claims as 837s and the remittances as 835s under ``OUT/x12/``, what a
    billing team would hand over; the parquet tables (and truth/) stay so results can be checked.
    ``--structure scrambled`` writes the second world (``synthetic/scrambled/``) in the same layout."""
    from synthetic import generate_world, write_parts, write_world

    if fmt not in ("parquet", "csv", "x12"):
        raise typer.BadParameter("must be parquet, csv or x12", param_hint="--format")
    if structure not in ("standard", "scrambled"):
        raise typer.BadParameter("must be standard or scrambled", param_hint="--structure")
    from synthetic.scrambled.market import POLICY_KINDS

    if policy_change not in POLICY_KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(POLICY_KINDS)}", param_hint="--policy-change")
    if policy_change != "stops_covering" and structure != "scrambled":
        raise typer.BadParameter("only the scrambled world has a policy change to choose", param_hint="--policy-change")
    from synthetic.shards import SHARD_CLAIMS, generate_shards

    if fmt == "x12" and claims > SHARD_CLAIMS:
        raise typer.BadParameter(
            f"X12 files are written from a world held in memory: at most {SHARD_CLAIMS:,} claims", param_hint="--format"
        )
    t0 = time.perf_counter()
    out_fmt = cast(Format, "parquet" if fmt == "x12" else fmt)
    world = None
    if structure == "scrambled":
        from synthetic.scrambled import generate_scrambled_world

        world = generate_scrambled_world(claims=claims, months=months, seed=seed, policy_change=policy_change)
    elif fmt == "x12":
        world = generate_world(claims=claims, months=months, seed=seed)
    if world is not None:
        write_world(world, out_dir=out, fmt=out_fmt)
        sizes = {name: len(df) for name, df in world.tables.items()}
    else:  # the standard world a shard at a time: memory is one shard's whatever the size
        parts = generate_shards(claims=claims, months=months, seed=seed, progress=shell.progress("synth"))
        sizes = write_parts(parts, out_dir=out, fmt=out_fmt)["sizes"]
    listed = ", ".join(f"{name} {n:,}" for name, n in sizes.items())
    shell.console().print(f"wrote {out}: {listed} in {time.perf_counter() - t0:.1f} s")
    if fmt == "x12" and world is not None:
        from features.contract.x12.writer import write_x12

        files = write_x12(world.tables, out_dir=out / "x12")
        shell.console().print(
            f"wrote {len(files):,} X12 files to {out / 'x12'} (followups have no X12 form); "
            f"next: claimsight ingest {out / 'x12'} --out DIR"
        )


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="X12 files or folders (.837 .835 .txt .edi .x12, gz too)")],
    out: Annotated[Path, typer.Option(help="data directory to write or merge the DATA.md tables into")],
) -> None:
    """Read 837 claims and 835 remittances into the DATA.md tables (idempotent; broken transactions are
    quarantined with their position, the rest load)."""
    from features.contract.x12.ingest import STATE_DIR, iter_report_lines
    from features.contract.x12.ingest import ingest as run_ingest

    missing = [p for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"{missing[0].name} does not exist", param_hint="PATHS")
    t0 = time.perf_counter()
    console = shell.console()
    every = 1 if console.is_terminal else 100  # plain lines for cron, one per 100 files

    def on_file(done: int, total: int, _name: str) -> None:
        if done % every == 0 or done == total:
            left = (time.perf_counter() - t0) / done * (total - done)
            console.print(f"ingest: {done:,}/{total:,} files, about {left:,.0f} s left", highlight=False)

    report = run_ingest(paths, out=out, on_file=on_file)
    for line in iter_report_lines(report):
        console.print(line, highlight=False)
    if report.quarantined:
        console.print(f"quarantined transactions: see {out / STATE_DIR / 'quarantine.csv'}")
    console.print(f"done in {time.perf_counter() - t0:.1f} s; next: claimsight validate --data {out}")


def validate(
    data: DataDir,
    quarantine_dir: Annotated[Path | None, typer.Option(help="default: DATA/quarantine")] = None,
    max_reject_rate: Annotated[float | None, typer.Option(help="fail above this share of quarantined rows")] = None,
) -> None:
    """Check the tables against the data contract; bad rows go to quarantine/<table>.csv with a reason."""
    from claimsight.render import validation_report
    from features.contract.validation import load_validated

    options = shell.settings(max_reject_rate=max_reject_rate).run_options()
    result = load_validated(
        data, max_reject_rate=options.max_reject_rate, threads=options.feature_threads, quarantine_dir=quarantine_dir
    )
    validation_report(shell.console(), result)
    shell.console().print(f"{result.total_quarantined:,} rows quarantined")


def kpis(
    data: DataDir,
    by: Annotated[list[str] | None, typer.Option(help="month, payer, category, provider, facility (repeat)")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write every KPI row to this CSV")] = None,
    top: Annotated[int, typer.Option(help="rows per dimension on screen")] = 12,
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
) -> None:
    """Print the denial KPIs (denial rate, avoidable share, recovery, days to resolution, open $)."""
    from claimsight.render import kpi_tables
    from features.contract.codes import load_code_tables
    from features.contract.kpis import DIMENSIONS, compute_kpis
    from features.contract.labels import compute_labels

    dims = tuple(by) if by else ("month", "payer", "category", "provider", "facility")
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise typer.BadParameter(f"choose from {', '.join(DIMENSIONS)}", param_hint="--by")
    options = shell.settings().run_options()
    result = shell.validated(data, options=options)
    codes = load_code_tables()
    labels = compute_labels(
        result.tables,
        codes=codes,
        routine=options.routine,
        maturity_days=options.maturity_days,
        as_of=None if as_of is None else shell.parse_date(as_of, option="--as-of"),
    )
    table = compute_kpis(labels, result.tables["claims"], codes=codes, by=dims)
    kpi_tables(shell.console(), table, dimensions=dims, limit=top)
    if csv is not None:
        table.to_csv(csv, index=False)
        shell.console().print(f"wrote {len(table):,} KPI rows to {csv}")


def actions(
    data: DataDir,
    csv: Annotated[
        Path | None, typer.Option(help="also write one row per denial (action, group, rules, money)")
    ] = None,
) -> None:
    """What the billing rules recommend for every denial and for the open ones, by the adjustment group each
    recommendation rests on, with the money split (patient / payer / write-off) and deadlines already gone."""
    from claimsight.render import action_tables
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.payer_rules import load_payer_rules
    from features.recovery_features import denial_frame

    options = shell.settings().run_options()
    tables = shell.validated(data, options=options).tables
    codes, rules = load_code_tables(), load_payer_rules(data_dir=data)
    labels = compute_labels(tables, codes=codes, routine=options.routine, maturity_days=options.maturity_days)
    denials = denial_frame(tables, labels, codes=codes, rules=rules, routine=options.routine)
    open_ids = labels.loc[labels["initial_denial"].to_numpy(dtype=bool) & labels["resolved_at"].isna(), "claim_id"]
    action_tables(shell.console(), denials, open_ids=set(open_ids))
    if csv is not None:
        columns = ["claim_id", "payer_id", "plan_type", "denial_category", "denied_amount", "recommended_action",
                   "action_group", "action_rule", "deadline", "deadline_rule", "patient_amount", "payer_amount",
                   "write_off_amount", "line_plan"]  # fmt: skip
        denials[columns].to_csv(csv, index=False)
        shell.console().print(f"wrote {len(denials):,} denials to {csv}")


prevent_app = typer.Typer(
    help="Denial patterns that stand out from noise, ranked by avoidable denied dollars, with the team that owns "
    "the fix; whether the accepted edits and the fixes marked done worked. `done KEY` / `undo KEY` mark a fix.",
    invoke_without_command=True,
)


@prevent_app.callback()
def prevent(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="directory with the DATA.md tables")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write every reported pattern to this CSV")] = None,
    top: Annotated[int, typer.Option(min=1, help="patterns on screen")] = 20,
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
) -> None:
    """Denial patterns that stand out from noise (root cause x payer x procedure group x provider/location),
    ranked by avoidable denied dollars over 12 months, with the team that owns the fix and the fix; then, when
    the team accepted edits or marked fixes done, whether they worked (before/after, with intervals)."""
    if ctx.invoked_subcommand is not None:
        return
    from claimsight.errors import UsageProblem
    from claimsight.known_history import known_history
    from claimsight.render import effects_table, prevention_table
    from features.contract.codes import load_code_tables
    from features.prevention.edit_files import EditFileError, load_decisions
    from features.prevention.effects import effects
    from features.prevention.fixes import FixFileError, load_fixes
    from features.prevention.owners import OwnersFileError, load_owners
    from features.prevention.patterns import prevention_report

    if data is None:
        raise UsageProblem("claimsight prevent needs --data DIR (or a subcommand: done, undo)")
    try:
        owners = load_owners(data_dir=data)
        fixes = load_fixes(data_dir=data)
        edits = load_decisions(data_dir=data)
    except (OwnersFileError, FixFileError, EditFileError) as exc:
        raise UsageProblem(str(exc)) from None
    console = shell.console()
    codes = load_code_tables()
    with console.status("reading the history and computing labels"):
        known = known_history(data, settings=shell.settings(), as_of=as_of)
    with console.status("testing denial patterns"):
        report = prevention_report(known.tables, known.labels, codes=codes, owners=owners, as_of=known.as_of)
    prevention_table(console, report, limit=top)
    if csv is not None:
        report.to_csv(csv, index=False)
        console.print(f"wrote {len(report):,} patterns to {csv}")
    if fixes or any(v["decision"] == "accepted" for v in edits.values()):
        with console.status("before and after the accepted edits and the fixes done"):
            found = effects(
                known.tables,
                known.labels,
                codes=codes,
                edits=edits,
                fixes=fixes,
                as_of=known.as_of,
                routine=shell.settings().run_options().routine,
            )
        effects_table(console, found)


@prevent_app.command("done")
def done(
    key: Annotated[str, typer.Argument(help="the pattern's key (the pattern_key column of `prevent --csv`)")],
    data: DataDir,
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD the fix went in; default: today")] = None,
    note: Annotated[str, typer.Option("--note", help="what was done, in a few words")] = "",
) -> None:
    """Mark a pattern's fix done on a day (DATA/prevention_decisions.yaml): `claimsight prevent` then compares
    the pattern's denial rate before and after it."""
    import pandas as pd

    from claimsight.errors import UsageProblem
    from features.prevention.fixes import FixFileError, mark_done

    day = pd.Timestamp.today().normalize() if on is None else shell.parse_date(on, option="--on")
    try:
        path = mark_done(data_dir=data, key=key, day=day, note=note)
    except FixFileError as exc:
        raise UsageProblem(str(exc)) from None
    shell.console().print(f"marked done on {day.date().isoformat()}: {key}; recorded in {path}", highlight=False)


@prevent_app.command("undo")
def undo(
    key: Annotated[str, typer.Argument(help="the pattern key marked done")],
    data: DataDir,
) -> None:
    """Forget that a pattern's fix was done."""
    from claimsight.errors import UsageProblem
    from features.prevention.fixes import FixFileError, undo_done

    try:
        path = undo_done(data_dir=data, key=key)
    except FixFileError as exc:
        raise UsageProblem(str(exc)) from None
    shell.console().print(f"no longer marked done: {key}; recorded in {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Order matters: it is the order `claimsight --help` lists the commands in."""
    app.command()(synth)
    app.command()(ingest)
    app.command()(validate)
    app.command()(kpis)
    app.add_typer(prevent_app, name="prevent")
    app.command()(actions)
