"""The package's import graph, read with ast from the source (every import, at module level or inside a function):
no cycle between modules, and each module imports only from its own part of the package or from lower layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mmft_kit"
#: The parts of the package (top-level modules and subpackages), lowest layer first. A part imports only parts
#: of lower layers (or its own modules); the package root (version, lazy accessors) sits on top.
LAYERS: list[set[str]] = [
    {"errors"},
    {"io", "text", "runtime", "method", "dispatch"},
    {"records", "params", "optim", "losses", "data", "wiseft", "baselines"},
    {"report", "inference", "captions", "provenance", "run_logs", "chance"},
    {"tables", "embedded", "embeddings", "sweep"},
    {"zoo"},
    {"models"},
    {"classifier"},
    {"train", "pare"},
    {"methods"},
    {"viz", "predict"},
    {"notebook"},
    {"widgets", "batch"},
    {"cli"},
    {"__main__", "__init__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_every_part_of_the_package_has_a_layer():
    assert {_part(m) for m in import_graph()} <= set(RANK), "place new modules in LAYERS"


def test_no_module_imports_from_a_higher_layer_or_a_sibling_part():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
              if _part(a) != _part(b) and _part(b) != "__init__" and RANK[_part(b)] >= RANK[_part(a)]]
    assert not upward, upward


def test_the_import_graph_has_no_cycle():
    graph, state, cycles = import_graph(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


@pytest.mark.parametrize("core", ["train", "pare", "captions", "data", "inference", "losses"])
def test_the_core_never_imports_the_presentation(core):
    presentation = {"viz", "widgets", "notebook", "batch", "cli"}
    assert not {_part(t) for m, ts in import_graph().items() if _part(m) == core for t in ts} & presentation
