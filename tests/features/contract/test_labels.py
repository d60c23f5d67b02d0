"""Each DATA.md label rule on a tiny hand-built history."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import History

from features.contract.codes import load_code_tables
from features.contract.labels import chain_roots, compute_labels

AS_OF = pd.Timestamp("2025-06-30")  # every denial below is mature unless a test says otherwise


def labels(h: History, **kwargs: object) -> pd.DataFrame:
    res = h.validated()
    assert res.total_quarantined == 0, res.report
    kwargs.setdefault("as_of", AS_OF)
    return compute_labels(res.tables, codes=load_code_tables(), **kwargs).set_index("claim_id")  # type: ignore[arg-type]


def test_clean_payment_with_routine_adjustments_is_not_a_denial() -> None:
    h = History()
    h.claim("C1", charge=200.0)
    r = h.remit("C1", date="2024-02-01", status="1", paid=90.0)
    h.adj("C1", r, "CO", "45", 80.0, line=1)
    h.adj("C1", r, "PR", "2", 20.0, line=1)
    h.adj("C1", r, "PR", "1", 10.0)
    row = labels(h).loc["C1"]
    assert not row["initial_denial"]
    assert row["denied_amount"] == 0.0
    assert pd.isna(row["denial_category"])
    assert pd.isna(row["recovered"])


def test_partial_denial_counts_only_denial_adjustments() -> None:
    h = History()
    h.claim("C1", charge=300.0, lines=3)
    r = h.remit("C1", date="2024-02-01", status="1", paid=150.0)
    h.adj("C1", r, "CO", "45", 50.0, line=1)
    h.adj("C1", r, "CO", "197", 100.0, line=3)
    row = labels(h).loc["C1"]
    assert row["initial_denial"]
    assert row["denied_amount"] == 100.0
    assert row["denial_category"] == "authorization"


def test_denied_amount_is_capped_at_total_charge() -> None:
    h = History()
    h.claim("C1", charge=100.0)
    r = h.remit("C1", date="2024-02-01", status="4", paid=0.0)
    h.adj("C1", r, "CO", "16", 80.0)
    h.adj("C1", r, "CO", "4", 70.0, line=1)
    row = labels(h).loc["C1"]
    assert row["denied_amount"] == 100.0
    assert row["denial_category"] == "missing_information"  # the largest adjustment decides


def test_status_4_without_adjustments() -> None:
    h = History()
    h.claim("C1", charge=250.0)
    h.remit("C1", date="2024-02-01", status="4", paid=0.0)
    row = labels(h).loc["C1"]
    assert row["initial_denial"]
    assert row["denied_amount"] == 250.0
    assert row["denial_category"] == "other"


def test_rarc_refines_the_category() -> None:
    h = History()
    h.claim("C1")
    h.claim("C2")
    r1 = h.remit("C1", date="2024-02-01", status="4")
    h.adj("C1", r1, "CO", "16", 100.0, remarks="N211")
    r2 = h.remit("C2", date="2024-02-01", status="4")
    h.adj("C2", r2, "CO", "50", 100.0)
    out = labels(h)
    codes = load_code_tables()
    assert out.loc["C1", "denial_category"] == codes.categorize(pd.Series(["16"]), pd.Series(["N211"])).iloc[0]
    assert out.loc["C2", "denial_category"] == "medical_necessity"


def test_only_the_first_remit_decides_initial_denial() -> None:
    h = History()
    h.claim("PAID_THEN_DENIED")
    h.remit("PAID_THEN_DENIED", date="2024-02-01", status="1", paid=100.0)
    r2 = h.remit("PAID_THEN_DENIED", date="2024-03-01", status="4")
    h.adj("PAID_THEN_DENIED", r2, "CO", "18", 100.0)
    h.claim("DENIED_THEN_PAID")
    # remit_ids deliberately in the opposite order to dates: the date decides which remit is first
    d1 = h.remit("DENIED_THEN_PAID", date="2024-02-01", status="4", remit_id="Z-early")
    h.adj("DENIED_THEN_PAID", d1, "CO", "27", 100.0)
    h.remit("DENIED_THEN_PAID", date="2024-03-15", status="1", paid=100.0, remit_id="A-late")
    out = labels(h)
    assert not out.loc["PAID_THEN_DENIED", "initial_denial"]
    assert out.loc["DENIED_THEN_PAID", "initial_denial"]
    assert out.loc["DENIED_THEN_PAID", "first_remit_id"] == "Z-early"
    assert out.loc["DENIED_THEN_PAID", "recovered"]
    assert out.loc["DENIED_THEN_PAID", "recovered_amount"] == 100.0


def test_routine_set_is_configurable() -> None:
    h = History()
    h.claim("C1")
    r = h.remit("C1", date="2024-02-01", status="1", paid=90.0)
    h.adj("C1", r, "CO", "97", 10.0, line=1)
    assert labels(h).loc["C1", "initial_denial"]
    custom = frozenset({("CO", "45"), ("CO", "97")})
    assert not labels(h, routine=custom).loc["C1", "initial_denial"]
    # a team set replaces the shipped one: CO-59 is routine by default, a denial under this set
    h.claim("C2")
    r2 = h.remit("C2", date="2024-02-01", status="1", paid=95.0)
    h.adj("C2", r2, "CO", "59", 5.0, line=1)
    assert not labels(h).loc["C2", "initial_denial"]
    assert labels(h, routine=custom).loc["C2", "initial_denial"]


# Issue 18, finding 1: adjustments that are not refusals to pay (X12 CARC/CAGC definitions, CMS MIPS and
# sequestration guidance) must not turn a paid claim into a denial.
NOT_DENIALS = [
    ("CO", "237", 2.0, "N807"),  # MIPS negative payment adjustment (legislated/regulatory penalty)
    ("CO", "144", -3.5, "N807"),  # MIPS positive adjustment: an incentive, sent as a negative amount
    ("CO", "246", 0.0, None),  # reporting-only code
    ("CO", "59", 25.0, None),  # multiple/concurrent procedure reduction
    ("CO", "131", 5.0, None),  # claim-specific negotiated discount
    ("CO", "44", 1.5, None),  # prompt-pay discount
    ("CO", "104", 4.0, None),  # managed care withhold
    ("PR", "45", 8.0, None),  # charge above fee schedule, patient group
    ("PI", "45", 8.0, None),  # charge above fee schedule, payer-initiated group
    ("PR", "66", 30.0, None),  # blood deductible
    ("PR", "142", 12.0, None),  # monthly Medicaid patient liability
    ("PR", "187", 20.0, None),  # paid from a consumer spending account
    ("PR", "241", 4.0, None),  # low-income subsidy copay
]


@pytest.mark.parametrize(("group", "carc", "amount", "remarks"), NOT_DENIALS)
def test_adjustments_that_are_not_denials_leave_a_paid_claim_paid(
    group: str, carc: str, amount: float, remarks: str | None
) -> None:
    h = History()
    h.claim("C1", charge=200.0)
    r = h.remit("C1", date="2024-02-01", status="1", paid=150.0)
    h.adj("C1", r, "CO", "45", 40.0, line=1)
    h.adj("C1", r, group, carc, amount, line=1, remarks=remarks)
    row = labels(h).loc["C1"]
    assert not row["initial_denial"], f"{group}-{carc}"
    assert row["denied_amount"] == 0.0
    assert pd.isna(row["denial_category"])


def test_a_negative_adjustment_never_makes_a_paid_claim_denied() -> None:
    h = History()
    h.claim("BONUS", charge=100.0)
    r = h.remit("BONUS", date="2024-02-01", status="1", paid=102.0)
    h.adj("BONUS", r, "CO", "50", -2.0)  # a reversal of an earlier adjustment: money given back
    h.claim("REVERSED", charge=100.0)
    r2 = h.remit("REVERSED", date="2024-02-01", status="2", paid=100.0)
    h.adj("REVERSED", r2, "OA", "18", -15.0, line=1)
    out = labels(h)
    for cid in ("BONUS", "REVERSED"):
        assert not out.loc[cid, "initial_denial"], cid
        assert out.loc[cid, "denied_amount"] == 0.0


def test_only_positive_denial_amounts_are_summed_and_pick_the_category() -> None:
    h = History()
    h.claim("C1", charge=300.0, lines=2)
    r = h.remit("C1", date="2024-02-01", status="1", paid=200.0)
    h.adj("C1", r, "CO", "16", -250.0)  # largest in magnitude, but a give-back: not a denial
    h.adj("C1", r, "CO", "50", 60.0, line=1)
    h.adj("C1", r, "CO", "197", 40.0, line=2)
    row = labels(h).loc["C1"]
    assert row["initial_denial"]
    assert row["denied_amount"] == 100.0
    assert row["denial_category"] == "medical_necessity"


def test_status_4_with_only_negative_adjustments_is_denied_for_the_unpaid_charge() -> None:
    h = History()
    h.claim("C1", charge=120.0)
    r = h.remit("C1", date="2024-02-01", status="4", paid=0.0)
    h.adj("C1", r, "CO", "96", -10.0)
    row = labels(h).loc["C1"]
    assert row["initial_denial"]
    assert row["denied_amount"] == 120.0
    assert row["denial_category"] == "other"


def test_reversal_takes_back_a_recovery() -> None:
    h = History()
    h.claim("C1")
    r = h.remit("C1", date="2024-02-01", status="4")
    h.adj("C1", r, "CO", "50", 100.0)
    h.remit("C1", date="2024-03-01", status="1", paid=80.0)
    h.remit("C1", date="2024-03-20", status="22", paid=-80.0)
    row = labels(h).loc["C1"]
    assert row["initial_denial"]
    assert row["recovered_amount"] == 0.0
    assert not row["recovered"]


def test_replacement_chain_that_gets_paid_recovers_the_original() -> None:
    h = History()
    h.claim("ORIG", charge=120.0)
    r = h.remit("ORIG", date="2024-02-01", status="4")
    h.adj("ORIG", r, "CO", "4", 120.0, line=1)
    h.claim("REPL1", frequency="7", original="ORIG", submitted="2024-02-10", charge=120.0)
    r1 = h.remit("REPL1", date="2024-03-01", status="4")
    h.adj("REPL1", r1, "CO", "16", 120.0)
    h.claim("REPL2", frequency="7", original="REPL1", submitted="2024-03-10", charge=120.0)
    h.remit("REPL2", date="2024-04-01", status="1", paid=95.0)
    out = labels(h)
    assert list(out.index) == ["ORIG"]  # replacements are not rows of their own
    assert out.loc["ORIG", "recovered"]
    assert out.loc["ORIG", "recovered_amount"] == 95.0
    assert out.loc["ORIG", "resolved_at"] == pd.Timestamp("2024-04-01")


def test_payment_after_the_maturity_window_is_not_a_recovery() -> None:
    h = History()
    h.claim("C1")
    r = h.remit("C1", date="2024-02-01", status="4")
    h.adj("C1", r, "CO", "50", 100.0)
    h.remit("C1", date="2024-09-01", status="1", paid=100.0)  # 213 days later
    row = labels(h, maturity_days=180).loc["C1"]
    assert row["mature"]
    assert not row["recovered"]
    assert row["recovered_to_date"] == 100.0
    assert labels(h, maturity_days=240).loc["C1", "recovered"]


def test_immature_denial_is_neither_positive_nor_negative() -> None:
    h = History()
    h.claim("YOUNG")
    r = h.remit("YOUNG", date="2025-05-01", status="4")
    h.adj("YOUNG", r, "CO", "197", 100.0)
    h.claim("YOUNG_PAID")
    r2 = h.remit("YOUNG_PAID", date="2025-05-01", status="4")
    h.adj("YOUNG_PAID", r2, "CO", "197", 100.0)
    h.remit("YOUNG_PAID", date="2025-06-01", status="1", paid=100.0)
    out = labels(h)  # as_of 2025-06-30: 60 days after the denial
    for cid in ("YOUNG", "YOUNG_PAID"):
        assert not out.loc[cid, "mature"]
        assert pd.isna(out.loc[cid, "recovered"])
        assert pd.isna(out.loc[cid, "recovered_amount"])
    assert out.loc["YOUNG_PAID", "recovered_to_date"] == 100.0


def test_unadjudicated_claims_have_no_label_row() -> None:
    h = History()
    h.claim("PENDING")
    h.claim("DONE")
    h.remit("DONE", date="2024-02-01", status="1", paid=100.0)
    assert list(labels(h).index) == ["DONE"]


def test_write_off_resolves_a_denial() -> None:
    h = History()
    h.claim("C1")
    r = h.remit("C1", date="2024-02-01", status="4")
    h.adj("C1", r, "CO", "29", 100.0)
    h.followup("C1", action="write_off", date="2024-02-20")
    row = labels(h).loc["C1"]
    assert row["resolved_at"] == pd.Timestamp("2024-02-20")
    assert not row["recovered"]


@pytest.mark.parametrize("depth", [1, 3])
def test_chain_roots_follow_every_link(depth: int) -> None:
    h = History()
    h.claim("A")
    prev = "A"
    for i in range(depth):
        h.claim(f"R{i}", frequency="7", original=prev)
        prev = f"R{i}"
    res = h.validated()
    roots = chain_roots(res.tables["claims"])
    assert set(roots.to_numpy()) == {"A"}


def test_chain_cycle_without_an_original_has_no_root() -> None:
    claims = pd.DataFrame(
        {"claim_id": ["X", "Y"], "frequency_code": ["7", "7"], "original_claim_id": ["Y", "X"]}
    ).astype("string")
    assert chain_roots(claims).isna().all()


# Issue 18, finding 2: the initial adjudication is the first remit whose CLP02 is an adjudication
# (1, 2, 3, 4, 19, 20, 21, 23); a reversal (22) or a predetermination (25) never is.
def test_a_predetermination_is_not_the_initial_adjudication() -> None:
    h = History()
    h.claim("C1", charge=100.0)
    pre = h.remit("C1", date="2024-01-20", status="25", paid=0.0)
    h.adj("C1", pre, "CO", "50", 100.0)  # pricing only: "would not be covered"
    h.remit("C1", date="2024-02-01", status="1", paid=100.0, remit_id="ADJUDICATION")
    row = labels(h).loc["C1"]
    assert row["first_remit_id"] == "ADJUDICATION"
    assert row["first_remit_date"] == pd.Timestamp("2024-02-01")
    assert not row["initial_denial"]


def test_a_reversal_is_not_the_initial_adjudication() -> None:
    h = History()
    h.claim("C1", charge=100.0)
    h.remit("C1", date="2024-01-25", status="22", paid=-40.0)
    d = h.remit("C1", date="2024-02-01", status="4", remit_id="DENIAL")
    h.adj("C1", d, "CO", "197", 100.0)
    row = labels(h).loc["C1"]
    assert row["first_remit_id"] == "DENIAL"
    assert row["initial_denial"]
    assert row["denial_category"] == "authorization"


@pytest.mark.parametrize("status", ["19", "20", "21", "23"])
def test_forwarded_and_not_our_claim_statuses_are_adjudications(status: str) -> None:
    h = History()
    h.claim("C1")
    h.remit("C1", date="2024-02-01", status=status, paid=60.0, remit_id="FIRST")
    h.remit("C1", date="2024-03-01", status="1", paid=40.0)
    assert labels(h).loc["C1", "first_remit_id"] == "FIRST"


def test_a_claim_with_only_reversals_and_predeterminations_is_not_adjudicated() -> None:
    h = History()
    h.claim("PRICED")
    h.remit("PRICED", date="2024-02-01", status="25")
    h.claim("REVERSED")
    h.remit("REVERSED", date="2024-02-01", status="22", paid=-10.0)
    h.claim("DONE")
    h.remit("DONE", date="2024-02-01", status="1", paid=100.0)
    assert list(labels(h).index) == ["DONE"]


def test_a_predetermination_never_counts_as_a_payment() -> None:
    h = History()
    h.claim("C1")
    r = h.remit("C1", date="2024-02-01", status="4")
    h.adj("C1", r, "CO", "197", 100.0)
    h.remit("C1", date="2024-02-20", status="25", paid=100.0)  # a mis-keyed pricing amount
    h.remit("C1", date="2024-03-01", status="1", paid=30.0)
    h.remit("C1", date="2024-03-10", status="22", paid=-5.0)  # reversals still take money back
    row = labels(h).loc["C1"]
    assert row["recovered_amount"] == 25.0
    assert row["recovered_to_date"] == 25.0
    assert row["resolved_at"] == pd.Timestamp("2024-03-01")


def test_a_hold_for_review_is_not_the_initial_adjudication() -> None:
    """OA-133 on every line: the payer holds the claim, reverses the hold and then decides (issue 18)."""
    h = History()
    h.claim("HELD", charge=100.0)
    hold = h.remit("HELD", date="2024-01-20", status="1", paid=0.0)
    h.adj("HELD", hold, "OA", "133", 100.0)
    h.remit("HELD", date="2024-03-01", status="22", paid=0.0)
    final = h.remit("HELD", date="2024-03-01", status="4", remit_id="DECISION")
    h.adj("HELD", final, "CO", "50", 100.0)
    h.claim("STILL_HELD", charge=100.0)
    h.adj("STILL_HELD", h.remit("STILL_HELD", date="2024-02-01", status="1", paid=0.0), "OA", "133", 100.0)
    out = labels(h)
    assert list(out.index) == ["HELD"]
    assert out.loc["HELD", "first_remit_id"] == "DECISION"
    assert out.loc["HELD", "denial_category"] == "medical_necessity"
