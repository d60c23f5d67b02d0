"""KPI arithmetic on a hand-built book whose answers can be worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import History

from features.contract.codes import load_code_tables
from features.contract.kpis import compute_kpis, top_groups
from features.contract.labels import compute_labels


@pytest.fixture(scope="module")
def kpis() -> pd.DataFrame:
    h = History()
    # P1: four claims, two denials (one avoidable auth denial recovered, one non-covered still open)
    h.claim("A", payer="P1", charge=100.0, submitted="2024-01-10")
    h.remit("A", date="2024-02-01", status="1", paid=100.0)
    h.claim("B", payer="P1", charge=200.0, submitted="2024-01-12")
    rb = h.remit("B", date="2024-02-01", status="4")
    h.adj("B", rb, "CO", "197", 200.0)
    h.remit("B", date="2024-03-02", status="1", paid=150.0)  # recovered 150 of 200, 30 days later
    h.claim("C", payer="P1", charge=300.0, submitted="2024-02-03")
    rc = h.remit("C", date="2024-03-01", status="4")
    h.adj("C", rc, "CO", "96", 300.0)
    h.claim("D", payer="P1", charge=400.0, submitted="2024-02-04")
    h.remit("D", date="2024-03-01", status="1", paid=400.0)
    # P2: one claim, denied for timely filing and written off after 10 days
    h.claim("E", payer="P2", charge=50.0, submitted="2024-02-05", facility_id="F2")
    re_ = h.remit("E", date="2024-03-05", status="4")
    h.adj("E", re_, "CO", "29", 50.0)
    h.followup("E", action="write_off", date="2024-03-15")
    res = h.validated()
    codes = load_code_tables()
    labels = compute_labels(res.tables, codes=codes, as_of=pd.Timestamp("2025-01-01"))
    return compute_kpis(labels, res.tables["claims"], codes=codes).set_index(["dimension", "group"])


def test_whole_book(kpis: pd.DataFrame) -> None:
    row = kpis.loc[("all", "all")]
    assert row["claims"] == 5 and row["denials"] == 3
    assert row["denial_rate"] == pytest.approx(3 / 5)
    assert row["denied_dollars"] == 550.0
    assert row["denial_rate_dollars"] == pytest.approx(550 / 1050)
    assert row["avoidable_denials"] == 2  # authorization + timely filing; non-covered is not avoidable
    assert row["avoidable_share"] == pytest.approx(2 / 3)
    assert row["recovered"] == 1 and row["recovery_rate"] == pytest.approx(1 / 3)
    assert row["recovery_rate_dollars"] == pytest.approx(150 / 550)
    assert row["median_days_to_resolution"] == pytest.approx(20.0)  # median of 30 and 10
    assert row["open_denials"] == 1 and row["open_denial_dollars"] == 300.0


def test_by_payer_and_month(kpis: pd.DataFrame) -> None:
    assert kpis.loc[("payer", "P1"), "denial_rate"] == pytest.approx(2 / 4)
    assert kpis.loc[("payer", "P2"), "denied_dollars"] == 50.0
    assert kpis.loc[("month", "2024-01"), "claims"] == 2
    assert kpis.loc[("month", "2024-02"), "denials"] == 2
    assert kpis.loc[("facility", "F2"), "claims"] == 1


def test_categories_share_the_whole_book_denominator(kpis: pd.DataFrame) -> None:
    cats = kpis.loc["category"]
    assert set(cats.index) == {"authorization", "non_covered", "timely_filing"}
    assert cats["denial_rate"].sum() == pytest.approx(3 / 5)
    assert cats.loc["authorization", "recovery_rate_dollars"] == pytest.approx(150 / 200)


def test_top_groups_orders_by_denied_dollars(kpis: pd.DataFrame) -> None:
    top = top_groups(kpis.reset_index(), dimension="payer", limit=1)
    assert list(top["group"]) == ["P1"]


def test_unknown_dimension_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown KPI dimension region"):
        compute_kpis(pd.DataFrame(), pd.DataFrame(), codes=load_code_tables(), by=("region",))
