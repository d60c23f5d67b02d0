"""Figures drawn offline with matplotlib to SVG: no display, no browser script, nothing fetched.

The Agg backend is set explicitly and figures are made through the object API (`Figure`, never pyplot), so
drawing needs no display, keeps no global figure list, and is safe on a server's worker threads. The SVG is
made reproducible (a fixed hash salt, no date) and its embedded <style> element is dropped: the workspace's
Content-Security-Policy allows no inline style sheet, and the element only sets line-join defaults.
"""

from __future__ import annotations

import io
import re
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")  # explicitly: never a display backend, whatever MPLBACKEND says

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from serving.dashboard.sections import Chart, Section, ValueFormat

SIZE = (8.0, 3.6)  # inches: two figures fit a laptop screen's height
MAX_X_TICKS = 12
BAR_LABEL_CHARS = 46  # a horizontal bar's label wraps at this width
COLORS = ("#1f5f99", "#d0782a", "#2e8b57", "#8e44ad", "#b03a2e", "#5d6d7e", "#c9a227")
STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)
RC: dict[Any, Any] = {"svg.hashsalt": "claimsight", "svg.fonttype": "path", "font.size": 9.0, "axes.spines.top": False,
      "axes.spines.right": False}  # fmt: skip


def format_value(value: float, fmt: ValueFormat) -> str:
    if fmt == "percent":
        return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"
    if fmt == "dollars":
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"${value / size:,.1f}{suffix}"
        return f"${value:,.0f}"
    if fmt in ("count", "days"):
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def plotted(section: Section) -> pd.DataFrame:
    """What the section's figure draws: its data's chart columns (which is all its data; see sections.py)."""
    assert section.chart is not None
    return section.data[list(section.chart.columns)]


def _x_ticks(ax: Axes, labels: list[str]) -> None:
    step = max(1, int(np.ceil(len(labels) / MAX_X_TICKS)))
    at = list(range(0, len(labels), step))
    ax.set_xticks(at, [labels[i] for i in at], rotation=45 if len(labels) > 6 else 0, ha="right")


def _line(ax: Axes, data: pd.DataFrame, chart: Chart) -> None:
    if chart.series is not None:
        wide = data.pivot(index=chart.x, columns=chart.series, values=chart.y[0])
        order = list(dict.fromkeys(data[chart.series]))  # the builder's order (largest first), not alphabetical
        wide = wide[order]
        lines = [(str(name), wide[name].to_numpy(dtype=float)) for name in wide.columns]
    else:
        wide = data.set_index(chart.x)
        lines = [(chart.label(col), wide[col].to_numpy(dtype=float)) for col in chart.y]
    xs = np.arange(len(wide.index))
    for n, (name, values) in enumerate(lines):
        ax.plot(xs, values, label=name, color=COLORS[n % len(COLORS)], linewidth=1.8, marker="o", markersize=3)
    _x_ticks(ax, [str(v) for v in wide.index])


def _error(data: pd.DataFrame, chart: Chart, col: str) -> np.ndarray | None:
    """matplotlib's (2, n) distances from the value to each bound, for a y column with interval bars."""
    if col not in chart.errors:
        return None
    low, high = (data[c].to_numpy(dtype=float) for c in chart.errors[col])
    value = data[col].to_numpy(dtype=float)
    return np.vstack([np.clip(value - low, 0, None), np.clip(high - value, 0, None)])


def _bar(ax: Axes, data: pd.DataFrame, chart: Chart) -> None:
    xs = np.arange(len(data))
    width = 0.8 / len(chart.y)
    for n, col in enumerate(chart.y):
        offset = (n - (len(chart.y) - 1) / 2) * width
        ax.bar(xs + offset, data[col].to_numpy(dtype=float), width=width, label=chart.label(col),
               color=COLORS[n % len(COLORS)], yerr=_error(data, chart, col), capsize=3)  # fmt: skip
    _x_ticks(ax, [str(v) for v in data[chart.x]])


def _barh(ax: Axes, data: pd.DataFrame, chart: Chart) -> None:
    ys = np.arange(len(data))
    height = 0.8 / len(chart.y)
    for n, col in enumerate(chart.y):
        offset = (n - (len(chart.y) - 1) / 2) * height
        ax.barh(ys + offset, data[col].to_numpy(dtype=float), height=height, label=chart.label(col),
                color=COLORS[n % len(COLORS)], xerr=_error(data, chart, col), capsize=3)  # fmt: skip
    ax.set_yticks(ys, [_wrapped(str(v)) for v in data[chart.x]])
    ax.invert_yaxis()  # the first row (the largest) on top


def _wrapped(label: str) -> str:
    """A long category label on at most two lines of BAR_LABEL_CHARS, so the bars keep the figure's width (the
    CSV keeps the whole label)."""
    lines = textwrap.wrap(label, BAR_LABEL_CHARS) or [""]
    if len(lines) > 2:
        lines = [lines[0], lines[1][: BAR_LABEL_CHARS - 1].rstrip() + "…"]
    return "\n".join(lines)


DRAW = {"line": _line, "bar": _bar, "barh": _barh}


def draw(section: Section) -> Figure:
    """The section's chart as a matplotlib Figure (not yet written anywhere)."""
    chart = section.chart
    if chart is None or not section.available:
        raise ValueError(f"section {section.key} has no figure to draw")
    data = plotted(section)
    height = SIZE[1] if chart.kind != "barh" else max(SIZE[1], 0.9 + 0.4 * len(data))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(SIZE[0], height), layout="constrained")
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        DRAW[chart.kind](ax, data, chart)
        value_axis = ax.xaxis if chart.kind == "barh" else ax.yaxis
        value_axis.set_major_formatter(
            PercentFormatter(xmax=1.0)  # as many decimals as the axis' range needs: 12.5% 13.0% 13.5%, not 13% 13%
            if chart.fmt == "percent"
            else FuncFormatter(lambda v, _pos: format_value(v, chart.fmt))
        )
        ax.grid(axis="x" if chart.kind == "barh" else "y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        if chart.y_label:
            (ax.set_xlabel if chart.kind == "barh" else ax.set_ylabel)(chart.y_label)
        if chart.series is not None or len(chart.y) > 1:
            ax.legend(frameon=False, fontsize=8, loc="best")
    return fig


def to_svg(fig: Figure) -> str:
    """The figure as a standalone SVG document, without its inline style sheet."""
    buffer = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return STYLE_ELEMENT.sub("", buffer.getvalue())


def render_svg(section: Section) -> str:
    return to_svg(draw(section))
