"""The leader's dashboard: the denial KPIs, the team's work and the models' health as figures a revenue-cycle
leader reads, each with the exact numbers behind it as CSV.

A report is a list of `Section`s (a title, a DataFrame of aggregates, an optional `Chart`), grouped into parts
(`PARTS`). `build_report` makes the KPI and work sections from the DATA.md tables and their labels, takes the
model-health facts as plain data (`ModelHealth`: the command line gathers them from MLflow and the monitor,
since serving never imports training), and keeps a slot for the prevention report (`prevention_sections`).
`write_report` renders it offline to a folder (index.html, one SVG and one CSV per figure, `report.json`)
that opens from disk and that the workspace serves at /app/dashboard (`load_manifest`).
"""

from __future__ import annotations

from serving.dashboard.build import build_report
from serving.dashboard.health import ModelHealth, RegisteredModel
from serving.dashboard.manifest import MANIFEST_FILE, Manifest, load_manifest
from serving.dashboard.sections import (
    EDITS_FOLDER,
    PARTS,
    Chart,
    Report,
    Section,
    edit_sections,
    effect_sections,
    prevention_sections,
)
from serving.dashboard.writer import write_report

__all__ = [
    "EDITS_FOLDER",
    "MANIFEST_FILE",
    "PARTS",
    "Chart",
    "Manifest",
    "ModelHealth",
    "RegisteredModel",
    "Report",
    "Section",
    "build_report",
    "edit_sections",
    "effect_sections",
    "load_manifest",
    "prevention_sections",
    "write_report",
]
