"""`claim_chunks` hands each run of claims exactly the source rows a scan of every row would pick, in table order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.columns import claim_chunks


@given(
    n_claims=st.integers(0, 40),
    line_claims=st.lists(st.integers(-3, 45), max_size=120),
    size=st.integers(1, 50),
)
def test_each_chunk_gets_its_claims_rows_in_table_order(n_claims: int, line_claims: list[int], size: int) -> None:
    ids = np.array([f"C{i}" for i in range(n_claims)], dtype=object)
    # lines of claims in `ids`, of claims that are not (C40.., and X.. ids), in any order
    names = [f"C{c}" if c >= 0 else f"X{c}" for c in line_claims]
    lines = pd.DataFrame({"claim_id": pd.Series(names, dtype="str"), "row": np.arange(len(names))})
    chunks = list(claim_chunks(ids, [lines, lines.iloc[::-1].reset_index(drop=True)], size=size))
    assert [start for start, _ in chunks] == list(range(0, n_claims, size))
    for start, (forward, backward) in chunks:
        wanted = {f"C{i}" for i in range(start, min(start + size, n_claims))}
        for got, source in ((forward, lines), (backward, lines.iloc[::-1].reset_index(drop=True))):
            expected = source[source["claim_id"].isin(wanted).to_numpy()]  # the scan, in the source's order
            assert got["row"].tolist() == expected["row"].tolist()
