"""Measure ClaimSight's X12 reader against pyx12, the maintained validating parser (issue 13 asks for both).

    pip install pyx12   # not a ClaimSight dependency: only this measurement uses it
    python -m claimsight.x12_compare [CLAIMS] [SAMPLE.837]

One public 837P sample's claim loop is repeated CLAIMS times (default 2,000) in one transaction; the script
times this reader plus the 837 mapping, pyx12's ``X12Reader`` (segments and envelope checks only) and pyx12's
validation against its 5010 map. It prints claims per second for each.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from features.contract.x12.claims_837 import claims_from_837
from features.contract.x12.segments import read_transactions

DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "x12-samples" / "837" / "lfh_837p_x222a2_example1.837"


def repeated_837(sample: str, claims: int) -> str:
    """The sample with its subscriber/claim loops repeated, HL ids renumbered, SE recounted (guide X222A1,
    the version pyx12 4.0 ships a map for)."""
    text = sample.replace("\n", "").replace("\r", "")
    st, se, ge = text.index("ST*"), text.index("SE*"), text.index("GE*")
    body = text[st:se]
    first_subscriber = body.index("HL*2*")
    head, loop = body[:first_subscriber], body[first_subscriber:]
    clm = loop.split("CLM*", 1)[1].split("*", 1)[0]
    parts, next_id = [], 2
    for i in range(claims):
        renamed: dict[str, str] = {"1": "1"}
        for segment in loop.replace(f"CLM*{clm}*", f"CLM*C{i:07d}*").split("~"):
            if segment.startswith("HL*"):
                fields = segment.split("*")
                renamed[fields[1]], fields[1] = str(next_id), str(next_id)
                fields[2] = renamed.get(fields[2], fields[2])
                next_id += 1
                segment = "*".join(fields)
            parts.append(segment)
    repeated = "~".join(p for p in parts if p) + "~"
    transaction = head + repeated
    count = transaction.count("~") + 1
    return (text[:st] + transaction + f"SE*{count}*{body.split('*')[2].split('~')[0]}~" + text[ge:]).replace(
        "005010X222A2", "005010X222A1"
    )


def main(argv: list[str]) -> None:
    claims = int(argv[0]) if argv else 2000
    sample = Path(argv[1]) if len(argv) > 1 else DEFAULT_SAMPLE
    text = repeated_837(sample.read_text(), claims)
    t = time.perf_counter()
    mapped = [claims_from_837(tx) for tx in read_transactions(text, file="bench") if not hasattr(tx, "rule")]
    ours = time.perf_counter() - t
    print(f"ClaimSight reader + 837 mapping: {len(mapped[0].claims):,} claims, {claims / ours:,.0f} claims/s")
    try:
        import pyx12.error_handler
        import pyx12.params
        import pyx12.x12file
        import pyx12.x12n_document
    except ImportError:
        print("pyx12 is not installed (pip install pyx12): its figures are skipped")
        return
    t = time.perf_counter()
    segments = sum(1 for _ in pyx12.x12file.X12Reader(io.StringIO(text)))
    raw = time.perf_counter() - t
    print(f"pyx12 X12Reader (segments and envelope checks): {segments:,} segments, {claims / raw:,.0f} claims/s")
    t = time.perf_counter()
    valid = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None, fd_html=None, fd_xmldoc=None,
        map_path=None,
    )  # fmt: skip
    full = time.perf_counter() - t
    print(f"pyx12 validation against the 5010 map: {claims / full:,.0f} claims/s (valid: {valid})")


if __name__ == "__main__":
    main(sys.argv[1:])
