"""Reading, merging and writing payer rule files (YAML), with errors that never echo a value.

Layers, later wins:

1. the shipped ``features/contract/data/payer_rules.yaml`` (complete: ``defaults`` must set every field);
2. ``<data_dir>/payer_rules.yaml`` if present, then ``extra_file``: same schema, every section optional.
   Their ``payers`` entries are added or replace an entry per payer id, their ``plan_types`` and
   ``defaults`` override field by field (``appeal_window_days`` per level), their ``guardrails`` go
   first (and replace a lower-layer guardrail of the same name).

Validation errors never echo input values (a payer file may sit next to claim data); they name the file
and the key path only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from features.contract.atomic_files import write_text_atomic
from features.contract.payer_rule_model import RULE_FIELDS, RuleDefaults, RuleFields, RuleLibrary, RuleOverrides

__all__ = [
    "SHIPPED_FILE_NAME",
    "PayerRulesError",
    "dump_payer_rules",
    "load_overrides",
    "load_rule_library",
    "merge_rule_libraries",
    "overrides_text",
]

SHIPPED_FILE_NAME = "payer_rules.yaml"


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


def load_overrides(path: Path) -> RuleOverrides:
    """One override file as written (not merged): what a team's ``payer_rules.yaml`` or an export says."""
    file = str(path)
    return _validate(file, _parse_yaml(file, _read_text(file, Path(path))), RuleOverrides)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def overrides_text(library_or_dict: RuleLibrary | RuleOverrides | Mapping[str, Any], *, file: str = "<rules>") -> str:
    """The YAML ``dump_payer_rules`` writes (sorted keys, unset fields omitted), validated as an override file;
    two models with the same rules give the same text, so a diff of two texts shows only what changed."""
    model: RuleLibrary | RuleOverrides
    if isinstance(library_or_dict, RuleLibrary | RuleOverrides):
        model = library_or_dict
    else:
        model = _validate(file, dict(library_or_dict), RuleOverrides)
    data = _plain(model.model_dump(mode="python", exclude_none=True, exclude_defaults=True))
    data["version"] = 1
    text = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=110)
    _validate(file, _parse_yaml(file, text), RuleOverrides)
    return text


def dump_payer_rules(library_or_dict: RuleLibrary | RuleOverrides | Mapping[str, Any], path: Path) -> None:
    """Write a valid override file (sorted keys, unset fields omitted), atomically.

    A plain mapping is validated as a ``RuleOverrides`` first; the written text is validated again
    before it replaces ``path``, so the file on disk always loads.
    """
    path = Path(path)
    file = str(path)
    text = overrides_text(library_or_dict, file=file)
    write_text_atomic(path, text)
