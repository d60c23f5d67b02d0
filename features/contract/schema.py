"""The DATA.md tables, declared once as data.

Readers, validation, writers and the synthetic generator all read these declarations, so a column's
name, type, default and allowed values live in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Kind = Literal["id", "text", "date", "money", "int", "bool", "codes"]

PlanType = Literal[
    "commercial",
    "medicare",
    "medicare_advantage",
    "medicaid",
    "managed_medicaid",
    "tricare",
    "workers_comp",
    "other",
]
PLAN_TYPES: tuple[str, ...] = get_args(PlanType)
GroupCode = Literal["CO", "PR", "OA", "PI", "CR"]
GROUP_CODES: tuple[str, ...] = get_args(GroupCode)
FREQUENCY_CODES = ("1", "7", "8")
CLAIM_TYPES = ("professional", "institutional")
SEXES = ("M", "F", "U")
REMIT_STATUS_CODES = ("1", "2", "3", "4", "19", "20", "21", "22", "23", "25")
# What a team records having done (followups.action), as opposed to the actions ClaimSight recommends.
TEAM_ACTIONS = ("corrected_claim", "appeal", "reconsideration", "payer_call", "write_off", "bill_patient")
# The team actions that ask the payer again; a write-off or a bill to the patient asks nobody.
PAYER_TEAM_ACTIONS = ("corrected_claim", "appeal", "reconsideration", "payer_call")
FOLLOWUP_OUTCOMES = ("overturned", "partial", "upheld", "pending", "no_response")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    meaning: str = ""
    default: str | None = None
    allowed: tuple[str, ...] | None = None
    non_negative: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    meaning: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


CLAIMS = Table(
    name="claims",
    key=("claim_id",),
    meaning="one row per claim submission (837 CLM loop)",
    columns=(
        Column("claim_id", "id", required=True, meaning="unique per submission"),
        Column(
            "frequency_code", "text", default="1", allowed=FREQUENCY_CODES, meaning="1 original, 7 replacement, 8 void"
        ),
        Column("original_claim_id", "id", meaning="the claim a replacement or void refers to"),
        Column("patient_id", "id", required=True, meaning="pseudonymous patient key (PHI: never logged)"),
        Column("patient_birth_date", "date", meaning="used only to derive age at service"),
        Column("patient_sex", "text", allowed=SEXES),
        Column("payer_id", "id", required=True, meaning="primary payer of this submission"),
        Column("plan_type", "text", allowed=PLAN_TYPES),
        Column("secondary_payer_id", "id", meaning="another coverage exists"),
        Column("billing_npi", "id", required=True),
        Column("rendering_npi", "id"),
        Column("specialty", "text"),
        Column("facility_id", "id"),
        Column("place_of_service", "text"),
        Column("claim_type", "text", default="professional", allowed=CLAIM_TYPES),
        Column("service_from", "date", required=True),
        Column("service_to", "date"),
        Column("submitted_at", "date", required=True, meaning="date the claim left the practice"),
        Column("diagnosis_codes", "codes", required=True, meaning="ICD-10-CM, no dots, principal first"),
        Column("prior_auth_number", "id"),
        Column("referral_number", "id"),
        Column("eligibility_verified", "bool"),
        Column("total_charge", "money", required=True, non_negative=True),
    ),
)

CLAIM_LINES = Table(
    name="claim_lines",
    key=("claim_id", "line_number"),
    meaning="one row per service line (837 LX/SV1/SV2)",
    columns=(
        Column("claim_id", "id", required=True),
        Column("line_number", "int", required=True, non_negative=True),
        Column("procedure_code", "text", required=True, meaning="CPT/HCPCS"),
        Column("modifiers", "codes"),
        Column("units", "int", default="1", non_negative=True),
        Column("charge", "money", required=True, non_negative=True),
        Column("diagnosis_pointers", "codes"),
        Column("revenue_code", "text"),
    ),
)

REMITS = Table(
    name="remits",
    key=("remit_id",),
    meaning="one row per adjudication of a claim (835 CLP loop)",
    columns=(
        Column("claim_id", "id", required=True),
        Column("remit_id", "id", required=True),
        Column("remit_date", "date", required=True),
        Column("status_code", "text", required=True, allowed=REMIT_STATUS_CODES),
        Column("paid_amount", "money", required=True),
        Column("patient_responsibility", "money"),
    ),
)

ADJUSTMENTS = Table(
    name="adjustments",
    meaning="one row per CAS adjustment (835 CAS at claim or line level)",
    columns=(
        Column("claim_id", "id", required=True),
        Column("remit_id", "id", required=True),
        Column("line_number", "int", non_negative=True),
        Column("group_code", "text", required=True, allowed=GROUP_CODES),
        Column("carc", "text", required=True),
        Column("amount", "money", required=True),
        Column("remark_codes", "codes"),
    ),
)

FOLLOWUPS = Table(
    name="followups",
    meaning="what the team did after a denial, and what came of it",
    columns=(
        Column("claim_id", "id", required=True),
        Column("action", "text", required=True, allowed=TEAM_ACTIONS),
        Column("action_date", "date", required=True),
        Column("level", "int", non_negative=True),
        Column("outcome", "text", allowed=FOLLOWUP_OUTCOMES),
        Column("outcome_date", "date"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (CLAIMS, CLAIM_LINES, REMITS, ADJUSTMENTS, FOLLOWUPS)}
REQUIRED_TABLES = ("claims", "claim_lines", "remits", "adjustments")  # followups is optional
