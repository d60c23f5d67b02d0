"""denial_frame reads the first remit's denial adjustments by the label rule (issue 18): only non-routine
adjustments with a POSITIVE amount count, so a denial's features describe the same adjustments as its label."""

from __future__ import annotations

import pandas as pd
from factories import History

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import load_payer_rules
from features.contract.resubmissions import new_claim_links
from features.denial_events import outcome_events
from features.recovery_features import denial_frame
from models.recovery import worked_mask


def denial_rows(h: History) -> pd.DataFrame:
    res = h.validated()
    assert res.total_quarantined == 0, res.report
    codes = load_code_tables()
    labels = compute_labels(res.tables, codes=codes, as_of=pd.Timestamp("2025-06-30"))
    return denial_frame(res.tables, labels, codes=codes, rules=load_payer_rules()).set_index("claim_id")


def test_negative_and_routine_adjustments_are_not_denial_adjustments() -> None:
    h = History()
    h.claim("C1", charge=300.0, lines=2)
    r = h.remit("C1", date="2024-02-01", status="1", paid=200.0)
    h.adj("C1", r, "OA", "18", -250.0, remarks="N522")  # a give-back, the largest in magnitude
    h.adj("C1", r, "PR", "96", -40.0, line=2)
    h.adj("C1", r, "CO", "144", -3.0, remarks="N807")  # MIPS incentive: routine
    h.adj("C1", r, "CO", "50", 60.0, line=1)
    row = denial_rows(h).loc["C1"]
    assert row["n_denial_adjustments"] == 1.0
    assert (row["any_co"], row["any_pr"], row["any_oa"]) == (1.0, 0.0, 0.0)
    assert row["has_rarc"] == 0.0
    assert (row["top_group"], row["top_carc"]) == ("CO", "50")
    assert row["denial_category"] == "medical_necessity"
    assert row["denied_amount"] == 60.0


def test_status_4_with_only_negative_adjustments_has_no_denial_adjustment() -> None:
    h = History()
    h.claim("C1", charge=120.0)
    r = h.remit("C1", date="2024-02-01", status="4", paid=0.0)
    h.adj("C1", r, "CO", "96", -10.0, remarks="N130")
    row = denial_rows(h).loc["C1"]
    assert row["n_denial_adjustments"] == 0.0
    assert (row["any_co"], row["has_rarc"]) == (0.0, 0.0)
    assert (row["top_group"], row["top_carc"]) == ("none", "none")
    assert row["denial_category"] == "other"
    assert row["denied_amount"] == 120.0


def test_the_denial_model_line_events_read_the_same_rule() -> None:
    h = History()
    h.claim("C1", charge=200.0, lines=2)
    r = h.remit("C1", date="2024-02-01", status="1", paid=210.0)
    h.adj("C1", r, "CO", "97", -10.0, line=2)  # the reversal of an earlier bundling cut: money given back
    res = h.validated()
    codes = load_code_tables()
    labels = compute_labels(res.tables, codes=codes, as_of=pd.Timestamp("2025-06-30"))
    lines, claims = outcome_events(res.tables, labels, codes=codes, rules=load_payer_rules())
    assert not labels.set_index("claim_id").loc["C1", "initial_denial"]
    assert lines["line_denied"].tolist() == [0.0, 0.0]
    assert claims["denied"].tolist() == [0.0]


def test_a_new_claim_sent_after_an_ma130_denial_means_the_denial_was_worked() -> None:
    h = History()
    h.claim("DENIED", charge=100.0, patient_id="PAT-1")
    r = h.remit("DENIED", date="2024-02-01", status="4")
    h.adj("DENIED", r, "CO", "16", 100.0, remarks="MA130")
    h.claim("NEW", charge=100.0, submitted="2024-02-10", patient_id="PAT-1")  # pending: nothing back yet
    res = h.validated()
    codes = load_code_tables()
    denials = denial_rows(h).reset_index()
    assert not worked_mask(res.tables, denials).any()
    links = new_claim_links(res.tables, codes=codes)
    assert worked_mask(res.tables, denials, links=links).tolist() == [True]


def test_only_work_that_asks_the_payer_again_makes_a_denial_worked() -> None:
    h = History()
    for claim_id in ("WRITTEN_OFF", "BILLED_PATIENT", "APPEALED_TOO", "CALLED"):
        h.claim(claim_id, charge=100.0)
        r = h.remit(claim_id, date="2024-02-01", status="4")
        h.adj(claim_id, r, "CO", "50", 100.0)
    h.followup("WRITTEN_OFF", action="write_off", date="2024-02-10")
    h.followup("BILLED_PATIENT", action="bill_patient", date="2024-02-10")
    h.followup("APPEALED_TOO", action="write_off", date="2024-02-10")
    h.followup("APPEALED_TOO", action="appeal", date="2024-02-20", level=1)
    h.followup("CALLED", action="payer_call", date="2024-02-10")
    res = h.validated()
    denials = denial_rows(h).reset_index()
    worked = dict(zip(denials["claim_id"], worked_mask(res.tables, denials), strict=True))
    assert worked == {"WRITTEN_OFF": False, "BILLED_PATIENT": False, "APPEALED_TOO": True, "CALLED": True}
