"""Every figure draws exactly its CSV; the SVGs are well-formed, non-empty and carry no inline style sheet; the
written folder is self-contained (no other host), and its manifest lists only files that exist."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from serving.dashboard import MANIFEST_FILE, Report, load_manifest, write_report
from serving.dashboard.figures import draw, plotted, render_svg
from serving.dashboard.sections import IDENTIFYING_COLUMNS

SVG = "{http://www.w3.org/2000/svg}"


def charted(report: Report) -> list[str]:
    return [s.key for s in report.sections if s.has_figure]


def test_the_backend_is_agg() -> None:
    assert matplotlib.get_backend().lower() == "agg"


def test_each_figure_draws_its_csv(report: Report, written: Path) -> None:
    assert len(charted(report)) >= 12
    for key in charted(report):
        section = report.section(key)
        chart = section.chart
        assert chart is not None
        csv = pd.read_csv(written / "data" / f"{key}.csv", dtype={chart.x: str, **({chart.series: str} if chart.series
                                                                                  else {})})  # fmt: skip
        expected = plotted(section).reset_index(drop=True)
        assert list(csv.columns) == list(expected.columns), key
        pd.testing.assert_frame_equal(csv, expected, check_dtype=False, check_exact=False, rtol=1e-9)
        ax = draw(section).axes[0]
        if chart.kind == "line":
            drawn = [line.get_ydata() for line in ax.get_lines()]
            if chart.series is None:
                wanted = [expected[c].to_numpy(dtype=float) for c in chart.y]
            else:
                wide = expected.pivot(index=chart.x, columns=chart.series, values=chart.y[0])
                wanted = [wide[g].to_numpy(dtype=float) for g in dict.fromkeys(expected[chart.series])]
            assert len(drawn) == len(wanted), key
            for got, want in zip(drawn, wanted, strict=True):
                np.testing.assert_allclose(np.asarray(got, dtype=float), want, equal_nan=True)
        else:
            heights = [p.get_width() if chart.kind == "barh" else p.get_height() for p in ax.patches]
            wanted = np.concatenate([expected[c].to_numpy(dtype=float) for c in chart.y])
            np.testing.assert_allclose(heights, wanted)


@pytest.mark.parametrize("key", ["denial-rate-by-month", "denial-rate-by-payer-and-month", "queue-throughput-by-month",
                                 "open-denial-dollars-by-category"])  # fmt: skip
def test_svg_is_well_formed_non_empty_and_style_free(report: Report, key: str) -> None:
    svg = render_svg(report.section(key))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width", "0").rstrip("pt")) > 100 and float(root.get("height", "0").rstrip("pt")) > 100
    assert len(root.findall(f".//{SVG}path")) > 20
    assert root.find(f".//{SVG}style") is None and root.find(f".//{SVG}script") is None
    assert render_svg(report.section(key)) == svg  # reproducible: no date, a fixed hash salt


def test_the_folder_is_self_contained(report: Report, written: Path) -> None:
    index = (written / "index.html").read_text()
    assert "<script" not in index and "style=" not in index and "<style" not in index
    assert not re.search(r"(src|href)=\"(https?:)?//", index)
    linked = set(re.findall(r"(?:src|href)=\"([^\"#]+)\"", index))
    assert linked and all((written / name).is_file() for name in linked), linked
    assert {f"figures/{k}.svg" for k in charted(report)} <= linked
    manifest = load_manifest(written)
    assert manifest is not None and manifest.files <= linked
    assert {p["key"] for p in json.loads((written / MANIFEST_FILE).read_text())["parts"]} >= {"denials", "prevention"}


def test_no_csv_names_a_claim_or_a_patient(written: Path) -> None:
    files = list((written / "data").glob("*.csv"))
    assert len(files) >= 14
    for path in files:
        header = set(pd.read_csv(path, nrows=0).columns)
        assert not header & (IDENTIFYING_COLUMNS | {"patient", "patient_name"}), path.name


def test_a_rebuild_drops_sections_that_are_gone(report: Report, tmp_path: Path) -> None:
    write_report(report, tmp_path)
    (tmp_path / "figures" / "old-section.svg").write_text("<svg/>")
    smaller = Report(title=report.title, sections=tuple(s for s in report.sections if s.key != "kpis"))
    write_report(smaller, tmp_path)
    assert not (tmp_path / "figures" / "old-section.svg").exists()
    assert not (tmp_path / "data" / "kpis.csv").exists()
    assert (tmp_path / "data" / "denial-rate-by-month.csv").exists()


def test_the_manifest_serves_only_listed_files(written: Path) -> None:
    manifest = load_manifest(written)
    assert manifest is not None
    assert manifest.path_of("figures/denial-rate-by-month.svg") is not None
    for name in ("report.json", "index.html", "figures/../report.json", "data/nothing.csv", "/etc/passwd"):
        assert manifest.path_of(name) is None
    assert load_manifest(written / "missing") is None
