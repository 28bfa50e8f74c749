"""The package's layers, read from its source (ast): no import goes up a layer, none goes round.

Layers, bottom to top: the ground floor (errors, precision, cpu_malloc, configs, ranks) ->
metrics -> data, models -> lit, tracking -> export, evaluation -> callbacks, loggers -> cli ->
sweeps. Every import counts, also one inside a function or under TYPE_CHECKING: a lazy import is
still a dependency.
Inside ``data/``:
the data model (core) -> index, sources -> the catalogue (``data/__init__``: open_dataset) ->
tools -> the training pair pipeline (pairs).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import siamlightning

PACKAGE = Path(siamlightning.__file__).resolve().parent
GROUND = {"errors", "precision", "cpu_malloc", "configs", "ranks"}
# package -> the packages it may import (besides itself and the ground floor)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "precision": set(),
    "cpu_malloc": set(),
    "configs": set(),
    "ranks": set(),
    "metrics": set(),
    "data": {"metrics"},
    "models": {"metrics"},
    "lit": {"metrics", "data", "models"},
    "tracking": {"metrics", "data", "models"},
    "evaluation": {"metrics", "data", "models", "tracking"},
    "callbacks": {"metrics", "data", "models", "lit", "tracking", "evaluation"},
    # Lightning loggers (W&B, the resuming CSV logger): what the CLIs log to
    "loggers": set(),
    # graphs of a tracker's net (ONNX, TorchScript, torch.export); tracking runs them
    "export": {"metrics", "data", "models", "tracking"},
    "cli": {
        "metrics",
        "data",
        "models",
        "lit",
        "tracking",
        "evaluation",
        "callbacks",
        "loggers",
        "export",
    },
    # tracker searches: Optuna studies whose trials are siamlightning-eval jobs
    "sweeps": {"metrics", "data", "models", "tracking", "evaluation", "loggers", "cli"},
    # the package facade: `siamlightning.load_tracker`
    "": {"tracking"},
}
DATA_ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "index": {"core"},
    "sources": {"core"},
    "": {"core", "index", "sources"},  # data/__init__.py: open_dataset
    "tools": {"core", "index", "sources", ""},
    "pairs": {"core", "index", "sources", "", "tools"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its file (resolved to a module)."""
    modules = _modules()

    def resolve(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        graph[name]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] == "siamlightning" and resolve(t) != name:
                    graph[name].add(resolve(t))
    return graph


def _level(module: str, depth: int) -> str:
    parts = module.split(".")
    return parts[depth] if len(parts) > depth else ""


def _violations(graph, allowed, depth, within=None) -> list[str]:
    bad = []
    for src, dsts in graph.items():
        if within is not None and _level(src, 1) != within:
            continue
        a = _level(src, depth)
        for dst in dsts:
            if within is not None and _level(dst, 1) != within:
                continue
            b = _level(dst, depth)
            if a != b and b not in allowed[a] and (within is not None or b not in GROUND):
                bad.append(f"{src} imports {dst}")
    return sorted(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_every_package_is_placed_in_a_layer():
    top = {_level(m, 1) for m in _modules()}
    assert top <= set(ALLOWED), f"place {sorted(top - set(ALLOWED))} in ALLOWED"
    data = {_level(m, 2) for m in _modules() if _level(m, 1) == "data"}
    assert data <= set(DATA_ALLOWED), f"place {sorted(data - set(DATA_ALLOWED))} in DATA_ALLOWED"


def test_no_import_goes_up_a_layer():
    assert _violations(import_graph(), ALLOWED, 1) == []


def test_data_shows_its_parts_in_order():
    assert _violations(import_graph(), DATA_ALLOWED, 2, within="data") == []


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_checks_can_fail():
    """The checker itself: an upward edge and a cycle are found."""
    graph = {
        "siamlightning.tracking.load": {"siamlightning.cli.common"},
        "siamlightning.cli.common": {"siamlightning.data.core.sequences"},
        "siamlightning.data.core.sequences": {"siamlightning.data.sources.coco"},
        "siamlightning.data.sources.coco": {"siamlightning.data.core.sequences"},
    }
    assert _violations(graph, ALLOWED, 1) == [
        "siamlightning.tracking.load imports siamlightning.cli.common"
    ]
    assert _violations(graph, DATA_ALLOWED, 2, within="data") == [
        "siamlightning.data.core.sequences imports siamlightning.data.sources.coco"
    ]
    assert find_cycle(graph) == [
        "siamlightning.data.core.sequences",
        "siamlightning.data.sources.coco",
        "siamlightning.data.core.sequences",
    ]
