"""Payers, their products (plan types within one payer_id), the products' true rules and the policy change.

A payer_id often sells several products (a commercial plan and a Medicare Advantage plan, say) that run
under different contracts: different filing limits, different prior-authorization lists, different coverage
policies and a different appetite for medical-necessity review. Here every rule is set per *product*
(payer_id x plan_type), drawn independently for each, so two claims to the same payer_id can face different
rules. Auth and coverage lists are sets of policy groups (``catalog.py``), never code ranges.

One product changes its coverage part-way through history (``PolicyChange``): from an effective date it
stops covering a scattered set of codes (CARC 96/204, non-covered). The team's rule file
(``team_payer_rules``) is written per payer_id from its main product, before the change: what the team
knows; plan differences and the change are left to be learned from remittances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic.scrambled.catalog import Catalog
from synthetic.timeline import Timeline, iso

# (payer_id, plan types of its products in order, market share of each product)
_PAYERS: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("SP101", (("commercial", 0.16), ("medicare_advantage", 0.07))),
    ("SP102", (("commercial", 0.12), ("medicare_advantage", 0.06))),
    ("SP103", (("commercial", 0.08), ("managed_medicaid", 0.07))),
    ("SP104", (("commercial", 0.08),)),
    ("SP105", (("medicare", 0.20),)),
    ("SP106", (("medicaid", 0.08),)),
    ("SP107", (("tricare", 0.04),)),
    ("SP108", (("workers_comp", 0.04),)),
)
_FILING_CHOICES: dict[str, tuple[int, ...]] = {
    "commercial": (90, 120, 180),
    "medicare_advantage": (120, 180, 365),
    "managed_medicaid": (90, 180),
    "medicare": (365,),
    "medicaid": (180, 365),
    "tricare": (365,),
    "workers_comp": (180, 365),
}
NONCOVERED_SHARE = 0.3  # of the codes of a product's excluded group, the share it does not cover
POLICY_CODES = 30  # codes the changing product stops covering (or starts requiring a modifier on)
POLICY_KINDS = ("stops_covering", "requires_modifier")
REQUIRED_MODIFIER = "KX"  # "requirements of the medical policy are met": what payers add to a policy mid-year
POLICY_MONTH_SHARE = 0.55  # the change takes effect this far into history


@dataclass(frozen=True)
class Products:
    payer_ids: tuple[str, ...]  # one per payer
    payer: np.ndarray  # payer index of each product
    plan: tuple[str, ...]  # plan type of each product
    share: np.ndarray
    filing_days: np.ndarray
    auth_groups: np.ndarray  # bool [product, group]: the product's prior-authorization list
    noncovered: np.ndarray  # bool [product, code]: services the product never covers (part of one group)
    necessity_strictness: np.ndarray  # P(denial) of a line whose pointed diagnoses are off the code's LCD list
    cob_error_rate: np.ndarray  # P(payer order wrong) for a claim with a secondary payer
    allowed_ratio: np.ndarray
    coinsurance: np.ndarray
    remit_lag_days: np.ndarray
    corrected_window_days: np.ndarray
    appeal_window_days: np.ndarray  # [product, level]
    appeal_effect: np.ndarray  # log-odds shift of this product's appeals and corrections succeeding
    line_level_cas: np.ndarray  # bool: the product itemises full denials per line

    def __len__(self) -> int:
        return len(self.payer)


@dataclass(frozen=True)
class PolicyChange:
    """From ``effective_day`` (service date), ``product`` stops covering ``codes`` (procedure indices), or with
    ``kind`` "requires_modifier" denies their lines for coding unless they carry ``REQUIRED_MODIFIER``."""

    product: int
    effective_day: int
    codes: np.ndarray
    kind: str = "stops_covering"

    def applies(self, *, product: np.ndarray, code: np.ndarray, service_day: np.ndarray) -> np.ndarray:
        return (product == self.product) & np.isin(code, self.codes) & (service_day >= self.effective_day)

    def describe(self, products: Products, catalog: Catalog) -> dict[str, Any]:
        common = {
            "payer_id": products.payer_ids[int(products.payer[self.product])],
            "plan_type": products.plan[self.product],
            "effective_date": iso(self.effective_day),
            "kind": self.kind,
        }
        if self.kind == "requires_modifier":
            return common | {
                "carcs": ["4", "182"],
                "modifier": REQUIRED_MODIFIER,
                "codes": sorted(catalog.codes[int(c)] for c in self.codes),
                "change": f"the product denies these codes for coding unless the line carries modifier "
                f"{REQUIRED_MODIFIER} (service dates from effective_date); payer_rules.yaml does not say so, and "
                "the practice adds the modifier to more of them month by month",
            }
        return common | {
            "carcs": ["96", "204"],
            "codes": sorted(catalog.codes[int(c)] for c in self.codes),
            "change": "the product stops covering these codes (service dates from effective_date); "
            "payer_rules.yaml does not say so",
        }


def build_products(rng: np.random.Generator, *, catalog: Catalog) -> Products:
    payer: list[int] = []
    plan: list[str] = []
    share: list[float] = []
    for p_idx, (_, products) in enumerate(_PAYERS):
        for plan_type, s in products:
            payer.append(p_idx)
            plan.append(plan_type)
            share.append(s)
    n = len(payer)
    g = catalog.n_groups
    filing = np.array([int(rng.choice(_FILING_CHOICES[p])) for p in plan], dtype=np.int64)
    first = np.searchsorted(payer, payer)  # each payer's first product (products are listed payer by payer)
    clash = (np.arange(n) != first) & (filing == filing[first])
    filing = np.where(clash, filing + 90, filing)  # products of one payer never share a filing limit
    auth = np.zeros((n, g), dtype=bool)
    noncovered = np.zeros((n, len(catalog.codes)), dtype=bool)
    for i in range(n):
        picks = rng.choice(g, size=int(rng.integers(3, 6)) + 1, replace=False)
        auth[i, picks[:-1]] = True
        noncovered[i] = (catalog.group == picks[-1]) & (rng.random(len(catalog.codes)) < NONCOVERED_SHARE)
    medicaid_like = np.isin(plan, ["medicaid", "managed_medicaid"])
    return Products(
        payer_ids=tuple(pid for pid, _ in _PAYERS),
        payer=np.array(payer, dtype=np.int64),
        plan=tuple(plan),
        share=np.array(share) / np.sum(share),
        filing_days=filing,
        auth_groups=auth,
        noncovered=noncovered,
        necessity_strictness=np.round(rng.uniform(0.25, 0.85, n), 3),
        cob_error_rate=np.round(rng.uniform(0.04, 0.20, n), 3),
        allowed_ratio=np.where(medicaid_like, rng.uniform(0.30, 0.45, n), rng.uniform(0.45, 0.75, n)),
        coinsurance=np.where(medicaid_like, 0.0, rng.choice([0.0, 0.1, 0.2], n)),
        remit_lag_days=rng.integers(10, 32, n),
        corrected_window_days=rng.choice([90, 180, 365], n),
        appeal_window_days=np.stack(
            [rng.choice([60, 90, 180], n), rng.choice([60, 90], n), rng.choice([60, 120], n)], 1
        ),
        appeal_effect=rng.normal(0.0, 0.5, n),
        line_level_cas=rng.random(n) < 0.5,
    )


def make_policy_change(
    rng: np.random.Generator,
    *,
    products: Products,
    catalog: Catalog,
    timeline: Timeline,
    kind: str = "stops_covering",
) -> PolicyChange:
    """The largest commercial product stops covering (or starts requiring a modifier on) commonly billed codes
    (the more popular half of the catalog, drawn uniformly) that are on none of its lists. Both kinds draw the
    same codes and day, so they differ in the change alone."""
    if kind not in POLICY_KINDS:
        raise ValueError(f"policy change kind must be one of {', '.join(POLICY_KINDS)}, not {kind!r}")
    commercial = [i for i, p in enumerate(products.plan) if p == "commercial"]
    product = max(commercial, key=lambda i: (products.share[i], -i))
    listed = products.auth_groups[product][catalog.group] | products.noncovered[product]
    common = catalog.popularity >= np.median(catalog.popularity)
    eligible = np.flatnonzero(~listed & common)
    codes = np.sort(rng.choice(eligible, size=POLICY_CODES, replace=False))
    month = min(int(round(POLICY_MONTH_SHARE * timeline.months)), timeline.months - 1)
    return PolicyChange(product=product, effective_day=int(timeline.month_starts[month]), codes=codes, kind=kind)


def team_payer_rules(products: Products, catalog: Catalog) -> dict[str, Any]:
    """payer_rules.yaml content (features/contract/payer_rule_model.py PayerEntry schema) per payer_id.

    The schema holds one entry per payer_id, so each entry describes the payer's main (first) product; the
    other product's differing limits and lists, and the policy change, are not in the file."""
    entries: dict[str, Any] = {}
    for p_idx, payer_id in enumerate(products.payer_ids):
        main = int(np.flatnonzero(products.payer == p_idx)[0])
        auth_codes = sorted(catalog.codes[int(c)] for c in np.flatnonzero(products.auth_groups[main][catalog.group]))
        entries[payer_id] = {
            "plan_type": products.plan[main],
            "timely_filing_days": int(products.filing_days[main]),
            "corrected_claim_window_days": int(products.corrected_window_days[main]),
            "appeal_window_days": {level + 1: int(products.appeal_window_days[main, level]) for level in range(3)},
            "auth_required": auth_codes,
        }
    return {"version": 1, "payers": entries}
