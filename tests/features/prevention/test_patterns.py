"""The pattern statistics against a slow literal version, and planted patterns found, noise not reported,
a payer-level pattern reported once."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from prevention_worlds import AS_OF, world

from features.contract.codes import load_code_tables
from features.prevention.owners import load_owners
from features.prevention.patterns import (
    KINDS,
    PATTERN_COLUMNS,
    PatternRule,
    bh_adjust,
    cell_statistics,
    merge_patterns,
    pattern_frame,
    prevention_report,
)

LOOSE = PatternRule(min_denials=2, min_denied_dollars=0.0, min_lift=1.0, min_reference_claims=5)


def literal_fisher(x: int, n: int, parent_x: int, parent_n: int) -> float:
    """P(X >= x) for X hypergeometric, summed term by term with exact integers."""
    total = math.comb(parent_n, n)
    upper = min(n, parent_x)
    return sum(math.comb(parent_x, i) * math.comb(parent_n - parent_x, n - i) for i in range(x, upper + 1)) / total


def literal_cells(tables: dict[str, pd.DataFrame], labels: pd.DataFrame, rule: PatternRule) -> pd.DataFrame:
    """Loop over claims: which are in the 12-month window, which cell each belongs to, then test each cell."""
    claims = tables["claims"].set_index("claim_id")
    lines = tables["claim_lines"].sort_values(["claim_id", "charge"], ascending=[True, False])
    code = lines.drop_duplicates("claim_id").set_index("claim_id")["procedure_code"]
    group_of = {"97110": "physical_medicine", "99213": "em", "70450": "rad_diagnostic", "82310": "lab_chemistry"}
    start = AS_OF - pd.DateOffset(months=12)
    n: dict[tuple, int] = defaultdict(int)
    x: dict[tuple, int] = defaultdict(int)
    dollars: dict[tuple, float] = defaultdict(float)
    for row in labels.itertuples(index=False):
        if not (start < row.first_remit_date <= AS_OF):
            continue
        c = claims.loc[row.claim_id]
        values = {
            "payer": f"{c.payer_id}|{c.plan_type}",
            "procedure_group": group_of[code[row.claim_id]],
            "billing_npi": c.billing_npi,
            "rendering_npi": c.rendering_npi,
            "facility_id": c.facility_id,
        }
        for kind in ((), *KINDS):
            cell = tuple((d, values[d]) for d in kind)
            n[cell] += 1
            if row.initial_denial:
                x[(cell, row.denial_category)] += 1
                dollars[(cell, row.denial_category)] += row.denied_amount
    rows = []
    for (cell, k), xc in x.items():
        if not cell:
            continue
        nc = n[cell]
        ok = xc >= rule.min_denials and dollars[(cell, k)] >= rule.min_denied_dollars
        ps = []
        for drop in range(len(cell)):
            parent = cell[:drop] + cell[drop + 1 :]
            pn, px = n[parent], x[(parent, k)]
            rest_n, rest_x = pn - nc, px - xc
            lift = math.inf if rest_x == 0 else (xc / nc) / (rest_x / rest_n) if rest_n else 0.0
            ok = ok and rest_n >= rule.min_reference_claims and lift >= rule.min_lift
            ps.append((px, pn))
        p = max(literal_fisher(xc, nc, px, pn) for px, pn in ps) if ok else 1.0
        rows.append({"kind": "+".join(d for d, _ in cell), **dict(cell), "category": k, "claims": nc,
                     "denials": xc, "denied_dollars": dollars[(cell, k)], "p_value": p})  # fmt: skip
    out = pd.DataFrame(rows)
    out["q_value"] = literal_bh(out["p_value"].tolist())
    return out


def literal_bh(p: list[float]) -> list[float]:
    """q_i = min over p_j >= p_i of p_j * m / rank_j, rank_j = how many p-values are <= p_j."""
    m, ordered = len(p), sorted(p)
    scaled = {v: v * m / bisect.bisect_right(ordered, v) for v in set(p)}
    return [min(1.0, min(s for v, s in scaled.items() if v >= pi)) for pi in p]


def _key(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["kind", "category", "payer", "procedure_group", "billing_npi", "rendering_npi", "facility_id"]
    return frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), "") for c in cols}).set_index(cols)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cell_statistics_match_the_literal_version(seed: int) -> None:
    tables, labels = world(seed=seed, claims=400, payers=3, base={"authorization": 0.08, "coding": 0.12})
    codes = load_code_tables()
    frame = pattern_frame(tables, labels, codes=codes, as_of=AS_OF, rule=LOOSE)
    fast, _ = cell_statistics(frame, rule=LOOSE)
    slow = literal_cells(tables, labels, LOOSE)
    fast, slow = _key(fast), _key(slow)
    assert sorted(fast.index) == sorted(slow.index)
    slow = slow.loc[fast.index]
    assert (fast["claims"].to_numpy() == slow["claims"].to_numpy()).all()
    assert (fast["denials"].to_numpy() == slow["denials"].to_numpy()).all()
    np.testing.assert_allclose(fast["denied_dollars"], slow["denied_dollars"], rtol=1e-9)
    np.testing.assert_allclose(fast["p_value"], slow["p_value"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fast["q_value"], slow["q_value"], rtol=1e-6, atol=1e-12)
    assert (slow["p_value"] < 1).sum() > 20  # the comparison exercised real tests, not only p = 1


def literal_merge(frame: pd.DataFrame, cells: pd.DataFrame, rule: PatternRule, cutoff: float) -> list[tuple]:
    """The merge as the module docstring says it, one candidate at a time over whole-frame masks."""
    candidates = cells[cells["q_value"] <= rule.fdr].copy()
    candidates["level"] = candidates["kind"].str.count(r"\+") + 1
    candidates = candidates.sort_values(["level", "p_value", "denied_dollars"], ascending=[False, True, False])
    covered = {c: np.zeros(len(frame), dtype=bool) for c in frame["category"].dropna().unique()}
    accepted = []
    for _, row in candidates.iterrows():
        kind, k = row["kind"].split("+"), row["category"]
        covered.setdefault(k, np.zeros(len(frame), dtype=bool))
        free = frame["long"].to_numpy() & ~covered[k]
        is_k = (frame["category"] == k).to_numpy()
        match = {d: (frame[d] == row[d]).to_numpy() for d in kind}
        whole = np.logical_and.reduce([match[d] for d in kind])
        x, n = int((whole & free & is_k).sum()), int((whole & free).sum())
        dollars = float(frame["denied_amount"].to_numpy()[whole & free & is_k].sum())
        if x < rule.min_denials or dollars < rule.min_denied_dollars:
            continue
        ps, ok = [], True
        for dim in kind:
            parent = np.logical_and.reduce([match[d] for d in kind if d != dim] + [np.ones(len(frame), dtype=bool)])
            px, pn = int((parent & free & is_k).sum()), int((parent & free).sum())
            ref = (px - x) / max(pn - n, 1)
            lift = math.inf if ref == 0 else (x / max(n, 1)) / ref
            ok &= pn - n >= rule.min_reference_claims and lift >= rule.min_lift
            ps.append(literal_fisher(x, n, px, pn))
        if not ok or max(ps) > cutoff:
            continue
        own = np.flatnonzero(whole & ~covered[k])
        covered[k][whole] = True
        accepted.append((tuple(kind), k, {d: row[d] for d in kind}, own.tolist(), max(ps)))
    return accepted


@pytest.mark.parametrize("seed", [0, 5])
def test_merge_matches_the_literal_version(seed: int) -> None:
    """The indexed merge accepts the same cells, with the same own claims and p-values, as whole-frame masks."""
    plant = [
        {"category": "coding", "factor": 3.0, "payer_id": "P2"},
        {
            "category": "authorization",
            "factor": 6.0,
            "payer_id": "P1",
            "group": "physical_medicine",
            "billing_npi": "B3",
        },
        {"category": "authorization", "factor": 2.5, "billing_npi": "B5"},
    ]
    tables, labels = world(seed=seed, claims=6_000, payers=3, base={"authorization": 0.08, "coding": 0.12}, plant=plant)
    frame = pattern_frame(tables, labels, codes=load_code_tables(), as_of=AS_OF, rule=LOOSE)
    cells, cutoff = cell_statistics(frame, rule=LOOSE)
    merged = merge_patterns(frame, cells, rule=LOOSE, cutoff=cutoff)
    fast = [(a.kind, a.category, a.values, a.rows.tolist(), a.p_value) for a in merged]
    slow = literal_merge(frame, cells, LOOSE, cutoff)
    assert [f[:4] for f in fast] == [s[:4] for s in slow]
    np.testing.assert_allclose([f[4] for f in fast], [s[4] for s in slow], rtol=1e-6, atol=1e-12)
    levels = {len(f[0]) for f in fast}
    assert len(fast) >= 3 and len(levels) >= 2  # the comparison exercised merging across levels
    assert len(fast) < (cells["q_value"] <= LOOSE.fdr).sum()  # and some significant cells were absorbed


def test_windows_are_point_in_time() -> None:
    """The 12-month window is (as_of - 12 months, as_of] by first remit; later answers and follow-ups do not count."""
    tables, labels = world(seed=4, claims=600, days=500)
    codes = load_code_tables()
    frame = pattern_frame(tables, labels, codes=codes, as_of=AS_OF, rule=PatternRule())
    first = labels.set_index("claim_id")["first_remit_date"]
    expect_long = {c for c, d in first.items() if AS_OF - pd.DateOffset(months=12) < d <= AS_OF}
    expect_short = {c for c, d in first.items() if AS_OF - pd.DateOffset(months=3) < d <= AS_OF}
    assert set(frame.loc[frame["long"], "claim_id"]) == expect_long
    assert set(frame.loc[frame["short"], "claim_id"]) == expect_short
    assert not (frame["short"] & frame["prior"]).any()  # the trend compares disjoint windows
    earlier = pd.Timestamp("2024-10-31")
    cut = pattern_frame(tables, labels, codes=codes, as_of=earlier, rule=PatternRule())
    assert cut["first_remit_date"].max() <= earlier
    f = tables["followups"]
    late = set(f.loc[f["action_date"] > earlier, "claim_id"]) - set(f.loc[f["action_date"] <= earlier, "claim_id"])
    assert cut.loc[cut["claim_id"].isin(late), "minutes"].sum() == 0


def test_bh_adjust_matches_the_textbook_definition() -> None:
    p = np.random.default_rng(3).random(40) ** 3
    np.testing.assert_allclose(bh_adjust(p), literal_bh(list(p)))


def _report(tables: dict[str, pd.DataFrame], labels: pd.DataFrame) -> pd.DataFrame:
    return prevention_report(tables, labels, codes=load_code_tables(), owners=load_owners(), as_of=AS_OF)


def test_a_planted_avoidable_pattern_is_found_and_ranked_first() -> None:
    plant = {"category": "authorization", "factor": 5.0, "payer_id": "P3", "group": "physical_medicine"}
    report = _report(*world(seed=11, plant=plant))
    assert list(report.columns) == list(PATTERN_COLUMNS)
    top = report.iloc[0]
    assert (top["category"], top["payer_id"], top["procedure_group"]) == ("authorization", "P3", "physical_medicine")
    assert top[["billing_npi", "rendering_npi", "facility_id"]].isna().all()
    assert top["owner_team"] == "authorization" and top["lift"] > 3
    assert top["staff_minutes"] > 0 and top["unrecovered_dollars"] > 0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_pure_noise_reports_nothing(seed: int) -> None:
    """Same rates everywhere: every cell is a true null, so BH at 5% reports anything at all with probability
    <= 5% (and the minimum lift makes it rarer still); on these fixed seeds it reports nothing."""
    assert _report(*world(seed=seed)).empty


def test_a_payer_level_pattern_is_reported_once_at_the_payer_level() -> None:
    report = _report(*world(seed=31, plant={"category": "authorization", "factor": 5.0, "payer_id": "P3"}))
    auth = report[report["category"] == "authorization"]
    assert len(auth) == 1
    row = auth.iloc[0]
    assert row["payer_id"] == "P3" and row["level"] == 1 and pd.isna(row["procedure_group"])
    assert row["rank"] == 1


def test_a_provider_habit_across_payers_is_reported_once_at_the_provider() -> None:
    """Not once per payer or procedure group under it: those children do not stand out from the provider."""
    tables, labels = world(seed=41, claims=40_000, plant={"category": "coding", "factor": 6.0, "billing_npi": "B2"})
    report = _report(tables, labels)
    coding = report[report["category"] == "coding"]
    assert len(coding) == 1 and coding.iloc[0]["billing_npi"] == "B2"
