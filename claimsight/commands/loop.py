"""The monthly loop's commands: `retrain`, `monitor`, `backtest` (what runs after each month closes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from claimsight import shell
from claimsight.shell import DataDir


def retrain_command(
    data: DataDir,
    as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM: train on everything known when that month began")],
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
    auc_tolerance: Annotated[float, typer.Option(help="the challenger's AUC may trail the champion's by this")] = 0.005,
    ece_tolerance: Annotated[
        float, typer.Option(help="its calibration error may exceed the champion's by this")
    ] = 0.01,
    model: Annotated[list[str] | None, typer.Option(help="a model kind of the catalog (repeat; default all)")] = None,
) -> None:
    """Train a challenger of every model kind, judge it against its champion, promote only what passes.

    With a team workspace configured, the followups it recorded are learned from with the data's own."""
    from training.gate import GateSettings
    from training.retrain import month_start, retrain

    try:
        month_start(as_of)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from None
    from claimsight.team_workspace import training_data

    settings = shell.settings(seed=seed)
    options = settings.run_options()
    console = shell.console()
    with training_data(data, settings) as source:  # the team workspace's recorded work, when there is one
        if source != data:
            console.print("learning from the work recorded in the team workspace too (its followups)")
        shell.validated(source, options=options)
        result = retrain(
            source,
            as_of_month=as_of,
            options=options,
            gate=GateSettings(auc_tolerance=auc_tolerance, ece_tolerance=ece_tolerance),
            kinds=[k.name for k in shell.model_kinds(model)],
        )
    for o in result.outcomes:
        verdict = "PROMOTED" if o.promote else "REFUSED"
        again = " (verdict recorded by an earlier run of this month)" if o.reused else ""
        console.rule(f"{o.name}: challenger version {o.challenger} {verdict}{again}")
        console.print(f"champion before: {o.champion_before or 'none'}")
        for reason in o.reasons:
            console.print(("  [green]" if reason.startswith("ok") else "  [red]") + reason + "[/]")
    console.print(f"decision logged to MLflow experiment claimsight-retrain, run {result.run_id}")


def monitor_command(
    data: DataDir,
    month: Annotated[str | None, typer.Option(help="YYYY-MM to judge; default: the latest complete month")] = None,
    model: Annotated[str, typer.Option(help="claimsight-denial-risk alias/version or a saved model directory")] = (
        "champion"
    ),
    out: Annotated[Path | None, typer.Option(help="report directory; default CLAIMSIGHT_HOME/monitor/MONTH")] = None,
    log: Annotated[bool, typer.Option(help="log the report to MLflow")] = True,
) -> None:
    """Feature stability, calibration by month, and payer x procedure-family denial-rate shifts."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels, data_as_of
    from features.contract.payer_rules import load_payer_rules
    from training.monitoring import latest_complete_month, run_monitor
    from training.retrain import month_start

    options = shell.settings().run_options()
    if month is not None:
        try:
            month_start(month)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--month") from None
    loaded = shell.load_denial_risk(model, options=options)
    tables = shell.validated(data, options=options).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes, routine=options.routine, maturity_days=options.maturity_days)
    chosen = month or latest_complete_month(data_as_of(tables))
    report = run_monitor(tables, labels, month=chosen, model=loaded, rules=load_payer_rules(data_dir=data),
                         codes=codes, routine=options.routine)  # fmt: skip
    folder = out or options.home / "monitor" / chosen
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(report.markdown())
    report.flagged.to_csv(folder / "shifts_flagged.csv", index=False)
    report.psi.to_csv(folder / "psi.csv", index=False)
    report.calibration.to_csv(folder / "calibration.csv", index=False)
    report.learned_auth.to_csv(folder / "learned_auth.csv", index=False)
    shell.console().print(report.markdown())
    shell.console().print(f"wrote {folder}")
    if log:
        import mlflow

        from training.tracking import configure

        configure(home=options.home, tracking_uri=options.tracking_uri, experiment="claimsight-monitor")
        with mlflow.start_run(run_name=f"monitor-{chosen}") as run:
            mlflow.log_param("month", chosen)
            mlflow.log_metric("flagged_shifts", float(len(report.flagged)))
            mlflow.log_metric("learned_auth_missing_from_rules", float(len(report.learned_auth)))
            if len(report.psi):
                mlflow.log_metric("max_psi", float(report.psi["psi"].max()))
            mlflow.log_artifacts(str(folder), artifact_path="monitor")
        shell.console().print(f"logged to MLflow experiment claimsight-monitor, run {run.info.run_id}")


def backtest_command(
    data: DataDir,
    first: Annotated[str, typer.Option("--from", help="first month YYYY-MM (the frozen model is trained then)")],
    last: Annotated[str, typer.Option("--to", help="last month YYYY-MM")],
    seed: Annotated[int | None, typer.Option(help="default: CLAIMSIGHT_SEED (7)")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write the month-by-month table here")] = None,
) -> None:
    """Replay monthly retraining over history: AUC and calibration, retrained vs frozen, month by month."""
    from rich.table import Table

    from training.backtest import backtest, by_month, months_between

    try:
        months_between(first, last)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    options = shell.settings(seed=seed).run_options()
    shell.validated(data, options=options)
    result = backtest(data, first_month=first, last_month=last, options=options)
    console = shell.console()
    for scope, part in by_month(result).items():
        table = Table(title=f"Backtest, {scope}: frozen at {first} vs retrained monthly")
        for col in part.columns:
            table.add_column(col, justify="left" if col == "month" else "right")
        for row in part.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
    if len(result.alerts):
        console.print("monitor alerts (month of the first remit):")
        for r in result.alerts.itertuples():
            console.print(f"  {r.month}: payer {r.payer_id} x {r.family}: {r.rate:.0%} denied of {r.claims} "
                          f"(before {r.baseline_rate:.0%}), z {r.z:.1f}")  # fmt: skip
    else:
        console.print("monitor alerts: none")
    if len(result.learned):
        console.print("authorization requirements learned from denials, missing from payer_rules.yaml (end of month):")
        for month, part in result.learned.groupby("month", sort=True):
            found = ", ".join(f"{r.payer_id} x {r.family}xx ({r.auth_denied_share:.0%} of {r.lines_without_auth:.0f})"
                              for r in part.itertuples())  # fmt: skip
            console.print(f"  {month}: {found}")
    if csv is not None:
        result.table.to_csv(csv, index=False)
        console.print(f"wrote {csv}")


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and pd.isna(value):
        return "-"
    if isinstance(value, float) and float(value).is_integer() and value > 1:
        return f"{value:,.0f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    """Order matters: it is the order `claimsight --help` lists the commands in."""
    app.command("retrain")(retrain_command)
    app.command("monitor")(monitor_command)
    app.command("backtest")(backtest_command)
