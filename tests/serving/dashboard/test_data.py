"""The dashboard's numbers are the KPI report's numbers: every month and every month x group breakdown matches
`compute_kpis` exactly; the work sections add up to the followups; no section carries a claim or a patient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract.kpis import compute_kpis
from serving.dashboard import PARTS, Chart, ModelHealth, RegisteredModel, Report, Section, build_report
from serving.dashboard.kpi_sections import BREAKDOWNS
from serving.dashboard.sections import IDENTIFYING_COLUMNS, NotAggregate, prevention_sections
from serving.dashboard.work_sections import TEAM_ACTION_MINUTES, action_minutes

from .conftest import World


def months_of(kpis: pd.DataFrame) -> pd.DataFrame:
    return kpis[kpis["dimension"] == "month"].set_index("group").sort_index()


@pytest.mark.parametrize(
    ("key", "columns"),
    [
        ("denial-rate-by-month", ["denial_rate", "denial_rate_dollars"]),
        ("avoidable-share-by-month", ["avoidable_share"]),
        ("denied-dollars-by-month", ["denied_dollars", "open_denial_dollars"]),
        ("recovery-rate-by-month", ["recovery_rate", "recovery_rate_dollars"]),
        ("days-to-resolution-by-month", ["median_days_to_resolution"]),
    ],
)
def test_month_sections_are_compute_kpis(world: World, report: Report, key: str, columns: list[str]) -> None:
    expected = months_of(compute_kpis(world.labels, world.tables["claims"], codes=world.codes))
    data = report.section(key).data.set_index("month")
    assert len(data) > 0
    pd.testing.assert_frame_equal(data[columns], expected.loc[data.index, columns], check_names=False)
    if key != "recovery-rate-by-month" and key != "days-to-resolution-by-month":
        assert list(data.index) == list(expected.index)  # every month, in order
    else:  # left out only where the KPI has nothing to say
        left_out = expected.index.difference(data.index)
        assert expected.loc[left_out, columns].isna().all().all()


@pytest.mark.parametrize("dimension", list(BREAKDOWNS))
def test_month_by_group_breakdowns_match_compute_kpis_month_by_month(
    world: World, report: Report, dimension: str
) -> None:
    column = BREAKDOWNS[dimension][0]
    key = f"denial-rate-by-{'location' if dimension == 'facility' else dimension}-and-month"
    data = report.section(key).data
    assert 0 < data[column].nunique() <= 5
    month_of = world.tables["claims"].set_index("claim_id")["submitted_at"].dt.strftime("%Y-%m")
    label_month = world.labels["claim_id"].map(month_of)
    for month in sorted(data["month"].unique()):
        kpis = compute_kpis(world.labels[label_month == month], world.tables["claims"], codes=world.codes,
                            by=(dimension,))  # fmt: skip
        expected = kpis[kpis["dimension"] == dimension].set_index("group")["denial_rate"]
        got = data[data["month"] == month].set_index(column)["denial_rate"]
        if dimension == "category":  # a month without one of the categories' denials shows 0
            expected = expected.reindex(got.index, fill_value=0.0)
        np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), rtol=0, atol=1e-12)


def test_open_dollars_by_category_and_the_kpi_table(world: World, report: Report) -> None:
    kpis = compute_kpis(world.labels, world.tables["claims"], codes=world.codes)
    pd.testing.assert_frame_equal(report.section("kpis").data, kpis)
    by_category = report.section("open-denial-dollars-by-category").data.set_index("denial_category")
    expected = kpis[kpis["dimension"] == "category"].set_index("group")["open_denial_dollars"]
    assert by_category["open_denial_dollars"].to_dict() == expected.to_dict()
    assert list(by_category["open_denial_dollars"]) == sorted(by_category["open_denial_dollars"], reverse=True)


def test_throughput_and_staff_hours_add_up_to_the_followups(world: World, report: Report) -> None:
    followups = world.tables["followups"]
    done = report.section("queue-throughput-by-month").data
    assert done["actions"].sum() == len(followups)
    months = followups["action_date"].dt.strftime("%Y-%m")
    assert (
        done.set_index("month")["denials_worked"].to_dict() == followups.groupby(months)["claim_id"].nunique().to_dict()
    )
    hours = report.section("staff-time-by-month").data
    minutes = followups["action"].map(TEAM_ACTION_MINUTES)
    assert hours["staff_hours"].sum() == pytest.approx(minutes.sum() / 60, abs=0.01 * len(hours))
    assert hours["denials_worked"].sum() == followups["claim_id"].nunique()
    paid = world.labels.set_index("claim_id")["recovered_to_date"].reindex(followups["claim_id"].unique())
    assert hours["recovered_dollars"].sum() == pytest.approx(paid.fillna(0).sum(), abs=0.01 * len(hours))
    per_hour = report.section("dollars-per-staff-hour-by-month").data.set_index("month")["dollars_per_staff_hour"]
    expected = hours.set_index("month")["recovered_dollars"] / hours.set_index("month")["staff_hours"]
    np.testing.assert_allclose(per_hour, expected.loc[per_hour.index], rtol=1e-3)


def test_a_minutes_column_replaces_the_estimate() -> None:
    rows = pd.DataFrame({"action": ["appeal", "payer_call", "write_off"], "minutes": [30.0, None, -1.0]})
    assert action_minutes(rows).tolist() == [30.0, TEAM_ACTION_MINUTES["payer_call"], TEAM_ACTION_MINUTES["write_off"]]


def test_without_followups_the_work_part_says_how_to_get_it(world: World) -> None:
    tables = {k: v for k, v in world.tables.items() if k != "followups"}
    work = build_report(tables, world.labels, codes=world.codes).part("work")
    assert [s.available for s in work] == [False]
    assert "followups" in work[0].note


def test_no_section_identifies_a_claim_or_a_patient(report: Report) -> None:
    for section in report.sections:
        assert not IDENTIFYING_COLUMNS & set(section.data.columns), section.key
    with pytest.raises(NotAggregate, match="claim_id"):
        Section(key="leak", title="leak", data=pd.DataFrame({"claim_id": ["C1"], "denied_dollars": [1.0]}))


def test_a_charted_section_holds_exactly_what_it_plots() -> None:
    data = pd.DataFrame({"month": ["2024-01"], "denial_rate": [0.1], "claims": [10]})
    with pytest.raises(ValueError, match="drop"):
        Section(key="x", title="x", data=data, chart=Chart(kind="line", x="month", y=("denial_rate",)))
    with pytest.raises(ValueError, match="lacks"):
        Section(key="x", title="x", data=data, chart=Chart(kind="line", x="month", y=("recovery_rate",)))


def test_parts_come_in_page_order_and_the_prevention_slot_waits(report: Report) -> None:
    order = [key for key, _ in PARTS]
    seen = [order.index(s.part) for s in report.sections]
    assert seen == sorted(seen)
    (slot,) = report.part("prevention")
    assert not slot.available and "features.prevention" in slot.note


def test_the_prevention_table_joins_its_slot(world: World) -> None:
    patterns = pd.DataFrame(
        {"pattern": ["P0001 x 97110 x coding", "P0002 x 99214 x eligibility"],
         "avoidable_dollars": [12_000.0, 8_000.0], "owner": ["coding", "registration"]}
    )  # fmt: skip
    sections = prevention_sections(patterns, value="avoidable_dollars", label="pattern")
    report = build_report(world.tables, world.labels, codes=world.codes, prevention=sections)
    part = report.part("prevention")
    assert [s.key for s in part] == ["prevention-top", "prevention-patterns"]
    assert part[0].has_figure and part[1].table
    pd.testing.assert_frame_equal(part[1].data, patterns)


def test_model_health_says_what_is_missing_and_shows_what_is_there(world: World) -> None:
    empty = build_report(world.tables, world.labels, codes=world.codes, health=ModelHealth()).part("model-health")
    assert empty and not any(s.available for s in empty)
    assert all("claimsight" in s.note for s in empty)  # each says which command makes it
    health = ModelHealth(
        models=(RegisteredModel(kind="denial-risk", version="3", metrics={"roc_auc": 0.8, "ece": 0.01},
                                card="# card"),),  # fmt: skip
        monitor_month="2024-03",
        calibration=pd.DataFrame({"month": ["2024-02", "2024-03"], "rows": [10, 12], "mean_p": [0.1, 0.12],
                                  "rate": [0.11, 0.1], "gap": [-0.01, 0.02], "features": ["as served"] * 2}),
        drift=pd.DataFrame({"feature": ["a", "b"], "psi": [0.02, 0.3], "level": ["stable", "major shift"]}),
        gate=pd.DataFrame({"as_of": ["2024-03"], "model": ["denial-risk"], "decision": ["promote"]}),
        backtest=pd.DataFrame({"month": ["2024-01", "2024-01"], "scope": ["all", "all"],
                               "model": ["frozen", "retrained"], "roc_auc": [0.7, 0.75]}),
    )  # fmt: skip
    part = {s.key: s for s in build_report(world.tables, world.labels, codes=world.codes, health=health).part(
        "model-health")}  # fmt: skip
    assert {k for k, s in part.items() if s.has_figure} == {"calibration-by-month", "feature-drift", "backtest-auc"}
    assert part["models"].data.loc[0, "AUC"] == 0.8 and part["models"].text == "# card"
    assert list(part["feature-drift"].data["feature"]) == ["b", "a"]
    assert part["retrain-decisions"].available
