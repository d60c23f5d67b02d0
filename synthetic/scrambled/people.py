"""Clinicians with their own habits, and patients whose coverage can lapse for good.

Clinicians: denials in a real practice cluster by who documents and bills. Each rendering clinician has its
own rates of two hidden data-quality errors (a field missing or invalid -> missing information, CARC 16; a
code/modifier combination invalid -> coding, CARC 4/182), its own submission-lag habit (a typical lag and a
chance of letting a claim sit for months, which the payer's filing limit turns into timely-filing denials),
its own auth diligence, diagnosis-pointing accuracy, eligibility-verification habit and duplicate-sending
habit, and its own repertoire of codes. A model can only learn these rates from the clinician's history.

Patients: coverage churn is a property of the patient, not of the claim. A patient whose coverage lapses
at ``lapse_day`` stays lapsed with that product; claims keep going to it until the practice learns of the
new coverage (``switch_day``, or earlier on a claim whose eligibility was verified), and every claim in
between is an eligibility denial waiting to happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.scrambled.catalog import Catalog
from synthetic.scrambled.market import Products
from synthetic.timeline import Timeline

NEVER = np.iinfo(np.int64).max // 4  # lapse / switch day of a patient whose coverage never lapses
REPERTOIRE = 80  # codes each clinician bills from
SPECIALTIES: tuple[str, ...] = (
    "family_medicine",
    "internal_medicine",
    "orthopedics",
    "cardiology",
    "radiology",
    "physical_therapy",
    "dermatology",
    "general_surgery",
)
POS_CODES: tuple[str, ...] = ("11", "22", "21", "23", "19", "02")
LAPSE_SHARE = 0.25  # patients whose coverage lapses at some point in (or just after) history
SWITCH_MEAN_DAYS = 75.0  # mean days from a lapse until the practice has the new coverage on file


@dataclass(frozen=True)
class Clinicians:
    npi: tuple[str, ...]
    group: np.ndarray  # billing group index, -1 solo (bills under its own NPI)
    specialty: np.ndarray
    facility: np.ndarray
    pos: np.ndarray
    volume: np.ndarray  # share of claims
    info_error_rate: np.ndarray  # P(a claim has a missing/invalid field) -> missing_information
    code_error_rate: np.ndarray  # P(a claim has an invalid code/modifier combination) -> coding
    lag_log_mean: np.ndarray  # log of the typical days from service to submission
    hold_rate: np.ndarray  # P(a claim sits 2-14 months before it is sent)
    auth_diligence: np.ndarray  # P(an authorization is obtained when the product requires one)
    dx_accuracy: np.ndarray  # P(a line's pointed diagnosis is drawn from the code's LCD list)
    verify_rate: np.ndarray  # P(eligibility verified before the claim)
    duplicate_rate: np.ndarray  # P(a claim is sent again weeks later)
    repertoire: np.ndarray  # [clinician, REPERTOIRE] procedure indices
    group_npis: tuple[str, ...]
    facility_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.npi)


@dataclass(frozen=True)
class Patients:
    birth_day: np.ndarray
    sex: np.ndarray  # 0 M, 1 F, 2 U
    home: np.ndarray  # product index of the coverage at the start
    secondary: np.ndarray  # product index of a secondary coverage, -1 none
    lapse_day: np.ndarray  # first day the home coverage no longer covers, NEVER if it never lapses
    switch_day: np.ndarray  # first day the practice bills the new coverage, NEVER if no lapse
    new: np.ndarray  # product index after the switch, -1 if no lapse
    visits: np.ndarray  # share of claims

    def __len__(self) -> int:
        return len(self.home)


def _npis(rng: np.random.Generator, n: int) -> list[str]:
    numbers = 100_000_000 + rng.choice(900_000_000, size=n, replace=False)
    return [f"1{v:09d}" for v in numbers]


def build_clinicians(rng: np.random.Generator, *, catalog: Catalog, n: int = 140, n_groups: int = 14) -> Clinicians:
    npis = _npis(rng, n + n_groups)
    n_facilities = 22
    group = np.where(rng.random(n) < 0.15, -1, rng.integers(0, n_groups, n))
    repertoire = np.stack(
        [rng.choice(len(catalog.codes), size=REPERTOIRE, replace=False, p=catalog.popularity) for _ in range(n)]
    )
    return Clinicians(
        npi=tuple(npis[:n]),
        group=group.astype(np.int64),
        specialty=rng.integers(0, len(SPECIALTIES), n),
        facility=rng.integers(0, n_facilities, n),
        pos=rng.choice(len(POS_CODES), n, p=[0.62, 0.14, 0.06, 0.08, 0.06, 0.04]),
        volume=rng.gamma(2.0, 1.0, n),
        info_error_rate=np.minimum(np.exp(rng.normal(np.log(0.015), 1.0, n)), 0.3),
        code_error_rate=np.minimum(np.exp(rng.normal(np.log(0.012), 1.0, n)), 0.3),
        lag_log_mean=rng.normal(np.log(9.0), 0.6, n),
        hold_rate=rng.beta(0.5, 14.0, n),
        auth_diligence=rng.beta(14.0, 1.4, n),
        dx_accuracy=rng.beta(10.0, 1.0, n),
        verify_rate=rng.beta(3.0, 2.0, n),
        duplicate_rate=rng.beta(0.8, 70.0, n),
        repertoire=repertoire.astype(np.int64),
        group_npis=tuple(npis[n:]),
        facility_ids=tuple(f"FAC{i:03d}" for i in range(n_facilities)),
    )


def _other_payer_product(rng: np.random.Generator, products: Products, current: np.ndarray) -> np.ndarray:
    """A product of a different payer for each entry of ``current``, by market share."""
    out = rng.choice(len(products), size=len(current), p=products.share)
    same = products.payer[out] == products.payer[current]
    while same.any():
        out[same] = rng.choice(len(products), size=int(same.sum()), p=products.share)
        same = products.payer[out] == products.payer[current]
    return out


def build_patients(rng: np.random.Generator, *, n: int, products: Products, timeline: Timeline) -> Patients:
    home = rng.choice(len(products), size=n, p=products.share)
    has_secondary = rng.random(n) < 0.12
    secondary = np.where(has_secondary, _other_payer_product(rng, products, home), -1)
    lapses = rng.random(n) < LAPSE_SHARE
    lapse = rng.integers(timeline.start + 30, timeline.end + 90, n)
    switch = lapse + 1 + np.round(rng.exponential(SWITCH_MEAN_DAYS, n)).astype(np.int64)
    new = _other_payer_product(rng, products, home)
    return Patients(
        birth_day=timeline.start - rng.integers(2 * 365, 90 * 365, n),
        sex=rng.choice(3, n, p=[0.47, 0.52, 0.01]),
        home=home,
        secondary=secondary,
        lapse_day=np.where(lapses, lapse, NEVER),
        switch_day=np.where(lapses, switch, NEVER),
        new=np.where(lapses, new, -1),
        visits=rng.gamma(0.8, 1.0, n),
    )
