"""recdiff's subpackages, and its modules, import each other in one direction only: no circle, however lazy the import."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO

Edges = dict[str, dict[str, list[str]]]
"""Importing unit -> imported unit -> the `file:line` of each such import."""


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def subpackage(package: str, module: str) -> str:
    """The subpackage (or top-level module) of `module`: `recdiff.data.readers` -> `recdiff.data`."""
    return ".".join(module.split(".")[:2]) if module != package else package


def module(package: str, name: str) -> str:
    """The module itself (a package stands for its `__init__`)."""
    return name


def _imported(root: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute names of the modules an import statement uses: `from p import m` uses module p.m when there
    is one, else p (every import runs the parent packages' `__init__` too; that alone is no dependency)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level or node.module is None:
        return []
    found = []
    for alias in node.names:
        candidate = root.parent / Path(*f"{node.module}.{alias.name}".split("."))
        is_module = candidate.with_suffix(".py").is_file() or candidate.is_dir()
        found.append(f"{node.module}.{alias.name}" if is_module else node.module)
    return found


def _statements(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import in the module, in functions too, except those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_edges(root: Path, unit: Callable[[str, str], str] = subpackage) -> Edges:
    """Imports between the units (`subpackage` or `module`) of the package at `root`."""
    package = root.name
    edges: Edges = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        source = unit(package, _module_name(root, path))
        for node in _statements(ast.parse(path.read_text(encoding="utf-8"))):
            names = [name for name in _imported(root, node) if name.split(".")[0] == package]
            for target in sorted({unit(package, name) for name in names} - {source}):
                edges[source][target].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return edges


def cycles(edges: Edges) -> list[list[str]]:
    """Groups of units that reach each other through imports (strongly connected, more than one unit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def describe(edges: Edges, group: list[str]) -> str:
    return "; ".join(
        f"{a} -> {b} ({', '.join(edges[a][b])})" for a in group for b in group if b in edges.get(a, {})
    )


def test_recdiff_subpackages_import_each_other_in_one_direction() -> None:
    edges = import_edges(REPO / "recdiff")
    assert "recdiff.training" in edges and "recdiff.evaluation" in edges["recdiff.training"]  # the walk sees imports
    found = cycles(edges)
    assert not found, "import cycles between subpackages: " + " | ".join(describe(edges, group) for group in found)


def test_recdiff_modules_import_each_other_in_one_direction() -> None:
    edges = import_edges(REPO / "recdiff", module)
    assert "recdiff.data.columns" in edges["recdiff.data.readers"]  # the walk sees imports
    found = cycles(edges)
    assert not found, "import cycles between modules: " + " | ".join(describe(edges, group) for group in found)


def test_a_lazy_import_back_is_a_cycle(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    for sub in ("low", "high", "other"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "high" / "run.py").write_text("from pkg.low import tools\n")
    (root / "low" / "tools.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.other import x\n"
        "def f():\n    from pkg.high.run import g\n"
    )
    edges = import_edges(root)
    assert cycles(edges) == [["pkg.high", "pkg.low"]]
    assert describe(edges, ["pkg.high", "pkg.low"]) == (
        "pkg.high -> pkg.low (pkg/high/run.py:1); pkg.low -> pkg.high (pkg/low/tools.py:5)"
    )
    assert "pkg.other" not in edges["pkg.low"]  # imports for type checkers only do not count
    assert cycles(import_edges(root, module)) == [["pkg.high.run", "pkg.low.tools"]]


def test_import_recdiff_is_cheap_and_every_public_name_resolves() -> None:
    """`import recdiff` loads neither torch nor pandas; each name in `__all__` is importable and is what it says."""
    code = (
        "import sys, recdiff; heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas', 'numpy'}); "
        "print(heavy); from recdiff.training.trainer import train; print(recdiff.train is train)"
    )
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert lines == ["[]", "True"]
    import recdiff

    assert set(recdiff.__all__) == {*recdiff._EXPORTS, "__version__"}
    assert all(getattr(recdiff, name) is not None for name in recdiff.__all__)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        _ = recdiff.trian
