"""Seeded tables + labels for the pattern tests, built directly (no X12, no label rules): the pattern code
reads claims, claim_lines, followups and compute_labels' columns, so that is all a world needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2024-12-31")
CODES = {"physical_medicine": "97110", "em": "99213", "rad_diagnostic": "70450", "lab_chemistry": "82310"}
BASE = {"authorization": 0.02, "coding": 0.03, "eligibility": 0.02, "non_covered": 0.01}


def world(
    *,
    seed: int,
    claims: int = 20_000,
    payers: int = 10,
    base: Mapping[str, float] = BASE,
    plant: Mapping[str, object] | Sequence[Mapping[str, object]] | None = None,
    days: int = 460,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(tables, labels): claims spread over `days` before AS_OF, rates `base` per category everywhere, except
    where `plant` (keys: category, factor, and any of payer_id / group / billing_npi) multiplies one rate;
    a list of plants plants each."""
    rng = np.random.default_rng(seed)
    n = claims
    ids = np.array([f"C{i:06d}" for i in range(n)])
    payer = rng.integers(0, payers, n)
    group = rng.choice(list(CODES), n)
    billing = rng.integers(0, 8, n)
    claim_frame = pd.DataFrame(
        {
            "claim_id": ids,
            "payer_id": [f"P{p}" for p in payer],
            "plan_type": np.where(payer % 2 == 0, "commercial", "medicare"),
            "billing_npi": [f"B{b}" for b in billing],
            "rendering_npi": [f"R{b}{r}" for b, r in zip(billing, rng.integers(0, 3, n), strict=True)],
            "facility_id": [f"F{f}" for f in rng.integers(0, 5, n)],
        }
    )
    lines = pd.DataFrame(
        {
            "claim_id": ids,
            "line_number": 1,
            "procedure_code": [CODES[g] for g in group],
            "charge": np.round(rng.lognormal(5.5, 0.5, n), 2),
        }
    )
    cats = list(base)
    probs = np.tile(np.array([base[c] for c in cats]), (n, 1))
    for one in [plant] if isinstance(plant, Mapping) else list(plant or ()):
        hit = np.ones(n, dtype=bool)
        if "payer_id" in one:
            hit &= claim_frame["payer_id"].to_numpy() == one["payer_id"]
        if "group" in one:
            hit &= group == one["group"]
        if "billing_npi" in one:
            hit &= claim_frame["billing_npi"].to_numpy() == one["billing_npi"]
        probs[hit, cats.index(str(one["category"]))] *= float(one["factor"])  # type: ignore[arg-type]
    u = rng.random(n)
    edges = np.cumsum(probs, axis=1)
    which = (u[:, None] < edges).argmax(axis=1)
    denied = u < edges[:, -1]
    first = AS_OF - pd.to_timedelta(rng.integers(0, days, n), unit="D")
    mature = denied & (first + pd.Timedelta(days=180) <= AS_OF)
    amount = np.where(denied, lines["charge"].to_numpy(), 0.0)
    recovered = np.where(mature, np.where(rng.random(n) < 0.4, amount, 0.0), np.nan)
    labels = pd.DataFrame(
        {
            "claim_id": ids,
            "first_remit_date": first,
            "initial_denial": denied,
            "denied_amount": amount,
            "denial_category": pd.array(np.where(denied, np.array(cats)[which], None), dtype="string"),
            "mature": mature,
            "recovered_amount": recovered,
        }
    )
    worked = ids[denied & (rng.random(n) < 0.5)]
    followups = pd.DataFrame(
        {
            "claim_id": worked,
            "action": rng.choice(["appeal", "corrected_claim", "payer_call"], len(worked)),
            "action_date": AS_OF - pd.to_timedelta(rng.integers(-20, 300, len(worked)), unit="D"),
        }
    )
    return {"claims": claim_frame, "claim_lines": lines, "followups": followups}, labels
