"""A line's coding history beside the services of the claim's other lines: an E/M sent bare beside a surgery,
denied for coding every time, is named with what it was billed beside; the same E/M beside a lab test,
always paid, is not."""

from __future__ import annotations

from factories import History

from features.denial_feature_defs import FEATURE_NAMES, REASON_GROUPS


def test_an_em_sent_bare_beside_a_surgery_is_named_with_what_it_was_beside() -> None:
    h = History()
    for i in range(30):  # January: the office visit beside a knee injection is denied CO-4, beside a panel paid
        cid = h.claim(f"S{i}", submitted="2024-01-10", service="2024-01-05", procedures=("99213", "20610"))
        r = h.remit(cid, date="2024-02-01", status="1", paid=50.0)
        h.adj(cid, r, "CO", "4", 50.0, line=1)
        cid = h.claim(f"L{i}", submitted="2024-01-10", service="2024-01-05", procedures=("99213", "80053"))
        h.remit(cid, date="2024-02-01", status="1", paid=100.0)
    h.claim("BESIDE_SURGERY", submitted="2024-03-04", service="2024-03-01", procedures=("99213", "20610"))
    h.claim("BESIDE_LAB", submitted="2024-03-04", service="2024-03-01", procedures=("99213", "80053"))
    fs = h.denial_features(["BESIDE_SURGERY", "BESIDE_LAB"], as_of="2024-06-30")
    rate = dict(zip(fs.claim_ids, fs.X[:, FEATURE_NAMES.index("code_context_rate")].tolist(), strict=True))
    assert rate["BESIDE_SURGERY"] > 0.5 > 0.1 > rate["BESIDE_LAB"]
    record = fs.records(rows=[list(fs.claim_ids).index("BESIDE_SURGERY")])[0]
    phrase = REASON_GROUPS["claim_context"].phrase.format(**record)
    assert phrase.startswith("99213 with no modifier beside Surgery (line 1) is denied for coding about")
