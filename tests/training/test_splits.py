"""The time split: learn, calibrate and evaluate on mature months in that order, the young months left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.splits import NotEnoughHistory, choose_split


def claims_and_labels(*, months: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Claims over `months` months (a few replacements among them); every month's originals answered except in
    the last two, which payers have answered only in part."""
    rng = np.random.default_rng(seed)
    n = months * 40
    submitted = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, months * 30, n)), unit="D")
    claims = pd.DataFrame(
        {
            "claim_id": pd.array([f"C{i:05d}" for i in range(n)], dtype="string[pyarrow]"),
            "frequency_code": pd.array(rng.choice(["1", "7"], n, p=[0.9, 0.1]), dtype="string[pyarrow]"),
            "submitted_at": submitted,
        }
    )
    young = submitted >= submitted.max() - pd.Timedelta(days=45)
    answered = ~young | (rng.random(n) < 0.5)
    return claims, pd.DataFrame({"claim_id": claims["claim_id"][answered].to_numpy()})


@pytest.mark.parametrize("seed", [1, 2])
def test_the_split_reads_each_months_answered_share_literally(seed: int) -> None:
    claims, labels = claims_and_labels(months=14, seed=seed)
    split = choose_split(claims, labels)
    # the literal reading: per month, the share of original claims with a label
    known = set(labels["claim_id"])
    originals = claims[claims["frequency_code"] == "1"]
    share: dict[str, list[bool]] = {}
    for cid, at in zip(originals["claim_id"], originals["submitted_at"], strict=True):
        share.setdefault(at.strftime("%Y-%m"), []).append(cid in known)
    months = sorted(share)
    mature = [m for m in months if np.mean(share[m]) >= 0.95]
    last = months.index(mature[-1])
    assert split.evaluate == tuple(months[last - 2 : last + 1])
    assert split.calibrate == tuple(months[last - 4 : last - 2])
    assert split.learn == tuple(months[: last - 4])
    assert split.immature == tuple(months[last + 1 :]) and split.immature


def test_too_short_a_history_is_refused_with_what_it_needs() -> None:
    claims, labels = claims_and_labels(months=6, seed=3)
    with pytest.raises(NotEnoughHistory, match="need at least 8 mature months"):
        choose_split(claims, labels)


@pytest.mark.parametrize("seed", [3, 4])
def test_each_claims_role_is_its_months_role_and_a_month_outside_the_split_is_unused(seed: int) -> None:
    claims, labels = claims_and_labels(months=14, seed=seed)
    split = choose_split(claims, labels)
    rng = np.random.default_rng(seed)
    months = claims["submitted_at"].dt.strftime("%Y-%m").to_numpy(dtype=object)
    months[rng.random(len(months)) < 0.05] = None  # a claim without a submission day
    months[rng.random(len(months)) < 0.05] = "1999-01"  # and one from before the history
    roles = split.role(pd.Series(months, index=pd.RangeIndex(7, 7 + len(months))))
    literal = []
    for m in months:  # one claim at a time: which of the split's lists holds its month
        found = [r for r, ms in (("learn", split.learn), ("calibrate", split.calibrate), ("evaluate", split.evaluate))
                 if m in ms]  # fmt: skip
        literal.append(found[0] if found else "unused")
    assert roles.tolist() == literal
    assert roles.index.equals(pd.RangeIndex(7, 7 + len(months)))
    assert {"learn", "calibrate", "evaluate", "unused"} <= set(literal)
