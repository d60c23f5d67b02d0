from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.contract.frames import member

ids = st.lists(st.one_of(st.none(), st.sampled_from(["A", "B", "C1", "c1", "", "Z-9"])), max_size=30)


@given(values=ids, pool=ids)
def test_member_equals_pandas_isin(values: list[str | None], pool: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    expected = s.isin([p for p in pool if p is not None]).fillna(False).to_numpy(dtype=bool) & s.notna().to_numpy()
    assert (member(s, pd.Series(pool, dtype="string")) == expected).all()
    assert (member(s, pd.Index(pool, dtype="string")) == expected).all()
