from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from features.contract.frames import differs_from_owner, member

ids = st.lists(st.one_of(st.none(), st.sampled_from(["A", "B", "C1", "c1", "", "Z-9"])), max_size=30)


@given(values=ids, pool=ids)
def test_member_equals_pandas_isin(values: list[str | None], pool: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    expected = s.isin([p for p in pool if p is not None]).fillna(False).to_numpy(dtype=bool) & s.notna().to_numpy()
    assert (member(s, pd.Series(pool, dtype="string")) == expected).all()
    assert (member(s, pd.Index(pool, dtype="string")) == expected).all()


@given(data=st.data(), n=st.integers(0, 30), n_owners=st.integers(0, 12))
def test_differs_from_owner_is_the_pandas_map_and_compare(data: st.DataObject, n: int, n_owners: int) -> None:
    """The validation rule "remit_id: belongs to another claim", as it was written with `map` (first owner wins)."""
    one = st.one_of(st.none(), st.sampled_from(["A", "B", "C1", "c1", "", "Z-9"]))
    rows = pd.DataFrame(
        {
            "claim_id": data.draw(st.lists(one, min_size=n, max_size=n)),
            "remit_id": data.draw(st.lists(one, min_size=n, max_size=n)),
        },
        dtype="string",
    )
    remits = pd.DataFrame(
        {
            "remit_id": data.draw(st.lists(one, min_size=n_owners, max_size=n_owners)),
            "claim_id": data.draw(st.lists(one, min_size=n_owners, max_size=n_owners)),
        },
        dtype="string",
    )
    first = remits.dropna(subset=["remit_id"]).drop_duplicates("remit_id")
    owner = rows["remit_id"].map(first.set_index("remit_id")["claim_id"])
    expected = (
        (owner.notna() & rows["claim_id"].notna() & (owner != rows["claim_id"])).fillna(False).to_numpy(dtype=bool)
    )
    got = differs_from_owner(rows["claim_id"], rows["remit_id"], owner_keys=first["remit_id"], owners=first["claim_id"])
    assert got.dtype == bool and (got == expected).all()
