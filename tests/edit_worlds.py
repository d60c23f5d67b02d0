"""A seeded book of commercial claims with one planted pre-submission edit of each kind (or none: noise), as
CSV text through the factories so the edit tests read validated tables like a team's export.

Planted (each on top of a 3% background of random line denials):
- auth: P1 denies 93306 lines on claims without an authorization number (CO-197, 80%);
- modifier: P2 denies 97110 lines without modifier GP (CO-4, 75%);
- pair: P3 denies 97140 billed on a claim with 97530 (CO-97, 80%);
- dx: P4 denies 20610 lines pointing at an M54 diagnosis (CO-50, 75%);
- filing: P1 denies claims submitted more than 60 days after service (CO-29), while the shipped commercial
  rule says 90.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from factories import History

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels

PAYERS = ("P1", "P2", "P3", "P4")
CODES = ("99213", "97110", "97140", "97530", "20610", "93306")
DIAGNOSES = ("M545", "M170", "S8341", "Z0000", "M7918")
NOISE_CARCS = (("4", None), ("97", None), ("50", None), ("197", None), ("16", "N290"), ("11", None))
AS_OF = pd.Timestamp("2024-12-31")
PLANTED = ("auth:P1:93306", "modifier:P2:97110:GP", "pair:P3:97530+97140", "dx:P4:20610:M54", "filing:P1")
FILING_LIMIT = 60


def history(*, seed: int, claims: int = 3000, plant: bool = True, auth_fixed_on: str | None = None) -> History:
    """`auth_fixed_on`: from that first remit day on, P1's 93306 lines without an authorization are no longer
    denied (the team accepted the auth edit and the front desk gets the authorizations)."""
    fixed = pd.Timestamp(auth_fixed_on) if auth_fixed_on is not None else None
    rng = np.random.default_rng(seed)
    h = History()
    start = pd.Timestamp("2024-01-02")
    for i in range(claims):
        cid = f"C{i:05d}"
        payer = PAYERS[i % len(PAYERS)]
        service = start + pd.Timedelta(days=int(rng.integers(0, 250)))
        lag = int(rng.integers(3, 86))
        submitted = service + pd.Timedelta(days=lag)
        k = int(rng.integers(1, 4))
        codes = tuple(str(c) for c in rng.choice(CODES, size=k, replace=False))
        dx = [str(d) for d in rng.choice(DIAGNOSES, size=2, replace=False)]
        auth = "AUTH1" if rng.random() < 0.5 else None
        h.claim(
            cid,
            payer=payer,
            service=service.date().isoformat(),
            submitted=submitted.date().isoformat(),
            procedures=codes,
            charge=100.0 * k,
            diagnosis_codes="|".join(dx),
            prior_auth_number=auth,
            patient_id=f"PAT-{i}",
        )
        line_rows = h.rows["claim_lines"][-k:]
        for row in line_rows:
            row["modifiers"] = "GP" if row["procedure_code"] == "97110" and rng.random() < 0.5 else None
            row["diagnosis_pointers"] = str(int(rng.integers(1, 3)))
        remit_day = (submitted + pd.Timedelta(days=20)).date().isoformat()
        if plant and payer == "P1" and lag > FILING_LIMIT and rng.random() < 0.9:
            r = h.remit(cid, date=remit_day, status="4", paid=0.0)
            h.adj(cid, r, "CO", "29", 100.0 * k)
            continue
        denials: list[tuple[int, str, str | None]] = []
        has_97530 = "97530" in codes
        for row in line_rows:
            code, n = row["procedure_code"], int(row["line_number"])
            pointed = dx[int(row["diagnosis_pointers"]) - 1]
            auth_planted = plant and (fixed is None or pd.Timestamp(remit_day) < fixed)
            if auth_planted and payer == "P1" and code == "93306" and auth is None and rng.random() < 0.8:
                denials.append((n, "197", None))
            elif plant and payer == "P2" and code == "97110" and row["modifiers"] is None and rng.random() < 0.75:
                denials.append((n, "4", None))
            elif plant and payer == "P3" and code == "97140" and has_97530 and rng.random() < 0.8:
                denials.append((n, "97", None))
            elif plant and payer == "P4" and code == "20610" and pointed.startswith("M54") and rng.random() < 0.75:
                denials.append((n, "50", None))
            elif rng.random() < 0.03:
                carc, rarc = NOISE_CARCS[int(rng.integers(0, len(NOISE_CARCS)))]
                denials.append((n, carc, rarc))
        r = h.remit(cid, date=remit_day, status="1", paid=100.0 * k - 100.0 * len(denials))
        for n, carc, rarc in denials:
            h.adj(cid, r, "CO", carc, 100.0, line=n, remarks=rarc)
    return h


def tables_and_labels(h: History) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    tables = dict(h.validated().tables)
    return tables, compute_labels(tables, codes=load_code_tables())


def write(h: History, data: Path) -> Path:
    return h.write_csv(data)
