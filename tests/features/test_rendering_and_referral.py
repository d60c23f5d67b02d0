"""An absent rendering NPI is the billing provider; an absent referral is missing only where the plan asks for one.

In an 837P the rendering provider loop is sent only when the rendering clinician differs from the billing
provider, and only some plans ask for referral numbers (the payer rule `referral_required`: shipped true for
managed_medicaid and medicare_advantage, a team may set it per payer or plan type).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.codes import load_code_tables
from features.contract.labels import compute_labels
from features.contract.payer_rules import PayerRules, load_payer_rules
from features.denial_feature_defs import FEATURE_NAMES
from features.denial_features import DenialFeatureBuilder, FeatureSet
from tests.factories import History

SOLO = "1000000001"  # bills under their own NPI: no rendering loop
OTHER = "1234567893"  # a clinician whose claims name them as rendering provider


def _history() -> dict[str, pd.DataFrame]:
    h = History()
    for i in range(6):  # the solo clinician's claims: denied
        h.claim(f"S{i}", submitted=f"2024-01-{10 + i}", service=f"2024-01-{5 + i}")
        h.remit(f"S{i}", date="2024-02-20", status="4")
    for i in range(6):  # another clinician's claims: paid
        h.claim(f"O{i}", submitted=f"2024-01-{10 + i}", service=f"2024-01-{5 + i}", rendering_npi=OTHER)
        r = h.remit(f"O{i}", date="2024-02-20", status="1", paid=80.0)
        h.adj(f"O{i}", r, "CO", "45", 20.0, line=1)
    h.claim("Q_absent", submitted="2024-04-10", service="2024-04-01")
    h.claim("Q_same", submitted="2024-04-10", service="2024-04-01", rendering_npi=SOLO)
    h.claim("Q_other", submitted="2024-04-10", service="2024-04-01", rendering_npi=OTHER)
    h.claim("Q_commercial", submitted="2024-04-10", service="2024-04-01", plan_type="commercial")
    h.claim("Q_hmo", submitted="2024-04-10", service="2024-04-01", plan_type="managed_medicaid")
    h.claim(
        "Q_hmo_ref", submitted="2024-04-10", service="2024-04-01", plan_type="managed_medicaid", referral_number="R1"
    )
    return h.validated().tables


def _features(rules: PayerRules | None = None) -> tuple[FeatureSet, pd.DataFrame]:
    tables = _history()
    codes = load_code_tables()
    labels = compute_labels(tables, codes=codes)
    rules = load_payer_rules() if rules is None else rules
    builder = DenialFeatureBuilder().fit(tables=tables, labels=labels, rules=rules, codes=codes)
    queries = tables["claims"][tables["claims"]["claim_id"].str.startswith("Q")].reset_index(drop=True)
    fs = builder.transform(claims=queries, lines=tables["claim_lines"])
    return fs, fs.frame().set_index(pd.Index(queries["claim_id"]))


def test_absent_rendering_npi_is_the_billing_provider_not_a_missing_field() -> None:
    fs, x = _features()
    assert "rendering_missing" not in FEATURE_NAMES
    provider = [c for c in x.columns if c.startswith(("provider_", "provider_proc_"))]
    # the solo clinician's own history, exactly as if the export had repeated the billing NPI
    np.testing.assert_array_equal(x.loc[["Q_absent"], provider].to_numpy(), x.loc[["Q_same"], provider].to_numpy())
    assert float(x.at["Q_absent", "provider_rate"]) > float(x.at["Q_other", "provider_rate"])  # denied vs paid
    context = fs.context_frame(np.arange(len(x))).set_index(x.index)
    assert str(context.at["Q_absent", "rendering_npi"]) == SOLO
    assert "rendering" not in str(context.at["Q_absent", "missing_text"])


def test_absent_referral_counts_only_where_the_plan_requires_one() -> None:
    fs, x = _features()
    assert "has_referral" not in FEATURE_NAMES
    flag = x["referral_missing_where_required"]
    assert float(flag["Q_commercial"]) == 0.0  # commercial plans ask for no referral: nothing is missing
    assert float(flag["Q_hmo"]) == 1.0  # managed Medicaid wants one for the claim
    assert float(flag["Q_hmo_ref"]) == 0.0
    context = fs.context_frame(np.arange(len(x))).set_index(x.index)
    assert "referral" not in str(context.at["Q_commercial", "missing_text"])
    assert "referral" in str(context.at["Q_hmo", "missing_text"])


def test_a_payers_rule_decides_whether_a_referral_is_required(tmp_path: Path) -> None:
    """A team whose commercial HMO asks for referrals says so in its payer rules, and the features follow."""
    (tmp_path / "payer_rules.yaml").write_text(
        "version: 1\nplan_types:\n"
        "  commercial: {referral_required: true}\n"
        "  managed_medicaid: {referral_required: false}\n",
        encoding="utf-8",
    )
    _, x = _features(load_payer_rules(data_dir=tmp_path))
    flag = x["referral_missing_where_required"]
    assert float(flag["Q_commercial"]) == 1.0 and float(flag["Q_hmo"]) == 0.0
