"""A second synthetic world whose structure breaks the standard generator's assumptions (``--structure scrambled``).

Why: ClaimSight's denial-risk features were developed against ``synthetic/`` and encode its shape (a
procedure family is a code prefix, diagnosis support is a chapter x family table, ...). A model that only
ever meets that world can look good for the wrong reasons. This world is written independently, mechanism
first, and never tuned to the model:

- policy groups are random sets of codes from all over the code space (``catalog.py``), and payers'
  authorization and coverage lists are defined over them;
- each procedure code has its own LCD-style list of supporting diagnoses (``catalog.py``); a line whose
  pointed diagnosis is off the list is denied for medical necessity with the product's strictness;
- each rendering clinician has its own data-quality error rates and late-submission habit (``people.py``);
- a patient whose coverage lapses stays lapsed with that product until the practice has the new one
  (``people.py``);
- rules differ by product (plan type) within one payer_id (``market.py``);
- one product stops covering a scattered set of codes part-way through history (``market.py``).

Truth files have the standard layout (``tables.truth_frames``): ``p_denial`` from the realized hidden
flags, ``p_denial_knowable`` with them integrated out (``hazards.py`` states the exact definition).
Each stage draws from its own generator spawned from one SeedSequence: same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthetic.knowable import rank_auc
from synthetic.ledger import Ledger
from synthetic.scrambled.catalog import Catalog, build_catalog
from synthetic.scrambled.claims import Claims, Lines, comply_with_policy, concat, generate_claims
from synthetic.scrambled.followups import FollowupResult, work_denials
from synthetic.scrambled.hazards import (
    CAUSES,
    Outcome,
    Visible,
    eligibility_knowable,
    expected_keep_without_eligibility,
    realize,
    visible_parts,
)
from synthetic.scrambled.market import PolicyChange, Products, build_products, make_policy_change, team_payer_rules
from synthetic.scrambled.people import Clinicians, Patients, build_clinicians, build_patients
from synthetic.scrambled.remits import FirstRemits, adjudicate_first, price_lines
from synthetic.scrambled.tables import (
    claims_frame,
    followups_frame,
    lines_frame,
    remit_frames,
    truth_frames,
)
from synthetic.timeline import Timeline, iso, make_timeline

if TYPE_CHECKING:
    from synthetic import World

__all__ = ["Simulation", "generate_scrambled_world", "simulate", "to_world"]

_STAGES = ("codes", "market", "people", "claims", "hazards", "pricing", "adjudication", "followup")


@dataclass
class Simulation:
    """Every entity and integer record of one scrambled world, before the strings are built (tests read it)."""

    timeline: Timeline
    catalog: Catalog
    products: Products
    policy: PolicyChange
    clinicians: Clinicians
    patients: Patients
    claims: Claims
    lines: Lines
    visible: Visible
    outcome: Outcome
    first: FirstRemits
    followup: FollowupResult
    h_eligibility_knowable: np.ndarray
    revealed: np.ndarray  # per claim: the oracle knows the patient's lapse (see hazards.eligibility_knowable)
    knowable: np.ndarray
    ledger: Ledger  # remits and adjustments as integer records


def simulate(
    *,
    claims: int,
    months: int,
    seed: int,
    start: dt.date = dt.date(2023, 1, 1),
    policy_change: str = "stops_covering",
) -> Simulation:
    """Run every stage of the scrambled world (see the module docstring); ``generate_scrambled_world`` formats it.

    ``policy_change``: the mid-history change, "stops_covering" (the default world) or "requires_modifier"."""
    if claims < 1:
        raise ValueError("claims must be at least 1")
    seeds = np.random.SeedSequence(seed).spawn(len(_STAGES))
    rngs = {name: np.random.default_rng(s) for name, s in zip(_STAGES, seeds, strict=True)}
    timeline = make_timeline(start=start, months=months)
    catalog = build_catalog(rngs["codes"])
    products = build_products(rngs["market"], catalog=catalog)
    policy = make_policy_change(
        rngs["market"], products=products, catalog=catalog, timeline=timeline, kind=policy_change
    )
    clinicians = build_clinicians(rngs["people"], catalog=catalog)
    patients = build_patients(rngs["people"], n=max(claims // 4, 50), products=products, timeline=timeline)
    book, lines = generate_claims(
        rngs["claims"],
        n_claims=claims,
        catalog=catalog,
        products=products,
        clinicians=clinicians,
        patients=patients,
        timeline=timeline,
    )
    lines = comply_with_policy(rngs["claims"], claims=book, lines=lines, policy=policy)  # after every other draw
    visible = visible_parts(book, lines, catalog=catalog, products=products, policy=policy)
    outcome = realize(rngs["hazards"], claims=book, lines=lines, visible=visible)
    pay = price_lines(rngs["pricing"], claims=book, lines=lines, products=products, timeline=timeline)
    ledger = Ledger()
    first = adjudicate_first(
        rngs["adjudication"],
        ledger=ledger,
        claims=book,
        lines=lines,
        outcome=outcome,
        pay=pay,
        products=products,
        timeline=timeline,
    )
    followup = work_denials(
        rngs["followup"],
        ledger=ledger,
        claims=book,
        lines=lines,
        cause=outcome.cause,
        denied=outcome.denied,
        first=first,
        pay=pay,
        products=products,
        timeline=timeline,
    )
    h_elig, revealed = eligibility_knowable(
        book,
        n_products=len(products),
        denied=outcome.denied,
        cause=outcome.cause,
        remit_day=np.where(first.remit >= 0, first.day, -1),
    )
    keep = expected_keep_without_eligibility(book, lines, visible=visible, products=products, clinicians=clinicians)
    sim = Simulation(
        timeline=timeline,
        catalog=catalog,
        products=products,
        policy=policy,
        clinicians=clinicians,
        patients=patients,
        claims=book,
        lines=lines,
        visible=visible,
        outcome=outcome,
        first=first,
        followup=followup,
        h_eligibility_knowable=h_elig,
        revealed=revealed,
        knowable=1.0 - (1.0 - h_elig) * keep,
        ledger=ledger,
    )
    return sim


def generate_scrambled_world(
    *,
    claims: int,
    months: int,
    seed: int,
    start: dt.date = dt.date(2023, 1, 1),
    policy_change: str = "stops_covering",
) -> World:
    """Generate ``claims`` original claims over ``months`` months of history; a ``synthetic.World``."""
    sim = simulate(claims=claims, months=months, seed=seed, start=start, policy_change=policy_change)
    return to_world(sim, seed=seed, claims=claims)


def to_world(sim: Simulation, *, seed: int, claims: int) -> World:
    """The DATA.md tables, truth tables, team payer rules and world.json meta of a simulation."""
    from synthetic import World  # at call time: synthetic/__init__.py imports this package

    timeline, catalog, products, policy = sim.timeline, sim.catalog, sim.products, sim.policy
    clinicians, patients, book, lines = sim.clinicians, sim.patients, sim.claims, sim.lines
    outcome, followup, knowable = sim.outcome, sim.followup, sim.knowable
    ledger = sim.ledger
    months = timeline.months
    n = len(book)
    all_claims: Claims = concat([book, followup.replacements])
    all_lines: Lines = concat([lines, followup.replacement_lines])
    n_repl = len(followup.replacements)
    frequency = np.concatenate([np.ones(n, dtype=np.int64), np.full(n_repl, 7, dtype=np.int64)])
    original = np.concatenate([np.full(n, -1, dtype=np.int64), followup.replacement_of])
    remits, adjustments = remit_frames(ledger, end=timeline.end)
    tables = {
        "claims": claims_frame(
            claims=all_claims,
            lines=all_lines,
            frequency=frequency,
            original=original,
            catalog=catalog,
            products=products,
            clinicians=clinicians,
            patients=patients,
        ),
        "claim_lines": lines_frame(lines=all_lines, catalog=catalog),
        "remits": remits,
        "adjustments": adjustments,
        "followups": followups_frame(followup, end=timeline.end),
    }
    truth = truth_frames(outcome=outcome, knowable=knowable, followup=followup)
    denied = outcome.denied
    mix = np.bincount(outcome.cause[denied], minlength=len(CAUSES)) / max(int(denied.sum()), 1)
    meta: dict[str, Any] = {
        "generator": "scrambled",
        "seed": int(seed),
        "claims": int(claims),
        "months": int(months),
        "start": iso(timeline.start),
        "history_end": iso(timeline.end),
        "sizes": {name: len(df) for name, df in tables.items()},
        "original_claims": n,
        "replacement_claims": n_repl,
        "duplicate_claims": int((book.duplicate_of >= 0).sum()),
        "entities": {
            "payers": len(products.payer_ids),
            "products": len(products),
            "billing_groups": len(clinicians.group_npis),
            "rendering_providers": len(clinicians),
            "facilities": len(clinicians.facility_ids),
            "patients": len(patients),
            "procedure_codes": len(catalog.codes),
            "policy_groups": int(catalog.n_groups),
            "diagnosis_codes": len(catalog.dx_codes),
        },
        "products": [
            {
                "payer_id": products.payer_ids[int(products.payer[i])],
                "plan_type": products.plan[i],
                "timely_filing_days": int(products.filing_days[i]),
                "auth_groups": [int(g) for g in np.flatnonzero(products.auth_groups[i])],
                "noncovered_codes": [catalog.codes[int(c)] for c in np.flatnonzero(products.noncovered[i])],
                "necessity_strictness": float(products.necessity_strictness[i]),
            }
            for i in range(len(products))
        ],
        "drift": None,  # no authorization change here: training/backtest.py skips its generator check
        "policy_change": policy.describe(products, catalog),
        "lapsed_claims": int(book.lapsed.sum()),
        "true_denial_rate": round(float(denied.mean()), 6),
        "true_cause_mix": {name: round(float(mix[i]), 6) for i, name in enumerate(CAUSES)},
        "oracle_auc": {
            "clairvoyant": round(rank_auc(outcome.p_denial, denied), 6),
            "knowable": round(rank_auc(knowable, denied), 6),
        },
    }
    return World(tables=tables, truth=truth, payer_rules=team_payer_rules(products, catalog), meta=meta)
