"""The index an ingest run keeps: resubmissions named, replacements pointed at their original, each remit on
the submission it pays, checked against a slow version that reads the rule as written."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.x12.known_claims import KnownClaims, clm01_of

Row = tuple[str, str | None, str]  # claim id (CLM01 / CLP01), date, payer id


def _claims(rows: list[Row], *, frequency: str = "1", original: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": [r[0] for r in rows],
            "submitted_at": [r[1] for r in rows],
            "payer_id": [r[2] for r in rows],
            "frequency_code": frequency,
            "original_claim_id": original,
        }
    )


def _remits(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": [r[0] for r in rows],
            "remit_id": [f"PCN{i}-T" for i in range(len(rows))],
            "remit_date": [r[1] for r in rows],
            "_payer_id": [r[2] for r in rows],
        }
    )


def test_each_submission_of_a_clm01_gets_its_own_id_across_runs() -> None:
    known = KnownClaims()
    first = known.name_new_claims(_claims([("A1", "2025-01-02", "P1")]), remits_in_chunk=pd.DataFrame())
    second = known.name_new_claims(_claims([("A1", "2025-02-02", "P1")]), remits_in_chunk=pd.DataFrame())
    # a later run starts from the tables: the third submission must not reuse #2
    reloaded = KnownClaims.from_tables(
        claims=pd.concat([first, second]), remits=_remits([]), line_controls=pd.DataFrame(
            {"claim_id": [], "line_number": [], "line_control": []})
    )  # fmt: skip
    third = reloaded.name_new_claims(_claims([("A1", "2025-03-02", "P1")]), remits_in_chunk=pd.DataFrame())
    assert [*first["claim_id"], *second["claim_id"], *third["claim_id"]] == ["A1", "A1#2", "A1#3"]


def test_a_replacement_points_at_the_claim_its_payer_control_number_was_paid_on() -> None:
    known = KnownClaims()
    known.name_new_claims(_claims([("A1", "2025-01-02", "P1"), ("A1", "2025-01-20", "P1")]),
                          remits_in_chunk=pd.DataFrame())  # fmt: skip
    known.add_remits(pd.DataFrame({"remit_id": ["PCN77-T1"], "claim_id": ["A1"]}))
    by_control = known.name_new_claims(_claims([("A1", "2025-03-01", "P1")], frequency="7", original="PCN77"),
                                       remits_in_chunk=pd.DataFrame())  # fmt: skip
    by_latest = known.name_new_claims(_claims([("A1", "2025-03-05", "P1")], frequency="8", original="UNKNOWN"),
                                      remits_in_chunk=pd.DataFrame())  # fmt: skip
    assert by_control.iloc[0].tolist()[:1] == ["A1#3"] and by_control["original_claim_id"].iloc[0] == "A1"
    assert by_latest["original_claim_id"].iloc[0] == "A1#3"  # no match: the latest earlier submission


def test_a_secondary_payers_remit_goes_to_the_claim_sent_to_that_payer() -> None:
    known = KnownClaims()
    known.name_new_claims(_claims([("C9", "2025-01-02", "PRIMARY"), ("C9", "2025-02-10", "SECONDARY")]),
                          remits_in_chunk=pd.DataFrame())  # fmt: skip
    remits = _remits([("C9", "2025-03-01", "PRIMARY"), ("C9", "2025-03-01", "SECONDARY"), ("C9", "2025-03-01", "X")])
    # the primary's late remit pays the first submission, not the latest; an unknown payer id (another id list)
    # falls back to the latest submission sent before the remit
    assert known.attach(remits) == ["C9", "C9#2", "C9#2"]


def _slow_pick(subs: list[tuple[str, pd.Timestamp | None, str]], remit_date: pd.Timestamp | None, payer: str,
               clp01: str) -> str:  # fmt: skip
    """The rule read literally: same payer's dated submissions (else every dated one); the latest sent on or
    before the remittance (the later listed on a tie); else the earliest sent (the earlier listed on a tie)."""
    dated = [(i, s) for i, s in enumerate(subs) if s[1] is not None]
    candidates = [(i, s) for i, s in dated if payer and s[2] == payer] or dated
    if not candidates:
        return clp01
    if remit_date is not None:
        before = [(s[1], i, s[0]) for i, s in candidates if s[1] <= remit_date]
        if before:
            return max(before)[2]
    return min((s[1], i, s[0]) for i, s in candidates)[2]


def test_attaching_remits_matches_the_slow_rule_on_random_histories() -> None:
    rng = np.random.default_rng(5)
    days = pd.date_range("2025-01-01", periods=12, freq="7D")
    for _ in range(200):
        known = KnownClaims()
        subs: dict[str, list[tuple[str, pd.Timestamp | None, str]]] = {}
        for _ in range(int(rng.integers(1, 12))):
            clm01 = f"K{int(rng.integers(0, 3))}"
            day = None if rng.random() < 0.1 else days[int(rng.integers(0, len(days)))]
            payer = f"P{int(rng.integers(0, 2))}"
            named = known.name_new_claims(_claims([(clm01, None if day is None else str(day.date()), payer)]),
                                          remits_in_chunk=pd.DataFrame())  # fmt: skip
            subs.setdefault(clm01, []).append((named["claim_id"].iloc[0], day, payer))
        rows = []
        for _ in range(10):
            day = None if rng.random() < 0.1 else days[int(rng.integers(0, len(days)))]
            rows.append((f"K{int(rng.integers(0, 4))}", None if day is None else str(day.date()),
                         f"P{int(rng.integers(0, 3))}"))  # fmt: skip
        expected = [
            _slow_pick(subs[c], None if d is None else pd.Timestamp(d), p, c) if c in subs else c for c, d, p in rows
        ]
        assert known.attach(_remits(rows)) == expected
        assert all(clm01_of(claim) == clp01 for claim, (clp01, _, _) in zip(expected, rows, strict=True))
