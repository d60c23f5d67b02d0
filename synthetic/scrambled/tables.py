"""The scrambled world's integer records as the DATA.md tables and the truth tables (strings built once).

Same column order and types as the contract (``features.contract.schema.TABLES``), and the same truth
layout as the standard generator (``synthetic/assemble.py``) so every consumer of truth/ reads both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic import assemble
from synthetic.assemble import SEXES, claim_ids, contract_frame
from synthetic.ledger import Ledger
from synthetic.scrambled.catalog import Catalog
from synthetic.scrambled.claims import LINE_MODIFIERS, Claims, Lines
from synthetic.scrambled.followups import ACTIONS, OUTCOMES, FollowupResult
from synthetic.scrambled.hazards import CAUSES, Outcome
from synthetic.scrambled.market import Products
from synthetic.scrambled.people import POS_CODES, SPECIALTIES, Clinicians, Patients
from synthetic.scrambled.remits import CARCS, GROUPS, RARCS, STATUS_CODES
from synthetic.strings import id_array, join, series, take
from synthetic.timeline import to_datetime


def claims_frame(
    *,
    claims: Claims,
    lines: Lines,
    frequency: np.ndarray,
    original: np.ndarray,
    catalog: Catalog,
    products: Products,
    clinicians: Clinicians,
    patients: Patients,
) -> pd.DataFrame:
    n = len(claims)
    total = np.round(np.bincount(lines.claim, weights=lines.charge, minlength=n), 2)
    dx = join([take(catalog.dx_codes, claims.dx[:, j]) for j in range(4)])
    clin = claims.clinician
    solo = clinicians.group[clin] < 0
    billing_vocab = list(clinicians.group_npis) + list(clinicians.npi)
    billing = np.where(solo, len(clinicians.group_npis) + clin, clinicians.group[clin])
    payer_of = products.payer
    return contract_frame(
        "claims",
        {
            "claim_id": claim_ids(np.arange(n)),
            "frequency_code": series(take(("1", "7", "8"), np.select([frequency == 7, frequency == 8], [1, 2], 0))),
            "original_claim_id": series(id_array("C", np.maximum(original, 0), width=9, mask=original < 0)),
            "patient_id": series(id_array("PT", claims.patient, width=8)),
            "patient_birth_date": to_datetime(patients.birth_day[claims.patient]),
            "patient_sex": series(take(SEXES, patients.sex[claims.patient])),
            "payer_id": series(take(products.payer_ids, payer_of[claims.product])),
            "plan_type": series(take(products.plan, claims.product)),
            "secondary_payer_id": series(
                take(products.payer_ids, np.where(claims.secondary >= 0, payer_of[np.maximum(claims.secondary, 0)], -1))
            ),
            "billing_npi": series(take(billing_vocab, billing)),
            "rendering_npi": series(take(clinicians.npi, clin)),
            "specialty": series(take(SPECIALTIES, clinicians.specialty[clin])),
            "facility_id": series(take(clinicians.facility_ids, clinicians.facility[clin])),
            "place_of_service": series(take(POS_CODES, clinicians.pos[clin])),
            "claim_type": series(take(("professional",), np.zeros(n, dtype=np.int64))),
            "service_from": to_datetime(claims.service_from),
            "service_to": to_datetime(claims.service_to),
            "submitted_at": to_datetime(claims.submitted),
            "diagnosis_codes": series(dx),
            "prior_auth_number": series(
                id_array("PA", np.where(original >= 0, original, np.arange(n)), width=9, mask=~claims.has_auth)
            ),
            "referral_number": series(take(("",), np.full(n, -1))),
            "eligibility_verified": claims.verified.astype(bool),
            "total_charge": total,
        },
    )


def lines_frame(*, lines: Lines, catalog: Catalog) -> pd.DataFrame:
    return contract_frame(
        "claim_lines",
        {
            "claim_id": claim_ids(lines.claim),
            "line_number": lines.line_number.astype(np.int64),
            "procedure_code": series(take(catalog.codes, lines.code)),
            "modifiers": series(take(LINE_MODIFIERS, lines.modifier)),
            "units": lines.units.astype(np.int64),
            "charge": lines.charge,
            "diagnosis_pointers": series(take(("1", "2", "3", "4"), lines.dx_slot)),
            "revenue_code": series(take(("",), np.full(len(lines), -1))),
        },
    )


def remit_frames(ledger: Ledger, *, end: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The standard generator's assembly (the same ledger layout) with this world's code vocabularies."""
    return assemble.remit_frames(ledger, end=end, codes=(STATUS_CODES, GROUPS, CARCS, RARCS))


def followups_frame(result: FollowupResult, *, end: int) -> pd.DataFrame:
    f = result.rows
    keep = np.flatnonzero(f["action_day"] <= end)
    order = keep[np.lexsort((keep, f["action"][keep], f["claim"][keep], f["action_day"][keep]))]
    level = f["level"][order]
    out_day = f["outcome_day"][order]
    return contract_frame(
        "followups",
        {
            "claim_id": claim_ids(f["claim"][order]),
            "action": series(take(ACTIONS, f["action"][order])),
            "action_date": to_datetime(f["action_day"][order]),
            "level": pd.arrays.IntegerArray(level.astype(np.int64), level <= 0),
            "outcome": series(take(OUTCOMES, f["outcome"][order])),
            "outcome_date": to_datetime(np.maximum(out_day, 0), mask=(out_day < 0) | (out_day > end)),
        },
    )


def truth_frames(*, outcome: Outcome, knowable: np.ndarray, followup: FollowupResult) -> dict[str, pd.DataFrame]:
    """truth/claims (one row per original claim) and truth/denials (one per adjudicated denial)."""
    n = len(outcome.p_denial)
    claims = pd.DataFrame(
        {
            "claim_id": claim_ids(np.arange(n)),
            "p_denial": outcome.p_denial,
            "denied": outcome.denied.astype(bool),
            "cause": series(take(CAUSES, outcome.cause)),
        }
    )
    for c_idx, name in enumerate(CAUSES):
        claims[f"h_{name}"] = outcome.hazard[:, c_idx]
    claims["p_denial_knowable"] = knowable
    t = followup.truth
    denials = pd.DataFrame(
        {
            "claim_id": claim_ids(t["claim"]),
            "p_recover_if_worked": t["p_recover_if_worked"],
            "expected_recovered_amount": t["expected_recovered_amount"],
            "worked": t["worked"].astype(bool),
            "cause": series(take(CAUSES, t["cause"])),
        }
    )
    return {"claims": claims, "denials": denials}
