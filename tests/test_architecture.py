"""The package structure holds: stages import one way, no cycles, no hidden imports, and no gradio below the UI."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "explorer"
# bottom to top: a module may import its own stage and the stages below it, never one above.
# The miniature world at run time (explorer/world: scenes, captions, renderer, pixel oracle; numpy, PIL and scipy)
# sits low: the archive draws miniworld's training set again from it and reads what a picture shows. Its training
# code (explorer/miniworld) stays on top. The archive sits above explore: its training-set gaps annotate a search
# page, handed to search by the caller (search knows no archive).
STAGES = [
    {"explorer", "explorer.errors", "explorer.config", "explorer.checks", "explorer.cache", "explorer.formats"},
    {"explorer.world"},
    {"explorer.models"}, {"explorer.text"}, {"explorer.generation"}, {"explorer.outputs"}, {"explorer.concepts"},
    {"explorer.explore"}, {"explorer.archive"}, {"explorer.plots"}, {"explorer.lesson"}, {"explorer.jobs"},
    {"explorer.ui", "explorer.cli", "explorer.__main__"},
    {"explorer.miniworld"},
]
LIBRARY_PACKAGES = ["explorer", "explorer.models", "explorer.text", "explorer.generation", "explorer.outputs",
                    "explorer.concepts", "explorer.archive", "explorer.explore", "explorer.plots", "explorer.lesson",
                    "explorer.jobs", "explorer.cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(name: str) -> int:
    for level, members in enumerate(STAGES):
        if any(name == m or (m != "explorer" and name.startswith(m + ".")) for m in members):
            return level
    raise AssertionError(f"{name} belongs to no stage: add it to STAGES")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported explorer module, imported inside a function?) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, nested: bool):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("explorer"):
                found.append((child.module, nested))
                for alias in child.names:                   # `from explorer.text import encoding` imports a module
                    target = PACKAGE.parent / f"{child.module}.{alias.name}".replace(".", "/")
                    if target.with_suffix(".py").exists() or target.is_dir():
                        found.append((f"{child.module}.{alias.name}", nested))
            elif isinstance(child, ast.Import):
                found.extend((a.name, nested) for a in child.names if a.name.startswith("explorer"))
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_stage():
    for name in MODULES:
        stage(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_one_way(name):
    own = stage(name)
    for target, _ in imports(MODULES[name]):
        assert stage(target) <= own, f"{name} (stage {own}) imports {target} (stage {stage(target)}), a stage above"


def test_no_function_level_import_of_the_project():
    hidden = [(name, target) for name, path in MODULES.items() for target, nested in imports(path) if nested]
    assert hidden == [], hidden


def test_no_import_cycle():
    graph = {name: {t for t, _ in imports(path) if t in MODULES and t != name} for name, path in MODULES.items()}
    for name in graph:                       # a package's own __init__ importing its modules is not a cycle
        if MODULES[name].name == "__init__.py":
            graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}

    def walk(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [node, nxt]))
            if nxt not in state:
                walk(nxt, path + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [])


def test_library_packages_import_without_gradio():
    code = ("import importlib, sys\n"
            f"for name in {LIBRARY_PACKAGES!r}:\n"
            "    importlib.import_module(name)\n"
            "import explorer.explore.walks, explorer.explore.search, explorer.explore.probe, explorer.explore.curves\n"
            "import explorer.explore.blends, explorer.concepts.projection, explorer.concepts.axes\n"
            "import explorer.plots.map, explorer.plots.walks, explorer.outputs.saving\n"
            "import explorer.archive.retrieval, explorer.archive.index, explorer.archive.sources\n"
            "assert 'gradio' not in sys.modules, 'gradio was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
