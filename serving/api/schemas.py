"""Request and response bodies of the scoring routes, and the one conversion from bodies to contract tables.

Request fields are the DATA.md columns with the same names, formats and defaults (a claim with its lines; a
denial with its claim, its first remit and that remit's adjustments), so what a team exports and what it
posts are one vocabulary. Every model forbids unknown fields (minimum necessary: a `patient_name` is a 422,
not silently carried) and validates strictly: JSON types are not coerced ("5" is not a number, 1 is not a
date or a boolean), so the OpenAPI schema is exactly what is accepted. Codes and identifiers are limited to
the characters the contract uses, so nothing a feature function cannot read gets past the door and no
identifier carries free text.

Row-level rules that validation would quarantine in a batch run (service date after submission, a
replacement without its original, duplicate keys) are 422s here, under their own rule names; the error body
never quotes a value (serving/api/errors.py).

`claim_tables` / `denial_tables` turn bodies into DataFrames with exactly the dtypes `features.contract.validation`
gives a validated data directory (pandas `string`, `datetime64[us]`, `float64`, `Int64`, `boolean`, driven
by the same `features.contract.schema` declarations), so a claim scored here and the same claim scored by
`claimsight score claims` go through one feature function with the same input.

Responses to JSON bodies never carry a claim id, patient field or any other identifier the caller sent: each
result names its position in the request (`index`). An 837 body (serving/api/x12.py) is the exception: its
results also carry the claim's CLM01, the only handle its sender has on claims spread over transactions, and
only back to the caller who sent it (never in logs, the audit row keeps keyed hashes).
Every response names the model versions that produced it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticKnownError

from features.columns import ColumnTable
from features.contract.schema import (
    ADJUSTMENTS,
    CLAIM_LINES,
    CLAIM_TYPES,
    CLAIMS,
    FREQUENCY_CODES,
    REMIT_STATUS_CODES,
    REMITS,
    SEXES,
    GroupCode,
    PlanType,
    Table,
)

# ------------------------------------------------------------------------------------------- field types

_ISO_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MIN_SERVICE_DATE: Final = dt.date(1980, 1, 1)
MAX_DATE: Final = dt.date(2199, 12, 31)
MIN_BIRTH_DATE: Final = dt.date(1880, 1, 1)
MAX_MONEY: Final = 1e9


def _iso_date_text(value: Any) -> Any:
    """Dates arrive as `YYYY-MM-DD` text only (DATA.md); pydantic would also take numbers and datetimes."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value  # already a date (a body built in Python, e.g. the warm-up claim)
    if not isinstance(value, str):
        raise PydanticKnownError("date_type")
    if not _ISO_DATE.match(value):
        raise PydanticCustomError("date_format", "Date must be YYYY-MM-DD")
    return value


ServiceDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date_text),
    Field(strict=False, ge=MIN_SERVICE_DATE, le=MAX_DATE, description="YYYY-MM-DD"),
]
BirthDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date_text),
    Field(strict=False, ge=MIN_BIRTH_DATE, le=MAX_DATE, description="YYYY-MM-DD; only the age band at service is used"),
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/#-]+$", max_length=64)]
NPI = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$", max_length=10)]
ProcedureCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+$", max_length=10)]
DiagnosisCodes = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]{3,8}(\|[A-Za-z0-9]{3,8}){0,24}$", max_length=250)
]
Modifiers = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2}(\|[A-Za-z0-9]{2}){0,3}$", max_length=11)]
Pointers = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]?(\|[1-9][0-9]?){0,11}$", max_length=40)]
RevenueCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3,4}$", max_length=4)]
PlaceOfService = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$", max_length=2)]
Specialty = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./&-]+( [A-Za-z0-9_./&-]+)*$", max_length=64)]
Carc = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,3}$", max_length=3)]
RemarkCodes = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2,7}(\|[A-Za-z0-9]{2,7}){0,9}$", max_length=80)]
Money = Annotated[float, Field(ge=0, le=MAX_MONEY)]
SignedMoney = Annotated[float, Field(ge=-MAX_MONEY, le=MAX_MONEY)]

# Allowed values are the contract's (features.contract.schema), in its order, so the API accepts exactly what
# validation keeps. PlanType and GroupCode are imported as the contract's Literals; the contract declares the
# others as tuples, made Literals here (mypy cannot read a Literal built from a tuple, so it sees `str`).
if TYPE_CHECKING:
    StatusCode = str
    FrequencyCode = str
    Sex = str
    ClaimType = str
else:
    StatusCode = Literal[REMIT_STATUS_CODES]
    FrequencyCode = Literal[FREQUENCY_CODES]
    Sex = Literal[SEXES]
    ClaimType = Literal[CLAIM_TYPES]
MAX_LINES: Final = 999
MAX_ADJUSTMENTS: Final = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _error(rule: str, message: str) -> PydanticCustomError:
    """A 422 rule of our own: the name says what failed, the message is fixed text (never a value)."""
    return PydanticCustomError(rule, message)


def _unique(values: Iterable[object], rule: str, message: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise _error(rule, message)
        seen.add(value)


# ---------------------------------------------------------------------------------------------- requests


class LineIn(_Strict):
    """One service line (DATA.md claim_lines, without claim_id: it is the claim's)."""

    line_number: int = Field(ge=0, le=9999)
    procedure_code: ProcedureCode = Field(description="CPT/HCPCS")
    modifiers: Modifiers | None = Field(None, description="up to four, |-separated")
    units: int = Field(1, ge=0, le=100_000)
    charge: Money
    diagnosis_pointers: Pointers | None = Field(None, description="|-separated 1-based pointers")
    revenue_code: RevenueCode | None = None


class ClaimIn(_Strict):
    """One claim submission (DATA.md claims) with its lines."""

    claim_id: Identifier
    frequency_code: FrequencyCode = "1"
    original_claim_id: Identifier | None = None
    patient_id: Identifier = Field(description="pseudonymous patient key; never logged or returned")
    patient_birth_date: BirthDate | None = None
    patient_sex: Sex | None = None
    payer_id: Identifier
    plan_type: PlanType | None = None
    secondary_payer_id: Identifier | None = None
    billing_npi: NPI
    rendering_npi: NPI | None = None
    specialty: Specialty | None = None
    facility_id: Identifier | None = None
    place_of_service: PlaceOfService | None = None
    claim_type: ClaimType = "professional"
    service_from: ServiceDate
    service_to: ServiceDate | None = None
    submitted_at: ServiceDate
    diagnosis_codes: DiagnosisCodes = Field(description="ICD-10-CM without dots, principal first, |-separated")
    prior_auth_number: Identifier | None = None
    referral_number: Identifier | None = None
    eligibility_verified: bool | None = None
    total_charge: Money
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _rows_validation_would_keep(self) -> ClaimIn:
        if self.service_from > self.submitted_at:
            raise _error("service_after_submission", "service_from must not be after submitted_at")
        if self.service_to is not None and self.service_to < self.service_from:
            raise _error("service_dates_order", "service_to must not be before service_from")
        if self.frequency_code in ("7", "8") and self.original_claim_id is None:
            raise _error("original_claim_required", "original_claim_id is required for frequency 7 or 8")
        if self.original_claim_id is not None and self.original_claim_id == self.claim_id:
            raise _error("original_claim_self", "original_claim_id must name another claim")
        _unique((line.line_number for line in self.lines), "duplicate_line_number", "line_number must be unique")
        return self


Explain = Literal["flagged", "all", "none"]


class ClaimBatch(_Strict):
    """Claims to score before release. Each claim's duplicate suspicion looks at the other claims of the
    request (the service keeps no claim history of its own)."""

    claims: list[ClaimIn] = Field(min_length=1)
    target_precision: float | None = Field(
        None, gt=0, le=1, description="review threshold from the evaluation PR curve; default: the model's"
    )
    explain: Explain = Field(
        "flagged", description="reasons for the claims flagged for review (as batch scoring), every claim, or none"
    )

    @field_validator("claims")
    @classmethod
    def _unique_claims(cls, claims: list[ClaimIn]) -> list[ClaimIn]:
        _unique((c.claim_id for c in claims), "duplicate_claim_id", "claim_id must be unique in a request")
        return claims


class RemitIn(_Strict):
    """The FIRST remit of the claim (DATA.md remits, without claim_id)."""

    remit_id: Identifier
    remit_date: ServiceDate
    status_code: StatusCode
    paid_amount: SignedMoney
    patient_responsibility: SignedMoney | None = None


class AdjustmentIn(_Strict):
    """One CAS adjustment on that remit (DATA.md adjustments, without claim_id and remit_id)."""

    line_number: int | None = Field(None, ge=0, le=9999, description="absent for a claim-level adjustment")
    group_code: GroupCode
    carc: Carc
    amount: SignedMoney
    remark_codes: RemarkCodes | None = Field(None, description="RARCs, |-separated")


class OriginalClaimIn(ClaimIn):
    """An original claim (frequency 1): the claims whose first remit DATA.md calls a denial or not."""

    frequency_code: Literal["1"] = "1"


class DenialIn(_Strict):
    """A denied original claim as its first remit left it: the claim, that remit and its adjustments."""

    claim: OriginalClaimIn
    remit: RemitIn
    adjustments: list[AdjustmentIn] = Field(default_factory=list, max_length=MAX_ADJUSTMENTS)


def _unique_denials(denials: list[DenialIn]) -> list[DenialIn]:
    """Keys validation would refuse as duplicates (every copy quarantined) are a 422 here."""
    _unique((d.claim.claim_id for d in denials), "duplicate_claim_id", "claim_id must be unique in a request")
    _unique((d.remit.remit_id for d in denials), "duplicate_remit_id", "remit_id must be unique in a request")
    return denials


class DenialBatch(_Strict):
    denials: list[DenialIn] = Field(min_length=1)

    @field_validator("denials")
    @classmethod
    def _unique_keys(cls, denials: list[DenialIn]) -> list[DenialIn]:
        return _unique_denials(denials)


class QueueRequest(_Strict):
    """Open denials to plan, and the team's capacity. Send only denials nobody has worked yet."""

    denials: list[DenialIn] = Field(min_length=1)
    capacity_minutes_per_day: float = Field(gt=0, le=1_000_000, description="team minutes per working day")
    today: ServiceDate | None = Field(None, description="default: the latest submission or remit date sent")
    horizon_days: int = Field(3, ge=1, le=90, description="calendar days to plan ahead")
    cost_per_minute: float = Field(0.75, ge=0, le=10_000, description="loaded staff cost, $ per minute")

    @field_validator("denials")
    @classmethod
    def _unique_keys(cls, denials: list[DenialIn]) -> list[DenialIn]:
        return _unique_denials(denials)


# --------------------------------------------------------------------------------------------- responses


class Reason(BaseModel):
    text: str = Field(description="what drives the score, in the words of the code tables and payer rules")
    action: str | None = Field(None, description="what to do about it (the queue gives one action per row)")


class ClaimScore(BaseModel):
    index: int = Field(description="position of the claim in the request")
    p_denial: float
    top_category: str = Field(description="most likely root-cause category if denied")
    p_category: float
    decision: Literal["release", "review"]
    reasons: list[Reason] = Field(description="what drives the risk and what to fix (empty when not explained)")
    claim_id: str | None = Field(
        None, description="X12 (837) bodies only: the claim's CLM01, the number its sender files it under"
    )


class ClaimScores(BaseModel):
    model_versions: dict[str, str]
    threshold: float = Field(description="p_denial at or above which a claim goes to review")
    results: list[ClaimScore]


class DenialScore(BaseModel):
    index: int = Field(description="position of the denial in the request")
    denied: bool = Field(description="false when the first remit is not a denial (then nothing else is set)")
    denial_category: str | None = None
    denied_amount: float | None = None
    p_recover: float | None = Field(None, description="P(money comes back | the denial is worked)")
    share_if_recovered: float | None = None
    expected_recovery: float | None = Field(None, description="$ expected back if worked (0 for non-payer actions)")
    recommended_action: str | None = None
    action_rule: str | None = Field(None, description="why this action (code tables, guardrails, payer rules)")
    action_group: str | None = Field(None, description="group code of the adjustment the action rests on")
    line_plan: str | None = Field(None, description="each denied line's action and dollars, when the lines differ")
    patient_amount: float | None = Field(None, description="denied $ the patient may be billed (PR only)")
    payer_amount: float | None = Field(None, description="denied $ to work with a payer")
    write_off_amount: float | None = Field(None, description="denied $ to write off")
    deadline: dt.date | None = None
    deadline_rule: str | None = Field(None, description="which payer rule gave the deadline")
    reasons: list[Reason] = []


class DenialScores(BaseModel):
    model_versions: dict[str, str]
    results: list[DenialScore]


class QueueRow(BaseModel):
    index: int = Field(description="position of the denial in the request")
    rank: int | None = Field(description="1 = work first; absent when the denial is not planned")
    status: str
    planned_day: dt.date | None
    action: str
    expected_recovery: float | None
    p_recover: float | None
    denied_amount: float | None
    minutes: float | None
    net_value: float | None
    deadline: dt.date | None
    deadline_rule: str | None
    why: str
    denial_category: str | None
    action_rule: str | None
    action_group: str | None = Field(None, description="group code of the adjustment the action rests on")
    line_plan: str | None = Field(None, description="each denied line's action and dollars, when the lines differ")
    reasons: list[Reason]


class QueueResponse(BaseModel):
    model_versions: dict[str, str]
    today: dt.date
    rows: list[QueueRow] = Field(description="planned rows in rank order, then the others by status")
    not_denied: list[int] = Field(description="positions of requests whose first remit is not a denial")


# ------------------------------------------------------------------------------------- bodies -> tables

_STRING: Final = pd.StringDtype()  # what validation's astype("string") gives: Arrow-backed, NA for missing
_KIND_DTYPE: Final[dict[str, Any]] = {
    "id": _STRING,
    "text": _STRING,
    "codes": _STRING,
    "int": pd.Int64Dtype(),
    "bool": pd.BooleanDtype(),
}


def _column(values: list[Any], kind: str) -> Any:
    if kind == "date":
        return pd.Series(np.array(values, dtype="datetime64[D]").astype("datetime64[us]"))
    if kind == "money":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    return pd.array(values, dtype=_KIND_DTYPE[kind])


def _frame(table: Table, columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A table in contract column order with the dtypes validation gives it."""
    return pd.DataFrame({c.name: _column(columns[c.name], c.kind) for c in table.columns})


def _rows(table: Table, items: Sequence[BaseModel], **fixed: Callable[[int], Any]) -> dict[str, list[Any]]:
    """Column lists from models whose field names are the table's columns; `fixed` fills the others by row."""
    names = [c.name for c in table.columns]
    values = [item.__dict__ for item in items]
    return {
        name: [fixed[name](i) for i in range(len(items))] if name in fixed else [v[name] for v in values]
        for name in names
    }


def _claim_rows(claims: Sequence[ClaimIn]) -> dict[Table, dict[str, list[Any]]]:
    """The column lists of the `claims` and `claim_lines` tables of these claims."""
    lines = [line for claim in claims for line in claim.lines]
    owner = [claim.claim_id for claim in claims for _ in claim.lines]
    return {CLAIMS: _rows(CLAIMS, claims), CLAIM_LINES: _rows(CLAIM_LINES, lines, claim_id=owner.__getitem__)}


def claim_tables(claims: Sequence[ClaimIn]) -> dict[str, pd.DataFrame]:
    """`claims` and `claim_lines` tables of these claims, typed as `features.contract.validation` types them."""
    return {table.name: _frame(table, columns) for table, columns in _claim_rows(claims).items()}


def _array(values: list[Any], kind: str) -> np.ndarray:
    """A column in the form `features.columns`' readers return it, which `ColumnTable` holds: what the same
    values give through `_column` and a DataFrame, without building one."""
    if kind == "date":
        return np.array(values, dtype="datetime64[D]").astype("datetime64[us]")
    if kind in ("money", "int", "bool"):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _column_table(table: Table, columns: dict[str, list[Any]]) -> ColumnTable:
    return ColumnTable({c.name: _array(columns[c.name], c.kind) for c in table.columns})


def claim_column_tables(claims: Sequence[ClaimIn]) -> dict[str, ColumnTable]:
    """`claim_tables` as `ColumnTable`s, for the feature function (the claims route): the same values, without
    two DataFrames built and read back per request (tests/api/test_parity.py holds the route to the batch)."""
    return {table.name: _column_table(table, columns) for table, columns in _claim_rows(claims).items()}


def denial_tables(denials: Sequence[DenialIn]) -> dict[str, pd.DataFrame]:
    """The four contract tables of these denials (each claim with exactly one remit: its first)."""
    tables = claim_tables([d.claim for d in denials])
    remits = [d.remit for d in denials]
    claim_ids = [d.claim.claim_id for d in denials]
    tables["remits"] = _frame(REMITS, _rows(REMITS, remits, claim_id=claim_ids.__getitem__))
    adjustments = [a for d in denials for a in d.adjustments]
    adj_claim = [d.claim.claim_id for d in denials for _ in d.adjustments]
    adj_remit = [d.remit.remit_id for d in denials for _ in d.adjustments]
    tables["adjustments"] = _frame(
        ADJUSTMENTS,
        _rows(ADJUSTMENTS, adjustments, claim_id=adj_claim.__getitem__, remit_id=adj_remit.__getitem__),
    )
    return tables


# ------------------------------------------------------------------------------------- tables -> bodies


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as JSON objects, null cells left out (the body's defaults are the contract's)."""
    out = []
    for row in frame[list(columns)].astype(object).itertuples(index=False, name=None):
        out.append({c: v for c, v in zip(columns, map(_json_value, row), strict=True) if v is not None})
    return out


def claim_bodies(claims: pd.DataFrame, lines: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON claim bodies (with their lines) from validated `claims` / `claim_lines` rows, in `claims` order.

    The inverse of `claim_tables`, for clients that hold contract tables, the tests and the load bench.
    """
    by_claim: dict[str, list[dict[str, Any]]] = {}
    line_columns = [c.name for c in CLAIM_LINES.columns]
    selected = lines[lines["claim_id"].isin(claims["claim_id"])].sort_values(["claim_id", "line_number"])
    for line in _records(selected, line_columns):
        by_claim.setdefault(line.pop("claim_id"), []).append(line)
    bodies = _records(claims, [c.name for c in CLAIMS.columns])
    for body in bodies:
        body["lines"] = by_claim.get(body["claim_id"], [])
    return bodies


def denial_bodies(tables: dict[str, pd.DataFrame], claim_ids: Sequence[str]) -> list[dict[str, Any]]:
    """JSON denial bodies for these claims: the claim, its first remit (by remit_date, then remit_id, as the
    labels pick it) and that remit's adjustments."""
    claims = tables["claims"].set_index("claim_id", drop=False).loc[list(claim_ids)].reset_index(drop=True)
    remits = tables["remits"]
    first = (
        remits[remits["claim_id"].isin(claim_ids)]
        .sort_values(["claim_id", "remit_date", "remit_id"], kind="stable")
        .drop_duplicates("claim_id")
    )
    remit_columns = [c.name for c in REMITS.columns]
    remit_of = {r.pop("claim_id"): r for r in _records(first, remit_columns)}
    adj = tables["adjustments"]
    adj = adj[adj["remit_id"].isin(first["remit_id"])]
    adj_by_remit: dict[str, list[dict[str, Any]]] = {}
    for a in _records(adj, [c.name for c in ADJUSTMENTS.columns]):
        a.pop("claim_id")
        adj_by_remit.setdefault(a.pop("remit_id"), []).append(a)
    out = []
    for claim in claim_bodies(claims, tables["claim_lines"]):
        remit = remit_of[claim["claim_id"]]
        out.append({"claim": claim, "remit": remit, "adjustments": adj_by_remit.get(remit["remit_id"], [])})
    return out


__all__ = [
    "AdjustmentIn",
    "ClaimBatch",
    "ClaimIn",
    "ClaimScore",
    "ClaimScores",
    "DenialBatch",
    "DenialIn",
    "DenialScore",
    "DenialScores",
    "LineIn",
    "OriginalClaimIn",
    "QueueRequest",
    "QueueResponse",
    "QueueRow",
    "Reason",
    "RemitIn",
    "claim_bodies",
    "claim_tables",
    "denial_bodies",
    "denial_tables",
]
