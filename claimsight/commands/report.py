"""`claimsight report`: the leader's dashboard as a static HTML folder the workspace also serves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from claimsight import shell
from claimsight.shell import DataDir


def report(
    data: DataDir,
    out: Annotated[Path, typer.Option(help="folder to write index.html, figures/*.svg and data/*.csv into")],
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
    model_health: Annotated[
        bool, typer.Option(help="gather the models' health (registry, monitor, retrain decisions)")
    ] = True,
    monitor: Annotated[
        bool, typer.Option(help="run the monitor with the champion when no saved monitor report exists")
    ] = True,
    backtest: Annotated[
        Path | None, typer.Option(help="a CSV written by `claimsight backtest --csv`, shown under model health")
    ] = None,
    edits: Annotated[
        bool,
        typer.Option(
            "--edits/--no-edits",
            help="also learn the pre-submission edits (as `claimsight edits` does; ~20 s on 200,000 claims) and write "
            "them into OUT/edits/, where the workspace's dashboard accepts or rejects them",
        ),
    ] = False,
) -> Path:
    """Write the leader's dashboard: denial rates by month and by payer, category, provider and location,
    avoidable share, denied and open dollars, overturn rate, days to resolution, queue throughput, dollars per
    staff hour and model health; every figure an SVG with its data as CSV. Open OUT/index.html, or set
    CLAIMSIGHT_WORKSPACE_REPORT_DIR=OUT and see it at /app/dashboard. With --edits the learned edits too
    (OUT/edits/learned_edits.yaml and .csv, as `claimsight edits --out` writes them)."""
    from claimsight.errors import UsageProblem
    from claimsight.known_history import known_history
    from features.contract.codes import load_code_tables
    from features.contract.payer_rules import PayerRulesError, load_payer_rules
    from features.prevention.edit_files import EDITS_CSV, EDITS_YAML, EditFileError, export_edits, load_decisions
    from features.prevention.edits import learn_edits
    from features.prevention.effects import effects
    from features.prevention.fixes import FixFileError, load_fixes
    from features.prevention.owners import OwnersFileError, load_owners
    from features.prevention.patterns import prevention_report
    from serving.dashboard import (
        EDITS_FOLDER,
        build_report,
        edit_sections,
        effect_sections,
        prevention_sections,
        write_report,
    )

    if backtest is not None and not backtest.is_file():
        raise typer.BadParameter(f"{backtest.name} does not exist", param_hint="--backtest")
    try:
        owners = load_owners(data_dir=data)
        fixes = load_fixes(data_dir=data)
        decisions = load_decisions(data_dir=data)
        rules = load_payer_rules(data_dir=data) if edits else None
    except (OwnersFileError, FixFileError, EditFileError, PayerRulesError) as exc:
        raise UsageProblem(str(exc)) from None
    settings = shell.settings()
    options = settings.run_options()
    console = shell.console()
    t0 = time.perf_counter()

    def say(text: str) -> None:
        console.print(f"report: {text} ({time.perf_counter() - t0:.1f} s)", highlight=False)

    known = known_history(data, settings=settings, as_of=as_of, say=say)
    tables, labels = known.tables, known.labels
    codes = load_code_tables()
    health = None
    if model_health:
        from claimsight.model_health import gather_model_health

        health = gather_model_health(tables, labels, options=options, monitor=monitor, backtest=backtest, say=say)
    say("prevention report")
    patterns = prevention_report(tables, labels, codes=codes, owners=owners, as_of=known.as_of)
    found = None
    if fixes or any(v["decision"] == "accepted" for v in decisions.values()):
        say("before and after the accepted edits and the fixes done")
        found = effects(
            tables, labels, codes=codes, edits=decisions, fixes=fixes, as_of=known.as_of, routine=options.routine
        )
    learned = None
    edits_dir = out / EDITS_FOLDER
    if rules is not None:
        say("learning edits")
        decided = {k: v["decision"] for k, v in decisions.items()}
        learned = learn_edits(tables, labels, codes=codes, rules=rules, as_of=known.as_of, decisions=decided,
                              routine=options.routine)  # fmt: skip
        export_edits(learned, rules=rules, out_dir=edits_dir)
    else:  # an earlier report's edits would be accepted from a report that no longer shows them
        for name in (EDITS_YAML, EDITS_CSV):
            (edits_dir / name).unlink(missing_ok=True)
    say("dashboard data")
    built = build_report(
        tables,
        labels,
        codes=codes,
        health=health,
        prevention=[
            *prevention_sections(
                patterns[list(PREVENTION_SHOWN)],
                title="Denial patterns by projected avoidable dollars",
                value="projected_avoidable_dollars",
                label="pattern",
                note="Patterns that stand out from noise (a one-sided Fisher exact test against every parent level, "
                "Benjamini-Hochberg FDR 5%), with the team that owns the fix; `claimsight prevent --csv` writes every "
                "column. Projected: the next 12 months if nothing changes.",
            ),
            *edit_sections(learned),
            *effect_sections(found),
        ],
    )
    say(f"drawing {sum(s.has_figure for s in built.sections)} figures into {out}")
    every = 1 if console.is_terminal else 5

    def progress(done: int, total: int, key: str) -> None:
        if done % every == 0 or done == total:
            console.print(f"report: {done}/{total} sections ({key})", highlight=False)

    index = write_report(built, out, on_progress=progress)
    say(f"wrote {index}")
    console.print(f"open {index.resolve().as_uri()} in a browser, or serve it in the workspace at /app/dashboard "
                  f"(CLAIMSIGHT_WORKSPACE_REPORT_DIR={out})", highlight=False)  # fmt: skip
    return out


# the prevention report's columns the dashboard shows (the command's CSV has them all)
PREVENTION_SHOWN = (
    "rank",
    "pattern",
    "owner_team_label",
    "upstream_fix",
    "pattern_key",  # what `claimsight prevent done KEY` takes
    "denials_12m",
    "denial_rate_12m",
    "reference_rate",
    "projected_avoidable_dollars",
    "avoidable_dollars_12m",
    "avoidable_dollars_3m",
    "trend",
    "staff_minutes",
    "unrecovered_dollars",
)


def register(app: typer.Typer) -> None:
    app.command()(report)
