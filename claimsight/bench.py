"""`claimsight bench`: the speed and memory figures the issues ask for, measured, never asserted in tests.

Each stage runs in its own process so its peak resident memory is its own (os.wait4 reports the
child's rusage), and so that one stage's caches do not flatter the next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGETS = {"synth": (120.0, 4.0), "load+validate+labels": (60.0, None)}


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """Run a child; return wall seconds, its peak RSS in GiB, and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step failed with exit code {proc.returncode}: {' '.join(cmd[2:4])}")
    return wall, usage.ru_maxrss / 1024**2, out


def run_bench(console: Console, *, claims: int, months: int, seed: int, workdir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="claimsight-bench-") as tmp:
        data = (workdir or Path(tmp)) / "data"
        console.print(f"synthetic world: {claims:,} claims, {months} months, seed {seed} -> {data}")
        synth = [sys.executable, "-m", "claimsight.cli", "synth", "--out", str(data), "--claims", str(claims),
                 "--months", str(months), "--seed", str(seed)]
        s_wall, s_rss, _ = _run(synth)
        l_wall, l_rss, out = _run([sys.executable, "-m", "claimsight.bench", str(data)])
        stages = json.loads(out.strip().splitlines()[-1])

    table = Table(title=f"bench: {claims:,} claims x {months} months on {os.cpu_count()} cores")
    for col in ("stage", "wall s", "peak RSS GiB", "target"):
        table.add_column(col, justify="left" if col in ("stage", "target") else "right")
    table.add_row("synth (generate + write parquet)", f"{s_wall:.1f}", f"{s_rss:.2f}", "< 120 s, < 4 GiB")
    table.add_row("load + validate + labels", f"{l_wall:.1f}", f"{l_rss:.2f}", "< 60 s")
    for name, secs in stages["seconds"].items():
        table.add_row(f"  {name}", f"{secs:.1f}", "", "")
    console.print(table)
    rows = ", ".join(f"{k} {v:,}" for k, v in stages["rows"].items())
    console.print(f"rows: {rows}; quarantined {stages['quarantined']:,}; "
                  f"initial denial rate {stages['denial_rate']:.2%}")


def _load_stage(data: Path) -> dict[str, object]:
    """The child side: time each step of reading a history into labels."""
    from features.codes import load_code_tables
    from features.labels import compute_labels
    from features.tables_io import read_tables
    from features.validation import validate_tables

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    raw = read_tables(data)
    seconds["read"] = time.perf_counter() - t
    t = time.perf_counter()
    result = validate_tables(raw)
    seconds["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = compute_labels(result.tables, codes=load_code_tables())
    seconds["labels"] = time.perf_counter() - t
    return {
        "seconds": seconds,
        "rows": {name: len(df) for name, df in result.tables.items()},
        "quarantined": result.total_quarantined,
        "denial_rate": float(labels["initial_denial"].mean()),
    }


if __name__ == "__main__":
    print(json.dumps(_load_stage(Path(sys.argv[1]))))
