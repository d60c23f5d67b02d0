"""The outcome history the denial features count: line and claim outcome events, and the claim keys.

Events are dated by the claim's first remit, and a history aggregate counts an outcome for a claim only
if that date is strictly before the claim's submission. `claim_key_columns` gives scoring (arrays) the
same claim keys `claim_keys` gives training (a DataFrame), so both count by the same keys.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast

import numpy as np
import pandas as pd

from features.chunk_threads import map_in_order
from features.claim_fields import (
    day_number,
    line_frame_and_keys,
    rendering_clinician,
    service_month_text,
)
from features.columns import Columns, Table, claim_chunks, claim_columns, index_in, text_array
from features.contract.adjudication import denial_adjustments
from features.contract.codes import CATEGORIES, CodeTables
from features.contract.frames import member
from features.contract.payer_rules import PayerRules
from features.denial_feature_defs import LINE_TARGET_CATEGORIES
from features.learned_policies import NO_MODIFIER
from features.patient_keys import patient_keys
from features.text_codes import chosen, spread, text_codes

__all__ = ["claim_key_columns", "claim_keys", "builder_tables", "outcome_events", "pick"]

_CLAIM_KEY_SOURCES = (
    "claim_id",
    "payer_id",
    "plan_type",
    "billing_npi",
    "rendering_npi",
    "facility_id",
    "specialty",
    "referral_number",
    "secondary_payer_id",
    "eligibility_verified",
    "service_from",
    "patient_id",
)


def pick(choices: tuple[str, ...], index: np.ndarray) -> np.ndarray:
    return chosen(np.array(choices, dtype=object), index.astype(np.intp))


def claim_key_columns(claims: Columns) -> Columns:
    """The claim-level key columns the claim aggregates group by (arrays from `claim_columns`)."""
    out = {c: claims[c] for c in ("claim_id", "payer_id", "plan_type", "billing_npi", "rendering_npi")}
    out.update({c: claims[c] for c in ("facility_id", "specialty")})
    plan = out["plan_type"].copy()
    plan[pd.isna(plan)] = "unknown"
    out["plan_type"] = plan
    out["rendering_npi"] = rendering_clinician(claims)
    # a referral on file, none where the plan asks for one, or none where none is needed
    has_referral = ~pd.isna(claims["referral_number"])
    status = np.where(has_referral, 0, np.where(claims["referral_required"].astype(bool), 1, 2))
    out["referral_status"] = pick(("referral", "referral_missing", "referral_not_required"), status)
    out["has_secondary"] = pick(("single", "secondary"), (~pd.isna(claims["secondary_payer_id"])).astype(int))
    verified = claims["eligibility_verified"]
    out["verified"] = pick(("unverified", "verified", "unknown"), np.nan_to_num(verified, nan=2.0).astype(int))
    out["service_month"] = service_month_text(claims["service_from"])
    # never the id itself (features/patient_keys.py); a chunk of a batch brings its claims' keys, hashed for the batch
    out["patient_key"] = claims["patient_key"] if "patient_key" in claims else patient_keys(claims["patient_id"])
    return out


def claim_keys(claims: pd.DataFrame, *, rules: PayerRules, patient_key: np.ndarray | None = None) -> pd.DataFrame:
    """`claim_key_columns` as a DataFrame (training events), with the payer rules scoring applies too.
    `patient_key`: the claims' patient keys, when the caller hashed them already."""
    return pd.DataFrame(_claim_key_arrays(claims, rules=rules, patient_key=patient_key), dtype=object)


def _claim_key_arrays(claims: pd.DataFrame, *, rules: PayerRules, patient_key: np.ndarray | None) -> Columns:
    if patient_key is None:
        columns = dict(claim_columns(claims, _CLAIM_KEY_SOURCES))
    else:
        columns = dict(claim_columns(claims, [c for c in _CLAIM_KEY_SOURCES if c != "patient_id"]))
        columns["patient_key"] = patient_key
    columns["referral_required"] = rules.referral_required(claims["payer_id"], claims["plan_type"])
    return claim_key_columns(columns)


def _line_events(
    claims: pd.DataFrame, lines: pd.DataFrame, context: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]
) -> tuple[pd.DataFrame, Columns]:
    """The line events of `claims` (all of them answered), and the key arrays their key columns were copied from
    (`line_frame_and_keys`): `context` is the labels by claim id, each denied line's category, and the claims
    denied as a whole."""
    lab, line_cat, claim_level = context
    rows, keys = line_frame_and_keys(claims, lines)
    rows = rows.join(lab[["first_remit_date", "initial_denial", "denial_category"]], on="claim_id")
    denied = rows["initial_denial"].to_numpy(dtype=bool)
    has_line_denial = member(rows["claim_id"], line_cat["claim_id"])
    whole_claim = denied & (member(rows["claim_id"], claim_level) | ~has_line_denial)
    own = rows[["claim_id", "line_number"]].merge(line_cat, how="left", on=["claim_id", "line_number"])["category"]
    # a line's denial category: its own largest denial adjustment, else the claim's when refused as a whole
    category = np.where(
        own.notna().to_numpy(),
        own.to_numpy(dtype=object),
        np.where(whole_claim, rows["denial_category"].astype("string").fillna("other").to_numpy(dtype=object), ""),
    )
    rows["line_denied"] = (category != "").astype("float64")
    for c in LINE_TARGET_CATEGORIES:
        rows[f"line_denied_{c}"] = (category == c).astype("float64")
    # not an outcome: the team's own billing habit (features.denial_feature_defs.MODIFIER_HABIT_SPEC)
    rows["line_has_modifier"] = (rows["modifier_key"].to_numpy(dtype=object) != NO_MODIFIER).astype("float64")
    rows["event_day"] = day_number(rows["first_remit_date"])
    return rows, keys


def compact_text(frame: pd.DataFrame, *, built_from: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Object columns that hold only strings and nulls as categoricals: one small integer per row instead of
    a pointer to a string object (`features.history_index.fit_column` reads both the same). The categories are
    the distinct strings in order of first appearance, as plain objects: `astype("category")` would sort them and
    convert them to pandas' string dtype, twice the time, and the history sorts its vocabulary itself.

    `built_from`: arrays some columns hold copies of, row for row; their remembered hashing (`features.text_codes`)
    encodes those columns (the frame's copies would be hashed again: 1.2-1.9 s of the 1M events, holding the GIL)."""
    out = frame.copy(deep=False)
    source = built_from or {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype != object:
            continue
        original = source.get(name)
        codes, uniques = text_codes(values.to_numpy() if original is None else original)
        if pd.api.types.infer_dtype(uniques, skipna=True) in ("string", "empty"):
            categories = pd.CategoricalDtype(pd.Index(uniques, dtype=object))
            out[name] = pd.Categorical.from_codes(codes, dtype=categories)
    return out


def concat_compact(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`compact_text` frames one after another; a categorical column's categories are the union of the parts'."""
    columns = {}
    for name in parts[0].columns:
        if isinstance(parts[0][name].dtype, pd.CategoricalDtype):
            columns[name] = pd.Series(union_in_order([p[name].array for p in parts]))
        else:
            columns[name] = pd.concat([p[name] for p in parts], ignore_index=True)
    return pd.DataFrame(columns)


def union_in_order(parts: list[pd.Categorical]) -> pd.Categorical:
    """`union_categoricals(parts, ignore_order=True)`: the parts one after another, the categories every distinct
    category in order of first appearance. Here every part's categories are hashed once, together: pandas hashes
    the union so far again for each part, which for a hundred chunks of ten million claims' events and millions
    of patient keys took minutes (99 s for 40 parts of 3M keys, against 4 s for 10 parts of 300k)."""
    names = [np.asarray(p.categories, dtype=object) for p in parts]
    codes, categories = pd.factorize(np.concatenate(names) if names else np.array([], dtype=object))
    offset = np.cumsum([0, *(len(n) for n in names[:-1])])
    renumbered = [
        np.append(codes[start : start + len(n)], -1)[p.codes] for p, n, start in zip(parts, names, offset, strict=True)
    ]
    if len(categories) == len(names[0]) and all(len(n) == len(categories) for n in names):
        dtype = pd.CategoricalDtype(parts[0].categories)  # the same categories in each part: pandas keeps the first's
    else:
        dtype = pd.CategoricalDtype(pd.Index(categories))  # else the Index pandas infers for their union
    return pd.Categorical.from_codes(np.concatenate(renumbered), dtype=dtype)


def builder_tables(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables `DenialFeatureBuilder.fit` reads, cut to what it reads: the claims, their lines, and of the
    adjustments only the denial adjustments of the labels' first remits (`denial_adjustments` keeps those same
    rows again). Ten million claims' fifty million adjustments are 4 GiB; their denials on first remits, a few
    per cent of that. The builder fitted on these is the builder fitted on every table."""
    return {
        "claims": tables["claims"],
        "claim_lines": tables["claim_lines"],
        "adjustments": denial_adjustments(
            tables["adjustments"], labels["first_remit_id"], codes=codes, routine=routine
        ),
    }


def outcome_events(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    rules: PayerRules,
    routine: frozenset[tuple[str, str]] | None = None,
    chunk_claims: int | None = None,
    threads: int = 1,
    columns: Collection[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Line-level and claim-level outcome events from first remits, dated by the first remit.

    A line is denied when the whole claim was refused (status 4 with no line-level denial, or a
    claim-level denial adjustment) or when a denial adjustment sits on that line.

    `chunk_claims`: the events are built that many claims at a time, and their text columns kept as
    categoricals (`compact_text`): the same events in a fraction of the memory, for the history aggregates;
    `threads` chunks at a time, side by side (`features.chunk_threads`), joined in order: the same events.
    `columns`: keep only these columns of both frames (what the histories read, `features.history.event_columns`);
    each chunk is cut before the next is built, so ten million claims' events never exist with every column.
    """
    claims, lines, adj = tables["claims"], tables["claim_lines"], tables["adjustments"]
    lab = labels.set_index("claim_id")
    denial = denial_adjustments(adj, lab["first_remit_id"], codes=codes, routine=routine)  # as the label reads them
    denial = denial.assign(category=codes.categorize(denial["carc"], denial["remark_codes"]).astype(str).to_numpy())
    claim_level = denial.loc[denial["line_number"].isna(), "claim_id"].unique()
    on_lines = denial[denial["line_number"].notna()].sort_values(
        ["claim_id", "line_number", "amount"], ascending=[True, True, False], kind="stable"
    )
    line_cat = on_lines.drop_duplicates(["claim_id", "line_number"])[["claim_id", "line_number", "category"]]
    del denial, on_lines

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if columns is None else frame[[c for c in frame.columns if c in columns]]

    answered = np.flatnonzero(member(claims["claim_id"], lab.index))  # positions: no copy of the claims
    context = (lab, line_cat, claim_level)
    if chunk_claims is None or len(answered) <= chunk_claims:
        rows = cut(_line_events(claims.iloc[answered], lines, context)[0])
    else:
        answered_ids = claims["claim_id"].iloc[answered]
        ids = text_array(answered_ids)
        # each chunk joins its own claims' labels, line denials and whole-claim denials: against every claim's,
        # each join would hash all of them again, a hundred times over at ten million claims
        lab_at = index_in(answered_ids, labels["claim_id"])  # lab's rows are labels' rows
        del answered_ids
        line_cat_at = index_in(line_cat["claim_id"], ids)
        claim_level_at = index_in(pd.Series(claim_level), ids)

        def line_part(start: int, chunk_sources: list[Table]) -> pd.DataFrame:
            stop = start + chunk_claims
            own = (
                lab.iloc[lab_at[start:stop]],
                line_cat.iloc[np.flatnonzero((line_cat_at >= start) & (line_cat_at < stop))],
                claim_level[(claim_level_at >= start) & (claim_level_at < stop)],
            )
            events, keys = _line_events(claims.iloc[answered[start:stop]], cast(pd.DataFrame, chunk_sources[0]), own)
            return compact_text(cut(events), built_from=keys)

        parts = list(map_in_order(line_part, claim_chunks(ids, [lines], size=chunk_claims), threads=threads))
        del ids
        rows = concat_compact(parts)
        del parts
    at = index_in(labels["claim_id"], claims["claim_id"])  # the labelled claims, in the labels' order
    if (at < 0).any():
        raise ValueError(f"{int((at < 0).sum()):,} labelled claims are not among the claims")
    if chunk_claims is None or len(at) <= chunk_claims:
        return rows, cut(_claim_events(claims.iloc[at], lab, rules=rules)[0])
    # a patient's claims fall in many chunks: each patient is hashed once, not once per chunk
    patient_key = patient_keys(text_array(claims["patient_id"].iloc[at]))

    def claim_part(start: int) -> pd.DataFrame:
        stop = min(start + chunk_claims, len(at))
        keys = spread(patient_key, np.arange(start, stop))
        events, key_arrays = _claim_events(
            claims.iloc[at[start:stop]], lab.iloc[start:stop], rules=rules, patient_key=keys
        )
        return compact_text(cut(events), built_from=key_arrays)

    starts = ((start,) for start in range(0, len(at), chunk_claims))
    claim_parts = list(map_in_order(claim_part, starts, threads=threads))
    return rows, concat_compact(claim_parts)


def _claim_events(
    claims: pd.DataFrame, lab: pd.DataFrame, *, rules: PayerRules, patient_key: np.ndarray | None = None
) -> tuple[pd.DataFrame, Columns]:
    """The claim events of `claims` (aligned with their labels `lab`), and the key arrays their key columns were
    copied from."""
    keys = _claim_key_arrays(claims.reset_index(drop=True), rules=rules, patient_key=patient_key)
    cl = pd.DataFrame(keys, dtype=object)
    cl["denied"] = lab["initial_denial"].to_numpy(dtype=bool).astype("float64")
    cats = lab["denial_category"].astype("string").fillna("").to_numpy()
    for c in CATEGORIES:
        cl[f"denied_{c}"] = (cats == c).astype("float64")
    cl["event_day"] = day_number(lab["first_remit_date"])
    return cl, keys
