"""Denial patterns worth preventing: root cause x payer/plan x procedure group x provider/location cells
that stand out from noise, merged so one root cause is listed once, ranked by avoidable denied dollars.

**Ranking.** By what the pattern will cost over the next 12 months if nothing changes: the last 3 months'
avoidable dollars times 4 when the trend test says the rate changed (rising, falling, new or quiet: the recent
rate is the one in force), else the 12 months' (steady: the longer window is the steadier estimate). A payer's
new requirement that started mid-year is ranked by the money it costs now, not diluted by the months before
it; one the team already fixed (falling) drops. Ties: the 12 months' avoidable dollars.

**Cells.** Every claim whose first adjudication (first remit) falls in the window is one trial; a denial
of category k is a success for category k. A cell is a root-cause category with any non-empty combination
of: payer (payer_id with plan_type), procedure group (the CPT/HCPCS section of the claim's highest-charge
line, `groups.py`), and at most one site: billing provider (billing_npi), rendering clinician
(rendering_npi) or location (facility_id). That is 15 cell kinds per category (KINDS). Windows run by the
first remit date, the day the team learned the outcome, so every claim counted has its answer: the test
window is the 12 months up to `as_of`, the recent window its last 3 months, and the trend compares those 3
months with the 12 months before them.

**The test, and why.** A cell's parents are the cells with one of its dimensions removed (a one-dimension
cell's parent is the category over the whole book). A cell stands out when its rate of category-k denials is
higher than in the REST of each parent (the parent without the cell's own claims): a one-sided Fisher exact
test, i.e. the hypergeometric tail P(X >= x | parent claims, parent denials, cell claims), and the cell's
p-value is the largest over its parents (it must stand out from every parent, an intersection-union test).
Exact, because most cells hold a handful of denials where a z-test is wrong; conditional on the parent's
margins, because the reference rate is itself estimated from the rest of the parent, not known. Thousands of
cells are tested at once, so the Benjamini-Hochberg procedure controls the false discovery rate across all
of them (every cell with at least one denial counts in m; a cell that cannot be reported is given p = 1, which
only makes the procedure more conservative). A cell is reported only with at least `min_denials` denials,
`min_denied_dollars` denied, a rate at least `min_lift` times every parent's rest, and every parent's rest
holding at least `min_reference_claims` claims: a cell that is (almost) all of its parent is a nested
duplicate of it and the parent speaks for it.

**Merging.** The significant cells are then taken most specific first (3 dimensions, then 2, then 1; within a
level by p-value), and each is tested again on the claims that no pattern already accepted for the same
category covers, against parents with those claims removed too; it is reported only if it still passes the
same cut-off. So a child is reported only when it stands out from its parent (otherwise the child was never
significant and the parent absorbs it), a parent whose excess lies entirely in a reported child is not
reported again, a provider whose excess comes from one payer's reported pattern is not listed beside it,
and a pattern's figures (claims, denials, dollars, minutes) are its own claims, net of the more specific
patterns above it, so the report's dollars add up without counting a denial twice.

**The pattern key.** ``pattern_key`` names a cell independent of its rank, so a team can mark its fix done
(``claimsight prevent done KEY``) and the before/after comparison (``features.prevention.effects``) can find the
same cell again after it has dropped out of the report: the category, then ``name=value`` for each dimension the
cell names, in the order payer, plan, group, billing, rendering, location, joined by ``:``, e.g.
``authorization:payer=P0025:plan=commercial:group=physical_medicine``. Values are percent-encoded (``:`` and
``%`` and anything outside letters, digits and ``_.-~``), so a key always parses back (``parse_pattern_key``).

**Cost of recovery.** Staff minutes: the follow-up rows (dated by `as_of`) on the pattern's denials in the
12-month window, each action at the minutes the queue planner assumes (FOLLOWUP_MINUTES). Dollars never
recovered: denied minus recovered dollars of the pattern's mature denials (maturity window closed by `as_of`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from features.contract.codes import CATEGORIES, CodeTables
from features.contract.labels import data_as_of
from features.decisions.queue_plan import DEFAULT_MINUTES
from features.prevention.groups import group_labels, procedure_group
from features.prevention.owners import OwnersMap

SITES = ("billing_npi", "rendering_npi", "facility_id")
DIMS = ("payer", "procedure_group", *SITES)
KINDS: tuple[tuple[str, ...], ...] = tuple(
    k
    for p, g, s in itertools.product((("payer",), ()), (("procedure_group",), ()), tuple((s,) for s in SITES) + ((),))
    if (k := (*p, *g, *s))
)
NONE = "(none)"
# What a follow-up action costs in staff minutes: the queue planner's minutes for the action it corresponds to.
FOLLOWUP_MINUTES: Mapping[str, float] = {
    "corrected_claim": DEFAULT_MINUTES["correct_and_resubmit"],
    "appeal": DEFAULT_MINUTES["appeal"],
    "reconsideration": DEFAULT_MINUTES["appeal"],
    "payer_call": DEFAULT_MINUTES["verify_status"],
    "write_off": DEFAULT_MINUTES["write_off"],
    "bill_patient": DEFAULT_MINUTES["bill_patient"],
}

PATTERN_COLUMNS = (
    "rank",  # 1 = most projected avoidable dollars (then the 12 months' avoidable dollars)
    "pattern_key",  # the cell, independent of rank: category:payer=..:plan=..:group=..:billing|rendering|location=..
    "category",  # root cause (denial_category)
    "avoidable",  # the category is one the practice could have prevented (categories.csv)
    "payer_id",  # NA when the pattern is not tied to a payer
    "plan_type",
    "procedure_group",  # NA when not tied to a kind of service
    "procedure_group_label",
    "billing_npi",  # at most one of billing_npi, rendering_npi, facility_id is set
    "rendering_npi",
    "facility_id",
    "level",  # how many of payer, procedure group and site the pattern names (1-3)
    "pattern",  # the pattern in words
    "top_code",  # the procedure code with the most denied dollars in the pattern (12 months)
    "claims_12m",  # the pattern's own claims with a first remit in the 12 months up to as_of
    "denials_12m",  # of them, initial denials of this category
    "denial_rate_12m",
    "reference_rate",  # the same category's rate in the rest of the parent the pattern stands out from least
    "lift",  # denial_rate_12m / reference_rate
    "denied_dollars_12m",
    "avoidable_dollars_12m",  # = denied_dollars_12m for an avoidable category, else 0
    "claims_3m",
    "denials_3m",
    "denial_rate_3m",
    "denied_dollars_3m",
    "avoidable_dollars_3m",
    "projected_avoidable_dollars",  # the next 12 months if nothing changes (see the module docstring)
    "claims_prior",  # the 12 months before the last 3 (the trend's baseline)
    "denial_rate_prior",
    "trend_ratio",  # denial_rate_3m / denial_rate_prior
    "trend",  # rising / falling / steady (one-sided Fisher tests at trend_alpha), new, quiet
    "p_value",  # the merged test (see the module docstring)
    "q_value",  # Benjamini-Hochberg adjusted p-value of the cell among all cells tested
    "staff_minutes",  # follow-up work recorded on the 12 months' denials
    "mature_denials",
    "unrecovered_dollars",  # denied - recovered over the mature denials
    "owner_team",
    "owner_team_label",
    "upstream_fix",
    "owner_rule",  # which entry of the owners map decided the team
    "window_start",  # first day after which first remits count (12-month window)
    "as_of",
)


@dataclass(frozen=True)
class PatternRule:
    """Thresholds of the pattern test (defaults documented in the module docstring)."""

    fdr: float = 0.05
    min_denials: int = 10
    min_denied_dollars: float = 1_000.0
    min_lift: float = 1.5
    min_reference_claims: int = 30
    long_months: int = 12
    short_months: int = 3
    trend_alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.fdr < 1:
            raise ValueError(f"fdr must be between 0 and 1, got {self.fdr!r}")
        if not 0 < self.short_months < self.long_months:
            raise ValueError("short_months must be positive and shorter than long_months")


# ---- the pattern key ---------------------------------------------------------------------------------------------
# key name -> the cell dimension it names ("payer" and "plan" together make the cell's payer dimension)
KEY_NAMES: tuple[tuple[str, str], ...] = (
    ("payer", "payer_id"),
    ("plan", "plan_type"),
    ("group", "procedure_group"),
    ("billing", "billing_npi"),
    ("rendering", "rendering_npi"),
    ("location", "facility_id"),
)


class PatternKeyError(ValueError):
    """A pattern key that does not parse; the message names the part at fault."""


@dataclass(frozen=True)
class PatternCell:
    """The cell a pattern key names: its category and the value of each frame column it fixes (payer_id,
    plan_type, procedure_group, at most one site)."""

    category: str
    values: Mapping[str, str]

    @property
    def key(self) -> str:
        parts = [self.category]
        parts += [
            f"{name}={quote(self.values[column], safe='')}" for name, column in KEY_NAMES if column in self.values
        ]
        return ":".join(parts)


def pattern_key(category: str, values: Mapping[str, str]) -> str:
    """The key of a cell given as merge_patterns' values (dimension -> value, payer as 'payer_id|plan_type')."""
    columns: dict[str, str] = {}
    if "payer" in values:
        columns["payer_id"], columns["plan_type"] = values["payer"].split("|", 1)
    for dim in ("procedure_group", *SITES):
        if dim in values:
            columns[dim] = values[dim]
    return PatternCell(category=category, values=columns).key


def parse_pattern_key(key: str) -> PatternCell:
    """The cell a key names; PatternKeyError when it is not one (see the module docstring, "The pattern key")."""
    category, *parts = str(key).strip().split(":")
    if category not in CATEGORIES:
        raise PatternKeyError(f"a pattern key starts with a denial category (one of {', '.join(CATEGORIES)})")
    names = dict(KEY_NAMES)
    values: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or name not in names or not value:
            raise PatternKeyError(f"pattern key part {name!r}: expected NAME=VALUE, NAME one of {', '.join(names)}")
        if names[name] in values:
            raise PatternKeyError(f"pattern key part {name!r} is given twice")
        values[names[name]] = unquote(value)
    if ("payer_id" in values) != ("plan_type" in values):
        raise PatternKeyError("a pattern key names a payer with its plan (payer=..:plan=..), or neither")
    if sum(site in values for site in SITES) > 1:
        raise PatternKeyError("a pattern key names at most one of billing, rendering, location")
    if len(values) == 0:
        raise PatternKeyError("a pattern key names at least one of payer, group, billing, rendering, location")
    cell = PatternCell(category=category, values=values)
    if cell.key != str(key).strip():
        raise PatternKeyError("pattern key parts must come in the order " + ", ".join(n for n, _ in KEY_NAMES))
    return cell


def cell_mask(frame: pd.DataFrame, cell: PatternCell) -> np.ndarray:
    """Rows of a pattern_frame in the cell (every claim of it, denied or not)."""
    inside = np.ones(len(frame), dtype=bool)
    for column, value in cell.values.items():
        inside &= frame[column].to_numpy(dtype=object) == value
    return inside


def prevention_report(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    owners: OwnersMap,
    as_of: pd.Timestamp | None = None,
    rule: PatternRule | None = None,
) -> pd.DataFrame:
    """The reported denial patterns, one row each with PATTERN_COLUMNS, ranked by avoidable denied dollars.

    `tables` are the validated DATA.md tables, `labels` compute_labels' output computed as of the same day
    (its `mature` and `recovered_amount` must not see past `as_of`; `claimsight prevent` cuts the tables with
    `known_at` first). `as_of` defaults to the latest date in the data. Only claims whose first remit is on or
    before `as_of`, and follow-ups dated by then, are read.
    """
    rule = rule or PatternRule()
    day = data_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    frame = pattern_frame(tables, labels, codes=codes, as_of=day, rule=rule)
    cells, cutoff = cell_statistics(frame, rule=rule)
    accepted = merge_patterns(frame, cells, rule=rule, cutoff=cutoff)
    return _describe(frame, accepted, codes=codes, owners=owners, as_of=day, rule=rule)


# ---- the claim frame ----------------------------------------------------------------------------------------
def pattern_frame(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    as_of: pd.Timestamp,
    rule: PatternRule,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per original claim whose first remit lies in the 15 months up to `as_of` (or from `since` on,
    when that is earlier: the before/after comparison reads further back), with its cell dimensions, window
    flags (`long`, `short`, `prior`) and per-claim amounts."""
    as_of = pd.Timestamp(as_of)
    long_start = as_of - pd.DateOffset(months=rule.long_months)
    short_start = as_of - pd.DateOffset(months=rule.short_months)
    prior_start = short_start - pd.DateOffset(months=rule.long_months)
    first = labels["first_remit_date"]
    earliest = first > prior_start
    if since is not None:
        earliest |= first >= pd.Timestamp(since)
    lab = labels[(earliest & (first <= as_of)).to_numpy(dtype=bool)]
    claims = tables["claims"]
    at = pd.Index(claims["claim_id"]).get_indexer(lab["claim_id"])  # claim_id is the claims table's key
    out = pd.DataFrame({"claim_id": lab["claim_id"].to_numpy(), "first_remit_date": lab["first_remit_date"].to_numpy()})
    frd = out["first_remit_date"]
    out["long"] = ((frd > long_start) & (frd <= as_of)).to_numpy()
    out["short"] = ((frd > short_start) & (frd <= as_of)).to_numpy()
    out["prior"] = ((frd > prior_start) & (frd <= short_start)).to_numpy()
    denied = lab["initial_denial"].to_numpy(dtype=bool)
    category = lab["denial_category"].astype("string").fillna("other").to_numpy(dtype=object)
    category[~denied] = None
    out["category"] = category
    out["denied_amount"] = np.where(denied, lab["denied_amount"].to_numpy(dtype=float), 0.0)
    mature = lab["mature"].fillna(False).to_numpy(dtype=bool) & denied
    recovered = lab["recovered_amount"].fillna(0.0).to_numpy(dtype=float)
    out["mature"] = mature
    out["unrecovered"] = np.where(mature, np.clip(out["denied_amount"].to_numpy() - recovered, 0.0, None), 0.0)
    avoidable = {c for c in CATEGORIES if codes.is_avoidable(c)}
    out["avoidable"] = out["category"].isin(avoidable).to_numpy()

    def column(name: str) -> np.ndarray:
        values = np.full(len(out), NONE, dtype=object)
        if name in claims.columns:
            found = claims[name].astype("string").take(at[at >= 0]).fillna(NONE).replace("", NONE)
            values[at >= 0] = found.to_numpy(dtype=object)
        return values

    out["payer_id"] = column("payer_id")
    out["plan_type"] = column("plan_type")
    out["payer"] = out["payer_id"] + "|" + out["plan_type"]
    for name in SITES:
        out[name] = column(name)
    # The highest-charge line of each claim (ties: the lowest line number), by the claim's row in `out`.
    lines = tables["claim_lines"]
    row = pd.Index(out["claim_id"]).get_indexer(lines["claim_id"])
    mine = np.flatnonzero(row >= 0)
    charge = lines["charge"].to_numpy(dtype=float)[mine]
    order = mine[np.lexsort((lines["line_number"].to_numpy(dtype=np.int64)[mine], -charge, row[mine]))]
    first_line = order[np.r_[True, row[order][1:] != row[order][:-1]]] if len(order) else order
    top = np.full(len(out), NONE, dtype=object)
    top[row[first_line]] = lines["procedure_code"].astype("string").take(first_line).fillna(NONE).to_numpy(dtype=object)
    out["top_code"] = top
    out["procedure_group"] = procedure_group(pd.Series(out["top_code"].to_numpy())).to_numpy(dtype=object)

    followups = tables.get("followups")
    minutes = pd.Series(0.0, index=out["claim_id"])
    if followups is not None and len(followups):
        done = followups[(followups["action_date"] <= as_of).to_numpy(dtype=bool)]
        per = done["action"].map(FOLLOWUP_MINUTES).fillna(0.0).groupby(done["claim_id"].to_numpy()).sum()
        minutes = per.reindex(out["claim_id"]).fillna(0.0)
    out["minutes"] = np.where(denied, minutes.to_numpy(dtype=float), 0.0)
    return out


# ---- stage 1: every cell tested ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Coded:
    codes: dict[str, np.ndarray]  # dim -> int code per row
    values: dict[str, np.ndarray]  # dim -> the value of each code
    stride: dict[str, int]
    size: dict[str, int]  # number of codes + 1 (0 = dimension absent)
    category: np.ndarray  # int category per row, -1 not denied


def _code(frame: pd.DataFrame) -> _Coded:
    codes, values, stride, size = {}, {}, {}, {}
    step = 1
    for dim in DIMS:
        index, uniques = pd.factorize(frame[dim].to_numpy(dtype=object))
        codes[dim], values[dim] = index.astype(np.int64), np.asarray(uniques, dtype=object)
        stride[dim], size[dim] = step, len(uniques) + 1
        step *= len(uniques) + 1
    lookup = {c: i for i, c in enumerate(CATEGORIES)}
    category = np.array([lookup.get(c, -1) if c is not None else -1 for c in frame["category"]], dtype=np.int64)
    return _Coded(codes=codes, values=values, stride=stride, size=size, category=category)


def _key(coded: _Coded, kind: tuple[str, ...], rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    key = np.zeros(len(coded.category[rows]), dtype=np.int64)
    for dim in kind:
        key += (coded.codes[dim][rows] + 1) * coded.stride[dim]
    return key


def fisher_greater(x: np.ndarray, n: np.ndarray, parent_x: np.ndarray, parent_n: np.ndarray) -> np.ndarray:
    """One-sided Fisher exact p-value: P(X >= x) when n of parent_n claims (parent_x denials) are drawn."""
    return np.clip(hypergeom.sf(np.asarray(x) - 1, parent_n, parent_x, n), 0.0, 1.0)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): min over j >= i of p_(j) * m / j."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def _judge(
    x: np.ndarray, n: np.ndarray, dollars: np.ndarray, parents: list[tuple[np.ndarray, np.ndarray]], rule: PatternRule
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p, reference rate, lift) of cells against their parents (x, n of each parent, cell included)."""
    x, n = np.asarray(x, dtype=np.int64), np.asarray(n, dtype=np.int64)
    rate = x / np.maximum(n, 1)
    eligible = (x >= rule.min_denials) & (dollars >= rule.min_denied_dollars)
    lifts, refs = [], []
    for px, pn in parents:
        rest_n, rest_x = pn - n, px - x
        ref = rest_x / np.maximum(rest_n, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.where(ref > 0, rate / np.where(ref > 0, ref, 1.0), np.inf)
        eligible &= (rest_n >= rule.min_reference_claims) & (lift >= rule.min_lift)
        lifts.append(lift)
        refs.append(ref)
    p = np.ones(len(x))
    worst = np.zeros(len(x), dtype=np.int64)
    if eligible.any():
        ps = np.stack([fisher_greater(x[eligible], n[eligible], px[eligible], pn[eligible]) for px, pn in parents])
        p[eligible] = ps.max(axis=0)
        worst[eligible] = ps.argmax(axis=0)
    lift_all, ref_all = np.stack(lifts), np.stack(refs)
    pick = np.where(eligible, worst, lift_all.argmin(axis=0))
    cols = np.arange(len(x))
    return p, ref_all[pick, cols], lift_all[pick, cols]


def cell_statistics(frame: pd.DataFrame, *, rule: PatternRule) -> tuple[pd.DataFrame, float]:
    """Every cell (kind x values x category) with at least one denial in the 12-month window: claims,
    denials, denied dollars, p-value (largest over its parents), reference rate, lift and BH q-value; and
    the p-value cut-off the FDR level gives (0 when nothing passes)."""
    long = frame[frame["long"].to_numpy(dtype=bool)].reset_index(drop=True)
    coded = _code(long)
    n_cat = len(CATEGORIES)
    denied = coded.category >= 0
    amount = long["denied_amount"].to_numpy(dtype=float)
    parts = []
    n_keys: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
    x_keys: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for kind in ((), *KINDS):
        key = _key(coded, kind)
        n_keys[kind] = np.unique(key, return_counts=True)
        xk = key[denied] * n_cat + coded.category[denied]
        uniq, inverse, counts = np.unique(xk, return_inverse=True, return_counts=True)
        x_keys[kind] = (uniq, counts, np.bincount(inverse, weights=amount[denied], minlength=len(uniq)))

    def lookup(table: tuple[np.ndarray, ...], keys: np.ndarray) -> np.ndarray:
        """Counts of `keys` in a sorted (keys, counts) table; 0 where absent."""
        if len(table[0]) == 0:
            return np.zeros(len(keys), dtype=np.int64)
        at = np.clip(np.searchsorted(table[0], keys), 0, len(table[0]) - 1)
        return np.where(table[0][at] == keys, table[1][at], 0)

    for kind in KINDS:
        xk, x, dollars = x_keys[kind]
        cell_key, k = xk // n_cat, xk % n_cat
        n = lookup(n_keys[kind], cell_key)
        parents = []
        for dim in kind:
            digit = (cell_key // coded.stride[dim]) % coded.size[dim]
            parent_key = cell_key - digit * coded.stride[dim]
            parent = tuple(d for d in kind if d != dim)
            parents.append((lookup(x_keys[parent], parent_key * n_cat + k), lookup(n_keys[parent], parent_key)))
        p, ref, lift = _judge(x, n, dollars, parents, rule)
        part = {"kind": "+".join(kind), "category": np.asarray(CATEGORIES, dtype=object)[k]}
        for dim in DIMS:
            digit = (cell_key // coded.stride[dim]) % coded.size[dim]
            part[dim] = (
                np.where(digit > 0, np.append(coded.values[dim], np.array([None], dtype=object))[digit - 1], None)
                if dim in kind
                else None
            )
        part.update(claims=n, denials=x, denied_dollars=dollars, p_value=p, reference_rate=ref, lift=lift)
        parts.append(pd.DataFrame(part))
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    cells["q_value"] = bh_adjust(cells["p_value"].to_numpy())
    passed = cells["q_value"] <= rule.fdr
    cutoff = float(cells.loc[passed, "p_value"].max()) if passed.any() else 0.0
    return cells, cutoff


# ---- stage 2: merge --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    kind: tuple[str, ...]
    category: str
    values: dict[str, str]
    rows: np.ndarray  # row positions in the frame of the pattern's own claims (every window)
    p_value: float
    q_value: float
    reference_rate: float
    lift: float


def merge_patterns(frame: pd.DataFrame, cells: pd.DataFrame, *, rule: PatternRule, cutoff: float) -> list[Accepted]:
    """The significant cells re-tested most specific first on claims no accepted pattern of the same
    category covers (module docstring, "Merging").

    Every count is taken over the rows of one dimension value (the rarest the cell or parent names), found
    through a per-dimension index of integer codes, so a candidate costs its rarest value's claims, not the
    book's; the whole book (a one-dimension cell's parent) is kept as running counts per category."""
    candidates = cells[(cells["q_value"] <= rule.fdr)].copy() if len(cells) else cells
    if candidates.empty:
        return []
    candidates["level"] = candidates["kind"].str.count(r"\+") + 1
    candidates = candidates.sort_values(["level", "p_value", "denied_dollars"], ascending=[False, True, False])
    coded = _code(frame)
    long = frame["long"].to_numpy(dtype=bool)
    amount = frame["denied_amount"].to_numpy(dtype=float)
    code_of = {dim: {str(v): i for i, v in enumerate(coded.values[dim])} for dim in DIMS}
    rows_of: dict[str, list[np.ndarray]] = {}
    for dim in DIMS:
        order = np.argsort(coded.codes[dim], kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(coded.codes[dim], minlength=len(coded.values[dim])))])
        rows_of[dim] = [order[bounds[i] : bounds[i + 1]] for i in range(len(coded.values[dim]))]
    covered = {c: np.zeros(len(frame), dtype=bool) for c in CATEGORIES}
    book_n = {c: int(long.sum()) for c in CATEGORIES}
    book_x = {c: int((long & (coded.category == i)).sum()) for i, c in enumerate(CATEGORIES)}

    def inside(at: dict[str, int]) -> np.ndarray:
        """Rows whose every dimension in `at` has its code (all windows, covered or not)."""
        rarest = min(at, key=lambda d: len(rows_of[d][at[d]]))
        rows = rows_of[rarest][at[rarest]]
        keep = np.logical_and.reduce([coded.codes[d][rows] == c for d, c in at.items()])
        return rows[keep]

    def counts(k: str, kc: int, rows: np.ndarray) -> tuple[int, int, float]:
        """(claims, category-k denials, their dollars) among `rows` in the 12 months and not yet covered."""
        free = long[rows] & ~covered[k][rows]
        hit = free & (coded.category[rows] == kc)
        return int(free.sum()), int(hit.sum()), float(amount[rows][hit].sum())

    accepted: list[Accepted] = []
    for row in candidates.to_dict("records"):
        kind = tuple(str(row["kind"]).split("+"))
        values = {d: str(row[d]) for d in kind}
        k = str(row["category"])
        kc = CATEGORIES.index(k)
        at = {d: code_of[d][values[d]] for d in kind}
        whole = inside(at)
        n, x, dollars = counts(k, kc, whole)
        parents = []
        for dim in kind:
            others = {d: c for d, c in at.items() if d != dim}
            pn, px = counts(k, kc, inside(others))[:2] if others else (book_n[k], book_x[k])
            parents.append((np.array([px]), np.array([pn])))
        p, ref, lift = _judge(np.array([x]), np.array([n]), np.array([dollars]), parents, rule)
        if p[0] > cutoff:
            continue
        own = whole[~covered[k][whole]]
        covered[k][own] = True
        book_n[k] -= int(long[own].sum())
        book_x[k] -= int((long[own] & (coded.category[own] == kc)).sum())
        accepted.append(
            Accepted(
                kind=kind,
                category=k,
                values=values,
                rows=own,
                p_value=float(p[0]),
                q_value=float(row["q_value"]),
                reference_rate=float(ref[0]),
                lift=float(lift[0]),
            )
        )
    return accepted


# ---- the report rows -------------------------------------------------------------------------------------------
def _trend(xs: int, ns: int, xp: int, np_: int, alpha: float) -> str:
    if np_ == 0:
        return "new"
    if ns == 0:
        return "quiet"
    up = fisher_greater(np.array([xs]), np.array([ns]), np.array([xs + xp]), np.array([ns + np_]))[0]
    down = fisher_greater(np.array([xp]), np.array([np_]), np.array([xs + xp]), np.array([ns + np_]))[0]
    return "rising" if up < alpha else "falling" if down < alpha else "steady"


def _describe(
    frame: pd.DataFrame,
    accepted: list[Accepted],
    *,
    codes: CodeTables,
    owners: OwnersMap,
    as_of: pd.Timestamp,
    rule: PatternRule,
) -> pd.DataFrame:
    labels = group_labels()
    cats = frame["category"].to_numpy(dtype=object)
    amount = frame["denied_amount"].to_numpy(dtype=float)
    windows = {w: frame[w].to_numpy(dtype=bool) for w in ("long", "short", "prior")}
    top_code = frame["top_code"].to_numpy(dtype=object)
    plan = frame["plan_type"].to_numpy(dtype=object)
    minutes, mature, unrecovered = (frame[c].to_numpy(dtype=float) for c in ("minutes", "mature", "unrecovered"))
    out = []
    for a in accepted:
        r = a.rows
        is_k = cats[r] == a.category
        avoidable = codes.is_avoidable(a.category)
        row: dict[str, object] = {
            "pattern_key": pattern_key(a.category, a.values),
            "category": a.category,
            "avoidable": avoidable,
        }
        figures = {}
        for w, suffix in (("long", "12m"), ("short", "3m"), ("prior", "prior")):
            inside = windows[w][r]
            n, x = int(inside.sum()), int((inside & is_k).sum())
            dollars = float(amount[r][inside & is_k].sum())
            figures[suffix] = (n, x, dollars)
            row[f"claims_{suffix}"] = n
            row[f"denial_rate_{suffix}"] = x / n if n else np.nan
            if suffix != "prior":
                row[f"denials_{suffix}"] = x
                row[f"denied_dollars_{suffix}"] = round(dollars, 2)
                row[f"avoidable_dollars_{suffix}"] = round(dollars, 2) if avoidable else 0.0
        denials_12m = windows["long"][r] & is_k
        ns, xs, _ = figures["3m"]
        np_, xp, _ = figures["prior"]
        row["trend_ratio"] = (xs / ns) / (xp / np_) if ns and np_ and xp else np.nan
        row["trend"] = _trend(xs, ns, xp, np_, rule.trend_alpha)
        recent = row["trend"] != "steady"  # the rate changed: the last 3 months are the rate in force
        scale = rule.long_months / rule.short_months if recent else 1.0
        row["projected_avoidable_dollars"] = (
            round(figures["3m" if recent else "12m"][2] * scale, 2) if avoidable else 0.0
        )
        by_code = pd.Series(amount[r][denials_12m]).groupby(top_code[r][denials_12m]).sum()
        code = str(by_code.sort_values(ascending=False, kind="stable").index[0]) if len(by_code) else None
        payer_id, plan_type = a.values["payer"].split("|", 1) if "payer" in a.values else (None, None)
        if "payer" not in a.values:
            plans = pd.unique(plan[r][denials_12m])
            plan_type = str(plans[0]) if len(plans) == 1 and plans[0] != NONE else None
        group = a.values.get("procedure_group")
        owner = owners.resolve(category=a.category, payer_id=payer_id, code=code, group=group)
        row.update(
            payer_id=payer_id,
            plan_type=None if plan_type == NONE else plan_type,
            procedure_group=group,
            procedure_group_label=labels.get(group) if group else None,
            **{s: a.values.get(s) for s in SITES},
            level=len(a.kind),
            top_code=code,
            reference_rate=a.reference_rate,
            lift=a.lift,
            p_value=a.p_value,
            q_value=a.q_value,
            staff_minutes=float(minutes[r][denials_12m].sum()),
            mature_denials=int(mature[r][denials_12m].sum()),
            unrecovered_dollars=round(float(unrecovered[r][denials_12m].sum()), 2),
            owner_team=owner.team,
            owner_team_label=owner.team_label,
            upstream_fix=owner.fix,
            owner_rule=owner.rule,
            window_start=(as_of - pd.DateOffset(months=rule.long_months)).date().isoformat(),
            as_of=as_of.date().isoformat(),
        )
        row["pattern"] = _phrase(row, codes=codes)
        out.append(row)
    report = pd.DataFrame(out, columns=[c for c in PATTERN_COLUMNS if c != "rank"])
    report = report.sort_values(
        ["projected_avoidable_dollars", "avoidable_dollars_12m", "p_value"],
        ascending=[False, False, True],
        kind="stable",
    ).reset_index(drop=True)
    report.insert(0, "rank", np.arange(1, len(report) + 1))
    return report


def _phrase(row: Mapping[str, object], *, codes: CodeTables) -> str:
    parts = []
    if row["payer_id"] is not None:
        plan = f" ({row['plan_type']})" if row["plan_type"] else ""
        parts.append(f"payer {row['payer_id']}{plan}")
    if row["procedure_group"] is not None:
        parts.append(str(row["procedure_group_label"]))
    for site, word in zip(SITES, ("billing provider", "rendering clinician", "location"), strict=True):
        if row[site] is not None:
            parts.append(f"{word} {row[site]}")
    return f"{codes.label(str(row['category']))} denials: " + " x ".join(parts)
