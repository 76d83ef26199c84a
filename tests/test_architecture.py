"""The layout is the data flow: imports only run down the layers, and there are no import circles.

Every import counts, lazy and TYPE_CHECKING ones included (they are circles in waiting).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "render"

#: Lowest first. A module may import its own unit and any unit of a lower rank, nothing else.
LAYERS: list[set[str]] = [
    {"render.errors", "render.version"},
    {"render.audio", "render.files", "render.controls"},
    {"render.timeline", "render.soundfont"},
    {"render.schedule"},
    {"render.backends"},
    {"render.spool"},
    {"render.conductor"},
    {"render.master"},
    {"render.export"},
    {"render.pipeline"},
    {"render.batch", "render.server"},
    {"render.cli"},
    {"render", "render.__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def unit_of(module: str) -> str:
    best = max((u for u in RANK if module == u or module.startswith(u + ".")), key=len)
    return best


def imports_of(module: str) -> set[str]:
    """Every render module imported anywhere in ``module`` (resolved, relative included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "render")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rsplit(".", 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.split(".")[0] != "render":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES} - {module}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module: str) -> None:
    mine = unit_of(module)
    for target in sorted(imports_of(module)):
        theirs = unit_of(target)
        if theirs == mine:
            continue
        assert RANK[theirs] < RANK[mine], (
            f"{module} imports {target}: {theirs} (layer {RANK[theirs]}) is not below {mine} (layer {RANK[mine]}); "
            "see docs/architecture.md")


def test_no_import_circles() -> None:
    graph = {m: imports_of(m) for m in MODULES}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        assert unit_of(module) in RANK


def test_every_package_says_what_it_does_and_may_import_in_three_lines() -> None:
    for module, path in MODULES.items():
        if path.name != "__init__.py" or module == "render":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc, f"{module} has no docstring"
        assert len(doc.strip().splitlines()) <= 3, f"{module}: the package docstring is over three lines"
        assert "import" in doc, f"{module}: the docstring does not say what it may import"


def test_modules_stay_under_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
