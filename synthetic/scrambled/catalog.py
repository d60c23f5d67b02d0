"""Codes of the scrambled world: procedure codes, their policy groups, diagnoses and per-code LCD lists.

The standard generator ties everything to code prefixes (a family is a range). Real payer policy is not
shaped like that: an authorization list or a coverage policy names codes one by one, and a Local Coverage
Determination lists, per procedure code, the ICD-10-CM codes that support it. So here a procedure code's
*group* is a random set of codes drawn from all over the code space (a group shares no prefix), and each
code has its own support list of diagnoses drawn across chapters. Nothing a payer enforces is a function of
the code's first characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Real CPT/HCPCS numeric ranges to draw codes from (surgery, radiology, lab, medicine, E/M; DME and drugs).
_CPT_RANGES: tuple[tuple[int, int], ...] = ((10004, 69990), (70010, 79999), (80047, 89398), (90281, 99499))
_HCPCS: tuple[tuple[str, int, int], ...] = (("E", 100, 8002), ("J", 120, 9999))
# ICD-10-CM chapters (first letter) used for the diagnosis vocabulary.
_CHAPTERS = "ABCDEFGHIJKLMNORSTZ"
GROUP_SIZE = 40


@dataclass(frozen=True)
class Catalog:
    codes: tuple[str, ...]  # procedure codes
    popularity: np.ndarray  # probability of each code across the practice
    charge: np.ndarray  # median charge per code
    group: np.ndarray  # policy group of each code (random, not prefix-aligned)
    n_groups: int
    dx_codes: tuple[str, ...]  # ICD-10-CM, no dots
    dx_popularity: np.ndarray
    support_start: np.ndarray  # CSR offsets into support_dx, one list per procedure code
    support_dx: np.ndarray  # diagnosis indices on each code's LCD list
    support_key: np.ndarray  # sorted code * n_dx + dx, for vectorised membership tests

    def supports(self, code: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Whether diagnosis ``dx`` is on procedure ``code``'s LCD list (vectorised)."""
        key = np.asarray(code, dtype=np.int64) * len(self.dx_codes) + np.asarray(dx, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.support_key, key), len(self.support_key) - 1)
        return self.support_key[pos] == key

    def group_codes(self, group: int) -> list[str]:
        return [self.codes[i] for i in np.flatnonzero(self.group == group)]


def _zipf(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    w = w[rng.permutation(n)]
    return w / w.sum()


def _procedure_codes(rng: np.random.Generator, n: int) -> list[str]:
    n_hcpcs = n // 10
    n_cpt = n - n_hcpcs
    sizes = np.array([hi - lo + 1 for lo, hi in _CPT_RANGES], dtype=np.float64)
    per_range = rng.multinomial(n_cpt, sizes / sizes.sum())
    codes: list[str] = []
    for (lo, hi), k in zip(_CPT_RANGES, per_range, strict=True):
        codes += [f"{v:05d}" for v in np.sort(rng.choice(np.arange(lo, hi + 1), size=k, replace=False))]
    for letter, lo, hi in _HCPCS:
        k = n_hcpcs // len(_HCPCS)
        codes += [f"{letter}{v:04d}" for v in np.sort(rng.choice(np.arange(lo, hi + 1), size=k, replace=False))]
    return codes


def _diagnosis_codes(rng: np.random.Generator, n: int) -> list[str]:
    """Plausible ICD-10-CM shapes: chapter letter, two digits, then 0-3 more characters (no dots)."""
    out: set[str] = set()
    while len(out) < n:
        letter = _CHAPTERS[int(rng.integers(len(_CHAPTERS)))]
        body = f"{letter}{int(rng.integers(0, 100)):02d}"
        extra = int(rng.integers(0, 4))
        body += "".join(str(int(d)) for d in rng.integers(0, 10, extra))
        out.add(body)
    return sorted(out)


def build_catalog(rng: np.random.Generator, *, n_codes: int = 1200, n_dx: int = 2400) -> Catalog:
    """Codes, random policy groups of ``GROUP_SIZE`` codes, and an LCD-style support list per code.

    Each support list has 8-60 diagnoses drawn by diagnosis popularity from every chapter, so two codes
    with the same prefix share no more of their lists than two codes far apart do.
    """
    codes = _procedure_codes(rng, n_codes)
    n_codes = len(codes)
    popularity = _zipf(rng, n_codes, 1.05)
    charge = np.round(np.exp(rng.normal(np.log(180.0), 1.0, n_codes)), 2)
    n_groups = n_codes // GROUP_SIZE
    group = np.repeat(np.arange(n_groups), GROUP_SIZE)
    group = np.concatenate([group, rng.integers(0, n_groups, n_codes - len(group))])
    group = group[rng.permutation(n_codes)]

    dx_codes = _diagnosis_codes(rng, n_dx)
    dx_pop = _zipf(rng, n_dx, 0.9)
    sizes = rng.integers(8, 61, n_codes)
    start = np.concatenate([[0], np.cumsum(sizes)])
    lists = [np.sort(rng.choice(n_dx, size=int(k), replace=False, p=dx_pop)) for k in sizes]
    support_dx = np.concatenate(lists).astype(np.int64)
    owner = np.repeat(np.arange(n_codes), sizes)
    return Catalog(
        codes=tuple(codes),
        popularity=popularity,
        charge=charge,
        group=group.astype(np.int64),
        n_groups=n_groups,
        dx_codes=tuple(dx_codes),
        dx_popularity=dx_pop,
        support_start=start.astype(np.int64),
        support_dx=support_dx,
        support_key=np.sort(owner * n_dx + support_dx),
    )
