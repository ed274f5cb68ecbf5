"""The project's modules import each other without a cycle, counting imports inside
functions too.

A cycle hidden behind a function-level import still ties the modules together (each
one can only be loaded or changed with the others in mind); issue 11 broke the last one
(``realtime.bus → manager → replay → events → bus``). Read from the source with ``ast``:
no process, no import, a few milliseconds.
"""

from __future__ import annotations

import ast
import graphlib
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PROJECT = {"tests", "bench", "node_modules"}


def project_modules(root: Path) -> dict[str, Path]:
    """Every module of the top-level packages (directories with an ``__init__.py``)."""
    modules = {}
    for init in sorted(root.glob("*/__init__.py")):
        if init.parent.name in NOT_PROJECT or init.parent.name.startswith("."):
            continue
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The project modules ``name`` imports, anywhere in its body, with a line number."""
    found: dict[str, int] = {}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child)
                continue
            for target in targets:
                if target in modules and target != name:
                    found.setdefault(target, child.lineno)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def import_cycle(root: Path) -> list[str] | None:
    """One import cycle as ``module:line`` steps, each importing the next at that line
    (the last one the first), or None."""
    modules = project_modules(root)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    try:
        graphlib.TopologicalSorter({name: set(edges) for name, edges in graph.items()}).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]  # [a, b, ..., a]: each one imports the next
        return [f"{module}:{graph[module][imported]}" for module, imported in itertools.pairwise(cycle)]
    return None


def test_the_project_has_no_import_cycle():
    cycle = import_cycle(ROOT)
    assert cycle is None, "import cycle (module:line of the import): " + " -> ".join(cycle + cycle[:1])


def test_the_check_sees_a_cycle_through_a_function_level_import(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "a.py").write_text("from . import b\n")
    (tmp_path / "app" / "b.py").write_text("def f():\n    from .c import g\n")
    (tmp_path / "app" / "c.py").write_text("import app.a\n")
    (tmp_path / "tests").mkdir()  # not project code: ignored
    (tmp_path / "tests" / "__init__.py").write_text("import app.a\n")
    cycle = import_cycle(tmp_path)
    assert cycle is not None and len(cycle) == 3, cycle
    assert sorted(cycle) == ["app.a:1", "app.b:2", "app.c:1"], cycle
    (tmp_path / "app" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.a\n")
    assert import_cycle(tmp_path) is None
