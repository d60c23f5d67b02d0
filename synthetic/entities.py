"""Who takes part in the synthetic world: payers, billing groups, clinicians, facilities and patients.

Each entity carries hidden propensities (lognormal multipliers) that shift denial hazards, so payers,
providers and sites differ the way they do in a real practice, and a model has something to learn from
their history. Payers also carry their TRUE rules (filing limits, windows, auth lists, coverage), from
which the team's payer rule file is derived (see ``rules.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.contract.schema import PLAN_TYPES
from synthetic.code_catalog import SUB, SUBFAMILIES
from synthetic.hidden import LAPSE_SHAPE

# PLAN_TYPES comes from the data contract (features.contract.schema), in its order
PLAN = {name: i for i, name in enumerate(PLAN_TYPES)}
# Payers per plan type (150 in all). The first payer of a type is its largest.
_PAYER_COUNTS = (
    ("medicare", 1),
    ("medicare_advantage", 8),
    ("medicaid", 5),
    ("managed_medicaid", 10),
    ("commercial", 110),
    ("tricare", 2),
    ("workers_comp", 9),
    ("other", 5),
)

SPECIALTIES: tuple[str, ...] = (
    "family_practice",
    "internal_medicine",
    "pediatrics",
    "cardiology",
    "orthopedics",
    "physical_therapy",
    "radiology",
    "pathology_lab",
    "general_surgery",
    "emergency_medicine",
    "anesthesiology",
    "oncology",
    "neurology",
    "pulmonology_sleep",
    "dermatology",
)
SPEC = {name: i for i, name in enumerate(SPECIALTIES)}
_SPECIALTY_SHARE = (0.14, 0.12, 0.07, 0.06, 0.07, 0.09, 0.07, 0.03, 0.05, 0.08, 0.06, 0.04, 0.04, 0.04, 0.04)
# Procedure-family mix per specialty, columns in FAMILIES order.
_FAMILY_MIX = np.array(
    [
        [0.62, 0, 0.03, 0.25, 0.03, 0.06, 0, 0.005, 0.005],
        [0.55, 0, 0.04, 0.28, 0.02, 0.09, 0, 0.01, 0.01],
        [0.60, 0, 0.01, 0.15, 0.01, 0.23, 0, 0, 0],
        [0.40, 0, 0.15, 0.08, 0.05, 0.30, 0, 0.01, 0.01],
        [0.40, 0.05, 0.20, 0, 0.28, 0.02, 0, 0.04, 0.01],
        [0.05, 0.93, 0, 0, 0, 0.02, 0, 0, 0],
        [0.02, 0, 0.95, 0, 0.02, 0.01, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0.40, 0, 0.05, 0.05, 0.45, 0.03, 0, 0, 0.02],
        [0.60, 0, 0.12, 0.15, 0.05, 0.06, 0, 0, 0.02],
        [0.05, 0, 0, 0, 0, 0.05, 0.90, 0, 0],
        [0.35, 0, 0.05, 0.15, 0.02, 0.08, 0, 0, 0.35],
        [0.50, 0, 0.15, 0.05, 0.02, 0.28, 0, 0, 0],
        [0.45, 0, 0.05, 0.05, 0.02, 0.38, 0, 0.05, 0],
        [0.45, 0, 0, 0.10, 0.43, 0.01, 0, 0, 0.01],
    ]
)
FAMILY_MIX = _FAMILY_MIX / _FAMILY_MIX.sum(axis=1, keepdims=True)
# Specialists need a referral under managed plans.
NEEDS_REFERRAL = np.isin(
    np.arange(len(SPECIALTIES)),
    [
        SPEC[s]
        for s in (
            "cardiology",
            "orthopedics",
            "physical_therapy",
            "general_surgery",
            "oncology",
            "neurology",
            "pulmonology_sleep",
            "dermatology",
        )
    ],
)
# Plan types whose members need a referral to see a specialist (the synthetic payers' TRUE rule).
REFERRAL_PLAN_TYPES: tuple[str, ...] = ("medicare_advantage", "managed_medicaid")
# Share of clinicians in private practice on their own, billing under their own (type 1) NPI: their claims
# carry no rendering provider loop (837P 2310B is sent only when the rendering clinician is not the biller).
SOLO_SHARE = 0.15
SOLO_SHARE_HOSPITAL_BASED = 0.03
# Clinicians whose certification for a family of services lapses for a while (a CLIA certificate for lab
# work, an accreditation for imaging): the payer answers those lines CO-B7 until it is renewed.
CERT_LAPSE_SHARE = 0.06
CERTIFIED_FAMILIES: tuple[str, ...] = ("lab", "imaging")
HOSPITAL_BASED = np.isin(
    np.arange(len(SPECIALTIES)), [SPEC[s] for s in ("emergency_medicine", "anesthesiology", "radiology")]
)

POS_CODES: tuple[str, ...] = ("11", "22", "21", "23", "02", "24", "81", "12")
# P(place of service) per specialty at a clinic and at a hospital facility, columns in POS_CODES order.
_POS_CLINIC = {
    "default": [0.92, 0, 0, 0, 0.08, 0, 0, 0],
    "physical_therapy": [1, 0, 0, 0, 0, 0, 0, 0],
    "radiology": [1, 0, 0, 0, 0, 0, 0, 0],
    "pathology_lab": [0, 0, 0, 0, 0, 0, 1, 0],
    "emergency_medicine": [1, 0, 0, 0, 0, 0, 0, 0],
    "anesthesiology": [0, 0, 0, 0, 0, 1, 0, 0],
    "orthopedics": [0.88, 0, 0, 0, 0.02, 0.10, 0, 0],
    "general_surgery": [0.88, 0, 0, 0, 0.02, 0.10, 0, 0],
}
_POS_HOSPITAL = {
    "default": [0.55, 0.25, 0.12, 0, 0.08, 0, 0, 0],
    "physical_therapy": [0.5, 0.5, 0, 0, 0, 0, 0, 0],
    "radiology": [0, 0.8, 0.2, 0, 0, 0, 0, 0],
    "pathology_lab": [0, 0.5, 0.2, 0, 0, 0, 0.3, 0],
    "emergency_medicine": [0, 0, 0, 1, 0, 0, 0, 0],
    "anesthesiology": [0, 0.55, 0.30, 0, 0, 0.15, 0, 0],
    "orthopedics": [0.45, 0.35, 0.15, 0, 0, 0.05, 0, 0],
    "general_surgery": [0.45, 0.35, 0.15, 0, 0, 0.05, 0, 0],
}


def pos_table(hospital: bool) -> np.ndarray:
    table = _POS_HOSPITAL if hospital else _POS_CLINIC
    rows = np.array([table.get(s, table["default"]) for s in SPECIALTIES], dtype=np.float64)
    return rows / rows.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Payers:
    ids: list[str]
    plan: np.ndarray  # int index into PLAN_TYPES
    volume: np.ndarray  # relative weight within plan type
    propensity: np.ndarray  # lognormal: overall strictness
    strictness: np.ndarray  # [payer, cause] lognormal multipliers (cause order in hazards.CAUSES)
    remit_lag_days: np.ndarray  # mean days from submission to first remit
    timely_filing_days: np.ndarray
    corrected_window_days: np.ndarray
    appeal_window_days: np.ndarray  # [payer, 3]
    allowed_ratio: np.ndarray
    coinsurance: np.ndarray
    copay: np.ndarray
    auth_subfamilies: np.ndarray  # bool [payer, subfamily]: TRUE auth list before drift
    noncovered_subfamilies: np.ndarray  # bool [payer, subfamily]
    referral_required: np.ndarray  # bool
    requires_gp: np.ndarray  # bool: therapy lines need modifier GP
    line_level_cas: np.ndarray  # bool: full denials itemised per line
    appeal_generosity: np.ndarray  # lognormal multiplier on appeal success
    response_days: np.ndarray  # mean days to answer an appeal


@dataclass(frozen=True)
class Providers:
    npi: list[str]  # rendering clinician NPIs
    group: np.ndarray  # billing group index
    specialty: np.ndarray
    facility: np.ndarray  # primary facility
    facility_alt: np.ndarray  # secondary facility
    volume: np.ndarray
    propensity: np.ndarray  # general sloppiness multiplier
    p_missing_modifier: np.ndarray
    p_unbundle: np.ndarray
    p_bad_modifier: np.ndarray
    p_dx_mismatch: np.ndarray
    p_over_units: np.ndarray
    auth_diligence: np.ndarray
    referral_diligence: np.ndarray
    attach_diligence: np.ndarray
    p_missing_npi: np.ndarray  # group claims sent without the rendering provider loop
    lag_log_median: np.ndarray
    p_lag_tail: np.ndarray
    resend_propensity: np.ndarray
    charge_factor: np.ndarray
    solo: np.ndarray  # bool: bills under the clinician's own NPI (no separate rendering provider)
    cert_lapse_start: np.ndarray  # first day of a certification lapse (NEVER_DAY when none)
    cert_lapse_end: np.ndarray  # first day certified again


NEVER_DAY = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Facilities:
    ids: list[str]
    hospital: np.ndarray  # bool
    verify_rate: np.ndarray  # P(eligibility verified before submission)
    propensity: np.ndarray
    p_cob_error: np.ndarray


@dataclass(frozen=True)
class Patients:
    birth_day: np.ndarray
    sex: np.ndarray  # index into ("M", "F", "U")
    payer: np.ndarray
    secondary: np.ndarray  # -1 none
    lapse_propensity: np.ndarray
    visit_weight: np.ndarray


def _luhn_npis(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """Ten-digit NPIs starting with 1 with a valid Luhn check digit (prefix 80840), all distinct."""
    out: list[str] = []
    while len(out) < n:
        body = "1" + "".join(str(d) for d in rng.integers(0, 10, 8))
        digits = [int(c) for c in "80840" + body]
        total = 0
        for i, d in enumerate(reversed(digits)):
            if i % 2 == 0:
                d *= 2
                d = d - 9 if d > 9 else d
            total += d
        npi = body + str((10 - total % 10) % 10)
        if npi not in taken:
            taken.add(npi)
            out.append(npi)
    return out


def build_payers(rng: np.random.Generator, *, n_causes: int) -> Payers:
    plan = np.concatenate([np.full(n, PLAN[p]) for p, n in _PAYER_COUNTS])
    n = len(plan)
    ids = [f"P{i + 1:04d}" for i in range(n)]
    within = np.concatenate([np.arange(k) for _, k in _PAYER_COUNTS])
    volume = 1.0 / (within + 1.0) ** 1.1
    propensity = rng.lognormal(0.0, 0.35, n)
    strictness = propensity[:, None] * rng.lognormal(0.0, 0.3, (n, n_causes))

    def by_plan(choices: dict[str, tuple[list[int], list[float]]]) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        for p_name, (values, probs) in choices.items():
            m = plan == PLAN[p_name]
            out[m] = rng.choice(np.array(values), size=int(m.sum()), p=np.array(probs) / sum(probs))
        return out

    tf = by_plan(
        {
            "commercial": ([90, 120, 180, 365], [0.35, 0.25, 0.3, 0.1]),
            "medicare": ([365], [1]),
            "medicare_advantage": ([180, 365], [0.5, 0.5]),
            "medicaid": ([90, 180, 365], [0.3, 0.4, 0.3]),
            "managed_medicaid": ([90, 120, 180], [0.4, 0.3, 0.3]),
            "tricare": ([365], [1]),
            "workers_comp": ([180, 365], [0.6, 0.4]),
            "other": ([90, 180], [0.5, 0.5]),
        }
    )
    corrected = np.minimum(tf, by_plan({p: ([60, 90, 120, 180, 365], [0.2, 0.3, 0.2, 0.2, 0.1]) for p in PLAN_TYPES}))
    corrected[plan == PLAN["medicare"]] = 365
    appeal = np.stack(
        [
            by_plan({p: ([60, 90, 120, 180], [0.25, 0.3, 0.2, 0.25]) for p in PLAN_TYPES}),
            by_plan({p: ([60, 90, 180], [0.5, 0.2, 0.3]) for p in PLAN_TYPES}),
            by_plan({p: ([60, 120], [0.5, 0.5]) for p in PLAN_TYPES}),
        ],
        axis=1,
    )
    appeal[plan == PLAN["medicare"]] = (120, 180, 60)
    lag = rng.uniform(10, 45, n)
    lag[plan == PLAN["medicare"]] = 14.0
    ratio_mean = np.array([0.65, 0.42, 0.48, 0.33, 0.38, 0.45, 0.70, 0.55])[plan]
    allowed_ratio = np.clip(ratio_mean + np.where(plan == PLAN["commercial"], rng.uniform(-0.12, 0.15, n), 0), 0.2, 0.9)
    coinsurance = np.array([0.15, 0.20, 0.10, 0.0, 0.0, 0.05, 0.0, 0.15])[plan] * rng.uniform(0.6, 1.4, n)
    coinsurance[plan == PLAN["medicare"]] = 0.20
    copay = np.where(
        np.isin(plan, [PLAN["commercial"], PLAN["medicare_advantage"]]),
        rng.choice(np.array([0.0, 20.0, 25.0, 30.0, 40.0, 50.0]), n),
        0.0,
    )

    n_sub = len(SUBFAMILIES)
    auth = np.zeros((n, n_sub), dtype=bool)
    candidates = {
        "img_mri": 0,
        "img_ct": 0,
        "img_nuclear": 0,
        "surg_spine": 0,
        "surg_joint": 0,
        "med_sleep": 0,
        "drug_chemo": 0,
        "dme": 0,
        "lab_molecular": 0,
        "pt_therapy": 0,
    }
    p_auth = {
        "commercial": {
            "img_mri": 0.8,
            "img_ct": 0.7,
            "img_nuclear": 0.5,
            "surg_spine": 0.85,
            "surg_joint": 0.85,
            "med_sleep": 0.6,
            "drug_chemo": 0.6,
            "dme": 0.4,
            "lab_molecular": 0.4,
            "pt_therapy": 0.15,
        },
        "medicare": {"dme": 1.0},
        "medicare_advantage": {
            "img_mri": 0.9,
            "img_ct": 0.8,
            "img_nuclear": 0.6,
            "surg_spine": 0.9,
            "surg_joint": 0.9,
            "med_sleep": 0.7,
            "drug_chemo": 0.8,
            "dme": 0.8,
            "lab_molecular": 0.5,
            "pt_therapy": 0.4,
        },
        "medicaid": {
            "img_mri": 0.8,
            "img_ct": 0.6,
            "surg_spine": 0.8,
            "surg_joint": 0.8,
            "dme": 0.9,
            "pt_therapy": 0.5,
        },
        "managed_medicaid": {
            "img_mri": 0.9,
            "img_ct": 0.8,
            "surg_spine": 0.9,
            "surg_joint": 0.9,
            "dme": 0.9,
            "pt_therapy": 0.6,
            "med_sleep": 0.6,
        },
        "tricare": {"img_mri": 1.0, "surg_joint": 1.0, "surg_spine": 1.0},
        "workers_comp": {"img_mri": 0.9, "img_ct": 0.7, "pt_therapy": 0.8, "surg_spine": 0.9, "surg_joint": 0.9},
        "other": {k: 0.3 for k in candidates},
    }
    for p_name, table in p_auth.items():
        m = plan == PLAN[p_name]
        for sub_name, p in table.items():
            auth[m, SUB[sub_name]] = rng.random(int(m.sum())) < p
    noncov = np.zeros((n, n_sub), dtype=bool)
    noncov[plan == PLAN["medicare"], SUB["em_preventive"]] = True
    noncov[plan == PLAN["workers_comp"], SUB["em_preventive"]] = True
    noncov[plan == PLAN["workers_comp"], SUB["lab_molecular"]] = True
    comm = np.flatnonzero(plan == PLAN["commercial"])
    for sub_name, p in (("med_sleep", 0.12), ("dme", 0.12), ("lab_molecular", 0.15), ("drug_other", 0.05)):
        noncov[comm, SUB[sub_name]] = rng.random(len(comm)) < p
    medicaid_like = np.isin(plan, [PLAN["medicaid"], PLAN["managed_medicaid"]])
    noncov[medicaid_like, SUB["lab_molecular"]] = rng.random(int(medicaid_like.sum())) < 0.5
    # The drift payer (largest commercial) must start without a therapy auth rule and with therapy covered.
    auth[comm[0], SUB["pt_therapy"]] = False
    noncov[comm[0], SUB["pt_therapy"]] = False

    # Referrals belong to HMO-style managed care: every managed Medicaid and Medicare Advantage plan wants
    # one for a specialist, no other plan does (REFERRAL_PLAN_TYPES). The two draws that once picked single
    # commercial and MA plans are still made, so every entity drawn after them stays as it was.
    rng.random(n), rng.random(n)
    referral = np.isin(plan, [PLAN[p] for p in REFERRAL_PLAN_TYPES])
    requires_gp = (
        np.isin(plan, [PLAN["medicare"], PLAN["medicare_advantage"]])
        | ((plan == PLAN["commercial"]) & (rng.random(n) < 0.2))
        | (np.isin(plan, [PLAN["medicaid"], PLAN["managed_medicaid"]]) & (rng.random(n) < 0.5))
    )
    return Payers(
        ids=ids,
        plan=plan,
        volume=volume,
        propensity=propensity,
        strictness=strictness,
        remit_lag_days=lag,
        timely_filing_days=tf,
        corrected_window_days=corrected,
        appeal_window_days=appeal,
        allowed_ratio=allowed_ratio,
        coinsurance=coinsurance,
        copay=copay,
        auth_subfamilies=auth,
        noncovered_subfamilies=noncov,
        referral_required=referral,
        requires_gp=requires_gp,
        line_level_cas=rng.random(n) < 0.55,
        appeal_generosity=rng.lognormal(0.0, 0.3, n),
        response_days=rng.uniform(20, 55, n),
    )


def build_facilities(rng: np.random.Generator, *, n: int = 60) -> Facilities:
    hospital = np.arange(n) < n * 2 // 5
    return Facilities(
        ids=[f"F{i + 1:03d}" for i in range(n)],
        hospital=hospital,
        verify_rate=rng.beta(6.0, 2.5, n),
        propensity=rng.lognormal(0.0, 0.25, n),
        p_cob_error=0.08 * rng.lognormal(0.0, 0.5, n),
    )


def build_providers(
    rng: np.random.Generator,
    *,
    facilities: Facilities,
    history: tuple[int, int],
    n: int = 1500,
    n_groups: int = 40,
) -> tuple[Providers, list[str]]:
    """Clinicians and the billing-group NPIs they bill under (solo clinicians bill under their own).

    ``history`` is (first day, last day): certification lapses fall inside it."""
    taken: set[str] = set()
    group_npis = _luhn_npis(rng, n_groups, taken)
    npis = _luhn_npis(rng, n, taken)
    specialty = rng.choice(len(SPECIALTIES), size=n, p=np.array(_SPECIALTY_SHARE) / sum(_SPECIALTY_SHARE))
    group_weight = 1.0 / (np.arange(n_groups) + 1.0) ** 0.8
    group = rng.choice(n_groups, size=n, p=group_weight / group_weight.sum())
    hospitals = np.flatnonzero(facilities.hospital)
    clinics = np.flatnonzero(~facilities.hospital)
    # Each group works at a few sites; hospital-based specialties at hospitals.
    group_clinic = rng.choice(clinics, size=(n_groups, 2))
    group_hospital = rng.choice(hospitals, size=(n_groups, 2))
    pick = rng.integers(0, 2, n)
    at_hospital = HOSPITAL_BASED[specialty] | (rng.random(n) < 0.3)
    facility = np.where(at_hospital, group_hospital[group, pick], group_clinic[group, pick])
    facility_alt = np.where(at_hospital, group_hospital[group, 1 - pick], group_clinic[group, 1 - pick])

    def ln(sigma: float) -> np.ndarray:
        return rng.lognormal(0.0, sigma, n)

    prop = ln(0.25)
    providers = Providers(
        npi=npis,
        group=group,
        specialty=specialty,
        facility=facility,
        facility_alt=facility_alt,
        volume=ln(0.9),
        propensity=prop,
        p_missing_modifier=np.clip(0.02 * ln(0.7) * prop, 0, 0.6),
        p_unbundle=np.clip(0.008 * ln(0.8) * prop, 0, 0.3),
        p_bad_modifier=np.clip(0.002 * ln(0.8) * prop, 0, 0.1),
        p_dx_mismatch=np.clip(0.007 * ln(0.7) * prop, 0, 0.4),
        p_over_units=np.clip(0.004 * ln(0.8) * prop, 0, 0.2),
        auth_diligence=rng.beta(10.0, 2.0, n),
        referral_diligence=rng.beta(18.0, 1.5, n),
        attach_diligence=rng.beta(6.0, 2.0, n),
        p_missing_npi=np.clip(0.004 * ln(1.0), 0, 0.2),
        lag_log_median=np.log(3.0) + rng.normal(0.0, 0.45, n),
        p_lag_tail=np.clip(0.012 * ln(0.9), 0, 0.2),
        resend_propensity=ln(0.7),
        charge_factor=ln(0.08),
        solo=np.zeros(n, dtype=bool),
        cert_lapse_start=np.full(n, NEVER_DAY, dtype=np.int64),
        cert_lapse_end=np.full(n, NEVER_DAY, dtype=np.int64),
    )
    # drawn last, so every propensity above is what it was before these existed
    solo = rng.random(n) < np.where(HOSPITAL_BASED[specialty], SOLO_SHARE_HOSPITAL_BASED, SOLO_SHARE)
    lapse = rng.random(n) < CERT_LAPSE_SHARE
    start = history[0] + (rng.random(n) * max(history[1] - history[0], 1)).astype(np.int64)
    length = rng.integers(30, 121, n)
    providers = replace(
        providers,
        solo=solo,
        cert_lapse_start=np.where(lapse, start, NEVER_DAY),
        cert_lapse_end=np.where(lapse, start + length, NEVER_DAY),
    )
    return providers, group_npis


def build_patients(rng: np.random.Generator, *, n: int, payers: Payers, reference_day: int) -> Patients:
    band = rng.choice(3, size=n, p=[0.18, 0.52, 0.30])  # child, adult, 65+
    age_years = np.select(
        [band == 0, band == 1], [rng.uniform(0, 18, n), rng.uniform(18, 65, n)], rng.uniform(65, 95, n)
    )
    birth_day = reference_day - (age_years * 365.25).astype(np.int64)
    sex = rng.choice(3, size=n, p=[0.455, 0.54, 0.005])
    # Plan type follows age: 65+ mostly Medicare / Medicare Advantage.
    plan_probs = np.array(
        [
            # commercial, medicare, MA, medicaid, managed_medicaid, tricare, workers_comp, other
            [0.50, 0, 0, 0.15, 0.30, 0.03, 0, 0.02],
            [0.62, 0.03, 0.02, 0.07, 0.15, 0.03, 0.04, 0.04],
            [0.03, 0.58, 0.36, 0, 0, 0.01, 0, 0.02],
        ]
    )
    plan = np.empty(n, dtype=np.int64)
    for b in range(3):
        m = band == b
        plan[m] = rng.choice(len(PLAN_TYPES), size=int(m.sum()), p=plan_probs[b] / plan_probs[b].sum())
    payer = np.empty(n, dtype=np.int64)
    for p_idx in range(len(PLAN_TYPES)):
        m = plan == p_idx
        members = np.flatnonzero(payers.plan == p_idx)
        w = payers.volume[members]
        payer[m] = members[rng.choice(len(members), size=int(m.sum()), p=w / w.sum())]
    has_secondary = rng.random(n) < 0.12
    sec_pool = np.flatnonzero(np.isin(payers.plan, [PLAN["commercial"], PLAN["medicaid"], PLAN["other"]]))
    w = payers.volume[sec_pool]
    secondary = sec_pool[rng.choice(len(sec_pool), size=n, p=w / w.sum())]
    secondary = np.where(has_secondary & (secondary != payer), secondary, -1)
    return Patients(
        birth_day=birth_day,
        sex=sex,
        payer=payer,
        secondary=secondary,
        lapse_propensity=rng.gamma(LAPSE_SHAPE, 1 / LAPSE_SHAPE, n),
        visit_weight=rng.gamma(0.8, 1 / 0.8, n),
    )
