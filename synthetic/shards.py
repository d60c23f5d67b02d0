"""A synthetic history bigger than memory: generated in shards that share one practice, written a shard at a time.

Generating ten million claims at once needs about 26 GiB: every stage holds arrays over all the claims. But patients
are independent of one another given the practice (its code catalogs, payers and their rules, clinicians,
facilities and the payers' drift). So a big world is a sequence of shards of at most ``SHARD_CLAIMS`` original
claims each: a shard draws the practice from the seed exactly as shard 0 does, and its own patients, claims and
outcomes from streams of its own (``synthetic.stage_rngs``). Its claim, patient and remit numbers then continue
where the shards before it stopped, and its rows are appended to the files (``synthetic.write_parts``), so memory
is one shard's whatever the size. A world of at most one shard is ``generate_world``'s, byte for byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from synthetic import World, generate_world
from synthetic.strings import id_array, series

__all__ = ["SHARD_CLAIMS", "generate_shards", "renumber", "shard_sizes"]

SHARD_CLAIMS = 1_000_000  # original claims per shard: about 3 GiB to generate one

# (table, column) -> the id's prefix, its zero-padded width, and the counter it continues
_IDS: dict[tuple[str, str], tuple[str, int, str]] = {
    ("claims", "claim_id"): ("C", 9, "claims"),
    ("claims", "original_claim_id"): ("C", 9, "claims"),
    ("claims", "patient_id"): ("PT", 8, "patients"),
    ("claim_lines", "claim_id"): ("C", 9, "claims"),
    ("remits", "claim_id"): ("C", 9, "claims"),
    ("remits", "remit_id"): ("R", 10, "remits"),
    ("adjustments", "claim_id"): ("C", 9, "claims"),
    ("adjustments", "remit_id"): ("R", 10, "remits"),
    ("followups", "claim_id"): ("C", 9, "claims"),
}
_TRUTH_IDS: dict[tuple[str, str], tuple[str, int, str]] = {
    ("claims", "claim_id"): ("C", 9, "claims"),
    ("denials", "claim_id"): ("C", 9, "claims"),
}


def shard_sizes(claims: int, *, shard_claims: int = SHARD_CLAIMS) -> list[int]:
    """``claims`` split into as few shards of at most ``shard_claims`` as will hold them, as even as can be."""
    if claims < 1 or shard_claims < 1:
        raise ValueError("claims and shard_claims must be at least 1")
    n = -(-claims // shard_claims)
    base, extra = divmod(claims, n)
    return [base + (i < extra) for i in range(n)]


def generate_shards(
    *,
    claims: int,
    months: int,
    seed: int,
    start: dt.date = dt.date(2023, 1, 1),
    shard_claims: int = SHARD_CLAIMS,
    progress: Callable[[str, int, int], None] | None = None,
) -> Iterator[World]:
    """The world of ``claims`` original claims, one shard at a time, each renumbered to follow the ones before.

    ``progress(stage, done, total)`` hears of each shard (the command line's `features.progress` view)."""
    sizes = shard_sizes(claims, shard_claims=shard_claims)
    counters = {"claims": 0, "patients": 0, "remits": 0}
    for k, size in enumerate(sizes):
        if progress is not None:
            progress("generating shards", k, len(sizes))
        world = generate_world(claims=size, months=months, seed=seed, start=start, shard=k)
        here = {
            "claims": len(world.tables["claims"]),
            "patients": int(world.meta["entities"]["patients"]),
            "remits": len(world.tables["remits"]),
        }
        if k:
            world = renumber(world, offsets=counters)
        if len(sizes) > 1:  # a world of one shard is generate_world's, world.json included
            world.meta["shard"] = {
                "index": k,
                "of": len(sizes),
                "claims": size,
                **{f"first_{c}": counters[c] for c in here},
            }
        counters = {c: counters[c] + here[c] for c in counters}
        yield world
    if progress is not None:
        progress("generating shards", len(sizes), len(sizes))


def renumber(world: World, *, offsets: dict[str, int]) -> World:
    """``world`` with its claim, patient and remit numbers moved up by ``offsets`` (same prefix and width)."""

    def shifted(frames: dict[str, pd.DataFrame], ids: dict[tuple[str, str], tuple[str, int, str]]) -> dict:
        out = {}
        for name, df in frames.items():
            df = df.copy(deep=False)
            for (table, column), (prefix, width, counter) in ids.items():
                if table == name and offsets[counter]:
                    df[column] = _shift(df[column], prefix=prefix, width=width, by=offsets[counter])
            out[name] = df
        return out

    return dataclasses.replace(world, tables=shifted(world.tables, _IDS), truth=shifted(world.truth, _TRUTH_IDS))


def _shift(ids: pd.Series, *, prefix: str, width: int, by: int) -> pd.Series:
    arr = pa.array(ids, type=pa.string(), from_pandas=True)
    numbers = pc.cast(pc.utf8_slice_codeunits(arr, len(prefix)), pa.int64())
    missing = np.asarray(numbers.is_null(), dtype=bool)
    values = np.asarray(numbers.fill_null(0), dtype=np.int64) + by
    if len(values) and int(values.max()) >= 10**width:
        raise ValueError(f"{prefix} numbers outgrow {width} digits")
    return series(id_array(prefix, values, width=width, mask=missing if missing.any() else None))
