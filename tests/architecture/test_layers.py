"""Imports point one way: serving -> models -> features, training -> models -> features."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "features": {"features"},
    "models": {"models", "features"},
    "training": {"training", "models", "features"},
    "serving": {"serving", "models", "features"},
}
LAYERS = {"features", "models", "training", "serving", "claimsight"}


def imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & LAYERS


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downward(layer: str) -> None:
    bad = {
        str(p.relative_to(ROOT)): sorted(imported_layers(p) - ALLOWED[layer])
        for p in (ROOT / layer).rglob("*.py")
        if imported_layers(p) - ALLOWED[layer]
    }
    assert bad == {}
