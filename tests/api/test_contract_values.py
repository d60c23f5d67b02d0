"""The API accepts exactly the values the data contract allows, because it takes them from the contract."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import serving.api.schemas as schemas
from features.contract import schema as contract

# (request model, field, the contract's allowed values)
FIELDS: list[tuple[type[BaseModel], str, tuple[str, ...]]] = [
    (schemas.ClaimIn, "plan_type", contract.PLAN_TYPES),
    (schemas.ClaimIn, "frequency_code", contract.FREQUENCY_CODES),
    (schemas.ClaimIn, "patient_sex", contract.SEXES),
    (schemas.ClaimIn, "claim_type", contract.CLAIM_TYPES),
    (schemas.RemitIn, "status_code", contract.REMIT_STATUS_CODES),
    (schemas.AdjustmentIn, "group_code", contract.GROUP_CODES),
]


def _enum(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The values the field's JSON schema (what OpenAPI publishes) accepts, in order; `null` aside."""
    prop: dict[str, Any] = model.model_json_schema()["properties"][field]
    options = prop.get("anyOf", [prop])
    (choice,) = [o for o in options if "enum" in o]
    return tuple(choice["enum"])


@pytest.mark.parametrize(("model", "field", "allowed"), FIELDS, ids=[f"{m.__name__}.{f}" for m, f, _ in FIELDS])
def test_api_accepts_exactly_the_contract_values(model: type[BaseModel], field: str, allowed: tuple[str, ...]) -> None:
    assert _enum(model, field) == allowed
    adapter: TypeAdapter[Any] = TypeAdapter(model.model_fields[field].annotation)
    for value in allowed:
        assert adapter.validate_python(value) == value
    with pytest.raises(ValidationError):
        adapter.validate_python("not-a-contract-value")


def test_schemas_do_not_redeclare_the_contract_values() -> None:
    """No `Literal[...]` in serving/api/schemas.py spells out a contract value list: a copy would drift."""
    contract_lists = {
        frozenset(v)
        for v in vars(contract).values()
        if isinstance(v, tuple) and len(v) > 1 and all(isinstance(x, str) for x in v)
    }
    tree = ast.parse(Path(schemas.__file__).read_text())
    copies = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal":
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            values = frozenset(i.value for i in items if isinstance(i, ast.Constant))
            if values in contract_lists:
                copies.append(ast.unparse(node))
    assert copies == []
