"""The command line stays a set of modules that share `claimsight.shell`, not a knot.

It once was one: `cli.py` imported the loop commands, which reached back into it for `_console`, `_settings`
and `_load_model`. A private name is private to its module; what several modules need belongs in a public
one, and imports inside `claimsight` form no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "claimsight"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), filename=str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run on import, `if`/`try` blocks included (TYPE_CHECKING ones too: a cycle of
    annotations is still a cycle of design); function and class bodies excluded."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def imported_names(nodes: Iterator[ast.AST]) -> Iterator[tuple[str, str | None]]:
    """(module, name) for every absolute import; name is None for `import a.b`."""
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)


def private_imports(tree: ast.Module) -> list[str]:
    """`from claimsight.x import _name` (or a `_module` on the way), at module level or inside a function."""
    bad = []
    for module, name in imported_names(ast.walk(tree)):
        if module.split(".")[0] != "claimsight":
            continue
        parts = [*module.split("."), *([name] if name else [])]
        if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
            bad.append(f"{module}:{name}" if name else module)
    return bad


def edges(trees: Mapping[str, ast.Module], *, everywhere: bool) -> dict[str, set[str]]:
    """Module -> the `claimsight` modules it imports (`from pkg import mod` counts as importing `mod`)."""
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        nodes = ast.walk(tree) if everywhere else module_level(tree)
        targets = set()
        for module, imported in imported_names(iter(nodes)):
            candidate = f"{module}.{imported}" if imported else module
            target = candidate if candidate in trees else module
            if target in trees and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_imports_another_modules_private_name() -> None:
    bad = {name: found for name, tree in sources().items() if (found := private_imports(tree))}
    assert bad == {}


def test_no_import_cycle_at_module_level() -> None:
    assert find_cycle(edges(sources(), everywhere=False)) is None


def test_no_import_cycle_through_function_level_imports_either() -> None:
    """A lazy import hides a cycle from the interpreter, not from the reader: cli <-> loop_commands was one."""
    assert find_cycle(edges(sources(), everywhere=True)) is None


def test_the_checks_see_what_they_look_for() -> None:
    """The rules above pass on the package only if they can fail: the old layout, in miniature."""
    trees = {
        "claimsight.cli": ast.parse("from claimsight.loop_commands import register\n"),
        "claimsight.loop_commands": ast.parse(
            "from __future__ import annotations\ndef retrain():\n    from claimsight.cli import _console\n"
        ),
        "claimsight.commands": ast.parse(""),
        "claimsight.commands.data": ast.parse("from claimsight import shell\nimport claimsight._hidden\n"),
        "claimsight.shell": ast.parse("if True:\n    from claimsight.commands import data\n"),
        "claimsight": ast.parse(""),
    }
    assert private_imports(trees["claimsight.loop_commands"]) == ["claimsight.cli:_console"]
    assert private_imports(trees["claimsight.commands.data"]) == ["claimsight._hidden"]
    assert find_cycle(edges(trees, everywhere=False)) == [
        "claimsight.commands.data",
        "claimsight.shell",
        "claimsight.commands.data",
    ]
    del trees["claimsight.shell"]
    assert find_cycle(edges(trees, everywhere=False)) is None
    assert find_cycle(edges(trees, everywhere=True)) == ["claimsight.cli", "claimsight.loop_commands", "claimsight.cli"]


def test_the_command_line_module_only_assembles() -> None:
    """Commands live in claimsight/commands/; cli.py keeps the entry point and nothing a command needs."""
    tree = sources()["claimsight.cli"]
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert functions == ["main"]
    shell = ast.unparse(sources()["claimsight.shell"])
    assert ".command(" not in shell and "Typer(" not in shell
