"""The synthetic claims world: a billing practice's history generated from a causal denial mechanism.

ClaimSight needs data with known answers to develop and judge its models (an oracle to compare against,
drift to detect, recovery to rank), and real claim data is PHI. So this package simulates a practice:
payers with their own rules and a rule change the team does not know about, clinicians with their own
habits, claims with their mistakes, payers adjudicating them, and a team working the denials. Every
denial has a cause in the claim fields plus history, and ``World.truth`` records the true probabilities.
Two of them: ``p_denial`` (from the realized hidden flags, a clairvoyant ceiling) and ``p_denial_knowable``
(hidden flags and patient latents integrated out: what a perfect model of the data reaches; ``knowable.py``).

Output goes through the same writer as a user's export (``features.contract.tables_io.write_tables``); the truth
tables go to ``out_dir/truth/``, which training code must never read.

Stages, each with its own random generator spawned from one seed (same seed -> same bytes):
entities -> claims -> hazards -> pricing -> adjudication -> follow-up -> reversals/voids -> assemble.
The remittance situations added later (advance beneficiary notices, review holds, redetermination levels,
the new claim after MA130) draw from one more generator, ``situations``, so the others' streams are unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synthetic.adjudication import adjudicate_first, price_lines, reversals, void_claims
from synthetic.assemble import (
    check_dates,
    claims_frame,
    followups_frame,
    lines_frame,
    remit_frames,
    truth_frames,
)
from synthetic.books import ClaimBook, LineBook, concat
from synthetic.claims import World0, generate_claims
from synthetic.code_catalog import build_diagnoses, build_procedures
from synthetic.entities import build_facilities, build_patients, build_payers, build_providers
from synthetic.followup import work_denials
from synthetic.hazards import CAUSES, compute_hazards
from synthetic.knowable import p_denial_knowable, rank_auc
from synthetic.ledger import Ledger
from synthetic.rules import make_drift, team_payer_rules
from synthetic.timeline import iso, make_timeline
from synthetic.world_meta import OracleInputs, combined_meta

__all__ = ["ClaimState", "World", "claim_state", "generate_world", "stage_rngs", "write_parts", "write_world"]

# New stages go at the end: SeedSequence.spawn gives the first children the same seeds whatever the count,
# so adding one leaves every earlier stage's stream as it was.
_STAGES = (
    "codes",
    "entities",
    "patients",
    "claims",
    "hazards",
    "pricing",
    "adjudication",
    "followup",
    "reversals",
    "situations",
)


@dataclass
class World:
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    payer_rules: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimState:
    """The world up to the claim stage, and the generators of the stages after it."""

    rngs: dict[str, np.random.Generator]
    world: World0
    group_npis: list[str]
    claims: ClaimBook
    lines: LineBook


# The practice itself (code catalogs, payers, clinicians, facilities): one per seed, whatever the shard.
_PRACTICE_STAGES = ("codes", "entities")


def stage_rngs(seed: int, shard: int = 0) -> dict[str, np.random.Generator]:
    """One generator per stage. Shard 0 is the world as it always was; shard k > 0 (``synthetic.shards``) draws the
    practice from ``seed`` like shard 0, and its patients, claims and outcomes from streams of its own."""
    base = np.random.SeedSequence(seed).spawn(len(_STAGES))
    own = base if shard == 0 else np.random.SeedSequence([seed, shard]).spawn(len(_STAGES))
    return {
        name: np.random.default_rng(base[i] if name in _PRACTICE_STAGES else own[i]) for i, name in enumerate(_STAGES)
    }


def claim_state(
    *, claims: int, months: int, seed: int, start: dt.date = dt.date(2023, 1, 1), shard: int = 0
) -> ClaimState:
    """Entities, original claims and lines exactly as ``generate_world`` makes them (it starts from this).

    Exposed so tests can re-draw the hidden flags on the same observable state (see ``knowable.py``).
    """
    if claims < 1:
        raise ValueError("claims must be at least 1")
    rngs = stage_rngs(seed, shard)
    timeline = make_timeline(start=start, months=months)
    procedures = build_procedures(rngs["codes"], history_start=timeline.start, history_end=timeline.end)
    diagnoses = build_diagnoses(rngs["codes"])
    payers = build_payers(rngs["entities"], n_causes=len(CAUSES))
    facilities = build_facilities(rngs["entities"])
    providers, group_npis = build_providers(
        rngs["entities"], facilities=facilities, history=(timeline.start, timeline.end)
    )
    patients = build_patients(rngs["patients"], n=max(claims // 3, 50), payers=payers, reference_day=timeline.start)
    drift = make_drift(payers=payers, timeline=timeline)
    world0 = World0(
        payers=payers,
        providers=providers,
        facilities=facilities,
        patients=patients,
        procedures=procedures,
        diagnoses=diagnoses,
        timeline=timeline,
        drift=drift,
    )

    book, lines = generate_claims(rngs["claims"], world=world0, n_claims=claims, situations=rngs["situations"])
    return ClaimState(rngs=rngs, world=world0, group_npis=group_npis, claims=book, lines=lines)


def generate_world(
    *, claims: int, months: int, seed: int, start: dt.date = dt.date(2023, 1, 1), shard: int = 0
) -> World:
    """Generate ``claims`` original claims over ``months`` months of history starting at ``start``.

    ``shard``: see ``stage_rngs``; the ids start at 0 in every shard (``synthetic.shards`` renumbers them)."""
    state = claim_state(claims=claims, months=months, seed=seed, start=start, shard=shard)
    rngs, world0, group_npis, book, lines = state.rngs, state.world, state.group_npis, state.claims, state.lines
    payers, providers, facilities, procedures = world0.payers, world0.providers, world0.facilities, world0.procedures
    timeline, patients, diagnoses, drift = world0.timeline, world0.patients, world0.diagnoses, world0.drift
    n_original = len(book)
    hazards = compute_hazards(
        rngs["hazards"],
        claims=book,
        lines=lines,
        payers=payers,
        providers=providers,
        facilities=facilities,
        procedures=procedures,
    )
    knowable = p_denial_knowable(book, lines, world0)  # no random draws: leaves every other output as it was
    pay = price_lines(
        rngs["pricing"],
        claims=book,
        lines=lines,
        payers=payers,
        providers=providers,
        procedures=procedures,
        timeline=timeline,
    )
    ledger = Ledger()
    first = adjudicate_first(
        rngs["adjudication"],
        ledger=ledger,
        claims=book,
        lines=lines,
        hazards=hazards,
        pay=pay,
        payers=payers,
        procedures=procedures,
        timeline=timeline,
        situations=rngs["situations"],
    )
    followup = work_denials(
        rngs["followup"],
        ledger=ledger,
        claims=book,
        lines=lines,
        hazards=hazards,
        first=first,
        pay=pay,
        payers=payers,
        timeline=timeline,
        first_index=n_original,
        line_offset=len(lines),
        situations=rngs["situations"],
    )
    reversals(rngs["reversals"], ledger=ledger, claims=book, first=first, hazards=hazards, timeline=timeline)
    n_repl = len(followup.replacements)
    voids, void_lines = void_claims(
        rngs["reversals"],
        ledger=ledger,
        claims=book,
        lines=lines,
        first=first,
        hazards=hazards,
        payers=payers,
        timeline=timeline,
        first_index=n_original + n_repl,
        line_offset=len(lines) + len(followup.replacement_lines),
    )
    all_claims = concat([book, followup.replacements, voids])
    all_lines = concat([lines, followup.replacement_lines, void_lines])

    remits, adjustments = remit_frames(ledger, end=timeline.end)
    tables = {
        "claims": claims_frame(
            claims=all_claims,
            lines=all_lines,
            payers=payers,
            providers=providers,
            group_npis=group_npis,
            facilities=facilities,
            patients=patients,
            diagnoses=diagnoses,
        ),
        "claim_lines": lines_frame(lines=all_lines, procedures=procedures),
        "remits": remits,
        "adjustments": adjustments,
        "followups": followups_frame(followup, end=timeline.end),
    }
    check_dates(tables, timeline)
    truth = truth_frames(hazards=hazards, n_original=n_original, followup=followup, knowable=knowable)
    # Ceiling AUCs on all original claims (the truth table's rows, new claims after MA130 included) against
    # the realized first-adjudication denial: the clairvoyant p_denial sees the hidden flags;
    # p_denial_knowable is what a perfect model of the data could reach.
    t_claims = truth["claims"]
    denied0 = t_claims["denied"].to_numpy()
    oracle_auc = {
        "clairvoyant": round(rank_auc(t_claims["p_denial"].to_numpy(), denied0), 6),
        "knowable": round(rank_auc(t_claims["p_denial_knowable"].to_numpy(), denied0), 6),
    }
    cause_mix = np.bincount(hazards.cause[hazards.denied], minlength=len(CAUSES)) / max(int(hazards.denied.sum()), 1)
    meta: dict[str, Any] = {
        "generator": "synthetic",
        "seed": int(seed),
        "claims": int(claims),
        "months": int(months),
        "start": iso(timeline.start),
        "history_end": iso(timeline.end),
        "sizes": {name: len(df) for name, df in tables.items()},
        "original_claims": n_original,
        "replacement_claims": int((followup.replacements.frequency == 7).sum()),
        "new_claims_after_ma130": len(followup.resubmitted["claim"]),
        "void_claims": len(voids),
        "duplicate_claims": int((book.duplicate_of >= 0).sum()),
        "entities": {
            "payers": len(payers.ids),
            "billing_groups": len(group_npis),
            "rendering_providers": len(providers.npi),
            "facilities": len(facilities.ids),
            "patients": len(patients.birth_day),
            "procedure_codes": len(procedures),
            "diagnosis_codes": len(diagnoses.codes),
        },
        "drift": drift.describe(payers, timeline),
        "true_denial_rate": round(float(hazards.denied.mean()), 6),
        "true_cause_mix": {name: round(float(cause_mix[i]), 6) for i, name in enumerate(CAUSES)},
        "oracle_auc": oracle_auc,
    }
    return World(tables=tables, truth=truth, payer_rules=team_payer_rules(payers, procedures), meta=meta)


def write_world(world: World, *, out_dir: Path, fmt: Literal["parquet", "csv"] = "parquet") -> None:
    """Tables via the contract writer, the team's payer_rules.yaml, and truth/ (never read by training)."""
    write_parts([world], out_dir=out_dir, fmt=fmt)


def write_parts(parts: Iterable[World], *, out_dir: Path, fmt: Literal["parquet", "csv"] = "parquet") -> dict[str, Any]:
    """``write_world`` for a world that comes in parts (``synthetic.shards``): each part's rows are appended to the
    files and let go before the next part is made. Returns the world.json written: one part's own meta, or the
    parts' combined (``world_meta.combined_meta``). The payer rules are the first part's (the parts share them)."""
    from features.contract.payer_rules import dump_payer_rules
    from features.contract.tables_io import TableWriter

    out_dir = Path(out_dir)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    metas: list[dict[str, Any]] = []
    oracle: list[OracleInputs] = []
    with ExitStack() as files:
        tables: dict[str, TableWriter] = {}
        truths: dict[str, _TruthWriter] = {}
        for world in parts:
            if not metas:
                dump_payer_rules(world.payer_rules, out_dir / "payer_rules.yaml")
            for name, df in world.tables.items():
                if name not in tables:
                    tables[name] = files.enter_context(TableWriter(table=name, data_dir=out_dir, fmt=fmt))
                tables[name].write(df)
            for name, df in world.truth.items():
                if name not in truths:
                    truths[name] = files.enter_context(_TruthWriter(truth_dir / f"{name}.{fmt}", fmt=fmt))
                truths[name].write(df)
            metas.append(world.meta)
            t_claims = world.truth["claims"]
            if "p_denial_knowable" in t_claims:
                oracle.append(tuple(t_claims[c].to_numpy() for c in ("p_denial", "p_denial_knowable", "denied")))  # type: ignore[arg-type]
            del world
    if not metas:
        raise ValueError("write_parts needs at least one part")
    meta = metas[0] if len(metas) == 1 else combined_meta(metas, oracle)
    (truth_dir / "world.json").write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return meta


class _TruthWriter:
    """A truth table's file, appended a part at a time (one part: the bytes ``pq.write_table`` / ``write_csv`` give)."""

    def __init__(self, path: Path, *, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None

    def write(self, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._parquet.write_table(table)
            return
        first = self._csv is None
        if self._csv is None:
            self._csv = self.path.open("wb")
        pacsv.write_csv(table, self._csv, pacsv.WriteOptions(include_header=first, quoting_style="needed"))

    def __enter__(self) -> _TruthWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
