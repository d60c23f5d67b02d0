"""The pyx12 comparison builds a valid, larger 837 from a public sample (pyx12 itself is optional)."""

from __future__ import annotations

import pytest

from claimsight.x12_compare import DEFAULT_SAMPLE, repeated_837
from features.contract.x12.claims_837 import claims_from_837
from features.contract.x12.segments import Transaction, read_transactions


def test_the_repeated_sample_is_one_valid_transaction_with_that_many_claims() -> None:
    if not DEFAULT_SAMPLE.exists():
        pytest.skip(f"the public X12 samples are not at {DEFAULT_SAMPLE.parent}")
    (tx,) = read_transactions(repeated_837(DEFAULT_SAMPLE.read_text(), 25), file="t")
    assert isinstance(tx, Transaction)
    claims = claims_from_837(tx).claims
    assert len(claims) == 25 and len({c["claim_id"] for c in claims}) == 25
    hl_ids = [s.get(1) for s in tx.segments if s.id == "HL"]
    assert len(hl_ids) == len(set(hl_ids)) == 1 + 2 * 25  # billing provider, then subscriber + patient per claim
