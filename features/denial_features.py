"""The one function that turns claims into denial-risk features, for training and serving alike.

Every feature is declared once below (name, meaning, source, as-of rule, reason group) and every
reason group carries the phrase a biller reads and the preventive action. `DenialFeatureBuilder`
holds the fitted state — category levels, point-in-time history aggregates, the payer rules in force —
so a saved model carries it and serving never refits anything.

Time: claim fields are the claim's own; history aggregates count only outcomes whose first remit is
strictly before the claim's submission (a frozen builder answers "as of its snapshot"); duplicate
suspicion looks only at claims submitted strictly earlier. Nothing reads the claim's own remits,
adjustments or follow-ups.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from features.auth_evidence import WINDOW_DAYS as AUTH_WINDOW_DAYS
from features.auth_evidence import fit_auth_evidence, learned_auth_needed
from features.claim_fields import (
    Columns,
    apply_payer_rules,
    check_unique_ids,
    claim_columns,
    claim_fields,
    day_number,
    index_in,
    line_frame,
    line_rows,
    lookup_codes,
    per_distinct,
    procedure_family,
    service_month_text,
    text_array,
)
from features.contract.codes import CATEGORIES, CodeTables
from features.contract.frames import member
from features.contract.payer_rules import PayerRules, RuleLibrary
from features.declarations import FeatureDef, ReasonGroup
from features.history import AggregateSpec, HistoryAggregates

WINDOW_DAYS = 90
_AS_OF_CLAIM = "the claim's own fields at submission"
_AS_OF_HISTORY = "outcomes whose first remit is strictly before the claim's submission"


REASON_GROUPS: dict[str, ReasonGroup] = {
    g.name: g
    for g in (
        ReasonGroup(
            "payer_procedure",
            "payer {payer_id} denied about {payer_proc_rate:.0%} of {payer_proc_code} lines "
            "(line {payer_proc_line:.0f}; {payer_proc_rate_recent:.0%} in the last 90 days)",
            "other",
            "Check {payer_id}'s policy for {payer_proc_code} (coverage, authorization, modifiers) before release",
        ),
        ReasonGroup(
            "modifiers",
            "payer {payer_id} denied about {payer_proc_mod_rate:.0%} of {payer_proc_mod_code} lines "
            "billed with {payer_proc_mod_mods} (line {payer_proc_mod_line:.0f})",
            "coding",
        ),
        ReasonGroup(
            "provider_procedure",
            "clinician {rendering_npi} has about {provider_proc_rate:.0%} of "
            "{provider_proc_code} lines denied (line {provider_proc_line:.0f})",
            "coding",
        ),
        ReasonGroup(
            "diagnosis_pairing",
            "diagnosis {dx_proc_dx} with {dx_proc_code} (line {dx_proc_line:.0f}) is denied "
            "about {dx_proc_rate:.0%} of the time",
            "medical_necessity",
            "Check that the diagnosis on line {dx_proc_line:.0f} supports {dx_proc_code} and the notes show it",
        ),
        ReasonGroup(
            "units",
            "{units_units:.0f} units of {units_code} (line {units_line:.0f}) are denied about "
            "{units_rate:.0%} of the time at that count",
            "medical_necessity",
            "Confirm the units on line {units_line:.0f} against the documentation and the payer's limit",
        ),
        ReasonGroup(
            "authorization",
            "{payer_id} denied about {payer_proc_auth_rate:.0%} of {payer_proc_auth_code} lines billed {auth_text} "
            "(line {payer_proc_auth_line:.0f}); authorization needed for: {auth_rule_code} ({auth_rule_source})",
            "authorization",
            "{auth_action}",
        ),
        ReasonGroup(
            "bundling",
            "{code_pair_code} billed after {code_pair_prev} on the same claim (line {code_pair_line:.0f}) is denied "
            "about {code_pair_rate:.0%} of the time",
            "coding",
            "Check whether {code_pair_code} is bundled into {code_pair_prev}; remove it or add the right modifier",
        ),
        ReasonGroup(
            "eligibility",
            "coverage was not verified before submission (verified: {eligibility_text}); "
            "{payer_id} eligibility denial rate {payer_cat_eligibility_rate:.1%}",
            "eligibility",
        ),
        ReasonGroup(
            "coordination_of_benefits",
            "secondary coverage on file (payer {secondary_payer}); {payer_id} "
            "payer-order denial rate {payer_cat_coordination_of_benefits_rate:.1%}",
            "coordination_of_benefits",
        ),
        ReasonGroup(
            "timely_filing",
            "submitted {lag_days:.0f} days after service; {payer_id} allows {filing_limit:.0f}",
            "timely_filing",
        ),
        ReasonGroup(
            "duplicate",
            "{dup_code} for this patient and date of service was already sent on an earlier "
            "claim ({duplicate_days_since:.0f} days before)",
            "duplicate",
        ),
        ReasonGroup("missing_information", "missing fields: {missing_text}", "missing_information"),
        ReasonGroup(
            "payer_history",
            "payer {payer_id} recently denied {payer_top_cat_rate:.1%} of claims for {payer_top_cat_label}",
            "other",
            "{payer_top_cat_action}",
        ),
        ReasonGroup(
            "provider_history",
            "billing provider {billing_npi} / clinician {rendering_npi} denial rate about {provider_rate:.0%}",
            "coding",
        ),
        ReasonGroup("facility_history", "facility {facility_id} denial rate about {facility_rate:.0%}", "eligibility"),
        ReasonGroup(
            "claim_profile",
            "claim profile ({n_lines:.0f} lines, ${total_charge:,.0f}, place of service "
            "{place_of_service}, {plan_type})",
            "other",
        ),
    )
}

CATEGORICAL = (
    "payer_id",
    "plan_type",
    "place_of_service",
    "specialty",
    "facility_id",
    "claim_type",
    "billing_npi",
    "patient_sex",
    "principal_family",
)

LINE_TARGET_CATEGORIES = ("coding", "medical_necessity", "authorization")
LINE_SPECS = (
    AggregateSpec(
        "payer_proc",
        ((), ("plan_type", "proc_family"), ("payer_id", "proc_family"), ("payer_id", "procedure_code")),
        "line_denied",
        "line denial rate of this payer for this procedure code",
    ),
    AggregateSpec(
        "payer_proc_mod",
        (
            (),
            ("payer_id", "proc_family"),
            ("payer_id", "proc_family", "modifier_key"),
            ("payer_id", "procedure_code", "modifier_key"),
        ),
        "line_denied_coding",
        "coding denial rate of this payer for this code with this modifier set",
    ),
    AggregateSpec(
        "code_context",
        (
            (),
            ("proc_family", "multi_family"),
            ("proc_family", "multi_family", "modifier_key"),
            ("procedure_code", "multi_family", "modifier_key"),
        ),
        "line_denied_coding",
        "coding denial rate of this code with these modifiers beside other services",
    ),
    AggregateSpec(
        "code_pair",
        ((), ("procedure_code",), ("procedure_code", "prev_code")),
        "line_denied_coding",
        "coding denial rate of this code billed after the previous line's code",
    ),
    AggregateSpec(
        "provider_proc",
        ((), ("proc_family",), ("procedure_code",), ("rendering_npi", "procedure_code")),
        "line_denied",
        "line denial rate of this clinician for this code",
    ),
    AggregateSpec(
        "dx_proc",
        ((), ("proc_family",), ("dx_chapter", "proc_family"), ("dx_category", "proc_family")),
        "line_denied_medical_necessity",
        "medical-necessity denial rate of this diagnosis category with this procedure family",
    ),
    AggregateSpec(
        "units",
        ((), ("proc_family",), ("proc_family", "units_key"), ("procedure_code", "units_key")),
        "line_denied_medical_necessity",
        "medical-necessity denial rate of this code at this unit count",
    ),
    AggregateSpec(
        "payer_proc_auth",
        (
            (),
            ("has_auth", "proc_family"),
            ("payer_id", "has_auth", "proc_family"),
            ("payer_id", "has_auth", "procedure_code"),
        ),
        "line_denied_authorization",
        "authorization denial rate of this payer for this code, with or without an authorization number",
    ),
)
CLAIM_SPECS = (
    AggregateSpec(
        "provider", ((), ("billing_npi",), ("rendering_npi",)), "denied", "claim denial rate of the clinician"
    ),
    AggregateSpec("facility", ((), ("facility_id",)), "denied", "claim denial rate at the facility"),
    AggregateSpec(
        "referral",
        ((), ("has_referral",), ("payer_id", "has_referral"), ("payer_id", "specialty", "has_referral")),
        "denied_missing_information",
        "missing-information denial rate of this payer and specialty, with or without a referral",
    ),
    AggregateSpec(
        "cob",
        ((), ("has_secondary",), ("has_secondary", "plan_type"), ("has_secondary", "plan_type", "facility_id")),
        "denied_coordination_of_benefits",
        "payer-order denial rate with this coverage pattern at this facility",
    ),
    AggregateSpec(
        "eligibility",
        ((), ("verified", "service_month"), ("verified", "facility_id"), ("verified", "facility_id", "payer_id")),
        "denied_eligibility",
        "eligibility denial rate by verification, facility and payer",
    ),
    *(
        AggregateSpec(
            f"payer_cat_{c}",
            ((), ("plan_type",), ("payer_id",)),
            f"denied_{c}",
            f"share of this payer's claims denied for {c}",
        )
        for c in CATEGORIES
    ),
)
_LINE_GROUP = {
    "payer_proc": "payer_procedure",
    "payer_proc_mod": "modifiers",
    "code_context": "modifiers",
    "code_pair": "bundling",
    "provider_proc": "provider_procedure",
    "dx_proc": "diagnosis_pairing",
    "units": "units",
    "payer_proc_auth": "authorization",
}
_CLAIM_GROUP = {
    "provider": "provider_history",
    "facility": "facility_history",
    "referral": "missing_information",
    "cob": "coordination_of_benefits",
    "eligibility": "eligibility",
}


def _declare() -> tuple[FeatureDef, ...]:
    defs: list[FeatureDef] = []
    add = defs.append
    for name in CATEGORICAL:
        group = {
            "payer_id": "payer_history",
            "plan_type": "payer_history",
            "facility_id": "facility_history",
            "billing_npi": "provider_history",
        }.get(name, "claim_profile")
        add(
            FeatureDef(
                name,
                f"{name} (category level fixed at training; unseen = unknown)",
                "claims",
                _AS_OF_CLAIM,
                group,
                categorical=True,
            )
        )
    own = {
        "total_charge": ("billed amount", "claim_profile"),
        "n_diagnoses": ("diagnosis codes on the claim", "claim_profile"),
        "n_lines": ("service lines", "claim_profile"),
        "total_units": ("units over all lines", "units"),
        "max_units": ("largest units on one line", "units"),
        "max_line_charge": ("largest line charge", "claim_profile"),
        "n_modifiers": ("modifiers over all lines", "modifiers"),
        "auth_required_lines": (
            "lines needing prior authorization under the payer rules or the payer's recent denials "
            "(features/auth_evidence.py)",
            "authorization",
        ),
        "auth_missing_lines": ("lines needing authorization while the claim has no auth number", "authorization"),
        "duplicate_prior": ("earlier claims with the same patient, procedure and service date", "duplicate"),
        "duplicate_days_since": ("days since that earlier claim", "duplicate"),
        "lines_without_pointer": ("lines with no diagnosis pointer", "missing_information"),
        "n_families": ("distinct procedure families on the claim", "claim_profile"),
        "age_years": ("patient age band at service (5-year steps)", "claim_profile"),
        "service_month": ("month of service (plan-year changes in January)", "eligibility"),
        "service_days": ("days spanned by the service dates", "claim_profile"),
        "lag_days": ("days from service to submission", "timely_filing"),
        "lag_share_of_limit": ("that lag as a share of the payer's filing limit", "timely_filing"),
        "eligibility_verified": ("coverage verified before submission", "eligibility"),
        "has_secondary": ("secondary coverage on file", "coordination_of_benefits"),
        "has_prior_auth": ("claim carries an authorization number", "authorization"),
        "has_referral": ("claim carries a referral number", "missing_information"),
        "rendering_missing": ("no rendering clinician NPI", "missing_information"),
    }
    for name, (meaning, group) in own.items():
        source = "claims, claim_lines, payer rules" if name.startswith(("auth", "lag")) else "claims, claim_lines"
        if name.startswith("duplicate"):
            source = "claims submitted earlier"
        add(FeatureDef(name, meaning, source, _AS_OF_CLAIM, group))
    for spec in LINE_SPECS:
        for suffix, what in (
            ("any", "chance any line is denied at these rates"),
            ("rate", "smoothed, all history"),
            ("n", "volume, all history"),
            ("rate_recent", "smoothed, last 90 days"),
            ("n_recent", "volume, last 90 days"),
        ):
            add(
                FeatureDef(
                    f"{spec.name}_{suffix}",
                    f"highest {spec.meaning} over the lines ({what})",
                    "history of first remits",
                    _AS_OF_HISTORY,
                    _LINE_GROUP[spec.name],
                )
            )
    for spec in CLAIM_SPECS:
        group = _CLAIM_GROUP.get(spec.name) or _payer_cat_group(spec.name)
        for suffix, what in (
            ("rate", "smoothed, all history"),
            ("n", "volume"),
            ("rate_recent", "last 90 days"),
            ("n_recent", "volume, last 90 days"),
        ):
            add(
                FeatureDef(
                    f"{spec.name}_{suffix}",
                    f"{spec.meaning} ({what})",
                    "history of first remits",
                    _AS_OF_HISTORY,
                    group,
                )
            )
    return tuple(defs)


def _payer_cat_group(name: str) -> str:
    category = name.removeprefix("payer_cat_")
    return category if category in ("eligibility", "coordination_of_benefits", "timely_filing") else "payer_history"


FEATURES: tuple[FeatureDef, ...] = _declare()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


# per chosen line: context name suffix -> line column
_LINE_CONTEXT = {
    "line": "line_number",
    "code": "procedure_code",
    "mods": "modifier_text",
    "dx": "line_dx",
    "units": "units",
    "prev": "prev_code",
}


def _python(value: Any) -> Any:
    """A numpy scalar as the Python value `to_dict` would give (other objects as they are)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class FeatureSet:
    """Model input (`X`, float32, columns FEATURE_NAMES) and the values reasons name.

    Reason values stay arrays until someone reads a claim: `context` holds claim-level values,
    `lines` line-level values, and `pointers[spec]` the line each line-level aggregate picked per claim.
    """

    X: np.ndarray
    context: dict[str, np.ndarray]
    claim_ids: pd.Index
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    pointers: dict[str, np.ndarray] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.X, columns=list(FEATURE_NAMES), index=self.claim_ids)

    def context_frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        idx = np.arange(len(self.claim_ids)) if rows is None else np.asarray(rows)
        out: dict[str, np.ndarray] = {k: v[idx] for k, v in self.context.items()}
        for spec, pointer in self.pointers.items():
            ptr = pointer[idx]
            for suffix, col in _LINE_CONTEXT.items():
                values = self.lines[col][np.maximum(ptr, 0)] if len(self.lines[col]) else np.full(len(ptr), None)
                out[f"{spec}_{suffix}"] = np.where(ptr >= 0, values, np.array(None, dtype=object))
        if "payer_proc_code" in out:
            out["dup_code"] = out["payer_proc_code"]
        return pd.DataFrame(out, index=self.claim_ids[idx], dtype=object)

    def records(self, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One dict per selected row with every feature and context value: what a reason phrase reads.

        The same keys and values as a row of `frame()` and `context_frame()` read by `to_dict("records")`
        (Python floats, None for no line), without building either frame: explaining one claim through
        two DataFrames cost ~5 ms, most of the request."""
        idx = np.arange(len(self.claim_ids)) if rows is None else np.asarray(rows)
        out = [dict(zip(FEATURE_NAMES, x, strict=True)) for x in self.X[idx].tolist()]
        for name, values in self.context.items():
            for record, value in zip(out, values[idx].tolist(), strict=True):
                record[name] = value
        line_columns = [(suffix, self.lines[col]) for suffix, col in _LINE_CONTEXT.items()]
        for spec, pointer in self.pointers.items():
            for record, p in zip(out, pointer[idx].tolist(), strict=True):
                for suffix, values in line_columns:
                    record[f"{spec}_{suffix}"] = _python(values[p]) if p >= 0 else None
        for record in out:
            if "payer_proc_code" in record:
                record["dup_code"] = record["payer_proc_code"]
        return out

    def subset(self, rows: np.ndarray) -> FeatureSet:
        return FeatureSet(
            X=self.X[rows],
            context={k: v[rows] for k, v in self.context.items()},
            claim_ids=self.claim_ids[rows],
            lines=self.lines,
            pointers={k: v[rows] for k, v in self.pointers.items()},
        )


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
)


def _pick(choices: tuple[str, ...], index: np.ndarray) -> np.ndarray:
    return np.array(choices, dtype=object)[index.astype(np.intp)]


def claim_key_columns(claims: Columns) -> Columns:
    """The claim-level key columns the claim aggregates group by (arrays from `claim_columns`)."""
    out = {c: claims[c] for c in ("claim_id", "payer_id", "plan_type", "billing_npi", "rendering_npi")}
    out.update({c: claims[c] for c in ("facility_id", "specialty")})
    plan = out["plan_type"].copy()
    plan[pd.isna(plan)] = "unknown"
    out["plan_type"] = plan
    out["has_referral"] = _pick(("no_referral", "referral"), (~pd.isna(claims["referral_number"])).astype(int))
    out["has_secondary"] = _pick(("single", "secondary"), (~pd.isna(claims["secondary_payer_id"])).astype(int))
    verified = claims["eligibility_verified"]
    out["verified"] = _pick(("unverified", "verified", "unknown"), np.nan_to_num(verified, nan=2.0).astype(int))
    out["service_month"] = service_month_text(claims["service_from"])
    return out


def claim_keys(claims: pd.DataFrame) -> pd.DataFrame:
    """`claim_key_columns` as a DataFrame (training events)."""
    return pd.DataFrame(claim_key_columns(claim_columns(claims, _CLAIM_KEY_SOURCES)), dtype=object)


def outcome_events(
    tables: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    *,
    codes: CodeTables,
    routine: frozenset[tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Line-level and claim-level outcome events from first remits, dated by the first remit.

    A line is denied when the whole claim was refused (status 4 with no line-level denial, or a
    claim-level denial adjustment) or when a denial adjustment sits on that line.
    """
    claims, lines, adj = tables["claims"], tables["claim_lines"], tables["adjustments"]
    lab = labels.set_index("claim_id")
    on_first = adj[member(adj["remit_id"], lab["first_remit_id"])]
    denial = on_first[~codes.is_routine(on_first["group_code"], on_first["carc"], routine)]
    denial = denial.assign(category=codes.categorize(denial["carc"], denial["remark_codes"]).astype(str).to_numpy())
    claim_level = denial.loc[denial["line_number"].isna(), "claim_id"].unique()
    on_lines = denial[denial["line_number"].notna()].sort_values(
        ["claim_id", "line_number", "amount"], ascending=[True, True, False], kind="stable"
    )
    line_cat = on_lines.drop_duplicates(["claim_id", "line_number"])[["claim_id", "line_number", "category"]]

    rows = line_frame(claims[member(claims["claim_id"], lab.index)], lines)
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
    rows["event_day"] = day_number(rows["first_remit_date"])

    cl = claim_keys(claims.set_index("claim_id").loc[lab.index].reset_index())
    cl["denied"] = lab["initial_denial"].to_numpy(dtype=bool).astype("float64")
    cats = lab["denial_category"].astype("string").fillna("").to_numpy()
    for c in CATEGORIES:
        cl[f"denied_{c}"] = (cats == c).astype("float64")
    cl["event_day"] = day_number(lab["first_remit_date"])
    return rows, cl


def _modifier_words(key: str) -> str:
    """'-' -> 'no modifier', 'GP' -> 'modifier GP', '26|RT' -> 'modifiers 26, RT'."""
    return "no modifier" if key == "-" else ("modifiers " if "|" in key else "modifier ") + key.replace("|", ", ")


def _modifier_text(keys: np.ndarray) -> np.ndarray:
    words = per_distinct(keys, _modifier_words)
    words[pd.isna(words)] = "no modifier"
    return words


_MISSING_NAMES = ("rendering NPI", "referral number", "diagnosis pointer")
_MISSING_TEXT = np.array(
    [", ".join(n for bit, n in zip((4, 2, 1), _MISSING_NAMES, strict=True) if k & bit) or "none" for k in range(8)],
    dtype=object,
)


def _context_line_keys(
    context_claims: pd.DataFrame, claims: Columns, extra: np.ndarray, sources: Sequence[pd.DataFrame]
) -> Columns:
    """Duplicate-suspicion keys of every line of every claim sent: the context claims plus the scored
    claims missing from them, their lines from the same line sources as the scored claims."""
    names = ("claim_id", "patient_id", "service_from", "submitted_at", "frequency_code")
    sent = claim_columns(context_claims, names)
    if extra.any():
        sent = {k: np.concatenate([v, claims[k][extra]]) for k, v in sent.items()}
    check_unique_ids(sent["claim_id"], what="context_claims")
    pos_parts, code_parts = [], []
    for frame in sources:
        pos = index_in(frame["claim_id"], sent["claim_id"])
        keep = np.flatnonzero(pos >= 0)
        pos_parts.append(pos[keep])
        code_parts.append(text_array(frame["procedure_code"].iloc[keep]))
    pos = np.concatenate(pos_parts)
    out = {k: sent[k][pos] for k in names[1:]}
    out["procedure_code"] = np.concatenate(code_parts)
    return out


class DenialFeatureBuilder:
    """Fitted feature state for the denial-risk model: category levels, history aggregates, payer rules."""

    def __init__(self, *, window_days: int = WINDOW_DAYS, prior_strength: float = 20.0) -> None:
        self.window_days = window_days
        self.prior_strength = prior_strength
        self._level_lookups: dict[str, tuple[list[str], dict[str, int]]] = {}

    def fit(
        self,
        *,
        tables: Mapping[str, pd.DataFrame],
        labels: pd.DataFrame,
        rules: PayerRules,
        codes: CodeTables,
        routine: frozenset[tuple[str, str]] | None = None,
    ) -> DenialFeatureBuilder:
        line_events, claim_events = outcome_events(tables, labels, codes=codes, routine=routine)
        # category levels come from every claim sent, never from which claims happen to have outcomes
        claims = tables["claims"]
        self.levels_ = {
            c: sorted(claims[c].dropna().astype(str).unique()) for c in CATEGORICAL if c != "principal_family"
        }
        families = procedure_family(pd.Series(tables["claim_lines"]["procedure_code"].unique()))
        self.levels_["principal_family"] = sorted(families.dropna().astype(str).unique())
        self.line_aggregates_ = HistoryAggregates(
            specs=LINE_SPECS, window_days=self.window_days, prior_strength=self.prior_strength
        ).fit(line_events)
        self.claim_aggregates_ = HistoryAggregates(
            specs=CLAIM_SPECS, window_days=self.window_days, prior_strength=self.prior_strength
        ).fit(claim_events)
        self.auth_evidence_: HistoryAggregates | None = fit_auth_evidence(line_events)
        self.rules_ = rules
        self.category_labels_ = {c: codes.label(c) for c in CATEGORIES}
        self.category_actions_ = {c: codes.preventive_action(c) for c in CATEGORIES}
        self.as_of_day_: int | None = None
        return self

    def freeze(self, *, as_of_day: int) -> DenialFeatureBuilder:
        """Compact the history for saving; every answer is then given as of that day."""
        self.line_aggregates_.freeze(as_of_day=as_of_day)
        self.claim_aggregates_.freeze(as_of_day=as_of_day)
        if self.auth_evidence_ is not None:
            self.auth_evidence_.freeze(as_of_day=as_of_day)
        self.as_of_day_ = as_of_day
        return self

    def with_history_of(self, other: DenialFeatureBuilder) -> DenialFeatureBuilder:
        """This builder's coding (category levels, payer rules, phrases) over `other`'s unfrozen outcome history.

        For judging a model on claims older than its own snapshot (the retraining gate): a frozen snapshot
        answers every query as of its own day, which for an older claim counts outcomes that came after it,
        its own among them, and flatters the model. Over an unfrozen history the features are point-in-time
        again: what this model would have seen at each claim's submission. Never for serving."""
        if other.as_of_day_ is not None:
            raise ValueError("the history must be unfrozen (a fitted builder before freeze)")
        if (other.window_days, other.prior_strength) != (self.window_days, self.prior_strength):
            raise ValueError("the history was built with another window or prior strength than this model's")
        twin = copy.copy(self)
        twin._level_lookups = {}
        twin.line_aggregates_ = other.line_aggregates_
        twin.claim_aggregates_ = other.claim_aggregates_
        twin.auth_evidence_ = None if self.auth_evidence_ is None else other.auth_evidence_
        twin.as_of_day_ = None
        return twin

    def transform(
        self,
        *,
        claims: pd.DataFrame,
        lines: pd.DataFrame,
        context_claims: pd.DataFrame | None = None,
        context_lines: pd.DataFrame | None = None,
    ) -> FeatureSet:
        """Features for `claims` (one row each, in order). Context = every claim the team has sent,
        for duplicate suspicion (default: the claims themselves).

        A claim's lines are taken from `context_lines` when given (from `lines` only for claims missing
        from the context). Scoring one claim with itself as context is the serving call: it reads each
        input column once and never builds a DataFrame (~2 ms on two cores, against ~40 ms through pandas)."""
        c = claim_columns(claims)
        ids = c["claim_id"]
        check_unique_ids(ids, what="claims")
        n = len(ids)
        in_context: np.ndarray | None = None
        if context_claims is None or context_claims is claims:
            sources = [lines if context_lines is None or context_claims is None else context_lines]
        else:
            at = index_in(context_claims["claim_id"], ids)
            in_context = np.zeros(n, dtype=bool)
            in_context[at[at >= 0]] = True
            if context_lines is None:
                sources = [lines]
            else:
                sources = [context_lines, lines] if not in_context.all() else [context_lines]
        rows = line_rows(c, sources)
        if in_context is None:  # the context is the claims themselves: its lines are these lines
            context_rows: Mapping[str, np.ndarray] = rows
        else:
            assert context_claims is not None
            context_rows = _context_line_keys(context_claims, c, ~in_context, sources)
        apply_payer_rules(c, rows, self.rules_)
        self._add_learned_auth(rows)
        own = claim_fields(c, rows, context_lines=context_rows)
        claim_ids = pd.Index(ids, dtype="str", name="claim_id")

        cols: dict[str, np.ndarray] = {}
        pointers: dict[str, np.ndarray] = {}
        # categorical codes: position in the fitted levels, NaN when unseen
        row_pos = rows["claim_pos"]  # each line's claim position; rows are sorted by claim, then line
        first_line = np.flatnonzero(np.r_[True, row_pos[1:] != row_pos[:-1]]) if len(row_pos) else row_pos
        principal = np.full(n, None, dtype=object)
        principal[row_pos[first_line]] = rows["proc_family"][first_line]
        for name in CATEGORICAL:
            cols[name] = lookup_codes(principal if name == "principal_family" else c[name], self._level_index(name))

        # line-level history: the worst line per claim (highest smoothed rate), and which line it was
        line_hist = self.line_aggregates_.transform_arrays(rows, query_day=day_number(rows["submitted_at"]))
        by_claim = np.argsort(row_pos, kind="stable")
        sorted_pos = row_pos[by_claim]
        starts = np.flatnonzero(np.r_[True, sorted_pos[1:] != sorted_pos[:-1]]) if len(sorted_pos) else sorted_pos
        claim_at = sorted_pos[starts]
        counts = np.diff(np.r_[starts, len(sorted_pos)])
        has_lines = np.zeros(n, dtype=bool)
        has_lines[claim_at] = True
        # every line spec at once, one row each: the same elementwise work as spec by spec, in ~15 numpy
        # calls instead of ~120 (which for one claim is most of the cost)
        names = [spec.name for spec in LINE_SPECS]
        n_rows = len(row_pos)
        rate = np.stack([line_hist[f"{name}_rate"] for name in names]) if n_rows else np.zeros((len(names), 0))
        pointer = np.full((len(names), n), -1, dtype=np.int64)
        if len(starts):
            sorted_rate = rate[:, by_claim]
            top = np.repeat(np.maximum.reduceat(sorted_rate, starts, axis=1), counts, axis=1)
            first_max = np.minimum.reduceat(np.where(sorted_rate == top, np.arange(n_rows), n_rows), starts, axis=1)
            pointer[:, claim_at] = by_claim[first_max]
        chosen = pointer >= 0
        for suffix in ("rate", "n", "n_recent"):
            if not n_rows:  # no lines at all: nothing to point at
                picked = np.full((len(names), n), np.nan)
            else:
                values = rate if suffix == "rate" else np.stack([line_hist[f"{name}_{suffix}"] for name in names])
                picked = np.where(chosen, np.take_along_axis(values, np.maximum(pointer, 0), axis=1), np.nan)
            cols.update({f"{name}_{suffix}": picked[k] for k, name in enumerate(names)})
        # chance that at least one line is denied, if lines were independent at these rates
        log_keep_rate = np.log1p(-np.clip(rate, 0.0, 0.999))
        any_denied = -np.expm1(np.stack([np.bincount(row_pos, weights=w, minlength=n) for w in log_keep_rate]))
        recent = np.full((len(names), n), np.nan)
        if len(starts):
            sorted_recent = np.stack([line_hist[f"{name}_rate_recent"] for name in names])[:, by_claim]
            recent[:, claim_at] = np.maximum.reduceat(sorted_recent, starts, axis=1)
        for k, name in enumerate(names):
            pointers[name] = pointer[k]
            cols[f"{name}_any"] = np.where(has_lines, any_denied[k], np.nan)
            cols[f"{name}_rate_recent"] = recent[k]

        # claim-level history
        cols.update(
            self.claim_aggregates_.transform_arrays(claim_key_columns(c), query_day=day_number(c["submitted_at"]))
        )
        cols.update(own)
        X = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
        for j, name in enumerate(FEATURE_NAMES):
            X[:, j] = cols[name]
        line_values = {
            "line_number": rows["line_number"],
            "procedure_code": rows["procedure_code"],
            "modifier_text": _modifier_text(rows["modifier_key"]),
            "line_dx": rows["line_dx"],
            "units": rows["units"],
            "prev_code": rows["prev_code"],
        }
        context = self._context(c, rows, cols)
        return FeatureSet(X=X, context=context, claim_ids=claim_ids, lines=line_values, pointers=pointers)

    def _level_index(self, name: str) -> dict[str, int]:
        """Fitted category levels of one column as a dict (level -> code), built once per level list."""
        levels = self.levels_[name]
        hit = self._level_lookups.get(name)
        if hit is None or hit[0] is not levels:
            hit = (levels, {v: i for i, v in enumerate(levels)})
            self._level_lookups[name] = hit
        return hit[1]

    def prepare(self) -> DenialFeatureBuilder:
        """Build every lookup the first request would otherwise build (serving calls this at load)."""
        for name in CATEGORICAL:
            self._level_index(name)
        self.line_aggregates_.prepare()
        self.claim_aggregates_.prepare()
        if self.auth_evidence_ is not None:
            self.auth_evidence_.prepare()
        return self

    def _add_learned_auth(self, rows: dict[str, np.ndarray]) -> None:
        """Widen each line's `auth_needed` (payer rules) with the requirements the payer's recent denials show."""
        n = len(rows["claim_pos"])
        rows["auth_learned"] = np.zeros(n, dtype=bool)
        rows["auth_evidence_lines"] = np.zeros(n)
        rows["auth_evidence_rate"] = np.zeros(n)
        if self.auth_evidence_ is None or not n:  # a model saved before learned requirements existed
            return
        learned, lines, rate = learned_auth_needed(
            self.auth_evidence_, rows, query_day=day_number(rows["submitted_at"])
        )
        rows["auth_learned"] = learned & ~rows["auth_needed"]
        rows["auth_evidence_lines"], rows["auth_evidence_rate"] = lines, rate
        rows["auth_needed"] = rows["auth_needed"] | learned

    def _context(self, claims: Columns, rows: Columns, cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Values the reason phrases name (payer, codes, lines), as arrays. Never patient fields.

        Texts are picked from a few constants by index rather than built per row: only the rows someone
        reads are ever formatted.
        """
        n = len(claims["claim_id"])

        def text(col: str, default: str = "unknown") -> np.ndarray:
            values = claims[col].copy()
            values[pd.isna(values)] = default
            return values

        context = {
            col: text(col)
            for col in ("payer_id", "plan_type", "billing_npi", "rendering_npi", "facility_id", "place_of_service")
        }
        need = np.flatnonzero(rows["auth_needed"])  # rows are sorted by claim and line: the first such line
        need_pos = rows["claim_pos"][need]
        first = np.r_[True, need_pos[1:] != need_pos[:-1]] if len(need) else np.zeros(0, dtype=bool)
        auth_code = np.full(n, "none on file for these codes", dtype=object)
        auth_code[need_pos[first]] = rows["procedure_code"][need[first]]
        context["auth_rule_code"] = auth_code
        source = np.full(n, "payer rules", dtype=object)
        for i in need[first][rows["auth_learned"][need[first]]]:  # rare: format only these
            source[rows["claim_pos"][i]] = (
                f"learned: {rows['payer_id'][i]} denied about {rows['auth_evidence_rate'][i]:.0%} of "
                f"{rows['auth_evidence_lines'][i]:.0f} {rows['proc_family'][i]}xx lines sent without authorization "
                f"in the last {AUTH_WINDOW_DAYS} days"
            )
        context["auth_rule_source"] = source
        has_auth = ~pd.isna(claims["prior_auth_number"])
        context["auth_text"] = _pick(("without an authorization number", "with an authorization number"), has_auth)
        # no number on a claim that needs one: get it; otherwise the one on file must fit the service
        unauthorized = np.zeros(n, dtype=bool)
        unauthorized[need_pos] = True
        unauthorized &= ~has_auth
        context["auth_action"] = np.full(n, self.category_actions_["authorization"], dtype=object)
        for i in np.flatnonzero(unauthorized):  # few claims: format only these
            context["auth_action"][i] = (
                f"Obtain {context['payer_id'][i]}'s prior authorization for {auth_code[i]} before release"
            )
        context["filing_limit"] = claims["filing_limit"]
        verified = claims["eligibility_verified"]
        context["eligibility_text"] = _pick(("no", "yes", "not recorded"), np.nan_to_num(verified, nan=2.0).astype(int))
        context["secondary_payer"] = text("secondary_payer_id", "none")
        flags = (
            pd.isna(claims["rendering_npi"]).astype(int) * 4
            + pd.isna(claims["referral_number"]).astype(int) * 2
            + (cols["lines_without_pointer"] > 0).astype(int)
        )
        context["missing_text"] = _MISSING_TEXT[flags]
        # the payer's worst recent denial category, for the payer_history phrase
        cat_rates = np.column_stack([cols[f"payer_cat_{cat}_rate_recent"] for cat in CATEGORIES])
        top = np.nan_to_num(cat_rates, nan=-1).argmax(axis=1)
        context["payer_top_cat_rate"] = cat_rates[np.arange(len(top)), top]
        labels, actions = self._category_texts()
        context["payer_top_cat_label"] = labels[top]
        context["payer_top_cat_action"] = actions[top]
        return context

    def _category_texts(self) -> tuple[np.ndarray, np.ndarray]:
        """Label (lower case) and preventive action per category, in CATEGORIES order."""
        labels = np.array([self.category_labels_[c].lower() for c in CATEGORIES], dtype=object)
        return labels, np.array([self.category_actions_[c] for c in CATEGORIES], dtype=object)

    # ---- persistence: plain arrays and JSON, no pickled objects --------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "params": {
                "window_days": self.window_days,
                "prior_strength": self.prior_strength,
                "as_of_day": self.as_of_day_,
            },
            "levels": self.levels_,
            # YAML keeps the integer appeal levels that JSON would turn into strings
            "rules_yaml": yaml.safe_dump(self.rules_.library.model_dump(mode="python"), sort_keys=True),
            "category_labels": self.category_labels_,
            "category_actions": self.category_actions_,
            "line_aggregates": self.line_aggregates_.to_state(),
            "claim_aggregates": self.claim_aggregates_.to_state(),
            **({} if self.auth_evidence_ is None else {"auth_evidence": self.auth_evidence_.to_state()}),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DenialFeatureBuilder:
        params = state["params"]
        self = cls(window_days=params["window_days"], prior_strength=params["prior_strength"])
        self.as_of_day_ = params["as_of_day"]
        self.levels_ = {k: list(v) for k, v in state["levels"].items()}
        self.rules_ = PayerRules(RuleLibrary.model_validate(yaml.safe_load(state["rules_yaml"])))
        self.category_labels_ = dict(state["category_labels"])
        self.category_actions_ = dict(state["category_actions"])
        self.line_aggregates_ = HistoryAggregates.from_state(state["line_aggregates"])
        self.claim_aggregates_ = HistoryAggregates.from_state(state["claim_aggregates"])
        evidence = state.get("auth_evidence")
        self.auth_evidence_ = None if evidence is None else HistoryAggregates.from_state(evidence)
        return self.prepare()  # a loaded builder serves requests: build its lookups now, not on the first one
