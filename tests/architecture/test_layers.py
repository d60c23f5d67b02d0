"""Imports point one way: serving -> models -> features, training -> models -> features.

Inside `features`, the data contract imports nothing else, the decision rules only the contract, and the
feature pipelines both. The synthetic world reads the contract; no product code path imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package (most specific first) -> what its modules may import; a name covers its sub-packages
ALLOWED: dict[str, set[str]] = {
    "features.contract": {"features.contract"},
    "features.decisions": {"features.decisions", "features.contract"},
    "features": {"features"},
    "models": {"models", "features"},
    "training": {"training", "models", "features"},
    "serving": {"serving", "models", "features"},
    "synthetic": {"synthetic", "features.contract"},
    "claimsight": {"claimsight", "serving", "training", "models", "features", "synthetic"},
}
TOP = {name.split(".")[0] for name in ALLOWED}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str) -> str:
    return next(p for p in ALLOWED if module == p or module.startswith(p + "."))


def imported(path: Path) -> set[str]:
    """Every ClaimSight module a file imports (absolute imports; relative ones are not used)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in TOP}


def _allowed(target: str, rules: set[str]) -> bool:
    return any(target == r or target.startswith(r + ".") for r in rules)


def product_files() -> list[Path]:
    return sorted(p for top in TOP for p in (ROOT / top).rglob("*.py"))


def test_every_package_is_known() -> None:
    """A new top-level package must be placed in the layering before it can land."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= TOP, f"unknown packages: {sorted(packages - TOP)}; add them to ALLOWED"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_downward(package: str) -> None:
    bad = {}
    for path in product_files():
        module = _module_name(path)
        if _package_of(module) != package:
            continue
        wrong = sorted(t for t in imported(path) if not _allowed(t, ALLOWED[package]))
        if wrong:
            bad[str(path.relative_to(ROOT))] = wrong
    assert bad == {}


def test_no_product_code_imports_the_synthetic_world() -> None:
    """Only the command line's synth/demo/bench/simulate (and tests, notebooks) may use the generator."""
    users = {
        _module_name(p)
        for p in product_files()
        if _package_of(_module_name(p)) not in {"synthetic", "claimsight"}
        and any(t.split(".")[0] == "synthetic" for t in imported(p))
    }
    assert users == set()
