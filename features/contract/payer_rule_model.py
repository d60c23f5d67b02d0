"""The payer rule library's schema: which fields a rule has, which values they take, and guardrails.

A ``RuleLibrary`` is complete (the shipped file: ``defaults`` sets every field); a ``RuleOverrides`` is a
team's file, the same schema with every section (and default field) optional. Reading, merging and
writing the YAML files: ``features.contract.payer_rule_files``; resolving a (payer, plan type):
``features.contract.payer_rules``.

Procedure codes and ranges: a code is an alphanumeric CPT/HCPCS string; a range ``"A-B"`` is inclusive,
requires ``len(A) == len(B)`` and ``A <= B``, and matches codes of that same length that sort between
the bounds (plain string order). Codes are compared upper-cased and stripped.

Pre-submission edits (a claim scrubber's checks; learned from the history by
``features.prevention.edits`` and accepted with ``claimsight edits accept``, or written by hand). All are
optional and empty by default, so a file without them behaves as before; like every field they resolve
payer -> plan type -> defaults, and a more specific layer's value replaces the whole field:

- ``modifier_required: {code: [modifiers]}``: a line of that code must carry at least one of the modifiers
  (the payer's policy, or CARC 4 denials of lines without them);
- ``denied_together: [[A, B], ...]``: B billed on the same claim as A is denied as bundled into A (NCCI-style
  edits, CARC 97/236);
- ``dx_not_supporting: {code: [ICD-10 prefixes]}``: a line of that code pointing at a diagnosis starting
  with one of the prefixes (no dots; e.g. ``M54`` a category, ``M545`` a code) is denied as not medically
  necessary for that payer (CARC 11/50, the payer's coverage policy).

Codes in these fields are single codes, not ranges (an edit is learned per code).

The code set. ``code_terminated: {code: date}``: the first date of service on which a code is no longer valid,
as the code set's publisher announces it (the CMS HCPCS Level II quarterly file's termination date, AMA CPT
deletions from January 1). Every payer denies a line of a deleted code billed for a later date of service
(CARC 181, "procedure code was invalid on the date of service"), so it belongs in ``defaults``; a payer's own
map replaces it, like every field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from features.contract.codes import DenialAction
from features.contract.schema import GroupCode, PlanType

__all__ = [
    "APPEAL_LEVELS",
    "CLOCKS",
    "DeadlineClock",
    "EDIT_FIELDS",
    "RULE_FIELDS",
    "Guardrail",
    "PayerEntry",
    "RuleDefaults",
    "RuleFields",
    "RuleLibrary",
    "RuleOverrides",
    "parse_code_spec",
]

GuardrailAction = DenialAction

# Which date a deadline counts from and which window applies (features.decisions.deadlines says each one).
DeadlineClock = Literal["appeal", "corrected_claim", "new_claim", "reopening", "other_payer", "none"]
CLOCKS: tuple[str, ...] = get_args(DeadlineClock)

RULE_FIELDS: tuple[str, ...] = (
    "timely_filing_days",
    "corrected_claim_window_days",
    "reopening_window_days",
    "other_payer_filing_days",
    "appeal_window_days",
    "appeal_clock",
    "processed_claim_fix",
    "institutional_filing_date",
    "referral_required",
    "auth_required",
    "deadline_buffer_days",
    "modifier_required",
    "denied_together",
    "dx_not_supporting",
    "code_terminated",
)
EDIT_FIELDS: tuple[str, ...] = ("modifier_required", "denied_together", "dx_not_supporting")
APPEAL_LEVELS: tuple[int, ...] = (1, 2, 3)

_CODE_RE = re.compile(r"[A-Z0-9]+")
_MODIFIER_RE = re.compile(r"[A-Z0-9]{2}")
_DX_PREFIX_RE = re.compile(r"[A-Z][A-Z0-9]{0,6}")


# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------


def parse_code_spec(spec: str) -> tuple[str, str]:
    """``"70450"`` -> ("70450", "70450"); ``"70450-70498"`` -> ("70450", "70498"). Raises ValueError."""
    parts = [p.strip().upper() for p in spec.split("-")]
    if len(parts) == 1:
        lo = hi = parts[0]
    elif len(parts) == 2:
        lo, hi = parts
    else:
        raise ValueError("expected a code or an inclusive range 'A-B'")
    if not _CODE_RE.fullmatch(lo) or not _CODE_RE.fullmatch(hi):
        raise ValueError("procedure codes must be alphanumeric")
    if len(lo) != len(hi):
        raise ValueError("range bounds must have the same length")
    if lo > hi:
        raise ValueError("range start must not sort after its end")
    return lo, hi


def _normalise_code_spec(value: object) -> object:
    if not isinstance(value, str):
        # YAML reads an unquoted 70450 as an int and 00100 as an octal int: refuse to guess.
        raise ValueError("procedure codes must be quoted strings")
    lo, hi = parse_code_spec(value)
    return lo if lo == hi and "-" not in value else f"{lo}-{hi}"


def _upper_code(value: object) -> object:
    if isinstance(value, bool):
        return value  # let the str validator reject it
    if isinstance(value, int):
        return str(value)  # carcs: [16] is harmless (no CARC has a leading zero)
    if isinstance(value, str):
        return value.strip().upper()
    return value


def _check_adjustment_code(value: str) -> str:
    if not _CODE_RE.fullmatch(value):
        raise ValueError("codes must be alphanumeric")
    return value


def _single_code(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("procedure codes must be quoted strings")
    code = value.strip().upper()
    if not _CODE_RE.fullmatch(code):
        raise ValueError("expected one alphanumeric procedure code (no range)")
    return code


def _pattern_text(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(what)
        return value

    return AfterValidator(check)


def _text_upper(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be a quoted string")
    return value.strip().upper()


def _non_empty_lists(value: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    for key, items in value.items():
        if not items:
            raise ValueError(f"list at least one value for {key}, or omit the code")
    return value


def _distinct_pair(value: tuple[str, str]) -> tuple[str, str]:
    if value[0] == value[1]:
        raise ValueError("a bundling pair names two different codes")
    return value


Days = Annotated[int, Field(gt=0, strict=True)]
BufferDays = Annotated[int, Field(ge=0, strict=True)]
AppealLevel = Annotated[int, Field(ge=1, le=3, strict=True)]
CodeSpec = Annotated[str, BeforeValidator(_normalise_code_spec)]
AdjustmentCode = Annotated[str, BeforeValidator(_upper_code), AfterValidator(_check_adjustment_code)]
GroupCodeIn = Annotated[GroupCode, BeforeValidator(_upper_code)]
SingleCode = Annotated[str, BeforeValidator(_single_code)]
Modifier = Annotated[str, BeforeValidator(_text_upper), _pattern_text(_MODIFIER_RE, "modifiers are two letters/digits")]
DxPrefix = Annotated[
    str,
    BeforeValidator(_text_upper),
    _pattern_text(_DX_PREFIX_RE, "ICD-10 prefixes are a letter and up to 6 letters/digits, no dots"),
]
ModifierRequired = Annotated[dict[SingleCode, tuple[Modifier, ...]], AfterValidator(_non_empty_lists)]
DeniedTogether = tuple[Annotated[tuple[SingleCode, SingleCode], AfterValidator(_distinct_pair)], ...]
DxNotSupporting = Annotated[dict[SingleCode, tuple[DxPrefix, ...]], AfterValidator(_non_empty_lists)]
CodeTerminated = dict[SingleCode, Annotated[dt.date, Field(strict=False)]]

# appeal levels 2 and 3: counted from the denial, or from the decision of the level before (Medicare)
AppealClock = Literal["denial", "previous_decision"]
# a processed claim is fixed by a corrected (replacement) claim, or by a reopening (Medicare)
ProcessedClaimFix = Literal["corrected_claim", "reopening"]
# the date an institutional claim's filing limit counts from: first or last ("through") day of service
FilingDate = Literal["service_from", "service_to"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _unique_guardrail_names(guardrails: tuple[Guardrail, ...]) -> tuple[Guardrail, ...]:
    seen: set[str] = set()
    for i, g in enumerate(guardrails):
        if g.name in seen:
            raise ValueError(f"duplicate guardrail name (entry {i})")
        seen.add(g.name)
    return guardrails


def _string_keys(value: object) -> object:
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ValueError("payer ids must be quoted strings (YAML reads 00431 as a number)")
            if not key or key != key.strip():
                raise ValueError("payer ids must be non-empty without surrounding spaces")
    return value


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


class Guardrail(BaseModel):
    """A CARC/RARC combination with no appeal rights or a fixed next step. Empty criteria match anything."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1)]
    group_codes: tuple[GroupCodeIn, ...] = ()
    carcs: tuple[AdjustmentCode, ...] = ()
    rarcs_any: tuple[AdjustmentCode, ...] = ()
    plan_types: tuple[PlanType, ...] = ()
    appeal_rights: Annotated[bool, Field(strict=True)]
    action: GuardrailAction
    clock: DeadlineClock | None = None  # None: the action's usual clock
    note: str = ""
    source: str = ""  # where the rule comes from (code-list definition, payer manual section)

    @model_validator(mode="after")
    def _has_a_criterion(self) -> Guardrail:
        if not (self.group_codes or self.carcs or self.rarcs_any):
            raise ValueError("a guardrail needs at least one of group_codes, carcs, rarcs_any")
        return self

    def applies_to(self, plan_type: str | None) -> bool:
        """A guardrail limited to some plan types never applies to a claim whose plan type is unknown."""
        return not self.plan_types or plan_type in self.plan_types

    def matches(self, *, group_code: str, carc: str, remark_codes: frozenset[str]) -> bool:
        """Inputs already normalised (upper-case, stripped; remark codes split)."""
        if self.group_codes and group_code not in self.group_codes:
            return False
        if self.carcs and carc not in self.carcs:
            return False
        return not self.rarcs_any or any(r in remark_codes for r in self.rarcs_any)


class RuleFields(BaseModel):
    """Rule values where every field is optional (unset = inherit from the next layer)."""

    model_config = _STRICT

    timely_filing_days: Days | None = None
    corrected_claim_window_days: Days | None = None
    reopening_window_days: Days | None = None
    other_payer_filing_days: Days | None = None
    appeal_window_days: dict[AppealLevel, Days] | None = None
    appeal_clock: AppealClock | None = None
    processed_claim_fix: ProcessedClaimFix | None = None
    institutional_filing_date: FilingDate | None = None
    referral_required: Annotated[bool, Field(strict=True)] | None = None
    auth_required: tuple[CodeSpec, ...] | None = None
    deadline_buffer_days: BufferDays | None = None
    modifier_required: ModifierRequired | None = None
    denied_together: DeniedTogether | None = None
    dx_not_supporting: DxNotSupporting | None = None
    code_terminated: CodeTerminated | None = None

    @field_validator("appeal_window_days")
    @classmethod
    def _non_empty_levels(cls, value: dict[int, int] | None) -> dict[int, int] | None:
        if value is not None and not value:
            raise ValueError("set at least one appeal level (1, 2 or 3), or omit the field")
        return value


class RuleDefaults(BaseModel):
    """The last resort: every field set, every appeal level present."""

    model_config = _STRICT

    timely_filing_days: Days
    corrected_claim_window_days: Days
    reopening_window_days: Days
    other_payer_filing_days: Days
    appeal_window_days: dict[AppealLevel, Days]
    appeal_clock: AppealClock
    processed_claim_fix: ProcessedClaimFix
    institutional_filing_date: FilingDate
    referral_required: Annotated[bool, Field(strict=True)]
    auth_required: tuple[CodeSpec, ...]
    deadline_buffer_days: BufferDays
    # pre-submission edits: none unless a layer writes some (files without them behave as before)
    modifier_required: ModifierRequired = Field(default_factory=dict)
    denied_together: DeniedTogether = ()
    dx_not_supporting: DxNotSupporting = Field(default_factory=dict)
    code_terminated: CodeTerminated = Field(default_factory=dict)  # the code set's deletions: none unless written

    @field_validator("appeal_window_days")
    @classmethod
    def _all_levels(cls, value: dict[int, int]) -> dict[int, int]:
        if set(value) != set(APPEAL_LEVELS):
            raise ValueError("defaults must set appeal levels 1, 2 and 3")
        return value


class PayerEntry(RuleFields):
    """Per payer_id overrides, an optional plan type and guardrails checked before the shared ones."""

    plan_type: PlanType | None = None
    guardrails: Annotated[tuple[Guardrail, ...], AfterValidator(_unique_guardrail_names)] = ()


Guardrails = Annotated[tuple[Guardrail, ...], AfterValidator(_unique_guardrail_names)]
Payers = Annotated[dict[str, PayerEntry], BeforeValidator(_string_keys)]


class RuleLibrary(BaseModel):
    """A complete library (the shipped file, or the result of merging overrides into it)."""

    model_config = _STRICT

    version: Literal[1]
    defaults: RuleDefaults
    plan_types: dict[PlanType, RuleFields] = Field(default_factory=dict)
    payers: Payers = Field(default_factory=dict)
    guardrails: Guardrails = ()


class RuleOverrides(BaseModel):
    """A team's override file: the RuleLibrary schema with every section (and default field) optional."""

    model_config = _STRICT

    version: Literal[1] | None = None
    defaults: RuleFields | None = None
    plan_types: dict[PlanType, RuleFields] = Field(default_factory=dict)
    payers: Payers = Field(default_factory=dict)
    guardrails: Guardrails = ()
