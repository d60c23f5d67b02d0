"""`claimsight bench`: the speed, memory and accuracy figures the issues ask for, measured, never asserted
in tests.

Each stage runs in its own process so its peak resident memory is its own (os.wait4 reports the
child's rusage), and so that one stage's caches do not flatter the next.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

STAGES = ("synth", "load", "prevent", "train", "score", "ingest", "report")  # the default run
EXTRA_STAGES = ("workspace",)  # asked for by name: --stage workspace
WORKSPACE_URL_ENV = "CLAIMSIGHT_BENCH_WORKSPACE_URL"  # the workspace stage's database (default: SQLite in workdir)
WORKSPACE_ITEMS = 10_000


def _run(cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a child; return wall seconds, its peak RSS in GiB, and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step failed with exit code {proc.returncode}: {' '.join(cmd[2:5])}")
    return wall, usage.ru_maxrss / 1024**2, out


def _last_json(out: str) -> dict[str, Any]:
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_bench(
    console: Console,
    *,
    claims: int,
    months: int,
    seed: int,
    workdir: Path | None,
    stages: tuple[str, ...] = STAGES,
    structure: str = "standard",
    cluster: str | None = None,
    cluster_fit: bool = False,
) -> None:
    with tempfile.TemporaryDirectory(prefix="claimsight-bench-") as tmp:
        root = workdir or Path(tmp)
        data, home = root / "data", root / "home"
        rows: list[tuple[str, str, str, str]] = []
        notes: list[str] = []
        console.print(f"synthetic world ({structure}): {claims:,} claims, {months} months, seed {seed} -> {data}")
        if "synth" in stages or not (data / "claims.parquet").exists():
            synth = [
                sys.executable,
                "-m",
                "claimsight.cli",
                "synth",
                "--out",
                str(data),
                "--claims",
                str(claims),
                "--months",
                str(months),
                "--seed",
                str(seed),
                "--structure",
                structure,
            ]
            wall, rss, _ = _run(synth)
            rows.append(("synth (generate + write parquet)", f"{wall:.1f}", f"{rss:.2f}", "< 120 s, < 4 GiB"))
        if "load" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "load", str(data)])
            res = _last_json(out)
            rows.append(("load + validate + labels", f"{wall:.1f}", f"{rss:.2f}", "< 60 s"))
            rows += [(f"  {k}", f"{v:.1f}", "", "") for k, v in res["seconds"].items()]
            table_rows = ", ".join(f"{k} {v:,}" for k, v in res["rows"].items())
            notes.append(
                f"rows: {table_rows}; quarantined {res['quarantined']:,}; initial denial rate {res['denial_rate']:.2%}"
            )
        if "prevent" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "prevent", str(data)])
            res = _last_json(out)
            rows.append(("prevention report (load + labels + patterns)", f"{wall:.1f}", f"{rss:.2f}", ""))
            rows.append((f"  patterns: {res['patterns']:,} reported of {res['cells']:,} cells tested",
                         f"{res['seconds']['patterns']:.1f}", "", "<= 30 s"))  # fmt: skip
        env = {**os.environ, "CLAIMSIGHT_HOME": str(home)}
        if cluster is not None:
            env["CLAIMSIGHT_DASK_SCHEDULER"] = cluster
            env["CLAIMSIGHT_DASK_FIT"] = "true" if cluster_fit else "false"
            fit = "LightGBM fitted there too (lightgbm.dask)" if cluster_fit else "LightGBM fitted on the driver"
            notes.append(f"train and score on the Dask cluster {cluster} ({fit}): the stage's peak is the driver's")
        if "train" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "train", str(data), str(home)], env=env)
            res = _last_json(out)
            rows.append(
                ("train denial risk (features + fit + evaluate + MLflow)", f"{wall:.1f}", f"{rss:.2f}", "< 180 s")
            )
            rows += [(f"  {k}", f"{v:.1f}", "", "") for k, v in res["seconds"].items()]
            if res["workers_peak_gib"]:
                rows.append(_workers_row(res["workers_peak_gib"]))
            notes.append(_accuracy_line(res))
        if "score" in stages and cluster is not None:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "score", str(data), str(home)], env=env)
            res = _last_json(out)
            rows.append((f"score {res['claims']:,} claims on the cluster (features, both heads, reasons for "
                         f"{res['flagged']:,})", f"{wall:.1f}", f"{rss:.2f}", ""))  # fmt: skip
            rows.append((f"  {res['end_to_end_per_s']:,.0f} claims/s end to end", f"{res['seconds']:.1f}", "", ""))
            rows.append(_workers_row(res["workers_peak_gib"]))
        elif "score" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "score", str(data), str(home)], env=env)
            res = _last_json(out)
            rows.append(
                (f"score {res['claims']:,} claims (features + p_denial + category)", f"{wall:.1f}", f"{rss:.2f}", "")
            )
            rows.append(("  features alone", f"{res['features_s']:.1f}", "", ""))
            rows.append(
                (f"  both heads: {res['scores_per_s']:,.0f} claims/s", f"{res['predict_s']:.2f}", "", ">= 70,000/s")
            )
            rows.append(
                (
                    f"  features and heads, chunk by chunk: {res['end_to_end_per_s']:,.0f} claims/s",
                    f"{res['end_to_end_s']:.1f}",
                    "",
                    ">= 40,000/s",
                )
            )
            rows.append(
                (
                    f"  reasons for the {res['flagged']:,} flagged: {res['reasons_per_s']:,.0f} claims/s",
                    f"{res['explain_s']:.2f}",
                    "",
                    ">= 2,500/s",
                )
            )

        if "ingest" in stages:
            x12, ingested = root / "x12", root / "ingested"
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "x12write", str(data), str(x12)])
            res = _last_json(out)
            rows.append((f"write the world as X12 ({res['files']:,} files)", f"{wall:.1f}", f"{rss:.2f}", ""))
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "ingest", str(x12), str(ingested)])
            res = _last_json(out)
            rows.append(("ingest the X12 (837s, then 835s)", f"{wall:.1f}", f"{rss:.2f}", ""))
            rows.append((f"  837: {res['claims_per_s']:,.0f} claims/s", f"{res['seconds_837']:.1f}", "", ">= 5,000/s"))
            rows.append(
                (f"  835: {res['remits_per_s']:,.0f} claim payments/s", f"{res['seconds_835']:.1f}", "", ">= 5,000/s")
            )
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "compare", str(data), str(ingested)])
            res = _last_json(out)
            notes.append(f"X12 round trip: {res['summary']}")
        if "report" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "report", str(data), str(root / "report")])
            res = _last_json(out)
            rows.append(("leader's dashboard report (claimsight report, no model health)", f"{wall:.1f}",
                         f"{rss:.2f}", ""))  # fmt: skip
            rows.append(("  read + validate", f"{res['seconds']['load']:.1f}", "", ""))
            rows.append((f"  dashboard data: labels + prevention patterns + {res['sections']} sections",
                         f"{res['data_s']:.1f}", "", "<= 30 s"))  # fmt: skip
            rows += [(f"    {k}", f"{res['seconds'][k]:.1f}", "", "") for k in ("labels", "prevention", "sections")]
            rows.append((f"  draw {res['figures']} figures, write SVG/CSV/HTML", f"{res['seconds']['write']:.1f}", "",
                         ""))  # fmt: skip
        if "workspace" in stages:
            wall, rss, out = _run([sys.executable, "-m", "claimsight.bench", "workspace", str(data), str(root)])
            res = _last_json(out)
            rows.append((f"team workspace on {res['backend']} ({res['items']:,} open items)", f"{wall:.1f}",
                         f"{rss:.2f}", ""))  # fmt: skip
            for name, target in (("queue", "<= 300 ms"), ("item", "<= 100 ms"), ("record", "<= 50 ms")):
                t = res[name]
                rows.append((f"  {t['what']}: p50 {t['p50_ms']:.0f} ms, p95 {t['p95_ms']:.0f} ms ({t['n']} times)",
                             "", "", f"p95 {target}"))  # fmt: skip

    table = Table(title=f"bench: {claims:,} claims x {months} months on {os.cpu_count()} cores")
    for col in ("stage", "wall s", "peak RSS GiB", "target"):
        table.add_column(col, justify="left" if col in ("stage", "target") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in notes:
        console.print(note)


def _workers_row(peaks: list[float]) -> tuple[str, str, str, str]:
    return (f"  {len(peaks)} workers, peak RSS each", "", " / ".join(f"{p:.2f}" for p in peaks), "")


def _accuracy_line(res: dict[str, Any]) -> str:
    m, b, o = res["metrics"], res["baselines"], res["oracle"]
    text = (
        f"denial risk on {', '.join(res['evaluate'])}: AUC {m['roc_auc']:.4f}, PR AUC {m['pr_auc']:.4f}, "
        f"ECE {m['ece']:.4f}, Brier {m['brier']:.4f}; baselines: payer x procedure rate AUC "
        f"{b['payer_procedure_rate']['roc_auc']:.4f}, logistic regression AUC "
        f"{b['logistic_regression']['roc_auc']:.4f}; recall at 95% precision "
        f"{m.get('recall_at_95_precision', float('nan')):.4f}; category head on denied claims top-1 "
        f"{m.get('category_head_accuracy', float('nan')):.3f}, "
        f"top-3 {m.get('category_top3_accuracy', float('nan')):.3f}"
    )
    if "oracle_knowable_auc" in o:
        text += (
            f"; oracle AUC {o['oracle_knowable_auc']:.4f} knowable at submission (gap "
            f"{o['oracle_knowable_gap']:.4f}), {o['oracle_clairvoyant_auc']:.4f} clairvoyant"
        )
    causes = res.get("oracle_by_cause") or []
    if causes:
        text += "; by true cause, model / oracle AUC (share of the gap): " + ", ".join(
            f"{r['cause']} {r['model_auc']:.3f} / {r['oracle_auc']:.3f} ({r['weighted_gap']:.4f})" for r in causes
        )
    return text


# ---- child side ------------------------------------------------------------------------------------


def _load_stage(data: Path) -> dict[str, Any]:
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.tables_io import read_tables
    from features.contract.validation import validate_tables

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    result = validate_tables(read_tables(data, lazy=True))  # as load_validated: one table's text at a time
    seconds["read + validate"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = compute_labels(result.tables, codes=load_code_tables())
    seconds["labels"] = time.perf_counter() - t
    return {
        "seconds": seconds,
        "rows": {name: len(df) for name, df in result.tables.items()},
        "quarantined": result.total_quarantined,
        "denial_rate": float(labels["initial_denial"].mean()),
    }


def _prevent_stage(data: Path) -> dict[str, Any]:
    """The prevention report after the history is loaded and labelled (the issue's <= 30 s figure is the
    report itself: the dashboard builds it from tables and labels it already holds)."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels, data_as_of
    from features.contract.tables_io import read_tables
    from features.contract.validation import validate_tables
    from features.prevention.owners import load_owners
    from features.prevention.patterns import PatternRule, cell_statistics, pattern_frame, prevention_report

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    tables = validate_tables(read_tables(data, lazy=True)).tables
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    seconds["load + labels"] = time.perf_counter() - t
    t = time.perf_counter()
    report = prevention_report(tables, labels, codes=codes, owners=load_owners(data_dir=data))
    seconds["patterns"] = time.perf_counter() - t
    frame = pattern_frame(tables, labels, codes=codes, as_of=data_as_of(tables), rule=PatternRule())
    cells, _ = cell_statistics(frame, rule=PatternRule())
    return {"seconds": seconds, "patterns": len(report), "cells": len(cells)}


def _train_stage(data: Path, home: Path) -> dict[str, Any]:
    from claimsight.cluster import cluster_client, worker_peaks
    from claimsight.settings import Settings
    from training.denial_job import train_denial_risk
    from training.jobs import TrainRun

    settings = Settings(home=home)
    with cluster_client(settings.dask_scheduler) as client:
        run = TrainRun(client=client, fit_on_cluster=settings.dask_fit)
        _, report = train_denial_risk(data, options=settings.run_options(), run=run)
        peaks = [] if client is None else worker_peaks(client)
    return {
        "workers_peak_gib": peaks,
        "seconds": report.seconds,
        "metrics": report.metrics,
        "baselines": report.baselines,
        "oracle": report.oracle,
        "oracle_by_cause": [] if report.oracle_by_cause is None else report.oracle_by_cause.to_dict("records"),
        "evaluate": list(report.split.evaluate),
    }


def _score_stage(data: Path, home: Path) -> dict[str, Any]:
    """Score every claim in the history in one batch: the throughput a nightly batch would see."""
    import numpy as np

    from claimsight.settings import Settings
    from features.contract.validation import load_validated
    from features.memory import release_unused_memory
    from models.catalog import DENIAL_RISK
    from models.denial_risk import DenialRiskModel
    from models.mlflow_model import CHAMPION, download_model
    from serving.batch_scoring import SCORING_TABLES, batch_features, batch_features_and_heads
    from training.tracking import configure

    settings = Settings(home=home)
    options = settings.run_options()
    configure(home=home, tracking_uri=None, experiment=DENIAL_RISK.registry_name)
    model = DenialRiskModel.load(download_model(name=DENIAL_RISK.registry_name, ref=CHAMPION))
    tables = load_validated(data, max_reject_rate=1.0, tables=SCORING_TABLES).tables
    release_unused_memory()
    claims = tables["claims"]
    if settings.dask_scheduler is not None:
        return _score_on_cluster(model, claims=claims, tables=tables, address=settings.dask_scheduler, options=options)
    t = time.perf_counter()
    # the matrix alone, then both heads on it: where the time goes (the batch itself is timed below)
    fs = batch_features(
        model,
        claims=claims,
        tables=tables,
        chunk_claims=options.chunk_claims,
        threads=options.feature_threads,
        reasons=False,
    )
    features_s = time.perf_counter() - t
    t = time.perf_counter()
    model.predict_proba(fs.X)
    model.predict_categories(fs.X)
    predict_s = time.perf_counter() - t
    del fs
    release_unused_memory()
    # what `claimsight score` does with a nightly batch: each chunk's heads as soon as its matrix is filled
    t = time.perf_counter()
    fs, p, _ = batch_features_and_heads(
        model, claims=claims, tables=tables, chunk_claims=options.chunk_claims, threads=options.feature_threads
    )
    end_to_end_s = time.perf_counter() - t
    del fs
    flagged = np.flatnonzero(p >= model.threshold_for())
    t = time.perf_counter()
    model.explain(
        batch_features(
            model,
            claims=claims.iloc[flagged],
            tables=tables,
            chunk_claims=options.chunk_claims,
            threads=options.feature_threads,
            reasons=True,
        )
    )
    explain_s = time.perf_counter() - t
    n = len(claims)
    return {
        "claims": n,
        "features_s": features_s,
        "predict_s": predict_s,
        "end_to_end_s": end_to_end_s,
        "explain_s": explain_s,
        "flagged": len(flagged),
        "scores_per_s": n / predict_s,
        "end_to_end_per_s": n / end_to_end_s,
        "reasons_per_s": len(flagged) / explain_s,
    }


def _score_on_cluster(
    model: Any, *, claims: pd.DataFrame, tables: dict[str, pd.DataFrame], address: str, options: Any
) -> dict[str, Any]:
    """The score stage on a cluster: `score_claims_on_cluster` end to end (features, both heads, reasons)."""
    from claimsight.cluster import cluster_client, worker_peaks
    from serving.cluster_scoring import score_claims_on_cluster

    with cluster_client(address) as client:
        assert client is not None
        t = time.perf_counter()
        scored = score_claims_on_cluster(
            model, claims=claims, tables=tables, threshold=model.threshold_for(), client=client,
            chunk_claims=options.chunk_claims,
        )  # fmt: skip
        seconds = time.perf_counter() - t
        peaks = worker_peaks(client)
    return {
        "cluster": True,
        "claims": len(scored),
        "seconds": seconds,
        "flagged": int((scored["decision"] == "review").sum()),
        "end_to_end_per_s": len(scored) / seconds,
        "workers_peak_gib": peaks,
    }


def _x12write_stage(data: Path, x12: Path) -> dict[str, Any]:
    from features.contract.validation import load_validated
    from features.contract.x12.writer import write_x12

    tables = load_validated(data, max_reject_rate=1.0).tables
    return {"files": len(write_x12(tables, out_dir=x12))}


def _ingest_stage(x12: Path, out: Path) -> dict[str, Any]:
    """837s first (a team's claims), then 835s (their answers): the two rates the issue sets targets for."""
    from features.contract.x12.ingest import ingest

    t = time.perf_counter()
    claims = ingest(sorted(x12.glob("*.837")), out=out)
    seconds_837 = time.perf_counter() - t
    t = time.perf_counter()
    remits = ingest(sorted(x12.glob("*.835")), out=out)
    seconds_835 = time.perf_counter() - t
    return {
        "seconds_837": seconds_837,
        "seconds_835": seconds_835,
        "claims_per_s": claims.added["claims"] / seconds_837,
        "remits_per_s": remits.added["remits"] / seconds_835,
        "quarantined": len(claims.quarantined) + len(remits.quarantined),
        "pending": remits.pending_remits,
    }


def _compare_stage(data: Path, ingested: Path) -> dict[str, Any]:
    """Counts and money totals per table, the world's own tables against the ingested ones."""
    from features.contract.validation import load_validated

    a = load_validated(data, max_reject_rate=1.0).tables
    b = load_validated(ingested, max_reject_rate=1.0).tables
    money = {"claims": "total_charge", "claim_lines": "charge", "remits": "paid_amount", "adjustments": "amount"}
    parts, exact = [], True
    for name, column in money.items():
        same = len(a[name]) == len(b[name]) and round(float(a[name][column].sum()), 2) == round(
            float(b[name][column].sum()), 2
        )
        exact &= same
        parts.append(f"{name} {len(a[name]):,} -> {len(b[name]):,} (${float(b[name][column].sum()):,.2f})")
    return {"summary": ("exact counts and totals: " if exact else "DIFFERS: ") + "; ".join(parts)}


def _report_stage(data: Path, out: Path) -> dict[str, Any]:
    """The dashboard's data (labels, the prevention patterns and every section) and its drawing, from the
    validated tables, as `claimsight report` builds them; model health is left out (it reads a registry and
    runs the monitor, which the train and score stages measure)."""
    from features.contract.codes import load_code_tables
    from features.contract.labels import compute_labels
    from features.contract.validation import load_validated
    from features.prevention.owners import load_owners
    from features.prevention.patterns import prevention_report
    from serving.dashboard import build_report, prevention_sections, write_report

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    tables = load_validated(data, max_reject_rate=1.0).tables
    seconds["load"] = time.perf_counter() - t
    t = time.perf_counter()
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    seconds["labels"] = time.perf_counter() - t
    t = time.perf_counter()
    patterns = prevention_report(tables, labels, codes=codes, owners=load_owners(data_dir=data))
    seconds["prevention"] = time.perf_counter() - t
    t = time.perf_counter()
    shown = prevention_sections(patterns, value="projected_avoidable_dollars", label="pattern")
    report = build_report(tables, labels, codes=codes, prevention=shown)
    seconds["sections"] = time.perf_counter() - t
    t = time.perf_counter()
    write_report(report, out)
    seconds["write"] = time.perf_counter() - t
    return {
        "seconds": seconds,
        "data_s": seconds["labels"] + seconds["prevention"] + seconds["sections"],
        "sections": len(report.sections),
        "figures": sum(s.has_figure for s in report.sections),
    }


def _percentiles(name: str, seconds: list[float]) -> dict[str, Any]:
    import numpy as np

    ms = np.asarray(seconds) * 1000.0
    return {"what": name, "n": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


def _workspace_stage(data: Path, root: Path) -> dict[str, Any]:
    """The workspace's pages on the world's open denials (up to WORKSPACE_ITEMS): the team queue page (its first
    page of 100, with the filters' choices over all), an item page, and recording work (its PHI view and history
    writes included), timed in-process through the real app (server time: no network). The queue rows come from
    the open denials without a recovery model (ranked by denied amount): the pages' cost does not depend on the
    scores."""
    import datetime as dt
    import re

    from fastapi.testclient import TestClient

    from features.contract.codes import load_code_tables
    from features.contract.labels import data_as_of
    from features.contract.payer_rules import load_payer_rules
    from features.contract.run_options import RunOptions
    from features.contract.validation import load_validated
    from serving.api import ApiConfig, ModelRegistry, create_app
    from serving.appeal_queue import open_denials, workspace_rows
    from serving.workspace.database import open_workspace
    from serving.workspace.passwords import ScryptParams
    from serving.workspace.queue_sync import sync_queue
    from serving.workspace.users import create_user
    from serving.workspace.web import SqlBackend, WorkspaceOptions
    from serving.workspace.work_items import QueueFilter, open_items

    tables = load_validated(data, max_reject_rate=1.0).tables
    found = open_denials(tables, codes=load_code_tables(), rules=load_payer_rules(data_dir=data), options=RunOptions())
    denials = found.denials.sort_values("denied_amount", ascending=False).head(WORKSPACE_ITEMS).reset_index(drop=True)
    day = data_as_of(tables).date()
    ranked = denials[
        [
            "claim_id",
            "payer_id",
            "denial_category",
            "denied_amount",
            "deadline",
            "deadline_rule",
            "action_rule",
            "payer_amount",
        ]
    ].assign(  # fmt: skip
        rank=range(1, len(denials) + 1),
        action=denials["recommended_action"],
        minutes=15.0,
        expected_recovery=denials["denied_amount"] * 0.4,
        planned_day=day,
        reason_1="payer denies this procedure often without a modifier",
    )
    default = root / "bench-workspace.db"
    for stale in (default, default.with_name(default.name + "-wal"), default.with_name(default.name + "-shm")):
        stale.unlink(missing_ok=True)  # a fresh workspace each run (give an empty database in the URL too)
    engine = open_workspace(os.environ.get(WORKSPACE_URL_ENV) or f"sqlite:///{default}")
    password = "bench-password-0123"
    fast = ScryptParams(n=2**4, r=1, p=1)  # sign-in is not what is timed
    suffix = f"{time.time_ns() % 10**9}"
    for role in ("manager", "specialist"):
        create_user(engine, username=f"bench-{role}-{suffix}", password=password, role=role, params=fast)
    sync_queue(engine, workspace_rows(ranked, denials, tables))
    backend = SqlBackend(engine, secret=b"bench-secret-0123456789abcdef0123", params=fast)
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=WorkspaceOptions(backend=backend))
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')

    def signed_in(role: str) -> tuple[TestClient, str]:
        client = TestClient(app, base_url="https://testserver")
        form = client.get("/app/login").text
        token = csrf.search(form).group(1)  # type: ignore[union-attr]
        client.post("/app/login", data={"csrf_token": token, "username": f"bench-{role}-{suffix}",
                                        "password": password})  # fmt: skip
        return client, csrf.search(client.get("/app/home").text).group(1)  # type: ignore[union-attr]

    def timed(call: Callable[[], Any], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            response = call()
            out.append(time.perf_counter() - t)
            if response.status_code >= 400:
                raise RuntimeError(f"workspace bench: {response.status_code}")
        return out

    manager, _ = signed_in("manager")
    ids = [str(i.id) for i in open_items(engine, viewer=None, filters=QueueFilter(states=("open",), limit=200))]
    shown = len(open_items(engine, viewer=None))
    queue_s = timed(lambda: manager.get("/app/queue", params={"scope": "team"}), 20)
    item_s = timed(lambda: manager.get(f"/app/items/{ids[len(ids) // 2]}"), 100)
    specialist, token = signed_in("specialist")
    fields = {"csrf_token": token, "expected_version": "1", "action": "payer_call", "minutes": "5", "note": "",
              "then": "working"}  # fmt: skip
    record_s: list[float] = []
    for item_id in ids[:200]:
        path = f"/app/items/{item_id}/work"
        record_s += timed(functools.partial(specialist.post, path, data=fields, follow_redirects=False), 1)
    engine.dispose()
    return {
        "backend": engine.dialect.name,
        "items": shown,
        "day": str(dt.date.today()),
        "queue": _percentiles("team queue page", queue_s),
        "item": _percentiles("item page", item_s),
        "record": _percentiles("record work (history + PHI view writes)", record_s),
    }


if __name__ == "__main__":
    stage, args = sys.argv[1], [Path(a) for a in sys.argv[2:]]
    runners: dict[str, Callable[..., dict[str, Any]]] = {
        "load": _load_stage,
        "prevent": _prevent_stage,
        "train": _train_stage,
        "score": _score_stage,
        "x12write": _x12write_stage,
        "ingest": _ingest_stage,
        "compare": _compare_stage,
        "workspace": _workspace_stage,
        "report": _report_stage,
    }
    print(json.dumps(runners[stage](*args)))
