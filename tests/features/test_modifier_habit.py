"""The modifier habit on a hand-built history: a line sent bare where the team's earlier lines of that code
nearly always carried a modifier is named, with its code and line; a line with its modifier, a code the team
bills bare, and a claim sent before any of that history was known are not."""

from __future__ import annotations

import pytest
from factories import History

from features.denial_feature_defs import FEATURE_NAMES, REASON_GROUPS
from features.history import GLOBAL_PRIOR_RATE


def test_a_bare_line_of_a_code_usually_billed_with_a_modifier_is_named() -> None:
    h = History()
    for i in range(30):  # January: knee replacements always sent with a side; office visits always bare
        cid = h.claim(f"K{i}", submitted="2024-01-10", service="2024-01-05", procedures=("99213", "27447"))
        h.rows["claim_lines"][-1]["modifiers"] = "RT" if i % 2 else "LT"
        h.remit(cid, date="2024-02-01", status="1", paid=90.0)
    h.claim("BARE", submitted="2024-03-04", service="2024-03-01", procedures=("99213", "27447"))
    h.claim("SIDED", submitted="2024-03-04", service="2024-03-01", procedures=("99213", "27447"))
    h.rows["claim_lines"][-1]["modifiers"] = "RT"
    h.claim("TOO_EARLY", submitted="2024-01-20", service="2024-01-15", procedures=("99213", "27447"))
    fs = h.denial_features(["BARE", "SIDED", "TOO_EARLY"], as_of="2024-06-30")
    share = dict(zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("modifier_habit_missing")].tolist(), strict=True))
    recent = dict(
        zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("modifier_habit_missing_recent")].tolist(), strict=True)
    )
    # 30 of 30 earlier 27447 lines had a side; shrunk level by level from the 50% of all lines, it ends near 1
    assert share["BARE"] > 0.9 and recent["BARE"] > 0.9
    assert share["SIDED"] < 0.05  # its 27447 carries RT; its bare 99213 was never billed with a modifier
    assert share["TOO_EARLY"] == pytest.approx(GLOBAL_PRIOR_RATE)  # nothing known yet: the global prior only
    record = fs.records(rows=[list(fs.claim_ids).index("BARE")])[0]
    assert (record["modifier_habit_code"], record["modifier_habit_line"]) == ("27447", 2)
    phrase = REASON_GROUPS["modifier_habit"].phrase.format(**record)
    assert phrase.startswith("line 2 (27447) is sent without a modifier, while about")
