"""Write a report as a folder that works opened from disk: index.html, report.css, figures/*.svg, data/*.csv
and report.json (the manifest the workspace reads).

Everything is local: the page links its own style sheet and shows the SVGs as images by relative path, with no
script and nothing from another host, so it opens the same from a file share, an e-mail attachment or the
workspace. The manifest is replaced last and atomically, so a workspace serving the folder while it is rebuilt
sees the old report or the new one, never half of each.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import jinja2

from features.contract.atomic_files import write_text_atomic
from serving.dashboard.figures import render_svg
from serving.dashboard.manifest import MANIFEST_FILE, data_file, figure_file, manifest_of, parse_manifest
from serving.dashboard.sections import Report, check_aggregate

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STYLE = HERE / "static" / "report.css"

Progress = Callable[[int, int, str], None]  # (done, total, section key)


def render_index(manifest: dict[str, object]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html").render(**manifest)


def write_report(report: Report, out: Path, *, on_progress: Progress | None = None) -> Path:
    """Write `report` into `out` (created; files of an earlier report there are replaced); returns index.html."""
    out.mkdir(parents=True, exist_ok=True)
    total = len(report.sections)
    for n, section in enumerate(report.sections, start=1):
        if section.available:
            check_aggregate(section.data, key=section.key)
            write_text_atomic(out / data_file(section), section.data.to_csv(index=False, lineterminator="\n"))
        if section.has_figure:
            write_text_atomic(out / figure_file(section), render_svg(section))
        if on_progress is not None:
            on_progress(n, total, section.key)
    manifest = manifest_of(report)
    shutil.copyfile(STYLE, out / STYLE.name)
    index = out / "index.html"
    write_text_atomic(index, render_index(manifest))
    write_text_atomic(out / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    listed = parse_manifest(out, manifest).files
    for folder in ("figures", "data"):  # an earlier report's sections that this one no longer has
        for stale in (out / folder).glob("*"):
            if f"{folder}/{stale.name}" not in listed:
                stale.unlink()
    return index
