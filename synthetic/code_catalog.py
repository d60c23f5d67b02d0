"""Procedure and diagnosis code catalogs with the rules a payer checks them against.

Denials in the synthetic world must have causes a model can learn from codes, so every procedure code
carries the attributes payers enforce (family and sub-family for auth lists and coverage, charge, maximum
units, bilateral/modifier needs, attachment needs, retirement date, bundling partner) and every family
has the diagnosis chapters that support it. Popularity is heavy-tailed (Zipf), as in real claim data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES: tuple[str, ...] = ("em", "pt", "imaging", "lab", "surgery", "medicine", "anesthesia", "dme", "drugs")
FAM = {name: i for i, name in enumerate(FAMILIES)}


@dataclass(frozen=True)
class SubFamily:
    name: str
    family: str
    prefix: str  # "" for CPT, "E"/"J" for HCPCS
    ranges: tuple[tuple[int, int], ...]
    n_codes: int
    charge_median: float
    revenue_code: str


SUBFAMILIES: tuple[SubFamily, ...] = (
    SubFamily("em_office", "em", "", ((99202, 99215),), 14, 140.0, "0510"),
    SubFamily("em_hospital", "em", "", ((99221, 99239),), 15, 220.0, "0510"),
    SubFamily("em_ed", "em", "", ((99281, 99285),), 5, 380.0, "0450"),
    SubFamily("em_preventive", "em", "", ((99381, 99397),), 14, 230.0, "0510"),
    SubFamily("em_other", "em", "", ((99401, 99499),), 40, 120.0, "0510"),
    SubFamily("pt_therapy", "pt", "", ((97110, 97546),), 60, 85.0, "0420"),
    SubFamily("pt_other", "pt", "", ((97010, 97039), (97597, 97799)), 40, 60.0, "0420"),
    SubFamily(
        "img_ct", "imaging", "", ((70450, 70498), (71250, 71275), (72125, 72133), (74150, 74178)), 40, 950.0, "0350"
    ),
    SubFamily(
        "img_mri", "imaging", "", ((70540, 70559), (72141, 72158), (73218, 73225), (73718, 73725)), 30, 1500.0, "0610"
    ),
    SubFamily("img_nuclear", "imaging", "", ((78012, 78999),), 120, 1100.0, "0340"),
    SubFamily("img_other", "imaging", "", ((70010, 77799),), 500, 260.0, "0320"),
    SubFamily("lab_molecular", "lab", "", ((81105, 81479),), 150, 450.0, "0300"),
    SubFamily("lab_other", "lab", "", ((80047, 89398),), 1100, 45.0, "0300"),
    SubFamily("surg_spine", "surgery", "", ((22532, 22634), (63001, 63048)), 50, 24000.0, "0360"),
    SubFamily("surg_joint", "surgery", "", ((27130, 27138), (27440, 27447), (29826, 29828)), 14, 28000.0, "0360"),
    SubFamily("surg_other", "surgery", "", ((10004, 69990),), 2600, 1200.0, "0360"),
    SubFamily("med_sleep", "medicine", "", ((95800, 95811),), 8, 1300.0, "0740"),
    SubFamily("med_other", "medicine", "", ((90281, 96999),), 800, 190.0, "0940"),
    SubFamily("anesthesia", "anesthesia", "", ((100, 1999),), 250, 900.0, "0370"),
    SubFamily("dme", "dme", "E", ((100, 8002),), 250, 550.0, "0290"),
    SubFamily("drug_chemo", "drugs", "J", ((9000, 9999),), 120, 2400.0, "0636"),
    SubFamily("drug_other", "drugs", "J", ((120, 8999),), 330, 160.0, "0636"),
)
SUB = {s.name: i for i, s in enumerate(SUBFAMILIES)}

# Diagnosis chapters (first letter of ICD-10-CM) that support each family; E/M is supported by anything.
DIAGNOSIS_CHAPTERS = "ABCDEFGHIJKLMNORSTZ"
SUPPORTING_CHAPTERS: dict[str, str] = {
    "em": DIAGNOSIS_CHAPTERS,
    "pt": "MSGR",
    "imaging": "RMSCIKNGD",
    "lab": "EDRZNKBIO",
    "surgery": "SMCKNLTDH",
    "medicine": "IJGFZEHR",
    "anesthesia": "SMKCNOT",
    "dme": "MGIJEL",
    "drugs": "CDMJLEG",
}
_FAMILY_MAX_UNITS = {
    "em": (1,),
    "pt": (4,),
    "imaging": (1, 2),
    "lab": (1, 2, 3),
    "surgery": (1, 2),
    "medicine": (1, 2),
    "anesthesia": (1,),
    "dme": (1, 2),
    "drugs": (1, 4, 10, 20),
}
NEVER = np.iinfo(np.int64).max // 4


def code_text(prefix: str, number: int) -> str:
    return f"{prefix}{number:04d}" if prefix else f"{number:05d}"


def range_text(sub: SubFamily) -> list[str]:
    """The sub-family's ranges as payer-rule strings ("70450-70498")."""
    return [f"{code_text(sub.prefix, lo)}-{code_text(sub.prefix, hi)}" for lo, hi in sub.ranges]


@dataclass(frozen=True)
class ProcedureCatalog:
    codes: list[str]
    family: np.ndarray  # int, index into FAMILIES
    subfamily: np.ndarray  # int, index into SUBFAMILIES
    base_charge: np.ndarray
    max_units: np.ndarray
    bilateral: np.ndarray  # bool: needs 50 / RT / LT
    needs_attachment: np.ndarray  # bool: unlisted or documentation-heavy
    retired_day: np.ndarray  # int: not valid on or after this day (NEVER when current)
    bundle_partner: np.ndarray  # int: code billed together is bundled (-1 none)
    popularity: np.ndarray  # float: global log-popularity

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class DiagnosisCatalog:
    codes: list[str]
    chapter: np.ndarray  # int index into DIAGNOSIS_CHAPTERS
    weight: np.ndarray  # Zipf popularity
    supported_cdf: dict[int, np.ndarray]  # family -> cdf over codes (zero weight where unsupported)
    unsupported_cdf: dict[int, np.ndarray]
    supports: np.ndarray  # bool [family, chapter]


def _in_ranges(numbers: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    mask = np.zeros(numbers.shape, dtype=bool)
    for lo, hi in ranges:
        mask |= (numbers >= lo) & (numbers <= hi)
    return mask


def build_procedures(rng: np.random.Generator, *, history_start: int, history_end: int) -> ProcedureCatalog:
    codes: list[str] = []
    family: list[np.ndarray] = []
    subfamily: list[np.ndarray] = []
    numbers_by_prefix: dict[str, list[np.ndarray]] = {}
    for s_idx, sub in enumerate(SUBFAMILIES):
        candidates = np.concatenate([np.arange(lo, hi + 1) for lo, hi in sub.ranges])
        # A broad sub-family never takes codes inside a more specific one's ranges, so a payer rule written
        # as the specific ranges matches exactly the codes of that sub-family.
        for other in SUBFAMILIES[:s_idx]:
            if other.prefix == sub.prefix:
                candidates = candidates[~_in_ranges(candidates, other.ranges)]
        n = min(sub.n_codes, len(candidates))
        picked = np.sort(rng.choice(candidates, size=n, replace=False))
        numbers_by_prefix.setdefault(sub.prefix, []).append(picked)
        codes.extend(code_text(sub.prefix, int(x)) for x in picked)
        family.append(np.full(n, FAM[sub.family]))
        subfamily.append(np.full(n, s_idx))
    fam = np.concatenate(family)
    subf = np.concatenate(subfamily)
    n_codes = len(codes)

    medians = np.array([SUBFAMILIES[s].charge_median for s in subf])
    base_charge = np.round(medians * rng.lognormal(0.0, 0.55, n_codes), 2)
    max_units = np.ones(n_codes, dtype=np.int64)
    for f_name, options in _FAMILY_MAX_UNITS.items():
        m = fam == FAM[f_name]
        max_units[m] = rng.choice(np.array(options), size=int(m.sum()))
    bilateral = ((fam == FAM["surgery"]) & (rng.random(n_codes) < 0.10)) | (
        (subf == SUB["img_other"]) & (rng.random(n_codes) < 0.15)
    )
    unlisted = np.array([c.endswith("99") for c in codes])
    needs_attachment = (unlisted & np.isin(fam, [FAM["surgery"], FAM["medicine"], FAM["drugs"], FAM["dme"]])) | (
        np.isin(fam, [FAM["surgery"], FAM["drugs"], FAM["dme"]]) & (rng.random(n_codes) < 0.02)
    )
    retire = (rng.random(n_codes) < 0.025) & (fam != FAM["em"])
    retired_day = np.full(n_codes, NEVER, dtype=np.int64)
    span = max(history_end - history_start, 1)
    retired_day[retire] = history_start + (span * rng.uniform(0.1, 0.95, int(retire.sum()))).astype(np.int64)

    # Bundling pairs: within lab / surgery / medicine / imaging sub-families, adjacent codes of a shuffle.
    partner = np.full(n_codes, -1, dtype=np.int64)
    for s_idx in range(len(SUBFAMILIES)):
        if SUBFAMILIES[s_idx].family not in ("lab", "surgery", "medicine", "imaging"):
            continue
        members = np.flatnonzero(subf == s_idx)
        members = members[rng.random(len(members)) < 0.35]
        members = rng.permutation(members)
        half = len(members) // 2
        a, b = members[:half], members[half : 2 * half]
        partner[a] = b
        partner[b] = a
    popularity = rng.normal(0.0, 1.0, n_codes)
    return ProcedureCatalog(
        codes=codes,
        family=fam,
        subfamily=subf,
        base_charge=base_charge,
        max_units=max_units,
        bilateral=bilateral,
        needs_attachment=needs_attachment,
        retired_day=retired_day,
        bundle_partner=partner,
        popularity=popularity,
    )


def build_diagnoses(rng: np.random.Generator, *, n_codes: int = 15_000) -> DiagnosisCatalog:
    letters = np.array(list(DIAGNOSIS_CHAPTERS))
    chapter_weight = rng.uniform(0.5, 2.0, len(letters))
    chapter_weight /= chapter_weight.sum()
    pool = 3 * n_codes
    chapter = rng.choice(len(letters), size=pool, p=chapter_weight)
    extra = rng.choice(4, size=pool, p=[0.08, 0.37, 0.35, 0.20])
    digits = rng.integers(0, 100_000, size=pool)
    # letter + two digits (category) + 0..3 more digits; the value is unique per (chapter, length, digits)
    key = (chapter * 4 + extra) * 100_000 + np.where(
        extra == 0,
        digits // 1000 * 1000,
        np.where(extra == 1, digits // 100 * 100, np.where(extra == 2, digits // 10 * 10, digits)),
    )
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)[:n_codes]
    chapter, extra, digits = chapter[keep], extra[keep], digits[keep]
    codes = []
    for c, e, d in zip(chapter.tolist(), extra.tolist(), digits.tolist(), strict=True):
        text = f"{d:05d}"[: 2 + e]
        codes.append(f"{letters[c]}{text}")
    n = len(codes)
    rank = rng.permutation(n)
    weight = 1.0 / (rank + 1.0) ** 1.05
    supports = np.zeros((len(FAMILIES), len(letters)), dtype=bool)
    supported_cdf: dict[int, np.ndarray] = {}
    unsupported_cdf: dict[int, np.ndarray] = {}
    for f_idx, f_name in enumerate(FAMILIES):
        ok = np.isin(letters, list(SUPPORTING_CHAPTERS[f_name]))
        supports[f_idx] = ok
        in_support = ok[chapter]
        supported_cdf[f_idx] = _cdf(weight * in_support)
        outside = weight * ~in_support
        unsupported_cdf[f_idx] = _cdf(outside if outside.sum() > 0 else weight)
    return DiagnosisCatalog(
        codes=codes,
        chapter=chapter,
        weight=weight,
        supported_cdf=supported_cdf,
        unsupported_cdf=unsupported_cdf,
        supports=supports,
    )


def _cdf(weights: np.ndarray) -> np.ndarray:
    c = np.cumsum(weights, dtype=np.float64)
    return c / c[-1]


def sample_cdf(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from a cumulative distribution (vectorised inverse-CDF sampling)."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)
