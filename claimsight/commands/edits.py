"""`claimsight edits`: pre-submission edits learned from the history, reviewed and accepted into the team's
payer_rules.yaml (features/prevention/edits.py, features/prevention/edit_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claimsight import shell
from claimsight.errors import UsageProblem
from claimsight.shell import DataDir

edits_app = typer.Typer(
    help="Pre-submission edits learned from the history: export, then accept (into payer_rules.yaml) or reject.",
    invoke_without_command=True,
)


@edits_app.callback()
def edits(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="directory with the DATA.md tables")] = None,
    out: Annotated[Path | None, typer.Option(help="directory to write learned_edits.yaml and .csv into")] = None,
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the latest date in the data")] = None,
) -> None:
    """Learn edits (authorization, modifier, bundled pairs, diagnosis, filing limit) the team's payer rules do
    not carry, each tested against the rest (one-sided Fisher exact, Benjamini-Hochberg FDR 5%), and write
    them as learned_edits.yaml (payer_rules.yaml format, evidence as comments) and learned_edits.csv."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or out is None:
        raise UsageProblem("claimsight edits needs --data DIR and --out DIR (or a subcommand: accept, reject)")
    from claimsight.known_history import known_history
    from features.contract.codes import load_code_tables
    from features.contract.payer_rules import PayerRulesError, load_payer_rules
    from features.prevention.edit_files import EditFileError, export_edits, load_decisions
    from features.prevention.edits import learn_edits

    console = shell.console()
    try:
        rules = load_payer_rules(data_dir=data)
        decisions = {k: v["decision"] for k, v in load_decisions(data_dir=data).items()}
    except (PayerRulesError, EditFileError) as exc:
        raise UsageProblem(str(exc)) from None
    with console.status("reading the history and computing labels"):
        known = known_history(data, settings=shell.settings(), as_of=as_of)
    with console.status("testing candidate edits"):
        found = learn_edits(
            known.tables,
            known.labels,
            codes=load_code_tables(),
            rules=rules,
            as_of=known.as_of,
            decisions=decisions,
            routine=shell.settings().run_options().routine,
        )
    yaml_path, csv_path = export_edits(found, rules=rules, out_dir=out)
    new = found[found["status"] == "new"]
    console.print(
        f"{len(new):,} new edits ({', '.join(f'{k} {v}' for k, v in new['kind'].value_counts().items()) or 'none'}); "
        f"{len(found) - len(new):,} already decided (edit_decisions.yaml)"
    )
    for row in new.head(20).itertuples():
        console.print(
            f"  {row.edit_id}: {row.denied} of {row.seen} {row.unit}s denied ({row.denial_rate:.0%}, rest "
            f"{row.reference_rate:.1%}), {row.carcs}, q={row.q_value:.1e}",
            soft_wrap=True,
        )
    console.print(f"wrote {yaml_path} and {csv_path}; next: claimsight edits accept {yaml_path} --data {data}")


@edits_app.command("accept")
def accept(
    file: Annotated[Path, typer.Argument(help="learned_edits.yaml (as exported, entries you disagree with deleted)")],
    data: DataDir,
    only: Annotated[list[str] | None, typer.Option("--only", help="accept only these edit ids (repeatable)")] = None,
    on: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD the edit took effect (claims scrubbed with it from then on); default today"),
    ] = None,
) -> None:
    """Merge the file's edits into DATA/payer_rules.yaml (the team's other rules kept) and remember them, with
    the day they took effect: "did it work" compares the months before that day with the time since."""
    import pandas as pd

    from features.contract.payer_rules import PayerRulesError
    from features.prevention.edit_files import EditFileError, accept_edits

    if not file.is_file():
        raise UsageProblem(f"{file.name} does not exist")
    try:
        day = pd.Timestamp.today().normalize() if on is None else shell.parse_date(on, option="--on")
        done = accept_edits(edits_file=file, data_dir=data, only=only, day=day)
    except (PayerRulesError, EditFileError) as exc:
        raise UsageProblem(str(exc)) from None
    console = shell.console()
    if not done.ids:
        console.print("nothing to accept: every entry of the file is already in force")
        return
    console.print(done.diff, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"accepted {len(done.ids)} of {done.offered} edits into {done.path}; the written-rule features use them "
        "from the next retrain"
    )


@edits_app.command("reject")
def reject(
    ids: Annotated[list[str], typer.Argument(help="edit ids (the first column of learned_edits.csv)")],
    data: DataDir,
) -> None:
    """Remember that the team rejected these edits: the next export does not propose them again."""
    import pandas as pd

    from features.prevention.edit_files import EditFileError, record_decisions

    try:
        path = record_decisions(data_dir=data, ids=ids, decision="rejected", day=pd.Timestamp.today().normalize())
    except EditFileError as exc:
        raise UsageProblem(str(exc)) from None
    shell.console().print(f"rejected {len(ids)} edits; recorded in {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(edits_app, name="edits")
