"""The denial-risk features as data: each feature and each reason group declared once.

A feature is its name, meaning, source, as-of rule and reason group; a reason group carries the phrase a
biller reads and the preventive action. Documentation, the model card and the reason text all read these
declarations (`features.declarations` says why). The history families behind the history features are
declared here too: `LINE_SPECS` per service line, `CLAIM_SPECS` per claim.
"""

from __future__ import annotations

from features.contract.codes import CATEGORIES
from features.declarations import AggregateSpec, FeatureDef, ReasonGroup
from features.learned_policies import WINDOW_DAYS as POLICY_WINDOW_DAYS

__all__ = [
    "CATEGORICAL",
    "CLAIM_SPECS",
    "CLAIM_SUFFIXES",
    "FEATURES",
    "FEATURE_NAMES",
    "LINE_SPECS",
    "LINE_SUFFIXES",
    "LINE_TARGET_CATEGORIES",
    "MODIFIER_HABIT_SPEC",
    "REASON_GROUPS",
]

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
            "claim_context",
            "{code_context_code} with {code_context_mods} beside {code_context_beside} (line {code_context_line:.0f}) "
            "is denied for coding about {code_context_rate:.0%} of the time",
            "coding",
            "Check whether {code_context_code} on line {code_context_line:.0f} needs a modifier beside "
            "{code_context_beside} (25 on an E/M beside a procedure, 59/XS for a distinct service) before release",
        ),
        ReasonGroup(
            "modifier_habit",
            "line {modifier_habit_line:.0f} ({modifier_habit_code}) is sent without a modifier, while about "
            "{modifier_habit_missing:.0%} of {modifier_habit_code} lines billed like it carry one",
            "coding",
            "Check whether {modifier_habit_code} on line {modifier_habit_line:.0f} needs a modifier (50/RT/LT for a "
            "bilateral service, 25 on an E/M beside a procedure, GP on therapy, a payer's KX) before release",
        ),
        ReasonGroup(
            "clinician_coverage",
            "clinician {rendering_npi}'s recent lines in the same code section as {clinician_section_code} (line "
            "{clinician_section_line:.0f}) were denied as not covered for this provider about "
            "{clinician_section_rate_recent:.0%} of the time",
            "non_covered",
            "Check clinician {rendering_npi}'s certification and enrollment for this service (CLIA, credentialing "
            "with {payer_id}) before release",
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
            "diagnosis_code",
            "diagnosis {dx_code_dx} with {dx_code_code} (line {dx_code_line:.0f}) is denied for medical necessity "
            "about {dx_code_rate:.0%} of the time",
            "medical_necessity",
            "Check {dx_code_dx} is on the payer's list of diagnoses that support {dx_code_code} (its LCD or policy)",
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
        # the written pre-submission edits (payer_rules.yaml: modifier_required, denied_together,
        # dx_not_supporting), accepted from `claimsight edits` or written by hand
        ReasonGroup(
            "rule_modifier",
            "{rule_modifier_missing:.0f} line(s) lack a modifier that {payer_id}'s rules require on that code",
            "coding",
            "Add the modifier {payer_id}'s rules require (payer_rules.yaml modifier_required) before release",
        ),
        ReasonGroup(
            "rule_bundling",
            "{rule_pair_bundled:.0f} line(s) are billed with a code {payer_id}'s rules say they are bundled into",
            "coding",
            "Remove the bundled line or add the modifier that unbundles it (payer_rules.yaml denied_together)",
        ),
        ReasonGroup(
            "rule_diagnosis",
            "{rule_dx_unsupported:.0f} line(s) point at a diagnosis {payer_id}'s rules say does not support the code",
            "medical_necessity",
            "Check the diagnosis pointed at supports the procedure for {payer_id} (payer_rules.yaml dx_not_supporting)",
        ),
        ReasonGroup(
            "rule_code_set",
            "{rule_code_terminated:.0f} line(s) bill a procedure code ({terminated_code}) deleted from the code set "
            "before the date of service",
            "coding",
            "Replace {terminated_code} with the code that succeeds it for the date of service (payer_rules.yaml "
            "code_terminated: the CMS HCPCS file's termination dates, the AMA's CPT deletions) before release",
        ),
        ReasonGroup(
            "coverage",
            "{noncovered_learned_lines:.0f} line(s) bill a code {payer_id} ({plan_type}) now denies as not covered "
            "({coverage_text})",
            "non_covered",
            "Check {payer_id}'s current coverage policy for {coverage_code} before release: bill it only with the "
            "patient's signed waiver (ABN), or not at all",
        ),
        ReasonGroup(
            "modifier_policy",
            "{modifier_learned_lines:.0f} line(s) bill a code without a modifier that {payer_id} ({plan_type}) now "
            "denies for coding without one ({modifier_policy_text})",
            "coding",
            "Check {payer_id}'s current policy for {modifier_policy_code}: add the modifier it now requires when the "
            "service meets it (a required modifier is missing: CARC 4)",
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

LINE_TARGET_CATEGORIES = ("coding", "medical_necessity", "authorization", "non_covered")
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
            ("proc_section", "other_sections", "modifier_key"),
            ("procedure_code", "other_sections", "modifier_key"),
        ),
        "line_denied_coding",
        "coding denial rate of this code with these modifiers beside the services of the claim's other lines (their "
        "CPT/HCPCS sections: an E/M beside a procedure wants modifier 25, beside a lab test it does not)",
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
        "clinician_section",
        ((), ("proc_section",), ("rendering_npi", "proc_section")),
        "line_denied_non_covered",
        "not-covered denial rate of this clinician's lines of this CPT/HCPCS section (a lapsed lab certificate, "
        "imaging accreditation or enrollment denies every such service until renewed: CARC B7)",
    ),
    AggregateSpec(
        "dx_proc",
        ((), ("dx_chapter", "proc_section"), ("dx_chapter", "proc_family"), ("dx_category", "proc_family")),
        "line_denied_medical_necessity",
        "medical-necessity denial rate of this diagnosis category with this procedure family, shrunk through the "
        "ICD-10-CM chapter x CPT/HCPCS section (a payer's policy reads the diagnosis's kind against the service's)",
    ),
    AggregateSpec(
        "dx_code",
        (
            (),
            ("procedure_code",),
            ("dx_block", "procedure_code"),
            ("dx_category", "procedure_code"),
            ("line_dx", "procedure_code"),
        ),
        "line_denied_medical_necessity",
        "medical-necessity denial rate of this diagnosis code with this procedure code, shrunk through its ICD-10-CM "
        "category and block (features/diagnosis_blocks.py)",
    ),
    AggregateSpec(
        "plan_proc",
        ((), ("payer_id", "procedure_code"), ("payer_id", "plan_type", "procedure_code")),
        "line_denied",
        "line denial rate of this payer's plan (product) for this procedure code",
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
# Not a denial rate: the share of a code's earlier lines sent with any modifier. A code nearly always billed
# with one (a bilateral service, an E/M beside a procedure, therapy for a payer that wants GP) sent bare is
# the usual missing-modifier denial (CARC 4), learned from the team's own billing without waiting for denials.
# Counted from the same line events (dated by first remit, so what was known before the claim was sent), but
# read only for lines without a modifier: features `modifier_habit_missing`, `_recent`.
MODIFIER_HABIT_SPEC = AggregateSpec(
    "modifier_habit",
    (
        (),
        ("procedure_code",),
        ("procedure_code", "companion_group"),
        ("payer_id", "procedure_code", "companion_group"),
    ),
    "line_has_modifier",
    "share of this code's lines sent with a modifier (beside the same main service, to this payer)",
)
CLAIM_SPECS = (
    AggregateSpec(
        "provider", ((), ("billing_npi",), ("rendering_npi",)), "denied", "claim denial rate of the clinician"
    ),
    AggregateSpec(
        "provider_late",
        ((), ("rendering_npi",)),
        "denied_timely_filing",
        "timely-filing denial rate of the clinician's claims (a late-submission habit)",
    ),
    AggregateSpec(
        "provider_missing",
        ((), ("rendering_npi",)),
        "denied_missing_information",
        "missing-information denial rate of the clinician's claims (a data-quality habit)",
    ),
    # payer_plan (claim denial rate of the payer's plan) was measured and removed: leaving it out raised AUC on
    # both worlds and every seed (README, "Two worlds", the ablation); plan_proc carries the plan's structure
    AggregateSpec("facility", ((), ("facility_id",)), "denied", "claim denial rate at the facility"),
    AggregateSpec(
        "patient_eligibility",
        ((), ("patient_key",), ("patient_key", "payer_id")),
        "denied_eligibility",
        "eligibility denial rate of the patient's earlier claims (with this payer)",
    ),
    AggregateSpec(
        "patient_cob",
        ((), ("patient_key",), ("patient_key", "payer_id")),
        "denied_coordination_of_benefits",
        "payer-order denial rate of the patient's earlier claims (with this payer)",
    ),
    AggregateSpec(
        "referral",
        ((), ("referral_status",), ("payer_id", "referral_status"), ("payer_id", "specialty", "referral_status")),
        "denied_missing_information",
        "missing-information denial rate of this payer and specialty, by referral (on file, missing where the "
        "plan requires one, not required)",
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
# The columns each history family gives the model. A line family keeps its volumes: how many of the code's lines
# stand behind a per-code rate is how far to trust it (dx_code_n ranks among the strongest features on the
# scrambled world). A claim family gives its rates only. Its key is coarse (a clinician, a facility, a payer), so
# its volume says little the shrunk rate does not, and the ten payer_cat families all count the same claims of
# the payer. Their 38 volume columns were measured at 1M claims x 36 months on both worlds: left out, evaluation
# AUC moved by +0.0006 on each, category top-3 by +0.0006 and +0.0013 (top-1 +0.0018 and -0.0024), and the
# binary head stopped earlier (337 trees against 371, 313 against 330) on fewer columns (README, "Two worlds").
LINE_SUFFIXES = {
    "any": "chance any line is denied at these rates",
    "rate": "smoothed, all history",
    "n": "volume, all history",
    "rate_recent": "smoothed, last 90 days",
    "n_recent": "volume, last 90 days",
}
CLAIM_SUFFIXES = {"rate": "smoothed, all history", "rate_recent": "last 90 days"}
_LINE_GROUP = {
    "payer_proc": "payer_procedure",
    "payer_proc_mod": "modifiers",
    "code_context": "claim_context",
    "code_pair": "bundling",
    "provider_proc": "provider_procedure",
    "clinician_section": "clinician_coverage",
    "dx_proc": "diagnosis_pairing",
    "dx_code": "diagnosis_code",
    "plan_proc": "payer_procedure",
    "units": "units",
    "payer_proc_auth": "authorization",
}
_CLAIM_GROUP = {
    "provider": "provider_history",
    "provider_late": "timely_filing",
    "provider_missing": "missing_information",
    "facility": "facility_history",
    "patient_eligibility": "eligibility",
    "patient_cob": "coordination_of_benefits",
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
        "rule_modifier_missing": (
            "lines whose code the payer rules' modifier_required lists, carrying none of its modifiers",
            "rule_modifier",
        ),
        "rule_pair_bundled": (
            "lines that are B of a payer rules' denied_together pair [A, B] whose claim also bills A",
            "rule_bundling",
        ),
        "rule_dx_unsupported": (
            "lines pointing at a diagnosis the payer rules' dx_not_supporting lists for their code",
            "rule_diagnosis",
        ),
        "rule_code_terminated": (
            "lines whose code the payer rules' code_terminated lists as deleted on or before the claim's date of "
            "service",
            "rule_code_set",
        ),
        "noncovered_learned_lines": (
            "lines whose code the plan's recent remits deny as not covered (features/learned_policies.py)",
            "coverage",
        ),
        "modifier_learned_lines": (
            "lines sent without a modifier where the plan's recent remits deny the code without one for coding "
            "(features/learned_policies.py)",
            "modifier_policy",
        ),
        "modifier_habit_missing": (
            "over the lines sent without any modifier: the highest share of their code's earlier lines (beside the "
            "same main service: the CPT/HCPCS section of the claim's costliest other line; to this payer) that "
            "carried one; 0 when every line has a modifier",
            "modifier_habit",
        ),
        "modifier_habit_missing_recent": ("the same share over the last 90 days", "modifier_habit"),
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
        "referral_missing_where_required": (
            "no referral number while the plan type requires one (features.claim_fields.REFERRAL_PLAN_TYPES); "
            "an absent rendering NPI is the billing provider, never a missing field",
            "missing_information",
        ),
    }
    for name, (meaning, group) in own.items():
        source = (
            "claims, claim_lines, payer rules" if name.startswith(("auth", "lag", "rule")) else "claims, claim_lines"
        )
        if name.startswith("duplicate"):
            source = "claims submitted earlier"
        as_of = _AS_OF_CLAIM
        if name in ("noncovered_learned_lines", "modifier_learned_lines"):
            source = f"claims, claim_lines, history of first remits (the last {POLICY_WINDOW_DAYS} days)"
            as_of = _AS_OF_HISTORY
        if name.startswith("modifier_habit"):
            source = "claims, claim_lines, earlier claims' lines (dated by their first remit)"
            as_of = _AS_OF_HISTORY
        add(FeatureDef(name, meaning, source, as_of, group))
    for spec in LINE_SPECS:
        for suffix, what in LINE_SUFFIXES.items():
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
        for suffix, what in CLAIM_SUFFIXES.items():
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
