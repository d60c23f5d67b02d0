"""Turning the integer records into the DATA.md tables (and the truth tables) as DataFrames.

This is the only place strings are made, all at once and vectorised (see ``strings.py``), and the last
guard that nothing dated after the history end leaves the generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.contract.schema import TABLES
from synthetic.books import MOD, MODIFIERS, ClaimBook, LineBook
from synthetic.claims import REVENUE_CODES
from synthetic.code_catalog import DiagnosisCatalog, ProcedureCatalog
from synthetic.entities import PLAN_TYPES, POS_CODES, SPECIALTIES, Facilities, Patients, Payers, Providers
from synthetic.followup import ACTIONS, OUTCOMES, FollowupResult
from synthetic.hazards import CAUSES, Hazards
from synthetic.ledger import CARCS, GROUPS, RARCS, STATUS_CODES, Ledger
from synthetic.strings import id_array, join, series, take
from synthetic.timeline import Timeline, to_datetime

SEXES = ("M", "F", "U")


def claim_ids(idx: np.ndarray) -> pd.Series:
    return series(id_array("C", idx, width=9))


def contract_frame(table: str, columns: dict[str, Any]) -> pd.DataFrame:
    """The columns as a contract table: its columns in the contract's order (both generators' tables)."""
    df = pd.DataFrame({k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in columns.items()})
    return df[TABLES[table].names]


def claims_frame(
    *,
    claims: ClaimBook,
    lines: LineBook,
    payers: Payers,
    providers: Providers,
    group_npis: list[str],
    facilities: Facilities,
    patients: Patients,
    diagnoses: DiagnosisCatalog,
) -> pd.DataFrame:
    n = len(claims)
    idx = np.arange(n)
    total = np.round(np.bincount(lines.claim, weights=lines.charge, minlength=n), 2)
    dx = join([take(diagnoses.codes, claims.dx[:, j]) for j in range(4)])
    solo = providers.solo[claims.provider]
    billing_vocab = list(group_npis) + list(providers.npi)
    solo_code = len(group_npis) + claims.provider
    return contract_frame(
        "claims",
        {
            "claim_id": claim_ids(idx),
            "frequency_code": series(take(("0", "1", "2", "3", "4", "5", "6", "7", "8"), claims.frequency)),
            "original_claim_id": series(
                id_array("C", np.maximum(claims.original, 0), width=9, mask=claims.original < 0)
            ),
            "patient_id": series(id_array("PT", claims.patient, width=8)),
            "patient_birth_date": to_datetime(patients.birth_day[claims.patient]),
            "patient_sex": series(take(SEXES, patients.sex[claims.patient])),
            "payer_id": series(take(payers.ids, claims.payer)),
            "plan_type": series(take(PLAN_TYPES, payers.plan[claims.payer])),
            "secondary_payer_id": series(take(payers.ids, claims.secondary)),
            # a solo clinician bills under their own NPI and names no separate rendering provider (837P)
            "billing_npi": series(take(billing_vocab, np.where(solo, solo_code, providers.group[claims.provider]))),
            "rendering_npi": series(
                take(providers.npi, np.where(claims.rendering_missing | solo, -1, claims.provider))
            ),
            "specialty": series(take(SPECIALTIES, providers.specialty[claims.provider])),
            "facility_id": series(take(facilities.ids, claims.facility)),
            "place_of_service": series(take(POS_CODES, claims.pos)),
            "claim_type": series(take(("professional", "institutional"), claims.institutional.astype(np.int64))),
            "service_from": to_datetime(claims.service_from),
            "service_to": to_datetime(claims.service_to),
            "submitted_at": to_datetime(claims.submitted),
            "diagnosis_codes": series(dx),
            "prior_auth_number": series(id_array("PA", claims.auth_number, width=9, mask=~claims.has_auth)),
            "referral_number": series(id_array("RF", claims.referral_number, width=8, mask=~claims.has_referral)),
            "eligibility_verified": claims.verified.astype(bool),
            "total_charge": total,
        },
    )


def lines_frame(*, lines: LineBook, procedures: ProcedureCatalog) -> pd.DataFrame:
    mods = join(
        [
            take(MODIFIERS, np.where(lines.mod_present, lines.mod_req, -1)),
            take(MODIFIERS, lines.mod_extra),
            take(MODIFIERS, lines.mod_bad),
            take(MODIFIERS, np.where(lines.abn, MOD["GA"], -1)),
        ]
    )
    return contract_frame(
        "claim_lines",
        {
            "claim_id": claim_ids(lines.claim),
            "line_number": lines.line_number.astype(np.int64),
            "procedure_code": series(take(procedures.codes, lines.code)),
            "modifiers": series(mods),
            "units": lines.units.astype(np.int64),
            "charge": lines.charge,
            "diagnosis_pointers": series(take(("1", "2", "3", "4"), lines.dx_slot)),
            "revenue_code": series(take(REVENUE_CODES, lines.revenue)),
        },
    )


def remit_frames(
    ledger: Ledger,
    *,
    end: int,
    codes: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (
        STATUS_CODES,
        GROUPS,
        CARCS,
        RARCS,
    ),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """remits and adjustments from a ledger whose integer codes index `codes`: (status codes, group codes,
    CARCs, RARCs); the scrambled world passes its own vocabularies."""
    statuses, groups, carcs, rarcs = codes
    r = ledger.remits()
    a = ledger.adjustments()
    keep = np.flatnonzero(r["day"] <= end)
    order = keep[np.lexsort((keep, r["claim"][keep], r["day"][keep]))]
    new_pos = np.full(len(r["day"]), -1, dtype=np.int64)
    new_pos[order] = np.arange(len(order))
    remit_ids = id_array("R", np.arange(len(order)) + 1, width=10)
    remits = contract_frame(
        "remits",
        {
            "claim_id": claim_ids(r["claim"][order]),
            "remit_id": series(remit_ids),
            "remit_date": to_datetime(r["day"][order]),
            "status_code": series(take(statuses, r["status"][order])),
            "paid_amount": r["paid"][order],
            "patient_responsibility": r["patient_resp"][order],
        },
    )
    pos = new_pos[a["remit"]]
    rows = np.flatnonzero(pos >= 0)
    rows = rows[np.lexsort((rows, a["line_number"][rows], pos[rows]))]
    line = a["line_number"][rows]
    adjustments = contract_frame(
        "adjustments",
        {
            "claim_id": claim_ids(a["claim"][rows]),
            "remit_id": series(remit_ids.take(pos[rows])),
            "line_number": pd.arrays.IntegerArray(line.astype(np.int64), line <= 0),
            "group_code": series(take(groups, a["group"][rows])),
            "carc": series(take(carcs, a["carc"][rows])),
            "amount": a["amount"][rows],
            "remark_codes": series(take(rarcs, a["rarc"][rows])),
        },
    )
    return remits, adjustments


def followups_frame(result: FollowupResult, *, end: int) -> pd.DataFrame:
    f = result.rows
    keep = np.flatnonzero(f["action_day"] <= end)
    order = keep[np.lexsort((keep, f["level"][keep], f["claim"][keep], f["action_day"][keep]))]
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


def truth_frames(
    *, hazards: Hazards, n_original: int, followup: FollowupResult, knowable: np.ndarray | None = None
) -> dict[str, pd.DataFrame]:
    """Truth tables; ``knowable`` (see ``knowable.py``) is appended last so existing columns keep their place.

    ``claims`` covers every original claim: those the hazards adjudicated, then the new claims sent after an
    MA130 rejection, whose only risk is that the fix was wrong (its probability in the denial cause's
    column; it depends on no hidden flag, so it is also the knowable probability)."""
    new = followup.resubmitted
    claims = pd.DataFrame(
        {
            "claim_id": claim_ids(np.concatenate([np.arange(n_original), new["claim"]])),
            "p_denial": np.concatenate([hazards.p_denial[:n_original], new["p_denial"]]),
            "denied": np.concatenate([hazards.denied[:n_original], new["denied"]]).astype(bool),
            "cause": series(take(CAUSES, np.concatenate([hazards.cause[:n_original], new["cause"]]))),
        }
    )
    for c_idx, name in enumerate(CAUSES):
        new_h = np.where(new["cause"] == c_idx, new["p_denial"], 0.0)
        claims[f"h_{name}"] = np.concatenate([hazards.hazard[:n_original, c_idx], new_h])
    if knowable is not None:
        claims["p_denial_knowable"] = np.concatenate([knowable[:n_original], new["p_denial"]])
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


def check_dates(tables: dict[str, pd.DataFrame], timeline: Timeline) -> None:
    limit = pd.Timestamp(np.datetime64(timeline.end, "D"))
    for name, df in tables.items():
        for col in df.columns:
            if TABLES[name].by_name[col].kind == "date" and col != "patient_birth_date" and (df[col] > limit).any():
                raise AssertionError(f"{name}.{col} has dates after the history end")
