"""Issue 18, finding 3: a NEW claim sent after an MA130/N142 denial is that denial's resubmission.

MA130 and N142 tell the practice to send a new original claim (frequency 1), not a replacement, so
nothing in the data points back at the denied claim. Without a link, the denied claim never recovers
and the KPIs count the new claim as another original.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from factories import History

from features.contract.adjudication import ADJUDICATION_STATUSES
from features.contract.codes import load_code_tables
from features.contract.kpis import compute_kpis
from features.contract.labels import claim_roots, compute_labels
from features.contract.resubmissions import new_claim_links

AS_OF = pd.Timestamp("2025-06-30")
MATURITY = 180
NEW_CLAIM_REMARKS = ("MA130", "N142")


def tables_of(h: History) -> Mapping[str, pd.DataFrame]:
    res = h.validated()
    assert res.total_quarantined == 0, res.report
    return res.tables


def links_of(h: History, **kwargs: object) -> dict[str, str]:
    kwargs.setdefault("maturity_days", MATURITY)
    found = new_claim_links(tables_of(h), codes=load_code_tables(), **kwargs)  # type: ignore[arg-type]
    return {str(k): str(v) for k, v in found.items()}


def labels(h: History) -> pd.DataFrame:
    out = compute_labels(tables_of(h), codes=load_code_tables(), as_of=AS_OF, maturity_days=MATURITY)
    return out.set_index("claim_id")


def denied_unprocessable(h: History, claim_id: str = "DENIED", *, remarks: str = "MA130", **fields: object) -> str:
    """A claim denied on 2024-02-01 with a remark that asks for a new claim."""
    fields.setdefault("patient_id", "PAT-1")
    h.claim(claim_id, charge=200.0, procedures=("99213", "93000"), **fields)  # type: ignore[arg-type]
    r = h.remit(claim_id, date="2024-02-01", status="4")
    h.adj(claim_id, r, "CO", "16", 200.0, remarks=remarks)
    return claim_id


def new_claim(
    h: History,
    claim_id: str = "NEW",
    *,
    submitted: str = "2024-02-15",
    paid: float | None = 180.0,
    procedures: tuple[str, ...] = ("93000", "99213"),
    **fields: object,
) -> str:
    fields.setdefault("patient_id", "PAT-1")
    h.claim(claim_id, charge=200.0, submitted=submitted, procedures=procedures, **fields)  # type: ignore[arg-type]
    if paid is not None:
        h.remit(claim_id, date=str((pd.Timestamp(submitted) + pd.Timedelta(days=20)).date()), status="1", paid=paid)
    return claim_id


def test_a_new_claim_after_an_ma130_denial_is_its_resubmission() -> None:
    h = History()
    denied_unprocessable(h)
    new_claim(h)  # same codes in another order: the set is what counts
    assert links_of(h) == {"NEW": "DENIED"}
    out = labels(h)
    assert list(out.index) == ["DENIED"]  # the new claim is not another original
    row = out.loc["DENIED"]
    assert row["recovered"]
    assert row["recovered_amount"] == 180.0
    assert row["resolved_at"] == pd.Timestamp("2024-03-06")


def test_n142_on_a_line_level_adjustment_links_too() -> None:
    h = History()
    h.claim("DENIED", charge=200.0, procedures=("99213", "93000"), patient_id="PAT-1")
    r = h.remit("DENIED", date="2024-02-01", status="1", paid=100.0)
    h.adj("DENIED", r, "CO", "45", 20.0, line=1, remarks="M15|N142")
    h.adj("DENIED", r, "CO", "4", 80.0, line=2)
    new_claim(h)
    assert links_of(h) == {"NEW": "DENIED"}


def test_a_replacement_of_the_new_claim_chains_to_the_denied_claim() -> None:
    h = History()
    denied_unprocessable(h)
    new_claim(h, paid=None)
    nr = h.remit("NEW", date="2024-03-01", status="4")
    h.adj("NEW", nr, "CO", "4", 200.0, line=1)
    h.claim("FIX", frequency="7", original="NEW", submitted="2024-03-05", charge=200.0, patient_id="PAT-1")
    h.remit("FIX", date="2024-03-20", status="1", paid=150.0)
    roots = claim_roots(tables_of(h), codes=load_code_tables(), maturity_days=MATURITY)
    assert roots.to_dict() == {"DENIED": "DENIED", "NEW": "DENIED", "FIX": "DENIED"}
    assert labels(h).loc["DENIED", "recovered_amount"] == 150.0


@pytest.mark.parametrize(
    "why",
    ["another patient", "other procedure codes", "a code fewer", "no MA130/N142", "sent before the denial",
     "after the maturity window", "paid first remit"],
)  # fmt: skip
def test_not_linked(why: str) -> None:
    h = History()
    remarks = "N211" if why == "no MA130/N142" else "MA130"
    if why == "paid first remit":
        h.claim("DENIED", charge=200.0, procedures=("99213", "93000"), patient_id="PAT-1")
        r = h.remit("DENIED", date="2024-02-01", status="1", paid=200.0)
        h.adj("DENIED", r, "CO", "45", 10.0, remarks="MA130")  # routine only: not a denial
    else:
        denied_unprocessable(h, remarks=remarks)
    kwargs: dict[str, object] = {
        "another patient": {"patient_id": "PAT-2"},
        "other procedure codes": {"procedures": ("99214", "93000")},
        "a code fewer": {"procedures": ("99213",)},
        "sent before the denial": {"submitted": "2024-01-25"},
        "after the maturity window": {"submitted": "2024-08-01"},
    }.get(why, {})  # type: ignore[assignment]
    new_claim(h, **kwargs)  # type: ignore[arg-type]
    assert links_of(h) == {}
    assert set(labels(h).index) == {"DENIED", "NEW"}


def test_the_earliest_submitted_candidate_wins() -> None:
    h = History()
    denied_unprocessable(h)
    new_claim(h, "LATER", submitted="2024-02-20")
    new_claim(h, "EARLIER", submitted="2024-02-10")
    assert links_of(h) == {"EARLIER": "DENIED"}
    assert set(labels(h).index) == {"DENIED", "LATER"}


def test_a_new_claim_is_linked_at_most_once() -> None:
    h = History()
    denied_unprocessable(h, "DENIED_A")
    denied_unprocessable(h, "DENIED_B")  # an accidental duplicate, denied the same way the same day
    new_claim(h)
    assert links_of(h) == {"NEW": "DENIED_A"}
    assert set(labels(h).index) == {"DENIED_A", "DENIED_B"}


def test_a_new_claim_denied_again_links_the_next_one_to_the_first_denial() -> None:
    h = History()
    denied_unprocessable(h)
    new_claim(h, "SECOND", paid=None, submitted="2024-02-10")
    r = h.remit("SECOND", date="2024-02-25", status="4")
    h.adj("SECOND", r, "CO", "16", 200.0, remarks="MA130")
    new_claim(h, "THIRD", submitted="2024-03-01")
    assert links_of(h) == {"SECOND": "DENIED", "THIRD": "SECOND"}
    out = labels(h)
    assert list(out.index) == ["DENIED"]
    assert out.loc["DENIED", "recovered_amount"] == 180.0


def test_kpis_count_the_denied_claim_once_and_its_recovery() -> None:
    h = History()
    denied_unprocessable(h)
    new_claim(h)
    codes = load_code_tables()
    tables = tables_of(h)
    lab = compute_labels(tables, codes=codes, as_of=AS_OF, maturity_days=MATURITY)
    row = compute_kpis(lab, tables["claims"], codes=codes).set_index(["dimension", "group"]).loc[("all", "all")]
    assert row["claims"] == 1
    assert row["billed"] == 200.0
    assert row["denials"] == 1
    assert row["recovered"] == 1 and row["recovered_dollars"] == 180.0


# ---- the vectorised linking against an obviously-correct loop, on seeded random histories ----------------


def slow_links(tables: Mapping[str, pd.DataFrame], *, maturity_days: int) -> dict[str, str]:
    """The rule read literally, one claim at a time: denied claims in submission order, each taking the
    earliest-submitted matching new claim that no earlier denied claim took."""
    codes = load_code_tables()
    claims = tables["claims"].to_dict("records")
    remits = tables["remits"].to_dict("records")
    adjustments = tables["adjustments"].to_dict("records")
    procedures: dict[str, set[str]] = {c["claim_id"]: set() for c in claims}
    for line in tables["claim_lines"].to_dict("records"):
        procedures[line["claim_id"]].add(line["procedure_code"])

    first: dict[str, dict[str, object]] = {}
    for r in sorted(remits, key=lambda r: (r["remit_date"], r["remit_id"])):
        if r["status_code"] in ADJUDICATION_STATUSES and r["claim_id"] not in first:
            first[r["claim_id"]] = r

    def unprocessable_denial(claim_id: str) -> bool:
        remit = first.get(claim_id)
        if remit is None:
            return False
        on_first = [a for a in adjustments if a["remit_id"] == remit["remit_id"] and a["claim_id"] == claim_id]
        routine = codes.routine
        denied = remit["status_code"] == "4" or any(
            (a["group_code"], a["carc"]) not in routine and a["amount"] > 0 for a in on_first
        )
        lists = [a["remark_codes"] for a in on_first if isinstance(a["remark_codes"], str)]
        remarks = {code for remark_list in lists for code in remark_list.split("|")}
        return denied and bool(remarks & set(NEW_CLAIM_REMARKS))

    def key(c: dict[str, object]) -> tuple[object, ...]:
        return (c["patient_id"], c["payer_id"], c["billing_npi"], c["service_from"])

    window = pd.Timedelta(days=maturity_days)
    taken: set[str] = set()
    links: dict[str, str] = {}
    for d in sorted(claims, key=lambda c: (c["submitted_at"], c["claim_id"])):
        if not unprocessable_denial(d["claim_id"]):
            continue
        denied_on = first[d["claim_id"]]["remit_date"]
        candidates = [
            n
            for n in claims
            if n["frequency_code"] == "1"
            and n["claim_id"] not in taken
            and key(n) == key(d)
            and procedures[n["claim_id"]] == procedures[d["claim_id"]]
            and denied_on <= n["submitted_at"] <= denied_on + window  # type: ignore[operator]
            and (n["submitted_at"], n["claim_id"]) > (d["submitted_at"], d["claim_id"])
        ]
        if candidates:
            chosen = min(candidates, key=lambda c: (c["submitted_at"], c["claim_id"]))
            taken.add(chosen["claim_id"])
            links[chosen["claim_id"]] = d["claim_id"]
    return links


def random_history(seed: int, n_claims: int = 80) -> History:
    """Few patients, payers, dates and code sets, so that many claims compete for the same denial."""
    rng = np.random.default_rng(seed)
    h = History()
    code_sets = [("99213",), ("99213", "93000"), ("93000", "99213"), ("99214",)]
    remarks = [None, "MA130", "N142", "N211|MA130", "M15", "MA130|N142"]
    start = pd.Timestamp("2024-01-01")
    for i in range(n_claims):
        cid = f"C{i:03d}"
        submitted = start + pd.Timedelta(days=int(rng.integers(0, 240)))
        frequency = "7" if i > 5 and rng.random() < 0.1 else "1"
        h.claim(
            cid,
            submitted=str(submitted.date()),
            service=str((start - pd.Timedelta(days=int(rng.integers(0, 2)))).date()),
            payer=str(rng.choice(["P1", "P2"])),
            patient_id=str(rng.choice(["A", "B"])),
            procedures=code_sets[int(rng.integers(0, len(code_sets)))],
            frequency=frequency,
            original=f"C{int(rng.integers(0, i)):03d}" if frequency == "7" else None,
        )
        remit_day = submitted
        for _ in range(int(rng.integers(0, 3))):
            remit_day = remit_day + pd.Timedelta(days=int(rng.integers(0, 30)))
            status = str(rng.choice(["1", "4", "4", "22", "25", "19"]))
            r = h.remit(cid, date=str(remit_day.date()), status=status, paid=float(rng.choice([0.0, 50.0])))
            for _ in range(int(rng.integers(0, 3))):
                group, carc = [("CO", "16"), ("CO", "45"), ("CO", "50"), ("PR", "2")][int(rng.integers(0, 4))]
                line = int(rng.integers(1, 2)) if rng.random() < 0.5 else None
                amount = float(rng.choice([-10.0, 0.0, 40.0]))
                h.adj(cid, r, group, carc, amount, line=line, remarks=remarks[int(rng.integers(0, len(remarks)))])
    return h


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_links_match_the_slow_rule(seed: int) -> None:
    tables = tables_of(random_history(seed))
    expected = slow_links(tables, maturity_days=60)
    found = new_claim_links(tables, codes=load_code_tables(), maturity_days=60)
    assert {str(k): str(v) for k, v in found.items()} == expected
    assert len(expected) >= 1  # the generator makes links, or this test proves nothing


def test_random_histories_make_links_and_chains() -> None:
    sizes = [len(slow_links(tables_of(random_history(seed)), maturity_days=60)) for seed in range(8)]
    assert sum(sizes) >= 8, sizes
