"""Imports point one way: serving -> models -> features, training -> models -> features.

Inside `features`, the data contract imports nothing else, the decision rules only the contract, and the
feature pipelines both. The synthetic world reads the contract; no product code path imports it (in the
command line, only the synth, demo, bench and simulate commands and the two benchmarks).
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


# inside `claimsight`, the generator is for these commands and the two benchmarks' own worlds
SYNTHETIC_COMMANDS = {"synth", "demo", "bench", "simulate"}
SYNTHETIC_MODULES = {"claimsight.bench", "claimsight.load_bench"}


def synthetic_imports_outside(tree: ast.Module, functions: set[str]) -> list[str]:
    """`line: enclosing function` of each import of `synthetic` not inside one of `functions` (at any depth)."""
    found: list[str] = []

    def visit(node: ast.AST, enclosing: tuple[str, ...]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            enclosing = (*enclosing, node.name)
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] == "synthetic" for m in modules) and not functions & set(enclosing):
                found.append(f"{node.lineno}: {'.'.join(enclosing) or '<module>'}")
        for child in ast.iter_child_nodes(node):
            visit(child, enclosing)

    visit(tree, ())
    return found


def test_no_product_code_imports_the_synthetic_world() -> None:
    """Only the command line's synth/demo/bench/simulate (and tests, notebooks) may use the generator."""
    users = {
        _module_name(p)
        for p in product_files()
        if _package_of(_module_name(p)) not in {"synthetic", "claimsight"}
        and any(t.split(".")[0] == "synthetic" for t in imported(p))
    }
    assert users == set()
    in_the_shell = {
        _module_name(p): found
        for p in product_files()
        if _package_of(_module_name(p)) == "claimsight" and _module_name(p) not in SYNTHETIC_MODULES
        if (found := synthetic_imports_outside(ast.parse(p.read_text()), SYNTHETIC_COMMANDS))
    }
    assert in_the_shell == {}


def test_the_synthetic_rule_sees_an_import_outside_those_commands() -> None:
    tree = ast.parse(
        "import synthetic.world\n"
        "def synth():\n    from synthetic import generate_world\n"
        "def demo():\n    def step():\n        import synthetic\n"
        "def train():\n    from synthetic.world import World\n"
    )
    assert synthetic_imports_outside(tree, SYNTHETIC_COMMANDS) == ["1: <module>", "8: train"]
