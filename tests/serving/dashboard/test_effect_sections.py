"""The "did it work" block of the prevention part: without decisions it says how to make them; with them, a
figure of the before and after rates whose interval bars are the CSV's bounds, and the table with the verdicts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import Rectangle

from features.prevention.effects import EFFECT_COLUMNS
from serving.dashboard import build_report, effect_sections, write_report
from serving.dashboard.figures import draw, render_svg

from .conftest import World


def decided() -> pd.DataFrame:
    rows = [
        {"source": "edit", "key": "auth:P0025:97240", "decided_on": "2024-07-01", "unit": "lines", "seen_before": 80,
         "denied_before": 40, "rate_before": 0.5, "rate_before_low": 0.39, "rate_before_high": 0.61, "seen_after": 60,
         "denied_after": 1, "rate_after": 1 / 60, "rate_after_low": 0.003, "rate_after_high": 0.089,
         "difference": 1 / 60 - 0.5, "difference_low": -0.6, "difference_high": -0.35, "verdict": "worked"},
        {"source": "fix", "key": "coding:payer=P0001:plan=medicare", "decided_on": "2024-12-20", "unit": "claims",
         "seen_before": 500, "denied_before": 50, "rate_before": 0.1, "rate_before_low": 0.077,
         "rate_before_high": 0.13, "seen_after": 10, "denied_after": 1, "rate_after": 0.1, "rate_after_low": 0.018,
         "rate_after_high": 0.40, "difference": 0.0, "difference_low": -0.08, "difference_high": 0.3,
         "verdict": "too early to tell"},
        {"source": "fix", "key": "eligibility:group=em", "decided_on": "2025-02-01", "unit": "claims",
         "verdict": "decided after as_of"},
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def test_without_decisions_the_section_says_how_to_make_them(world: World) -> None:
    (only,) = effect_sections(None)
    assert not only.available and only.part == "prevention"
    assert "claimsight prevent done" in only.note and "claimsight edits accept" in only.note
    assert effect_sections(pd.DataFrame(columns=list(EFFECT_COLUMNS)))[0].key == "prevention-effects"


def test_the_figure_draws_the_rates_with_their_intervals(world: World, tmp_path: Path) -> None:
    figure, table = effect_sections(decided())
    assert figure.part == table.part == "prevention" and table.table and len(table.data) == 3
    assert list(figure.data.columns) == ["decision", "rate_before", "rate_before_low", "rate_before_high",
                                         "rate_after", "rate_after_low", "rate_after_high"]  # fmt: skip
    assert len(figure.data) == 2  # the decision after as_of has no rates to draw
    ax = draw(figure).axes[0]
    widths = [p.get_width() for p in ax.patches if isinstance(p, Rectangle)]
    np.testing.assert_allclose(np.array(widths), np.array([0.5, 0.1, 1 / 60, 0.1]))
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer) and c.has_xerr]
    assert len(bars) == 2  # before and after, each with interval bars
    segments = np.concatenate([c.lines[2][0].get_segments() for c in bars])
    ends = sorted((round(s[0][0], 6), round(s[1][0], 6)) for s in segments)
    assert ends == sorted([(0.39, 0.61), (0.077, 0.13), (0.003, 0.089), (0.018, 0.4)])
    assert ET.fromstring(render_svg(figure)).tag.endswith("svg")

    report = build_report(world.tables, world.labels, codes=world.codes, prevention=effect_sections(decided()))
    assert [s.key for s in report.part("prevention")] == ["prevention-effects-rates", "prevention-effects"]
    write_report(report, tmp_path)
    csv = pd.read_csv(tmp_path / "data" / "prevention-effects-rates.csv")
    pd.testing.assert_frame_equal(csv, figure.data, check_dtype=False)
    assert (tmp_path / "figures" / "prevention-effects-rates.svg").is_file()
    assert "verdict" in pd.read_csv(tmp_path / "data" / "prevention-effects.csv").columns
