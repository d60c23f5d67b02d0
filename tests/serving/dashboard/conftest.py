"""A seeded small synthetic world (4,000 claims over 12 months, with followups), validated and labelled once for
the dashboard tests, and the report built from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from features.contract.codes import CodeTables, load_code_tables
from features.contract.labels import compute_labels
from features.contract.validation import load_validated
from serving.dashboard import Report, build_report


@dataclass(frozen=True)
class World:
    tables: dict[str, pd.DataFrame]
    labels: pd.DataFrame
    codes: CodeTables


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from synthetic import generate_world, write_world

    out = tmp_path_factory.mktemp("dashboard_world")
    write_world(generate_world(claims=4_000, months=12, seed=11), out_dir=out, fmt="parquet")
    tables = load_validated(out, max_reject_rate=1.0, quarantine_dir=out / "quarantine").tables
    codes = load_code_tables()
    return World(tables=tables, labels=compute_labels(tables, codes=codes), codes=codes)


@pytest.fixture(scope="session")
def report(world: World) -> Report:
    return build_report(world.tables, world.labels, codes=world.codes)


@pytest.fixture(scope="session")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.dashboard import write_report

    out = tmp_path_factory.mktemp("dashboard_report")
    write_report(report, out)
    return out
