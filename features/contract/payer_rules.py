"""Payer rules: filing and appeal deadlines, prior-authorization lists and CARC/RARC guardrails.

Why this exists: deadlines in the appeal queue, the "authorization required but missing" feature and
the recommended next step for a denial all depend on who the payer is, and every billing team's payer
mix and contracts differ. So the rules are data, not code: a shipped YAML library with typical US
values by plan type, which a team overrides per payer (or per plan type) in its own file. A payer with
no entry falls back to its plan type, then to conservative defaults, and every resolved value records
where it came from (``ResolvedRule.source``) so a response can say which rule it used.

Layers, later wins:

1. the shipped ``features/contract/data/payer_rules.yaml`` (complete: ``defaults`` must set every field);
2. ``<data_dir>/payer_rules.yaml`` if present, then ``extra_file``: same schema, every section optional.
   Their ``payers`` entries are added or replace an entry per payer id, their ``plan_types`` and
   ``defaults`` override field by field (``appeal_window_days`` per level), their ``guardrails`` go
   first (and replace a lower-layer guardrail of the same name).

Resolution for a (payer_id, plan_type) pair is field by field: the payer entry, else the plan type (the
explicit argument if it is a known plan type, else the payer entry's ``plan_type``), else the defaults.
Unknown payers and unknown or missing plan types are not errors; they fall through.

Procedure codes and ranges: a code is an alphanumeric CPT/HCPCS string; a range ``"A-B"`` is inclusive,
requires ``len(A) == len(B)`` and ``A <= B``, and matches codes of that same length that sort between
the bounds (plain string order). Codes are compared upper-cased and stripped.

Validation errors never echo input values (a payer file may sit next to claim data); they name the file
and the key path only.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from features.contract.codes import FOLLOWUP_ACTIONS, DenialAction
from features.contract.schema import PLAN_TYPES, GroupCode, PlanType

__all__ = [
    "GUARDRAIL_ACTIONS",
    "PLAN_TYPES",
    "RULE_FIELDS",
    "Guardrail",
    "PayerEntry",
    "PayerRules",
    "PayerRulesError",
    "ResolvedRule",
    "RuleDefaults",
    "RuleFields",
    "RuleLibrary",
    "RuleOverrides",
    "dump_payer_rules",
    "load_payer_rules",
    "load_rule_library",
    "merge_rule_libraries",
]

GuardrailAction = DenialAction
GUARDRAIL_ACTIONS: tuple[str, ...] = FOLLOWUP_ACTIONS

RULE_FIELDS: tuple[str, ...] = (
    "timely_filing_days",
    "corrected_claim_window_days",
    "appeal_window_days",
    "auth_required",
    "deadline_buffer_days",
)
APPEAL_LEVELS: tuple[int, ...] = (1, 2, 3)
SHIPPED_FILE_NAME = "payer_rules.yaml"

_CODE_RE = re.compile(r"[A-Z0-9]+")


# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------


def _parse_code_spec(spec: str) -> tuple[str, str]:
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


def _range_mask(codes: npt.NDArray[np.str_], ranges: Iterable[tuple[str, str]]) -> npt.NDArray[np.bool_]:
    """Codes (normalised) inside any inclusive range: same length and between the bounds as text, so HCPCS
    letters compare the way CPT digits do."""
    mask = np.zeros(codes.shape, dtype=bool)
    if codes.size == 0:
        return mask
    lengths = np.char.str_len(codes)
    for lo, hi in ranges:
        mask |= (lengths == len(lo)) & (codes >= lo) & (codes <= hi)
    return mask


def codes_in(codes: pd.Series, specs: Iterable[str]) -> npt.NDArray[np.bool_]:
    """Which codes fall in any of `specs` (codes or inclusive ranges 'A-B', as written in payer_rules.yaml)."""
    positions, uniques = pd.factorize(codes)
    normalised = np.array([_normalise_code(c) for c in uniques], dtype=np.str_)
    inside = np.append(_range_mask(normalised, [_parse_code_spec(s) for s in specs]), False)  # -1: missing
    return inside[positions]


def _normalise_code_spec(value: object) -> object:
    if not isinstance(value, str):
        # YAML reads an unquoted 70450 as an int and 00100 as an octal int: refuse to guess.
        raise ValueError("procedure codes must be quoted strings")
    lo, hi = _parse_code_spec(value)
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


Days = Annotated[int, Field(gt=0, strict=True)]
BufferDays = Annotated[int, Field(ge=0, strict=True)]
AppealLevel = Annotated[int, Field(ge=1, le=3, strict=True)]
CodeSpec = Annotated[str, BeforeValidator(_normalise_code_spec)]
AdjustmentCode = Annotated[str, BeforeValidator(_upper_code), AfterValidator(_check_adjustment_code)]
GroupCodeIn = Annotated[GroupCode, BeforeValidator(_upper_code)]

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
    appeal_rights: Annotated[bool, Field(strict=True)]
    action: GuardrailAction
    note: str = ""

    @model_validator(mode="after")
    def _has_a_criterion(self) -> Guardrail:
        if not (self.group_codes or self.carcs or self.rarcs_any):
            raise ValueError("a guardrail needs at least one of group_codes, carcs, rarcs_any")
        return self

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
    appeal_window_days: dict[AppealLevel, Days] | None = None
    auth_required: tuple[CodeSpec, ...] | None = None
    deadline_buffer_days: BufferDays | None = None

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
    appeal_window_days: dict[AppealLevel, Days]
    auth_required: tuple[CodeSpec, ...]
    deadline_buffer_days: BufferDays

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


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class PayerRulesError(ValueError):
    """A payer rule file could not be read or validated. The message names the file and key paths only."""

    def __init__(self, file: str, problems: Iterable[tuple[str, str]]) -> None:
        self.file = file
        self.problems: list[tuple[str, str]] = list(problems)
        lines = [f"{file}: {path}: {msg}" if path else f"{file}: {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


def _loc_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if item == "[key]":
            parts[-1:] = [f"{parts[-1]} (key)"] if parts else ["(key)"]
            continue
        parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _error_from_validation(file: str, exc: ValidationError) -> PayerRulesError:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "value_error":
            msg = err["msg"].removeprefix("Value error, ")
        else:
            msg = err["msg"]
        problems.append((_loc_path(loc), msg))
    return PayerRulesError(file, problems)


# --------------------------------------------------------------------------------------------------
# Reading, merging, writing
# --------------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (a payer listed twice would silently lose one)."""


def _construct_mapping_no_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: let the normal constructor report it
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_no_duplicates)


def _parse_yaml(file: str, text: str) -> object:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        # Report what and where, never the snippet of the offending line.
        where = ""
        problem = "unreadable YAML"
        if isinstance(exc, yaml.MarkedYAMLError):
            if exc.problem:
                problem = f"unreadable YAML: {exc.problem}"
            if exc.problem_mark is not None:
                where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
        raise PayerRulesError(file, [(where, problem)]) from None


_M = TypeVar("_M", RuleLibrary, RuleOverrides)


def _validate(file: str, data: object, model: type[_M]) -> _M:
    if data is None:
        if model is RuleOverrides:
            data = {}
        else:
            raise PayerRulesError(file, [("", "empty file")])
    if not isinstance(data, dict):
        raise PayerRulesError(file, [("(top level)", "expected a mapping of sections")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error_from_validation(file, exc) from None


def _read_text(file: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PayerRulesError(file, [("", "not UTF-8 text")]) from None
    except OSError as exc:
        raise PayerRulesError(file, [("", f"cannot read file ({exc.strerror or type(exc).__name__})")]) from None


def _merge_fields(base: Mapping[str, Any], override: RuleFields | None) -> dict[str, Any]:
    merged = dict(base)
    if override is None:
        return merged
    for name in RULE_FIELDS:
        value = getattr(override, name)
        if value is None:
            continue
        if name == "appeal_window_days":
            merged[name] = {**(merged.get(name) or {}), **value}
        else:
            merged[name] = value
    return merged


def _rule_values(model: RuleFields | RuleDefaults) -> dict[str, Any]:
    return {name: getattr(model, name) for name in RULE_FIELDS if getattr(model, name) is not None}


def merge_rule_libraries(base: RuleLibrary, override: RuleOverrides) -> RuleLibrary:
    """Apply one override layer: payers per id, plan types and defaults field by field, guardrails first."""
    defaults = _merge_fields(_rule_values(base.defaults), override.defaults)
    plan_types: dict[Any, Any] = dict(base.plan_types)
    for name, fields in override.plan_types.items():
        below = plan_types.get(name)
        plan_types[name] = _merge_fields(_rule_values(below), fields) if below is not None else fields
    names = {g.name for g in override.guardrails}
    guardrails = override.guardrails + tuple(g for g in base.guardrails if g.name not in names)
    return RuleLibrary.model_validate(
        {
            "version": 1,
            "defaults": defaults,
            "plan_types": plan_types,
            "payers": {**base.payers, **override.payers},
            "guardrails": guardrails,
        }
    )


def _shipped_text() -> tuple[str, str]:
    resource = resources.files("features.contract").joinpath("data", SHIPPED_FILE_NAME)
    file = str(resource)
    try:
        return file, resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise PayerRulesError(file, [("", "cannot read the shipped payer rules")]) from None


def load_rule_library(*, data_dir: Path | None = None, extra_file: Path | None = None) -> RuleLibrary:
    """The shipped library with ``data_dir/payer_rules.yaml`` (if present) and ``extra_file`` applied."""
    file, text = _shipped_text()
    library = _validate(file, _parse_yaml(file, text), RuleLibrary)
    layers: list[Path] = []
    if data_dir is not None and (Path(data_dir) / SHIPPED_FILE_NAME).is_file():
        layers.append(Path(data_dir) / SHIPPED_FILE_NAME)
    if extra_file is not None:
        layers.append(Path(extra_file))  # explicitly asked for: a missing file is an error
    for path in layers:
        file = str(path)
        override = _validate(file, _parse_yaml(file, _read_text(file, path)), RuleOverrides)
        try:
            library = merge_rule_libraries(library, override)
        except ValidationError as exc:  # pragma: no cover - each layer is already valid on its own
            raise _error_from_validation(f"{file} (merged)", exc) from None
    return library


def load_payer_rules(*, data_dir: Path | None = None, extra_file: Path | None = None) -> PayerRules:
    """Shipped defaults, then ``data_dir/payer_rules.yaml`` if present, then ``extra_file``."""
    return PayerRules(load_rule_library(data_dir=data_dir, extra_file=extra_file))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dump_payer_rules(library_or_dict: RuleLibrary | RuleOverrides | Mapping[str, Any], path: Path) -> None:
    """Write a valid override file (sorted keys, unset fields omitted), atomically.

    A plain mapping is validated as a ``RuleOverrides`` first; the written text is validated again
    before it replaces ``path``, so the file on disk always loads.
    """
    path = Path(path)
    file = str(path)
    model: RuleLibrary | RuleOverrides
    if isinstance(library_or_dict, RuleLibrary | RuleOverrides):
        model = library_or_dict
    else:
        model = _validate(file, dict(library_or_dict), RuleOverrides)
    data = _plain(model.model_dump(mode="python", exclude_none=True, exclude_defaults=True))
    data["version"] = 1
    text = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=110)
    _validate(file, _parse_yaml(file, text), RuleOverrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _normalise_payer(value: object) -> str | None:
    if _is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def _normalise_plan_type(value: object) -> str | None:
    """A known plan type, or None (missing and unrecognised values both mean "not known")."""
    if _is_missing(value):
        return None
    text = str(value).strip().lower()
    return text if text in PLAN_TYPES else None


def _normalise_code(value: object) -> str:
    return "" if _is_missing(value) else str(value).strip().upper()


def _remark_set(remark_codes: object) -> frozenset[str]:
    if not isinstance(remark_codes, str):
        return frozenset()
    return frozenset(c.strip().upper() for c in remark_codes.split("|") if c.strip())


@dataclass(frozen=True)
class ResolvedRule:
    """The rule values that apply to one (payer_id, plan_type), with where each came from.

    ``source`` maps each field name (and ``appeal_window_days.<level>`` per level) to ``"payer:<id>"``,
    ``"plan_type:<name>"`` or ``"default"``; for ``appeal_window_days`` as a whole it is the most specific
    layer that set any level. ``plan_type`` is the plan type used, or None when none was known.
    Shared and cached: treat it (including ``appeal_window_days``) as read-only.
    """

    payer_id: str | None
    plan_type: str | None
    timely_filing_days: int
    corrected_claim_window_days: int
    appeal_window_days: dict[int, int]
    auth_required: tuple[str, ...]
    deadline_buffer_days: int
    guardrails: tuple[Guardrail, ...]
    source: dict[str, str]
    _ranges: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ranges", tuple(_parse_code_spec(s) for s in self.auth_required))

    def requires_auth(self, procedure_code: str | None) -> bool:
        code = _normalise_code(procedure_code)
        return any(len(code) == len(lo) and lo <= code <= hi for lo, hi in self._ranges)

    def auth_mask(self, codes: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
        """``requires_auth`` for an array of already-normalised codes, by vectorised string comparison."""
        return _range_mask(codes, self._ranges)

    def guardrail_for(self, *, group_code: str, carc: str, remark_codes: str | None) -> Guardrail | None:
        """The first guardrail (payer's own first) matching this adjustment, or None."""
        group = _normalise_code(group_code)
        reason = _normalise_code(carc)
        remarks = _remark_set(remark_codes)
        for guardrail in self.guardrails:
            if guardrail.matches(group_code=group, carc=reason, remark_codes=remarks):
                return guardrail
        return None


class PayerRules:
    """Resolves rules per (payer_id, plan_type), cached, with vectorised helpers for claim frames."""

    def __init__(self, library: RuleLibrary) -> None:
        self._library = library
        self._cache: dict[tuple[str | None, str | None], ResolvedRule] = {}

    @property
    def library(self) -> RuleLibrary:
        return self._library

    def lookup(self, *, payer_id: str | None, plan_type: str | None) -> ResolvedRule:
        return self._lookup(payer_id, plan_type)

    def _lookup(self, payer_id: object, plan_type: object) -> ResolvedRule:
        key = (_normalise_payer(payer_id), _normalise_plan_type(plan_type))
        rule = self._cache.get(key)
        if rule is None:
            rule = self._resolve(*key)
            self._cache[key] = rule
        return rule

    def _resolve(self, payer_id: str | None, plan_type: str | None) -> ResolvedRule:
        lib = self._library
        entry = lib.payers.get(payer_id) if payer_id is not None else None
        effective_plan = plan_type if plan_type is not None else (entry.plan_type if entry else None)

        layers: list[tuple[str, RuleFields | RuleDefaults]] = []
        if entry is not None:
            layers.append((f"payer:{payer_id}", entry))
        if effective_plan is not None and effective_plan in lib.plan_types:
            layers.append((f"plan_type:{effective_plan}", lib.plan_types[effective_plan]))
        layers.append(("default", lib.defaults))

        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        for name in RULE_FIELDS:
            if name == "appeal_window_days":
                continue
            for label, layer in layers:
                value = getattr(layer, name)
                if value is not None:
                    values[name] = value
                    source[name] = label
                    break

        appeal: dict[int, int] = {}
        most_specific = len(layers) - 1
        levels = sorted({lvl for _, layer in layers for lvl in (layer.appeal_window_days or {})})
        for level in levels:
            for rank, (label, layer) in enumerate(layers):
                windows = layer.appeal_window_days
                if windows and level in windows:
                    appeal[level] = windows[level]
                    source[f"appeal_window_days.{level}"] = label
                    most_specific = min(most_specific, rank)
                    break
        source["appeal_window_days"] = layers[most_specific][0]

        own_guardrails = entry.guardrails if entry is not None else ()
        source["guardrails"] = f"payer:{payer_id}" if own_guardrails else "default"
        own_names = {g.name for g in own_guardrails}
        guardrails = own_guardrails + tuple(g for g in lib.guardrails if g.name not in own_names)

        return ResolvedRule(
            payer_id=payer_id,
            plan_type=effective_plan,
            timely_filing_days=values["timely_filing_days"],
            corrected_claim_window_days=values["corrected_claim_window_days"],
            appeal_window_days=appeal,
            auth_required=tuple(values["auth_required"]),
            deadline_buffer_days=values["deadline_buffer_days"],
            guardrails=guardrails,
            source=source,
        )

    # -- vectorised helpers: loop over unique (payer, plan type) pairs, never over rows ---------------

    def resolve_groups(
        self, payer_ids: pd.Series, plan_types: pd.Series
    ) -> tuple[npt.NDArray[np.intp], list[ResolvedRule]]:
        """(group index per row, the resolved rule of each group): one lookup per distinct (payer, plan)."""
        if len(payer_ids) != len(plan_types):
            raise ValueError("payer_ids and plan_types must have the same length")
        p_codes, p_uniques = pd.factorize(payer_ids)
        t_codes, t_uniques = pd.factorize(plan_types)
        width = len(t_uniques) + 1
        combined = (np.asarray(p_codes, dtype=np.int64) + 1) * width + (np.asarray(t_codes, dtype=np.int64) + 1)
        group_codes, group_keys = pd.factorize(combined)
        rules: list[ResolvedRule] = []
        for key in np.asarray(group_keys, dtype=np.int64).tolist():
            p, t = divmod(int(key), width)
            payer = p_uniques[p - 1] if p else None
            plan = t_uniques[t - 1] if t else None
            rules.append(self._lookup(payer, plan))
        return np.asarray(group_codes, dtype=np.intp), rules

    def timely_filing_days(self, payer_ids: pd.Series, plan_types: pd.Series) -> npt.NDArray[np.int64]:
        """Per row timely filing limit (days), positional; equal to ``lookup`` row by row."""
        groups, rules = self.resolve_groups(payer_ids, plan_types)
        per_group = np.array([r.timely_filing_days for r in rules], dtype=np.int64)
        return per_group[groups]

    def auth_required(
        self, payer_ids: pd.Series, plan_types: pd.Series, procedure_codes: pd.Series
    ) -> npt.NDArray[np.bool_]:
        """Per row: does this procedure need prior authorization under its payer's rules? Positional.

        Codes are matched once per distinct authorization list against the distinct codes present, then
        gathered back to rows; a missing code is never flagged.
        """
        if len(procedure_codes) != len(payer_ids):
            raise ValueError("procedure_codes must have the same length as payer_ids")
        groups, rules = self.resolve_groups(payer_ids, plan_types)
        c_codes, c_uniques = pd.factorize(procedure_codes)
        codes = np.array([_normalise_code(c) for c in c_uniques], dtype=np.str_)
        if codes.size == 0:
            codes = np.array([], dtype="<U1")
        masks: list[npt.NDArray[np.bool_]] = []
        mask_of: dict[tuple[str, ...], int] = {}
        group_mask = np.empty(len(rules), dtype=np.intp)
        for i, rule in enumerate(rules):
            idx = mask_of.get(rule.auth_required)
            if idx is None:
                idx = mask_of[rule.auth_required] = len(masks)
                # the extra trailing False column is where missing codes (factorize code -1) land
                masks.append(np.append(rule.auth_mask(codes), False))
            group_mask[i] = idx
        if not masks:
            return np.zeros(len(payer_ids), dtype=bool)
        table = np.vstack(masks)
        return table[group_mask[groups], np.asarray(c_codes, dtype=np.intp)]
