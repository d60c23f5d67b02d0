"""What a claim says about itself at submission, as numbers a model can use.

Everything here reads only the claim, its lines, the payer rules, and (for duplicate suspicion) which
other claims had been submitted before it. Nothing reads a remit, an adjustment or a follow-up: those
arrive after the decision this model supports (DATA.md, "Time").

All of it is numpy on arrays read once from the input columns (`features/columns.py` says why), so the
same code serves a training set of a million claims and a single claim scored over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from features.columns import (
    Columns,
    Table,
    claim_columns,
    claim_ranks,
    date_array,
    index_in,
    line_columns,
    per_distinct,
    per_distinct_text,
    pointed_diagnosis,
    text_array,
)
from features.contract.payer_rules import PayerRules
from features.diagnosis_blocks import diagnosis_block
from features.prevention.groups import procedure_group_of, procedure_section_of
from features.text_codes import chosen, remember, spread, text_codes

if TYPE_CHECKING:  # the index reads `day_number` from here
    from features.duplicate_index import DuplicateCounts

_DAY = np.timedelta64(1, "D")


def rendering_clinician(claims: Mapping[str, np.ndarray]) -> np.ndarray:
    """The clinician who rendered each claim: `rendering_npi`, else the billing provider.

    An 837P sends the rendering provider loop (2310B) only when the rendering clinician differs from the
    billing provider, so an absent rendering NPI means a clinician billing under their own NPI, not a gap."""
    rendering = claims["rendering_npi"]
    absent = pd.isna(rendering)
    if not absent.any():
        return rendering
    return np.where(absent, claims["billing_npi"], rendering)


# the claim columns every line carries: line-level keys, duplicate suspicion, authorization on file
LINE_CLAIM_COLUMNS = (
    "claim_id",
    "payer_id",
    "plan_type",
    "rendering_npi",
    "billing_npi",
    "diagnosis_codes",
    "submitted_at",
    "service_from",
    "patient_id",
    "frequency_code",
    "prior_auth_number",
)


# ---- per-value rules -------------------------------------------------------------------------------


def _family(code: str) -> str:
    return code[:3]


def procedure_family(codes: pd.Series) -> pd.Series:
    """CPT/HCPCS family = first three characters (971xx therapy, 992xx E/M, 705xx MRI, J01xx drugs)."""
    return pd.Series(per_distinct(text_array(codes), _family), index=codes.index, dtype="string")


def _canonical_modifiers(text: str) -> str:
    return "|".join(sorted(m.strip() for m in text.upper().split("|") if m.strip())) or "-"


def modifier_keys(modifiers: np.ndarray) -> np.ndarray:
    """Order-free modifier set ('26|RT' == 'RT|26'); '-' when the line has none, so 'none' is a level."""
    keys = per_distinct(modifiers, _canonical_modifiers)
    keys[pd.isna(keys)] = "-"
    return keys


def units_keys(units: np.ndarray) -> np.ndarray:
    """Units as a level ('1'..'9', '10+'): payers cap units per code, so the exact count matters."""
    u = np.clip(np.where(np.isnan(units), 1.0, units), 0, 10).astype(np.int64)
    return chosen(np.array([str(i) for i in range(10)] + ["10+"], dtype=object), u)


# ---- dates -------------------------------------------------------------------------------------------
def day_number(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64 (NaT -> a very early day, so nothing counts as 'before' it)."""
    values = dates if isinstance(dates, np.ndarray) and dates.dtype.kind == "M" else date_array(pd.Series(dates))
    days = values.astype("datetime64[D]")
    return np.where(np.isnat(days), -(10**6), days.view(np.int64))  # a day's integer is its count from 1970-01-01


def _days_between(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Whole days from `earlier` to `later` (floored, like Timedelta.days) as float64; NaN if either is missing."""
    delta = later - earlier
    missing = np.isnat(delta)
    whole = np.where(missing, np.zeros(1, dtype=delta.dtype), delta) // _DAY
    return np.where(missing, np.nan, whole.astype(np.float64))


def _month(dates: np.ndarray) -> np.ndarray:
    """Calendar month 1..12 as float64, NaN for NaT."""
    months = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return np.where(np.isnat(dates), np.nan, months.astype(np.float64))


def service_month_text(service_from: np.ndarray) -> np.ndarray:
    """'1'..'12' (None for a missing date): the month as a history key."""
    names = np.array([None, *(str(m) for m in range(1, 13))], dtype=object)
    return chosen(names, np.nan_to_num(_month(service_from), nan=0.0).astype(np.int64))


# ---- lines -----------------------------------------------------------------------------------------


def _segments(claim_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each claim's run, that claim's position) for lines sorted by claim."""
    if not len(claim_pos):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, claim_pos[1:] != claim_pos[:-1]])
    return starts, claim_pos[starts]


def line_rows(claims: Columns, sources: Sequence[Table]) -> Columns:
    """The lines of `claims` found in `sources` (frames read in that order), sorted by claim id then line
    number, with the claim columns and the derived keys every line-level feature reads.

    Extra arrays: `claim_pos` (the line's claim, a position in `claims`), `source_row` (its row in the
    sources, counted across them in order) and `claim_families` (distinct procedure families on its claim)."""
    ids = claims["claim_id"]
    pos_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    col_parts: list[Columns] = []
    offset = 0
    for frame in sources:
        pos = index_in(frame["claim_id"], ids)
        keep = pos >= 0
        rows = None if keep.all() else np.flatnonzero(keep)
        pos_parts.append(pos if rows is None else pos[rows])
        row_parts.append(offset + (np.arange(len(frame)) if rows is None else rows))
        col_parts.append(line_columns(frame, rows))
        offset += len(frame)
    if len(col_parts) == 1:
        claim_pos, source_row, cols = pos_parts[0], row_parts[0], col_parts[0]
    else:
        claim_pos, source_row = np.concatenate(pos_parts), np.concatenate(row_parts)
        cols = {k: np.concatenate([part[k] for part in col_parts]) for k in col_parts[0]}
    order = np.lexsort((cols["line_number"], claim_ranks(ids)[claim_pos]))  # stable; NaN line numbers last
    claim_pos, source_row = claim_pos[order], source_row[order]
    # gathers of text keep what their source's hashing found (features.text_codes): each key is read many times
    out: Columns = {k: spread(v, order) for k, v in cols.items()}
    out["claim_pos"], out["source_row"] = claim_pos, source_row
    for name in LINE_CLAIM_COLUMNS:
        out[name] = spread(claims[name], claim_pos)
    out["rendering_npi"] = remember(rendering_clinician(out))  # history keys by the clinician who rendered

    code = out["procedure_code"]
    out["proc_family"] = per_distinct_text(code, _family)
    out["modifier_key"] = remember(modifier_keys(out["modifiers"]))
    out["units_key"] = units_keys(out["units"])
    plan = out["plan_type"].copy()
    plan[pd.isna(plan)] = "unknown"
    out["plan_type"] = remember(plan)
    out["has_auth"] = chosen(
        np.array(["no_auth", "auth"], dtype=object), (~pd.isna(out["prior_auth_number"])).astype(int)
    )
    # Context from the rest of the claim: payers bundle pairs of codes and want modifier 25 on an E/M
    # billed beside a procedure, so a line's outcome depends on its neighbours.
    same_claim = np.r_[False, claim_pos[1:] == claim_pos[:-1]] if len(claim_pos) else np.zeros(0, dtype=bool)
    prev = np.empty(len(code), dtype=object)
    prev[1:] = code[:-1]
    prev[~same_claim] = "-"
    out["prev_code"] = remember(prev)
    out["claim_families"] = families_per_claim(out["proc_family"], claim_pos, len(ids))[claim_pos]
    out["proc_section"] = per_distinct_text(code, procedure_section_of)
    out["companion_group"] = remember(companion_of(per_distinct(code, procedure_group_of), out["charge"], claim_pos))
    out["other_sections"] = remember(other_sections(out["proc_section"], claim_pos))
    out["line_dx"] = remember(pointed_diagnosis(out["diagnosis_codes"], out["diagnosis_pointers"]))
    out["dx_chapter"] = per_distinct_text(out["line_dx"], lambda dx: dx[:1])
    out["dx_category"] = per_distinct_text(out["line_dx"], lambda dx: dx[:3])
    out["dx_block"] = per_distinct_text(out["line_dx"], diagnosis_block)
    return out


def companion_of(groups: np.ndarray, charges: np.ndarray, claim_pos: np.ndarray) -> np.ndarray:
    """Per line: the procedure group (CPT/HCPCS section, `features.prevention.groups`) of the claim's costliest
    OTHER line ('-' when alone; ties go to the earlier line). The main service a line is billed beside decides
    whether it needs a modifier (25 on an E/M beside a surgery, not beside a lab test)."""
    n = len(groups)
    out = np.full(n, "-", dtype=object)
    if n < 2:
        return out
    rows = np.arange(n)
    cost = np.nan_to_num(np.asarray(charges, dtype=np.float64), nan=-1.0)
    order = np.lexsort((rows, -cost, claim_pos))  # by claim, costliest first
    sorted_pos = claim_pos[order]
    first = np.r_[True, sorted_pos[1:] != sorted_pos[:-1]]
    starts = np.flatnonzero(first)
    top = np.full(int(claim_pos.max()) + 1, -1, dtype=np.int64)
    runner_up = top.copy()
    top[sorted_pos[starts]] = order[starts]
    second = starts + 1
    has_second = second < n
    has_second[has_second] &= sorted_pos[second[has_second]] == sorted_pos[starts[has_second]]
    runner_up[sorted_pos[starts[has_second]]] = order[second[has_second]]
    other = np.where(top[claim_pos] == rows, runner_up[claim_pos], top[claim_pos])
    found = other >= 0
    out[found] = groups[other[found]]
    return out


def other_sections(sections: np.ndarray, claim_pos: np.ndarray) -> np.ndarray:
    """Per line: the CPT/HCPCS sections of the OTHER lines of its claim, sorted and joined by '|' ('-' when
    alone). Payers' edits read the whole claim: an E/M wants modifier 25 when a procedure is billed beside it
    the same day, whichever line costs more."""
    n = len(sections)
    out = np.full(n, "-", dtype=object)
    if not n:
        return out
    codes, uniques = pd.factorize(sections, sort=True)  # missing -> -1: counted as no section
    width = len(uniques)
    ok = codes >= 0
    n_claims = int(claim_pos.max()) + 1
    per_claim = np.bincount(claim_pos[ok] * width + codes[ok], minlength=n_claims * width).reshape(n_claims, width)
    bits = np.left_shift(1, np.arange(width, dtype=np.int64))
    present, twice = (per_claim > 0) @ bits, (per_claim > 1) @ bits  # sections on the claim, on 2+ of its lines
    own = np.where(ok, np.left_shift(1, np.maximum(codes, 0).astype(np.int64)), 0)
    mask = twice[claim_pos] | (present[claim_pos] & ~own)
    names = np.asarray(uniques, dtype=object)
    masks, inverse = np.unique(mask, return_inverse=True)
    text = np.array(
        ["|".join(names[[bit for bit in range(width) if m >> bit & 1]]) or "-" for m in masks.tolist()], dtype=object
    )
    return text[inverse.reshape(-1)]


def families_per_claim(families: np.ndarray, claim_pos: np.ndarray, n_claims: int) -> np.ndarray:
    """Distinct non-missing procedure families per claim (0 for a claim without lines)."""
    codes, uniques = text_codes(families)
    ok = codes >= 0
    pairs = np.sort(claim_pos[ok] * (len(uniques) + 1) + codes[ok])
    distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    return np.bincount(distinct // (len(uniques) + 1), minlength=n_claims)


def line_frame(claims: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Lines with the claim columns the line-level keys need, and the diagnosis each line points at.

    The DataFrame form of `line_rows` (training events): the same rows and keys the scoring path reads,
    with the lines' own columns as given."""
    return line_frame_and_keys(claims, lines)[0]


def line_frame_and_keys(claims: pd.DataFrame, lines: pd.DataFrame) -> tuple[pd.DataFrame, Columns]:
    """`line_frame`, and the arrays its added columns hold, row for row: the frame holds copies (pandas stacks
    columns of one dtype into one block), while these arrays still remember their hashing (`features.text_codes`)
    for whoever encodes the columns next."""
    rows = line_rows(claim_columns(claims, LINE_CLAIM_COLUMNS), [lines])
    out = lines.iloc[rows["source_row"]].reset_index(drop=True)
    keys = {k: v for k, v in rows.items() if k not in out.columns and k not in ("claim_pos", "source_row")}
    # text stays object (pandas would otherwise convert every column to its string dtype on the way in)
    added = {k: pd.Series(v, dtype=object) if v.dtype == object else pd.Series(v) for k, v in keys.items()}
    return pd.concat([out, pd.DataFrame(added)], axis=1), keys


# ---- claim level -----------------------------------------------------------------------------------
def apply_payer_rules(claims: Columns, rows: Columns, rules: PayerRules) -> None:
    """Adds `auth_needed` and the written pre-submission edits each line breaks (`edit_modifier_missing`,
    `edit_pair_bundled`, `edit_dx_unsupported`; `PayerRules.edit_flags`) per line, `filing_limit` (days) and
    `referral_required` per claim, once for every reader.

    The rule helpers are positional and only factorize what they are given, so plain arrays go in: a
    Series around each would triple their cost for one claim."""
    line_payers, line_plans = cast(pd.Series, rows["payer_id"]), cast(pd.Series, rows["plan_type"])
    claim_payers, claim_plans = cast(pd.Series, claims["payer_id"]), cast(pd.Series, claims["plan_type"])
    line_groups = rules.resolve_groups(line_payers, line_plans)  # once for the lines' two rules, once for the claims'
    claim_groups = rules.resolve_groups(claim_payers, claim_plans)
    rows["auth_needed"] = rules.auth_required(
        line_payers, line_plans, cast(pd.Series, rows["procedure_code"]), resolved=line_groups
    )
    claims["filing_limit"] = rules.timely_filing_days(claim_payers, claim_plans, resolved=claim_groups).astype(
        np.float64
    )
    claims["referral_required"] = rules.referral_required(claim_payers, claim_plans, resolved=claim_groups)
    flags = rules.edit_flags(
        payer_ids=line_payers,
        plan_types=line_plans,
        resolved=line_groups,
        procedure_codes=rows["procedure_code"],
        modifier_keys=rows["modifier_key"],
        line_dx=rows["line_dx"],
        claim_pos=rows["claim_pos"],
        n_claims=len(claims["claim_id"]),
        service_days=day_number(rows["service_from"]),
    )
    for name, flagged in flags.items():
        rows[f"edit_{name}"] = flagged


def claim_fields(claims: Columns, rows: Columns, *, duplicates: DuplicateCounts) -> Columns:
    """Claim-level numeric fields known at submission (float64, in `claims` order).

    `rows` come from `line_rows` with `apply_payer_rules` applied; `duplicates` counts each line's earlier
    duplicates among the lines of every claim sent (`features.duplicate_index`)."""
    n = len(claims["claim_id"])
    claim_pos = rows["claim_pos"]
    starts, claim_at = _segments(claim_pos)

    def per_claim(values: np.ndarray, reduce: np.ufunc) -> np.ndarray:
        out = np.full(n, np.nan)
        if len(starts):
            out[claim_at] = reduce.reduceat(values, starts).astype(np.float64)
        return out

    has_auth = ~pd.isna(rows["prior_auth_number"])
    auth_needed = rows["auth_needed"]
    modifier_key = rows["modifier_key"]
    n_mod = per_distinct(modifier_key, lambda k: 0 if k == "-" else k.count("|") + 1).astype(np.float64)
    dup_n, dup_since = duplicates(rows)
    units = rows["units"]

    out: Columns = {}
    out["total_charge"] = claims["total_charge"]
    out["n_diagnoses"] = (
        np.fromiter(
            (0.0 if v is None else float(v.count("|")) for v in claims["diagnosis_codes"]), dtype=np.float64, count=n
        )
        + 1
    )
    out["n_lines"] = per_claim(np.ones(len(claim_pos)), np.add)
    out["total_units"] = per_claim(np.where(np.isnan(units), 1.0, units), np.add)
    out["max_units"] = per_claim(np.where(np.isnan(units), 1.0, units), np.fmax)
    out["max_line_charge"] = per_claim(rows["charge"], np.fmax)  # fmax/fmin skip NaN, as pandas groupby does
    out["n_modifiers"] = per_claim(n_mod, np.add)
    out["auth_required_lines"] = per_claim(auth_needed.astype(np.float64), np.add)
    out["auth_missing_lines"] = per_claim((auth_needed & ~has_auth).astype(np.float64), np.add)
    out["noncovered_learned_lines"] = per_claim(rows["noncovered_learned"].astype(np.float64), np.add)
    out["modifier_learned_lines"] = per_claim(rows["modifier_learned"].astype(np.float64), np.add)
    # written pre-submission edits (payer_rules.yaml; 0 on every claim while no rule file sets one)
    out["rule_modifier_missing"] = per_claim(rows["edit_modifier_missing"].astype(np.float64), np.add)
    out["rule_pair_bundled"] = per_claim(rows["edit_pair_bundled"].astype(np.float64), np.add)
    out["rule_code_terminated"] = per_claim(rows["edit_code_terminated"].astype(np.float64), np.add)
    out["rule_dx_unsupported"] = per_claim(rows["edit_dx_unsupported"].astype(np.float64), np.add)
    out["duplicate_prior"] = per_claim(dup_n.astype(np.float64), np.fmax)
    out["duplicate_days_since"] = per_claim(dup_since, np.fmin)
    out["lines_without_pointer"] = per_claim(pd.isna(rows["diagnosis_pointers"]).astype(np.float64), np.add)
    out["n_families"] = np.full(n, np.nan)
    out["n_families"][claim_at] = rows["claim_families"][starts]

    service = claims["service_from"]
    service_to = claims["service_to"]
    service_to = np.where(np.isnat(service_to), service, service_to)
    lag = _days_between(claims["submitted_at"], service_to)
    age = _days_between(service, claims["patient_birth_date"]) / 365.25
    out["age_years"] = np.floor(age / 5) * 5  # age band: 5-year steps
    out["service_month"] = _month(service)
    out["service_days"] = _days_between(service_to, service)
    out["lag_days"] = lag
    out["lag_share_of_limit"] = lag / claims["filing_limit"]
    out["eligibility_verified"] = claims["eligibility_verified"]  # NaN when the export does not say
    out["has_secondary"] = (~pd.isna(claims["secondary_payer_id"])).astype(np.float64)
    out["has_prior_auth"] = (~pd.isna(claims["prior_auth_number"])).astype(np.float64)
    out["referral_missing_where_required"] = referral_missing(claims).astype(np.float64)
    return out


def referral_missing(claims: Mapping[str, np.ndarray]) -> np.ndarray:
    """No referral number on a claim whose payer's rule requires one (`referral_required`, from
    `apply_payer_rules`): most plans never ask, so an absent number is not a gap there."""
    return pd.isna(claims["referral_number"]) & claims["referral_required"].astype(bool)
