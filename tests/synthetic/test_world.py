"""The synthetic world: deterministic, fast enough, and a mechanism (causes in the data), not noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract.codes import load_code_tables
from features.contract.schema import TABLES
from synthetic import World, claim_state, generate_world, write_world
from synthetic.hazards import CAUSES, REASONS
from synthetic.knowable import p_denial_knowable, realized_p_denial, redraw_hidden


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(claims=50_000, months=24, seed=11)


def _hold_remits(world: World) -> set[str]:
    """Remits that hold lines for review (OA-133) or reverse such a hold: not an adjudication."""
    adj = world.tables["adjustments"]
    return set(adj.loc[(adj["group_code"] == "OA") & (adj["carc"] == "133"), "remit_id"])


def _first_remits(world: World) -> pd.DataFrame:
    """First adjudication of each original claim (a review hold and its reversal are not one), with the
    claim's service date, payer and charge."""
    claims, remits = world.tables["claims"], world.tables["remits"]
    originals = claims.loc[claims["frequency_code"] == "1", ["claim_id", "service_from", "payer_id", "total_charge"]]
    remits = remits[~remits["remit_id"].isin(_hold_remits(world))]
    first = remits.sort_values(["remit_date", "remit_id"]).drop_duplicates("claim_id")
    first = first.merge(originals, on="claim_id")
    return first


def _denial_rows(world: World, first: pd.DataFrame) -> pd.DataFrame:
    """Denial adjustments on those remits (DATA.md). MIPS payment adjustments (N807: CO-237 penalty, CO-144
    incentive) are payments, not denials (issue 18; the shipped routine set learns them separately)."""
    codes = load_code_tables()
    adj = world.tables["adjustments"]
    adj = adj[adj["remit_id"].isin(first["remit_id"])]
    adj = adj[~codes.is_routine(adj["group_code"], adj["carc"])]
    adj = adj[adj["remark_codes"].fillna("") != "N807"]
    return adj.assign(category=codes.categorize(adj["carc"], adj["remark_codes"]).astype(str).to_numpy())


def _denied_ids(world: World, first: pd.DataFrame) -> set[str]:
    rows = _denial_rows(world, first)
    return set(rows["claim_id"]) | set(first.loc[first["status_code"] == "4", "claim_id"])


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.slow  # generates and writes six 5k-claim worlds
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, fmt: str) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_world(generate_world(claims=5_000, months=12, seed=seed), out_dir=tmp_path / name, fmt=fmt)  # type: ignore[arg-type]
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert f"claims.{fmt}" in a and f"truth/claims.{fmt}" in a and "payer_rules.yaml" in a
    assert a == b
    assert a[f"claims.{fmt}"] != c[f"claims.{fmt}"]
    assert a[f"adjustments.{fmt}"] != c[f"adjustments.{fmt}"]


def test_tables_follow_the_contract(world: World) -> None:
    for name, df in world.tables.items():
        assert list(df.columns) == TABLES[name].names
        for col in TABLES[name].columns:
            if col.kind == "date":
                assert pd.api.types.is_datetime64_any_dtype(df[col.name]), (name, col.name)
            if col.required:
                assert df[col.name].notna().all(), (name, col.name)
    claims = world.tables["claims"]
    assert claims["eligibility_verified"].dtype == bool
    assert claims["claim_id"].is_unique and world.tables["remits"]["remit_id"].is_unique
    # every claim generated, plus the new claims sent after an MA130 rejection
    assert (claims["frequency_code"] == "1").sum() == 50_000 + world.meta["new_claims_after_ma130"]
    assert (claims["service_to"] >= claims["service_from"]).all()
    assert (claims["submitted_at"] >= claims["service_to"]).all()
    lines = world.tables["claim_lines"]
    assert 2.0 < len(lines) / len(claims) < 2.7
    totals = lines.groupby("claim_id")["charge"].sum().round(2)
    assert np.allclose(totals.reindex(claims["claim_id"]).to_numpy(), claims["total_charge"].to_numpy(), atol=0.02)


def test_initial_denial_rate_in_range(world: World) -> None:
    first = _first_remits(world)
    rate = len(_denied_ids(world, first)) / len(first)
    assert 0.08 <= rate <= 0.15, rate
    status4 = first.loc[first["status_code"] == "4", "remit_id"]
    with_cas = world.tables["adjustments"]["remit_id"].isin(status4)
    assert status4.nunique() > world.tables["adjustments"].loc[with_cas, "remit_id"].nunique()  # some carry no CAS


def test_every_cause_occurs_and_its_codes_match_its_category(world: World) -> None:
    codes = load_code_tables()
    for reason in REASONS:
        for carc, rarcs, _ in reason.carcs:
            cat = codes.categorize(pd.Series([carc]), pd.Series([rarcs or None], dtype="string")).iloc[0]
            assert cat == reason.cause, (reason.name, carc, rarcs)
    first = _first_remits(world)
    rows = _denial_rows(world, first)
    truth = world.truth["claims"].set_index("claim_id")
    cause = truth.loc[rows["claim_id"], "cause"].to_numpy()
    assert (rows["category"].to_numpy() == cause).all()
    assert set(rows["category"]) == set(CAUSES)
    assert truth["p_denial"].between(0, 1).all()
    assert {f"h_{c}" for c in CAUSES} <= set(truth.columns)


def test_january_eligibility_denials_spike(world: World) -> None:
    first = _first_remits(world)
    rows = _denial_rows(world, first)
    elig = set(rows.loc[rows["category"] == "eligibility", "claim_id"])
    first = first.assign(elig=first["claim_id"].isin(elig), month=first["service_from"].dt.month)
    by_month = first.groupby("month")["elig"].mean()
    assert by_month.loc[1] > 1.8 * by_month.drop(1).mean()


def test_drift_payer_auth_denials_rise_after_change(world: World) -> None:
    drift = world.meta["drift"]
    lo, hi = drift["codes"][0].split("-")
    first = _first_remits(world)
    first = first[first["payer_id"] == drift["payer_id"]]
    lines = world.tables["claim_lines"]
    family = lines.loc[lines["procedure_code"].between(lo, hi), "claim_id"].unique()
    first = first[first["claim_id"].isin(family)]
    rows = _denial_rows(world, first)
    auth = set(rows.loc[rows["category"] == "authorization", "claim_id"])
    after = first["service_from"] >= pd.Timestamp(drift["effective_date"])
    rate_before = first.loc[~after, "claim_id"].isin(auth).mean()
    rate_after = first.loc[after, "claim_id"].isin(auth).mean()
    assert after.sum() > 50 and (~after).sum() > 50
    assert rate_after > rate_before + 0.3, (rate_before, rate_after)


def test_procedure_codes_heavy_tailed(world: World) -> None:
    counts = world.tables["claim_lines"]["procedure_code"].value_counts()
    assert len(counts) >= 1_000
    top = counts.iloc[: len(counts) // 100].sum() / counts.sum()
    assert top > 0.25, top
    assert world.tables["claims"]["diagnosis_codes"].str.split("|").explode().nunique() >= 3_000


def test_replacements_and_voids_point_at_original_claims(world: World) -> None:
    claims = world.tables["claims"]
    derived = claims[claims["frequency_code"].isin(["7", "8"])]
    assert (derived["frequency_code"] == "7").sum() > 100 and (derived["frequency_code"] == "8").any()
    originals = claims.set_index("claim_id")
    assert derived["original_claim_id"].isin(originals.index).all()
    assert (originals.loc[derived["original_claim_id"], "frequency_code"] == "1").all()
    assert (originals.loc[derived["original_claim_id"], "patient_id"].to_numpy() == derived["patient_id"]).all()
    assert claims.loc[claims["frequency_code"] == "1", "original_claim_id"].isna().all()


def test_worked_denials_are_bigger(world: World) -> None:
    first = _first_remits(world)
    denied = sorted(_denied_ids(world, first))
    rows = _denial_rows(world, first)
    amount = rows.groupby("claim_id")["amount"].sum().reindex(denied)
    charge = first.set_index("claim_id")["total_charge"].reindex(denied)
    amount = amount.fillna(charge)
    worked = amount.index.isin(world.tables["followups"]["claim_id"])
    assert worked.sum() > 500 and (~worked).sum() > 500
    assert amount[worked].median() > amount[~worked].median()
    truth = world.truth["denials"]
    assert truth["p_recover_if_worked"].between(0, 1).all()
    assert set(world.tables["followups"]["claim_id"]) <= set(truth["claim_id"])


def test_nothing_dated_after_history_end(world: World) -> None:
    end = pd.Timestamp(world.meta["history_end"])
    for name, df in world.tables.items():
        for col in TABLES[name].columns:
            if col.kind == "date":
                assert not (df[col.name] > end).any(), (name, col.name)
    followups = world.tables["followups"]
    assert followups.loc[followups["outcome"] == "pending", "outcome_date"].isna().all()
    # claims submitted close to the end are still waiting for their remit
    claims = world.tables["claims"]
    assert (~claims["claim_id"].isin(world.tables["remits"]["claim_id"])).mean() > 0.01


def test_written_payer_rules_load_and_miss_the_drift(tmp_path: Path) -> None:
    from features.contract.payer_rules import load_payer_rules

    small = generate_world(claims=5_000, months=12, seed=3)
    write_world(small, out_dir=tmp_path, fmt="parquet")
    rules = load_payer_rules(data_dir=tmp_path)
    drift = small.meta["drift"]
    entry = small.payer_rules["payers"][drift["payer_id"]]
    rule = rules.lookup(payer_id=drift["payer_id"], plan_type=None)
    assert rule.timely_filing_days == entry["timely_filing_days"]
    assert rule.plan_type == "commercial"
    assert not rule.requires_auth("97110")  # the team's file holds the old list
    meta = json.loads((tmp_path / "truth" / "world.json").read_text())
    assert meta["drift"]["family"] == drift["family"] and meta["seed"] == 3


def test_the_written_code_set_lists_the_codes_payers_deny_as_deleted(world: World) -> None:
    """The rule file's code_terminated is the generator's retired codes: every original claim denied CARC 181
    bills one on or after its date, and most claims that do are denied so."""
    deleted = world.payer_rules["defaults"]["code_terminated"]
    assert deleted
    claims = world.tables["claims"]
    originals = claims.loc[claims["frequency_code"] == "1", ["claim_id", "service_from"]]
    lines = world.tables["claim_lines"].merge(originals, on="claim_id")
    cut = pd.to_datetime(lines["procedure_code"].map(deleted))
    lines["terminated"] = pd.to_datetime(lines["service_from"]) >= cut  # an unlisted code: NaT, never
    terminated = lines.groupby("claim_id")["terminated"].any()
    adj = world.tables["adjustments"]
    invalid = terminated.index.isin(adj.loc[adj["carc"] == "181", "claim_id"])
    assert invalid.sum() >= 20
    assert terminated[invalid].all()
    assert invalid[terminated.to_numpy()].mean() > 0.5
    listed = lines["procedure_code"].isin(list(deleted))
    assert not lines.loc[listed, "terminated"].all()  # listed codes were billed before their date too


def _rank_auc(score: pd.Series, label: pd.Series) -> float:
    """Mann-Whitney AUC with average ranks for ties (independent of knowable.rank_auc)."""
    ranks = score.rank(method="average")
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    return float((ranks[label.to_numpy()].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.mark.slow  # Monte Carlo over redrawn hidden flags
def test_knowable_oracle_matches_monte_carlo_over_hidden_flags() -> None:
    """Averaging p_denial over fresh hidden flags (and patient lapse latents) converges to the analytic oracle."""
    state = claim_state(claims=3_000, months=12, seed=4)
    world, claims, lines = state.world, state.claims, state.lines
    # the helper's code path is the generator's: on the realized flags it gives the truth p_denial
    # (the truth's first rows; the new claims sent after MA130 follow them)
    truth = generate_world(claims=3_000, months=12, seed=4).truth["claims"].head(len(claims))
    assert np.array_equal(realized_p_denial(claims, lines, world), truth["p_denial"].to_numpy())
    knowable = p_denial_knowable(claims, lines, world)
    assert np.array_equal(knowable, truth["p_denial_knowable"].to_numpy())
    rng = np.random.default_rng(2024)
    draws = 600
    total = np.zeros(len(claims))
    for _ in range(draws):
        total += realized_p_denial(*redraw_hidden(rng, claims, lines, world), world)
    err = total / draws - knowable
    assert np.abs(err).mean() < 0.005, np.abs(err).mean()
    assert np.abs(err).max() < 0.08, np.abs(err).max()
    assert abs(err.mean()) < 0.002, err.mean()
    assert np.corrcoef(total / draws, knowable)[0, 1] > 0.999


def test_knowable_oracle_is_a_calibrated_ceiling_below_clairvoyance(world: World) -> None:
    truth = world.truth["claims"]
    knowable, clairvoyant, denied = truth["p_denial_knowable"], truth["p_denial"], truth["denied"]
    assert knowable.between(0, 1).all() and knowable.notna().all()
    assert abs(knowable.mean() - clairvoyant.mean()) < 0.005, (knowable.mean(), clairvoyant.mean())
    assert abs(knowable.mean() - denied.mean()) < 0.01
    auc_k, auc_c = _rank_auc(knowable, denied), _rank_auc(clairvoyant, denied)
    assert 0.75 < auc_k < auc_c, (auc_k, auc_c)
    assert world.meta["oracle_auc"] == pytest.approx({"clairvoyant": auc_c, "knowable": auc_k}, abs=1e-6)
