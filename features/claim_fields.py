"""What a claim says about itself at submission, as numbers a model can use.

Everything here reads only the claim, its lines, the payer rules, and (for duplicate suspicion) which
other claims had been submitted before it. Nothing reads a remit, an adjustment or a follow-up: those
arrive after the decision this model supports (DATA.md, "Time").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.payer_rules import PayerRules

_DAY = np.timedelta64(1, "D")
EPOCH = np.datetime64("1970-01-01", "D")


def day_number(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as int64 (NaT -> a very early day, so nothing counts as 'before' it)."""
    values = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]")
    out = (values - EPOCH) // _DAY
    return np.where(np.isnat(values), -(10**6), out).astype(np.int64)


def procedure_family(codes: pd.Series) -> pd.Series:
    """CPT/HCPCS family = first three characters (971xx therapy, 992xx E/M, 705xx MRI, J01xx drugs)."""
    return codes.astype("string").str.slice(0, 3)


def _canonical_modifiers(text: str) -> str:
    return "|".join(sorted(m.strip() for m in text.upper().split("|") if m.strip())) or "-"


def modifier_key(modifiers: pd.Series) -> pd.Series:
    """Order-free modifier set ('26|RT' == 'RT|26'); '-' when the line has none, so 'none' is a level."""
    codes, uniques = pd.factorize(modifiers.astype("string").fillna("").to_numpy())
    canon = np.array([_canonical_modifiers(str(u)) for u in uniques] + ["-"], dtype=object)  # few distinct sets
    return pd.Series(canon[codes], index=modifiers.index, dtype="string")


def pointed_diagnosis(diagnosis_codes: pd.Series, pointers: pd.Series) -> pd.Series:
    """The diagnosis each line points at (first pointer; the principal when absent or out of range)."""
    head = pc.list_element(pc.split_pattern(pa.array(pointers.astype("string"), type=pa.large_string()), "|"), 0)
    first = pd.to_numeric(pd.Series(head.to_pandas(), dtype="string"), errors="coerce")
    idx = (first.fillna(1).clip(lower=1, upper=99).astype("int64") - 1).to_numpy()
    lists = pc.split_pattern(pa.array(diagnosis_codes.astype("string"), type=pa.large_string()), "|")
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    idx = np.where(idx < lengths, idx, 0)
    offsets = lists.offsets.to_numpy()[:-1]
    flat = lists.flatten()
    has = lengths > 0
    pos = np.where(has, offsets + idx, 0)
    picked = pc.take(flat, pa.array(pos)) if len(flat) else pa.nulls(len(pos), pa.large_string())
    picked = pc.if_else(pa.array(has), picked, pa.scalar(None, pa.large_string()))
    return pd.Series(
        picked.to_pandas(types_mapper={pa.large_string(): pd.StringDtype()}.get),
        index=diagnosis_codes.index,
        dtype="string",
    )


def units_key(units: pd.Series) -> pd.Series:
    """Units as a level ('1'..'9', '10+'): payers cap units per code, so the exact count matters."""
    u = units.fillna(1).astype("float64").clip(lower=0, upper=10).astype("int64").to_numpy()
    labels = np.array([str(i) for i in range(10)] + ["10+"], dtype=object)
    return pd.Series(labels[u], index=units.index, dtype="string")


def line_frame(claims: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Lines with the claim columns the line-level keys need, and the diagnosis each line points at."""
    cols = [
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
    ]
    out = lines.merge(claims[cols], on="claim_id", how="inner", validate="many_to_one")
    out = out.sort_values(["claim_id", "line_number"], kind="stable").reset_index(drop=True)
    out["proc_family"] = procedure_family(out["procedure_code"])
    out["modifier_key"] = modifier_key(out["modifiers"])
    out["units_key"] = units_key(out["units"])
    out["plan_type"] = out["plan_type"].fillna("unknown")
    out["has_auth"] = np.where(out["prior_auth_number"].notna(), "auth", "no_auth")
    # Context from the rest of the claim: payers bundle pairs of codes and want modifier 25 on an E/M
    # billed beside a procedure, so a line's outcome depends on its neighbours.
    same_claim = out["claim_id"].eq(out["claim_id"].shift())
    out["prev_code"] = out["procedure_code"].shift().where(same_claim, "-").astype("string")
    n_fam = out.groupby("claim_id", sort=False)["proc_family"].transform("nunique")
    out["multi_family"] = np.where(n_fam.to_numpy() > 1, "multi", "single")
    out["line_dx"] = pointed_diagnosis(out["diagnosis_codes"], out["diagnosis_pointers"])
    out["dx_chapter"] = out["line_dx"].str.slice(0, 1)
    out["dx_category"] = out["line_dx"].str.slice(0, 3)
    return out


def duplicate_counts(lines: pd.DataFrame, context: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per line: how many OTHER original claims with the same patient, procedure and service date were
    submitted strictly before this line's claim, and days since the latest of them (NaN if none).

    `lines` and `context` are line frames (see line_frame); context holds every claim the team has sent.
    """
    ctx = context[context["frequency_code"].eq("1")]
    if not len(ctx):  # nothing sent before (e.g. a replacement claim scored alone): no duplicate suspicion
        return np.zeros(len(lines), dtype=np.int64), np.full(len(lines), np.nan)
    key_cols = ["patient_id", "procedure_code", "service_from"]
    both = pd.concat([ctx[key_cols], lines[key_cols]], ignore_index=True)
    codes = np.zeros(len(both), dtype=np.int64)
    for col in key_cols:  # mixed-radix combination of per-column codes: one int64 key per row
        col_codes, uniques = pd.factorize(both[col])
        codes = codes * (len(uniques) + 1) + (col_codes + 1)
    codes, _ = pd.factorize(codes)
    ctx_code, q_code = codes[: len(ctx)], codes[len(ctx) :]
    ctx_day = day_number(ctx["submitted_at"])
    q_day = day_number(lines["submitted_at"])
    shift = np.int64(1) << np.int64(22)  # room for day numbers; strict '<' excludes the claim itself
    ctx_day = np.maximum(ctx_day, 0)
    comp = ctx_code.astype(np.int64) * shift + ctx_day
    order = np.argsort(comp, kind="stable")
    composite, sorted_day = comp[order], ctx_day[order]
    lo = np.searchsorted(composite, q_code.astype(np.int64) * shift, side="left")
    hi = np.searchsorted(composite, q_code.astype(np.int64) * shift + np.maximum(q_day, 0), side="left")
    count = (hi - lo).astype(np.int64)
    last_day = np.where(count > 0, sorted_day[np.maximum(hi - 1, 0)], -1)
    since = np.where(count > 0, (q_day - last_day).astype("float64"), np.nan)
    return count, since


def claim_fields(
    claims: pd.DataFrame, line_rows: pd.DataFrame, *, rules: PayerRules, context_lines: pd.DataFrame
) -> pd.DataFrame:
    """Claim-level numeric fields known at submission, one row per claim in `claims` order."""
    c = claims.set_index("claim_id", drop=False)
    ids = c.index
    lines = line_rows
    g = lines.groupby("claim_id", sort=False)

    auth_needed = rules.auth_required(lines["payer_id"], lines["plan_type"], lines["procedure_code"])
    has_auth = lines["claim_id"].map(c["prior_auth_number"].notna()).fillna(False).to_numpy(dtype=bool)
    dup_n, dup_since = duplicate_counts(lines, context_lines)
    per_line = pd.DataFrame(
        {
            "claim_id": lines["claim_id"].to_numpy(),
            "units": lines["units"].fillna(1).astype("float64").to_numpy(),
            "charge": lines["charge"].astype("float64").to_numpy(),
            "n_mod": lines["modifier_key"].ne("-").to_numpy()
            * (lines["modifier_key"].str.count(r"\|").fillna(0).to_numpy() + 1),
            "auth_needed": auth_needed.astype("float64"),
            "auth_missing": (auth_needed & ~has_auth).astype("float64"),
            "dup_n": dup_n.astype("float64"),
            "dup_since": dup_since,
            "no_pointer": lines["diagnosis_pointers"].isna().to_numpy().astype("float64"),
        }
    )
    agg = per_line.groupby("claim_id", sort=False).agg(
        n_lines=("units", "size"),
        total_units=("units", "sum"),
        max_units=("units", "max"),
        max_line_charge=("charge", "max"),
        n_modifiers=("n_mod", "sum"),
        auth_required_lines=("auth_needed", "sum"),
        auth_missing_lines=("auth_missing", "sum"),
        duplicate_prior=("dup_n", "max"),
        duplicate_days_since=("dup_since", "min"),
        lines_without_pointer=("no_pointer", "sum"),
    )
    agg["n_families"] = g["proc_family"].nunique()
    agg = agg.reindex(ids)

    service = pd.to_datetime(c["service_from"])
    service_to = pd.to_datetime(c["service_to"]).fillna(service)
    submitted = pd.to_datetime(c["submitted_at"])
    lag = (submitted - service_to).dt.days.astype("float64")
    limit = rules.timely_filing_days(c["payer_id"], c["plan_type"]).astype("float64")
    birth = pd.to_datetime(c["patient_birth_date"])
    age = ((service - birth).dt.days / 365.25).astype("float64")
    verified = c["eligibility_verified"].astype("boolean")

    out = pd.DataFrame(index=ids)
    out["total_charge"] = c["total_charge"].astype("float64")
    out["n_diagnoses"] = c["diagnosis_codes"].astype("string").str.count(r"\|").fillna(0).astype("float64") + 1
    for col in agg.columns:
        out[col] = agg[col].astype("float64")
    out["age_years"] = np.floor(age / 5) * 5  # age band: 5-year steps
    out["service_month"] = service.dt.month.astype("float64")
    out["service_days"] = ((service_to - service).dt.days).astype("float64")
    out["lag_days"] = lag
    out["lag_share_of_limit"] = lag / limit
    out["eligibility_verified"] = verified.astype("float64")  # NaN when the export does not say
    out["has_secondary"] = c["secondary_payer_id"].notna().astype("float64")
    out["has_prior_auth"] = c["prior_auth_number"].notna().astype("float64")
    out["has_referral"] = c["referral_number"].notna().astype("float64")
    out["rendering_missing"] = c["rendering_npi"].isna().astype("float64")
    out.index.name = "claim_id"
    return out
