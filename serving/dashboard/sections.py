"""What a dashboard report is made of: sections (a title, a DataFrame, an optional chart) in fixed parts.

Why a section is only data: the same section is drawn to SVG, written to CSV, shown as a table in the static
report and in the workspace, and another module (the prevention report) can add its own without knowing how
any of that is done. When a section has a chart, its DataFrame holds exactly the plotted columns (x, the
series column, the y columns), so the CSV a leader downloads is the data in the figure and nothing else.

Only aggregates belong in a report: `check_aggregate` refuses a frame with a column that identifies a claim,
a remittance or a patient, so a builder cannot leak one into a CSV by accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

ChartKind = Literal["line", "bar", "barh"]
ValueFormat = Literal["percent", "dollars", "count", "days", "number"]

# the report's parts, in page order: (key, heading)
PARTS: tuple[tuple[str, str], ...] = (
    ("denials", "Denials"),
    ("recovery", "Recovery"),
    ("work", "The team's work"),
    ("prevention", "Prevention"),
    ("model-health", "Model health"),
)
PART_KEYS = frozenset(key for key, _ in PARTS)
# columns that name one claim, remittance or person: never in a report
IDENTIFYING_COLUMNS = frozenset(
    {
        "claim_id",
        "original_claim_id",
        "patient_id",
        "patient_birth_date",
        "patient_sex",
        "remit_id",
        "first_remit_id",
        "prior_auth_number",
        "referral_number",
        "diagnosis_codes",
        "item_id",
        "username",
    }
)
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class NotAggregate(ValueError):
    """A report frame carries a column that identifies a claim or a patient."""


def check_aggregate(frame: pd.DataFrame, *, key: str) -> None:
    found = sorted(IDENTIFYING_COLUMNS & {str(c) for c in frame.columns})
    if found:
        raise NotAggregate(f"section {key}: a report holds aggregates only, not {', '.join(found)}")


@dataclass(frozen=True)
class Chart:
    """How to draw a section's frame: `x` against each `y` column (one line or bar per y), or, with `series`,
    one line per value of that column (long format, one y)."""

    kind: ChartKind
    x: str
    y: tuple[str, ...]
    fmt: ValueFormat = "number"
    series: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # y column -> legend text
    y_label: str = ""
    # y column -> (low, high) columns drawn as interval bars (bar and barh charts), so the uncertainty is in the
    # figure and in its CSV
    errors: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.y:
            raise ValueError("a chart needs at least one y column")
        if self.series is not None and len(self.y) != 1:
            raise ValueError("a chart with a series column plots one y column")
        if set(self.errors) - set(self.y) or (self.errors and self.kind == "line"):
            raise ValueError("interval bars belong to a bar chart's y columns")

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns it plots, in the CSV's order (each y followed by its interval's bounds)."""
        ys = tuple(c for y in self.y for c in (y, *self.errors.get(y, ())))
        return (self.x, *((self.series,) if self.series else ()), *ys)

    def label(self, column: str) -> str:
        return self.labels.get(column, column.replace("_", " "))


@dataclass(frozen=True)
class Section:
    """One block of the report. `note` says what the numbers mean, or why the section has none yet."""

    key: str  # the file stem of its SVG and CSV: lower-case letters, digits, dashes
    title: str
    data: pd.DataFrame
    part: str = "denials"
    chart: Chart | None = None
    note: str = ""
    table: bool = False  # also show the rows as a table (always so without a chart)
    text: str = ""  # a document shown as is (a model card), beside or instead of the data

    def __post_init__(self) -> None:
        if not KEY.match(self.key):
            raise ValueError(f"section key {self.key!r}: lower-case letters, digits and dashes only")
        if self.part not in PART_KEYS:
            raise ValueError(f"section {self.key}: unknown part {self.part!r} (one of {', '.join(PART_KEYS)})")
        check_aggregate(self.data, key=self.key)
        if self.chart is not None:
            missing = [c for c in self.chart.columns if c not in self.data.columns]
            if missing:
                raise ValueError(f"section {self.key}: the chart plots columns the data lacks: {missing}")
            extra = [c for c in self.data.columns if c not in self.chart.columns]
            if extra:
                raise ValueError(f"section {self.key}: a charted section's data is what is plotted; drop {extra}")

    @property
    def available(self) -> bool:
        return len(self.data) > 0

    @property
    def has_figure(self) -> bool:
        return self.chart is not None and self.available


def unavailable(key: str, title: str, *, part: str, note: str) -> Section:
    """A section that says what is missing and how to get it, instead of failing the report."""
    return Section(key=key, title=title, data=pd.DataFrame(), part=part, note=note)


@dataclass(frozen=True)
class Report:
    title: str
    sections: tuple[Section, ...]
    facts: Mapping[str, str] = field(default_factory=dict)  # what the report covers: data as of, claims, built

    def __post_init__(self) -> None:
        keys = [s.key for s in self.sections]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"section keys must be unique: {dupes}")

    def part(self, key: str) -> list[Section]:
        return [s for s in self.sections if s.part == key]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


# ---- the prevention report's slot --------------------------------------------------------------------------------
PREVENTION_PENDING = (
    "The prevention report (denial patterns ranked by avoidable dollars, each with its owning team and fix) joins "
    "here once `features.prevention` lands; pass its ranked pattern table to `build_report(prevention=...)`."
)


def prevention_sections(
    patterns: pd.DataFrame | None,
    *,
    title: str = "Denial patterns ranked by avoidable dollars",
    top: int = 25,
    value: str | None = None,
    label: str | None = None,
    note: str = "",
) -> list[Section]:
    """The prevention part: the ranked pattern table (its first `top` rows, in its own order) and, when `value`
    (a dollars column) and `label` (a pattern name column) are given, a bar chart of them. None: the slot says
    the report is not there yet."""
    if patterns is None:
        return [unavailable("prevention", "Prevention report", part="prevention", note=PREVENTION_PENDING)]
    ranked = patterns.head(top).reset_index(drop=True)
    sections = [Section(key="prevention-patterns", title=title, data=ranked, part="prevention", note=note,
                        table=True)]  # fmt: skip
    if value is not None and label is not None:
        chart = Chart(kind="barh", x=label, y=(value,), fmt="dollars")
        sections.insert(
            0,
            Section(key="prevention-top", title=f"{title}: the top {min(top, len(ranked))}",
                    data=ranked[[label, value]], part="prevention", chart=chart),
        )  # fmt: skip
    return sections


EFFECTS_TITLE = "Did it work: accepted edits and fixes, before and after"
EFFECTS_HOW = (
    "No accepted edit or fix marked done yet. Accept learned edits with `claimsight edits accept "
    "OUT/learned_edits.yaml --data DIR`, or mark a pattern's fix done with `claimsight prevent done PATTERN_KEY "
    "--data DIR [--on YYYY-MM-DD]` (the pattern_key column of `claimsight prevent --csv`); the next report "
    "compares each one's denial rate before and after its day."
)
EFFECTS_NOTE = (
    "Each accepted edit and each fix marked done: its cell's denial rate the 6 months before the day and from the "
    "day to the report's as-of day (claims by their first remit date), with 95% Wilson intervals, and the change "
    "with a Newcombe hybrid score interval. Worked: the whole interval of the change is below 0; too early to "
    "tell: fewer than 30 claims (lines) after. Denied $ per month for scale."
)


def effect_sections(effects: pd.DataFrame | None, *, top: int = 25) -> list[Section]:
    """The "did it work" block of the prevention part: a figure of the before and after rates with their
    interval bars (the rows with a rate on both sides) and the table of every decision with its verdict. None
    or empty: one section saying how to make decisions."""
    if effects is None or effects.empty:
        return [unavailable("prevention-effects", EFFECTS_TITLE, part="prevention", note=EFFECTS_HOW)]
    shown = effects.head(top).reset_index(drop=True)
    both = shown[shown["rate_before"].notna() & shown["rate_after"].notna()]
    label = both["source"].astype(str) + " " + both["key"].astype(str) + " (" + both["decided_on"].astype(str) + ")"
    plotted = pd.DataFrame({"decision": label.to_numpy()})
    for side in ("before", "after"):
        for suffix in ("", "_low", "_high"):
            plotted[f"rate_{side}{suffix}"] = both[f"rate_{side}{suffix}"].to_numpy(dtype=float)
    chart = Chart(
        kind="barh",
        x="decision",
        y=("rate_before", "rate_after"),
        fmt="percent",
        labels={"rate_before": "before", "rate_after": "after"},
        errors={
            "rate_before": ("rate_before_low", "rate_before_high"),
            "rate_after": ("rate_after_low", "rate_after_high"),
        },  # fmt: skip
        y_label="denial rate (95% Wilson interval)",
    )
    return [
        Section(key="prevention-effects-rates", title=f"{EFFECTS_TITLE}: denial rates", data=plotted,
                part="prevention", chart=chart),
        Section(key="prevention-effects", title=EFFECTS_TITLE, data=shown, part="prevention", note=EFFECTS_NOTE,
                table=True),
    ]  # fmt: skip


# the report folder's subfolder holding learned_edits.yaml and .csv (`claimsight report --edits`): what the
# workspace's "accept" form accepts from (serving.workspace.web.decisions); never served as a file
EDITS_FOLDER = "edits"
EDITS_TITLE = "Learned edits: what the payers' remits show they check"
EDITS_HOW = (
    "Learned edits are not in this report: build it with `claimsight report --edits` (learns them from the history, "
    "about 20 s on 200,000 claims), or run `claimsight edits --data DIR --out OUT` and accept them with "
    "`claimsight edits accept OUT/learned_edits.yaml --data DIR`."
)
EDITS_NOTE = (
    "Pre-submission edits the history supports and the team's payer rules do not carry yet, each tested against "
    "the rest (one-sided Fisher exact, Benjamini-Hochberg FDR 5%). Accepting one writes it into the data "
    "directory's payer_rules.yaml (`claimsight edits accept`); rejecting remembers it (edit_decisions.yaml)."
)
# the learned-edit columns the dashboard shows (the report's edits/learned_edits.csv has them all)
EDITS_SHOWN = ("edit_id", "kind", "payer_id", "procedure_code", "detail", "field", "seen", "denied", "denial_rate",
               "reference_rate", "q_value", "carcs", "status")  # fmt: skip


def edit_sections(edits: pd.DataFrame | None, *, top: int = 40) -> list[Section]:
    """The learned edits of the prevention part (`features.prevention.edits.learn_edits`' table, most significant
    first); None: one section saying how to get them."""
    if edits is None:
        return [unavailable("prevention-edits", EDITS_TITLE, part="prevention", note=EDITS_HOW)]
    shown = edits.reindex(columns=list(EDITS_SHOWN)).head(top).reset_index(drop=True)
    note = EDITS_NOTE if len(shown) else "No edit stands out from noise in the history: nothing to propose."
    return [Section(key="prevention-edits", title=EDITS_TITLE, data=shown, part="prevention", note=note, table=True)]


def ordered(sections: Sequence[Section]) -> tuple[Section, ...]:
    """Sections in part order, keeping each part's own order."""
    rank = {key: n for n, (key, _) in enumerate(PARTS)}
    return tuple(sorted(sections, key=lambda s: rank[s.part]))
