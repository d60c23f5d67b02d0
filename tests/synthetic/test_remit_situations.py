"""Real-world remittance situations the synthetic world emits (issue 18), each found in a small world's tables.

Non-covered liability (CO-96 / PR-96 with the advance beneficiary notice, CO-B7), Medicare records not
received (CO-50 M127) recovered by redetermination, MIPS payment adjustments on paid Medicare claims
(CO-237 / CO-144 with N807), lines held for review (OA-133) then settled, and a NEW claim after MA130.
"""

from __future__ import annotations

import pandas as pd
import pytest

from synthetic import World, generate_world


@pytest.fixture(scope="module")
def world() -> World:
    """The session small world's parameters (tests/conftest.py), in memory."""
    return generate_world(claims=30_000, months=15, seed=5)


def _key(adj: pd.DataFrame) -> pd.Series:
    return adj["group_code"] + "-" + adj["carc"] + "/" + adj["remark_codes"].fillna("")


def _ordered(world: World) -> pd.DataFrame:
    return world.tables["remits"].sort_values(["claim_id", "remit_date", "remit_id"], kind="stable")


def _with_claims(world: World, adj: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return adj.merge(world.tables["claims"][["claim_id", *cols]], on="claim_id")


def _has(modifiers: pd.Series, code: str) -> pd.Series:
    return modifiers.fillna("").str.split("|").apply(lambda mods: code in mods)


def test_medicare_noncovered_liability_follows_the_advance_notice(world: World) -> None:
    adj, lines = world.tables["adjustments"], world.tables["claim_lines"]
    first = _ordered(world).drop_duplicates("claim_id")
    rows = adj[(adj["carc"] == "96") & adj["line_number"].notna() & adj["remit_id"].isin(first["remit_id"])]
    rows = _with_claims(world, rows, "plan_type").merge(
        lines[["claim_id", "line_number", "modifiers"]], on=["claim_id", "line_number"]
    )
    medicare = rows[rows["plan_type"] == "medicare"]
    ga = _has(medicare["modifiers"], "GA")
    assert (ga & (medicare["group_code"] == "PR")).sum() >= 20  # ABN signed: the patient's to pay
    assert (~ga & (medicare["group_code"] == "CO")).sum() >= 20  # no notice: the provider's loss
    assert ((medicare["group_code"] == "PR") == ga).all()  # each line answers to its own notice
    # commercial PR-96 is the member's plan exclusion: no GA there (an ABN is a Medicare form)
    commercial = rows[rows["plan_type"] == "commercial"]
    assert (commercial["group_code"] == "PR").any() and not _has(commercial["modifiers"], "GA").any()
    assert _has(lines["modifiers"], "GA").sum() < 0.01 * len(lines)


def test_provider_not_certified_now_and_then(world: World) -> None:
    adj = world.tables["adjustments"]
    b7 = adj[_key(adj) == "CO-B7/"]
    claims = b7["claim_id"].nunique()
    assert 10 <= claims <= 0.01 * len(world.tables["claims"]), claims
    lines = world.tables["claim_lines"].merge(b7[["claim_id", "line_number"]].drop_duplicates())
    # a lapsed lab (CLIA) or imaging certification: every such claim has a lab or imaging line denied B7
    certified = lines["procedure_code"].str.fullmatch(r"[78]\d{4}")
    assert certified.groupby(lines["claim_id"]).any().all()


def test_medicare_records_not_received_recovered_by_redetermination(world: World) -> None:
    adj, followups, remits = world.tables["adjustments"], world.tables["followups"], world.tables["remits"]
    m127 = _with_claims(world, adj[_key(adj) == "CO-50/M127"], "plan_type")
    assert m127["claim_id"].nunique() >= 10
    assert (m127["plan_type"] == "medicare").all()
    worked = followups[followups["claim_id"].isin(m127["claim_id"])]
    assert len(worked) >= 5
    assert worked["action"].isin(["appeal", "reconsideration"]).all()
    first_level = worked[worked["level"] == 1]
    answered = first_level[first_level["outcome"].isin(["overturned", "partial", "upheld", "no_response"])]
    assert (answered["outcome"].isin(["overturned", "partial"])).mean() > 0.5
    # a won redetermination is paid on the same claim, after the denial
    won = answered.loc[answered["outcome"].isin(["overturned", "partial"]), "claim_id"]
    paid_later = remits[remits["claim_id"].isin(won) & (remits["paid_amount"] > 0)]
    assert paid_later["claim_id"].nunique() == won.nunique()


def test_mips_adjustments_on_paid_medicare_claims(world: World) -> None:
    adj, remits, lines = world.tables["adjustments"], world.tables["remits"], world.tables["claim_lines"]
    adj = adj[~adj["remit_id"].isin(remits.loc[remits["status_code"] == "22", "remit_id"])]  # reversals negate
    key = _key(adj)
    mips = _with_claims(world, adj[key.isin(["CO-237/N807", "CO-144/N807"])], "plan_type", "claim_type")
    assert (mips["plan_type"] == "medicare").all() and (mips["claim_type"] == "professional").all()
    penalty, incentive = mips[mips["carc"] == "237"], mips[mips["carc"] == "144"]
    assert penalty["claim_id"].nunique() >= 50 and incentive["claim_id"].nunique() >= 50
    assert (penalty["amount"] > 0).all() and (incentive["amount"] < 0).all()
    # a payment adjustment on a paid line: 0.1-9% of what the line was allowed (charge less CO-45)
    co45 = adj[key == "CO-45/"].set_index(["remit_id", "line_number"])["amount"]
    charge = lines.set_index(["claim_id", "line_number"])["charge"]
    allowed = (
        charge.reindex(pd.MultiIndex.from_frame(mips[["claim_id", "line_number"]])).to_numpy()
        - co45.reindex(pd.MultiIndex.from_frame(mips[["remit_id", "line_number"]])).fillna(0).to_numpy()
    )
    share = mips["amount"].abs().to_numpy() / allowed
    assert (share > 0).all() and (share <= 0.09).all(), (share.min(), share.max())
    on = remits.set_index("remit_id").loc[mips["remit_id"].unique()]
    assert (on["paid_amount"] != 0).all() and not on["status_code"].eq("4").any()  # not denials


def test_held_lines_are_settled_later_on_the_same_claim(world: World) -> None:
    adj, remits = world.tables["adjustments"], world.tables["remits"]
    holds = adj[(adj["group_code"] == "OA") & (adj["carc"] == "133")]
    hold_remits = holds.loc[holds["amount"] > 0, "remit_id"].unique()
    release_remits = holds.loc[holds["amount"] < 0, "remit_id"].unique()
    assert len(hold_remits) >= 50
    ordered = _ordered(world)
    first = ordered.drop_duplicates("claim_id").set_index("claim_id")
    held = remits[remits["remit_id"].isin(hold_remits)]
    assert (first.loc[held["claim_id"], "remit_id"].to_numpy() == held["remit_id"].to_numpy()).all()  # first remit
    assert (held["paid_amount"] == 0).all()
    settled = ordered[ordered["claim_id"].isin(held["claim_id"]) & ~ordered["remit_id"].isin(hold_remits)]
    release = settled[settled["remit_id"].isin(release_remits)]
    assert (release["status_code"] == "22").all() and len(release) > 0.8 * len(held)
    final = settled[~settled["remit_id"].isin(release_remits)].drop_duplicates("claim_id").set_index("claim_id")
    held_on = held.set_index("claim_id")["remit_date"]
    assert (final["remit_date"] > held_on.reindex(final.index)).all()
    assert (final["paid_amount"] > 0).sum() >= 20  # settled: paid ...
    denied = final["status_code"].eq("4") | final["paid_amount"].eq(0)
    assert denied.sum() >= 1  # ... or denied


def test_ma130_is_fixed_by_a_new_claim(world: World) -> None:
    claims, lines, adj = world.tables["claims"], world.tables["claim_lines"], world.tables["adjustments"]
    remits = world.tables["remits"]
    ma130 = adj[adj["remark_codes"].fillna("").str.split("|").apply(lambda r: "MA130" in r)]
    first = _ordered(world).drop_duplicates("claim_id")
    denied = claims[claims["claim_id"].isin(ma130.loc[ma130["remit_id"].isin(first["remit_id"]), "claim_id"])]
    assert len(denied) >= 20
    same = ["patient_id", "payer_id", "billing_npi", "service_from"]
    codes = lines.groupby("claim_id")["procedure_code"].agg(lambda c: "|".join(sorted(c)))
    key = claims[["claim_id", *same]].assign(codes=claims["claim_id"].map(codes))
    pairs = key[key["claim_id"].isin(denied["claim_id"])].merge(key, on=[*same, "codes"], suffixes=("", "_new"))
    pairs = pairs[pairs["claim_id_new"] > pairs["claim_id"]]  # sent later (ids follow generation order)
    new = claims.set_index("claim_id").loc[pairs["claim_id_new"]]
    fixes = pairs[(new["frequency_code"] == "1").to_numpy() & new["original_claim_id"].isna().to_numpy()]
    assert len(fixes) >= 10, len(fixes)
    old_sent = claims.set_index("claim_id").loc[fixes["claim_id"], "submitted_at"].to_numpy()
    assert (new.loc[fixes["claim_id_new"], "submitted_at"].to_numpy() > old_sent).all()
    fix_remits = remits[remits["claim_id"].isin(fixes["claim_id_new"])]
    assert (fix_remits["paid_amount"] > 0).mean() > 0.6  # the fix was mostly right
    # a replacement of an MA130 denial is the team's slip, and the payer says so (CO-16 N142)
    repl = claims[(claims["frequency_code"] == "7") & claims["original_claim_id"].isin(denied["claim_id"])]
    repl_adj = adj[adj["claim_id"].isin(repl["claim_id"])]
    answered = repl_adj["claim_id"].unique()
    assert set(answered) <= set(repl_adj.loc[_key(repl_adj) == "CO-16/N142", "claim_id"])
    assert len(repl) < len(fixes)
