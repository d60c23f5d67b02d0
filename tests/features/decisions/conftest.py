"""Code tables and payer rules shared by the decision-rule tests: the shipped rules and a team's overrides."""

from __future__ import annotations

import pytest

from features.contract.codes import CodeTables, load_code_tables
from features.contract.payer_rules import PayerRules, load_payer_rules

TEAM_RULES = """\
version: 1
payers:
  "P0001":
    plan_type: commercial
    appeal_window_days: {1: 30}
    deadline_buffer_days: 3
    guardrails:
      - name: p0001_no_timely_filing_appeals
        carcs: ["29"]
        appeal_rights: false
        action: write_off
        note: "Contract: timely filing denials are final"
  "P0002":
    plan_type: medicaid
    corrected_claim_window_days: 45
guardrails:
  - name: patient_responsibility
    group_codes: [PR]
    carcs: ["1"]
    appeal_rights: false
    action: bill_patient
"""


@pytest.fixture(scope="module")
def codes() -> CodeTables:
    return load_code_tables()


@pytest.fixture(scope="module")
def shipped() -> PayerRules:
    return load_payer_rules()


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> PayerRules:
    data_dir = tmp_path_factory.mktemp("team")
    (data_dir / "payer_rules.yaml").write_text(TEAM_RULES, encoding="utf-8")
    return load_payer_rules(data_dir=data_dir)
