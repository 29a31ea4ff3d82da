"""The package structure holds: stages import one way, no cycles, no hidden imports, and no gradio below the UI."""
from __future__ import annotations

import ast
import importlib.util
import io
import re
import subprocess
import sys
import tokenize
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
    {"explorer", "explorer.errors", "explorer.config", "explorer.checks", "explorer.cache", "explorer.formats",
     "explorer.messages", "explorer.workers"},
    {"explorer.world"},
    {"explorer.models"}, {"explorer.text"}, {"explorer.generation"}, {"explorer.outputs"}, {"explorer.concepts"},
    {"explorer.explore"}, {"explorer.archive"}, {"explorer.plots"}, {"explorer.lesson"}, {"explorer.jobs"}, {"explorer.inside"},
    {"explorer.ui", "explorer.cli", "explorer.__main__"},
    {"explorer.miniworld"},
]
LIBRARY_PACKAGES = ["explorer", "explorer.world", "explorer.models", "explorer.text", "explorer.generation",
                    "explorer.outputs", "explorer.concepts", "explorer.archive", "explorer.explore", "explorer.plots",
                    "explorer.lesson", "explorer.jobs", "explorer.inside", "explorer.cli"]
# what the world package may import besides the standard library and explorer's base stage (its promise: numpy, PIL
# and scipy only, so the archive, the lesson and the tests read pictures without torch or a model)
WORLD_THIRD_PARTY = {"numpy", "PIL", "scipy"}


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
            "import explorer.world.scenes, explorer.world.oracle\n"
            "assert 'gradio' not in sys.modules, 'gradio was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# gradio's private internals live in one module (house style 18): explorer/ui/gradio_compat.py
COMPAT = PACKAGE / "ui" / "gradio_compat.py"
GRADIO_INTERNALS = {
    "gradio's queue (`._queue`)": re.compile(r"\._queue\b"),
    "Blocks.process_api": re.compile(r"\.process_api\b"),
    "a forged signature (`__signature__`)": re.compile(r"__signature__"),
    "forged annotations (`__annotations__ =`)": re.compile(r"__annotations__\s*="),
    "a class renamed (`__qualname__ =`)": re.compile(r"__qualname__\s*="),
    "gradio's state store (`state_holder`)": re.compile(r"\bstate_holder\b"),
    "the launched I18n (`i18n_instance`)": re.compile(r"\bi18n_instance\b"),
    "I18n's tables (`translations_dict`)": re.compile(r"\btranslations_dict\b"),
    "a Blocks' blocks (`demo.blocks`)": re.compile(r"\bdemo\.blocks\b"),
}
_GRADIO = importlib.util.find_spec("gradio")          # found, not imported
GRADIO_SUBMODULES = {p.stem for p in Path(_GRADIO.submodule_search_locations[0]).iterdir()
                     if (p.suffix == ".py" or p.is_dir()) and not p.name.startswith("_")} - {"themes"}


def gradio_internals(source: str) -> list[str]:
    """What of gradio's internals a module's source uses: a gradio submodule imported (`from gradio.utils import`,
    `import gradio.utils`, `from gradio import processing_utils`), or one of GRADIO_INTERNALS in its code (string
    literals and comments are blanked first: docstrings may name them)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module.startswith("gradio.") or (
                node.module == "gradio" and any(a.name in GRADIO_SUBMODULES for a in node.names))):
            found.append(f"a gradio submodule imported ({node.module})")
        elif isinstance(node, ast.Import) and any(a.name.startswith("gradio.") for a in node.names):
            found.append("a gradio submodule imported")
    code = _code_only(source)
    return found + [what for what, pattern in GRADIO_INTERNALS.items() if pattern.search(code)]


def _code_only(source: str) -> str:
    """The source with every string literal and comment blanked (line numbers kept)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    blanked = list(source)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            (row, col), (end_row, end_col) = token.start, token.end
            for i in range(starts[row - 1] + col, starts[end_row - 1] + end_col):
                if blanked[i] != "\n":
                    blanked[i] = " "
    return "".join(blanked)


def test_gradio_internals_only_in_the_compat_module():
    found = {name: what for name, path in MODULES.items() if path != COMPAT
             for what in [gradio_internals(path.read_text(encoding="utf-8"))] if what}
    assert found == {}, f"gradio internals outside {COMPAT.relative_to(ROOT)}: {found}"


@pytest.mark.parametrize("line", [
    "from gradio.utils import get_upload_folder\n", "import gradio.utils\n", "from gradio import processing_utils\n",
    "    queue = demo._queue\n", "original = demo.process_api\n", "fn.__signature__ = inspect.signature(f)\n",
    "fn.__annotations__ = {'request': gr.Request}\n", "cls.__name__ = cls.__qualname__ = name\n",
    "holder = demo.state_holder\n", "forced = demo.i18n_instance.forced\n", "return demo.blocks[key]\n",
])
def test_the_internals_rule_finds_one_put_back(line):
    assert gradio_internals("import gradio as gr\n\n\ndef f(demo):\n    " + line.strip() + "\n") != []


def test_the_internals_rule_leaves_the_public_api_and_words_alone():
    source = ('"""Wraps `demo._queue.push` through gradio_compat; no __signature__ here."""\n'
              "import gradio as gr\nfrom gradio import Blocks as Blocks\n"
              "# demo.process_api is wrapped in gradio_compat\n"
              "def f(demo):\n    return gr.Textbox(), gradio_compat.blocks_of(demo)\n")
    assert gradio_internals(source) == []


def test_no_relative_import():
    """Every import names its module in full, so the checks above see all of them."""
    relative = [name for name, path in MODULES.items() for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == [], relative


# ---------------------------------------------------------------- the world package stands alone

def top_level_imports(source: str) -> set[str]:
    """The first part of every module a source imports (`PIL` for `from PIL import Image`)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def world_import_problems(name: str, source: str) -> list[str]:
    """What a module of explorer/world imports that it may not: explorer above the base stage, or a third-party
    package other than numpy, PIL and scipy."""
    problems = []
    tree_imports = [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))]
    for node in tree_imports:
        targets = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for target in targets:
            if target.split(".")[0] == "explorer" and not (target.startswith("explorer.world") or stage(target) == 0):
                problems.append(f"{name} imports {target}")
    extra = top_level_imports(source) - WORLD_THIRD_PARTY - set(sys.stdlib_module_names) - {"explorer", "__future__"}
    return problems + [f"{name} imports {package}" for package in sorted(extra)]


def test_the_world_package_imports_nothing_above_it():
    world = {name: path for name, path in MODULES.items() if stage(name) == stage("explorer.world")}
    assert {"explorer.world.scenes", "explorer.world.oracle"} <= set(world)
    assert [p for name, path in world.items() for p in world_import_problems(name, path.read_text())] == []


@pytest.mark.parametrize("line", ["from explorer.models.vision import CLIP_MEAN", "import torch",
                                  "from explorer.miniworld.losses import fit_latent_rgb"])
def test_the_world_rule_sees_an_import_from_above(line):
    assert world_import_problems("explorer.world.scenes", f"import numpy as np\n{line}\n") != []
    assert world_import_problems("explorer.world.scenes", "import numpy\nfrom scipy import ndimage\n"
                                                          "from explorer.errors import InputError\n") == []


# ---------------------------------------------------------------- no module-level state in the library
# A module-level object the code changes at run time is shared by every app in the process (two apps in one test
# session, an app and the CLI): state belongs to an object the app owns (AppContext, LoadedModel, VisionModel,
# MapWarmup), as models/loaded.py says. Caught: a module-level cache, lock, thread or queue, and any module-level
# name a function changes (`global`, `X[k] = v`, `X.a = v`, `X.append(...)`, ...). Constants read at run time and a
# pure function's memo (functools.lru_cache: the same arguments give the same value) are not state.
STATEFUL_TYPES = {"LRUCache", "Lock", "RLock", "Event", "Condition", "Semaphore", "BoundedSemaphore", "Thread",
                  "Queue", "SimpleQueue", "local"}
MUTATORS = {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add",
            "discard", "put", "sort", "reverse", "appendleft", "popleft"}
STATE_ALLOWED = {          # module.name -> why it may stay
    "explorer.jobs.shards._MODELS": "runs in Ray's worker processes (one model per worker), never in an app's",
    "explorer.workers._live": "the threads that the interpreter's exit must stop: exit is the process's, not an app's",
    "explorer.workers._lock": "guards _live",
}
LIBRARY_MODULES = sorted(name for name in MODULES if not name.startswith(("explorer.ui", "explorer.miniworld")))


def module_state(source: str, instances: bool = False) -> dict[str, str]:
    """Module-level names of a source that hold run-time state: name -> how (the first way found). `instances`: an
    instance of a class the module defines counts too (the UI's app-wide objects: a registry behind methods)."""
    tree = ast.parse(source)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)} if instances else set()
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) and node.value is not None else []
        names.update((t.id, node.value) for t in targets if isinstance(t, ast.Name))
    found = {}
    for name, value in names.items():
        if isinstance(value, ast.Call):
            kind = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", "")
            if kind in STATEFUL_TYPES:
                found[name] = f"a module-level {kind}"
            elif isinstance(value.func, ast.Name) and value.func.id in classes:
                found[name] = f"a module-level {kind} (an app-wide object: the app's, not the module's)"
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        declared = {g for n in ast.walk(function) if isinstance(n, ast.Global) for g in n.names}
        local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)} | \
            {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for name in declared & set(names):
            found.setdefault(name, f"`global {name}` in {function.name}()")
        for node in ast.walk(function):
            base, how = None, ""
            if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
                base, how = node.value, "assigned into"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                base, how = node.func.value, f".{node.func.attr}()"
            while isinstance(base, (ast.Subscript, ast.Attribute)):    # X[a][b] = v, X.a.append(v): X is changed
                base = base.value
            if isinstance(base, ast.Name) and base.id in names and (base.id not in local or base.id in declared):
                found.setdefault(base.id, f"{how} in {function.name}()")
    return found


def test_no_module_level_state_in_the_library():
    state = {f"{name}.{var}": how for name in LIBRARY_MODULES
             for var, how in module_state(MODULES[name].read_text(encoding="utf-8")).items()}
    assert {k: v for k, v in state.items() if k not in STATE_ALLOWED} == {}
    assert set(STATE_ALLOWED) <= set(state), "an allowed entry is gone: take it off STATE_ALLOWED"


# The UI too (issue 27, item 4): translation tables, warm-ups and sessions belong to the app (build_demo's AppContext),
# so two apps in one process (tests, a bench) keep their own; a module-level instance of the module's own class
# counts as state here (an app-wide object behind methods, which the rule above cannot see change).
UI_STATE_ALLOWED = {       # module.name -> why it may stay
    "explorer.ui.media.MEDIA": "the published files' secret and folder: crossed where no app object is (events."
                               "wrap_handler -> files.publish_value, the ASGI middleware starlette builds); one per "
                               "process keeps two apps' clients apart by their cookies all the same",
}
UI_MODULES = sorted(name for name in MODULES if name.startswith("explorer.ui"))


def test_no_module_level_state_in_the_ui():
    state = {f"{name}.{var}": how for name in UI_MODULES
             for var, how in module_state(MODULES[name].read_text(encoding="utf-8"), instances=True).items()}
    assert {k: v for k, v in state.items() if k not in UI_STATE_ALLOWED} == {}
    assert set(UI_STATE_ALLOWED) <= set(state), "an allowed entry is gone: take it off UI_STATE_ALLOWED"


def test_the_ui_rule_sees_the_filled_texts_registry_put_back():
    """i18n.t() once wrote each filled text into a module-level dict per language (_FILLED)."""
    source = (MODULES["explorer.ui.i18n"].read_text(encoding="utf-8")
              + "\n_FILLED = {'en': {}}\ndef t(key, **values):\n    _FILLED['en'][key] = key\n")
    assert "_FILLED" in module_state(source, instances=True)
    assert module_state("class Media:\n    pass\nMEDIA = Media()\n", instances=True) != {}
    assert module_state("class Media:\n    pass\nMEDIA = Media()\n") == {}


STATE_VIOLATIONS = {
    "a cache": "from explorer.cache import LRUCache\n_CACHE = LRUCache(4)\ndef f(k):\n    return _CACHE.peek(k)\n",
    "a lock": "import threading\n_LOCK = threading.Lock()\n",
    "a registry": "_SEEN = {}\ndef f(k):\n    _SEEN[k] = 1\n",
    "a list": "_DONE = []\ndef f(x):\n    _DONE.append(x)\n",
    "a table of tables": "_FILLED = {'en': {}}\ndef f(k, v):\n    _FILLED['en'][k] = v\n",
    "a counter": "_N = 0\ndef f():\n    global _N\n    _N += 1\n",
    "a warm-up object": "class _Warmup:\n    thread = None\nWARMUP = _Warmup()\ndef f(t):\n    WARMUP.thread = t\n",
}
NOT_STATE = {
    "constants": "LIMITS = {'a': 1}\nNAMES = ['a']\ndef f(k):\n    return LIMITS[k], NAMES[0], dict(LIMITS)\n",
    "a local of the same name": "ITEMS = ()\ndef f():\n    ITEMS = []\n    ITEMS.append(1)\n    return ITEMS\n",
    "a pure memo": "from functools import lru_cache\n@lru_cache(maxsize=2)\ndef f(k):\n    return k * 2\n",
    "a method's own attribute": "class A:\n    def f(self):\n        self.items = []\n        self.items.append(1)\n",
}


@pytest.mark.parametrize("case", sorted(STATE_VIOLATIONS))
def test_the_state_rule_sees_module_level_state(case):
    assert module_state(STATE_VIOLATIONS[case]) != {}


@pytest.mark.parametrize("case", sorted(NOT_STATE))
def test_the_state_rule_leaves_constants_alone(case):
    assert module_state(NOT_STATE[case]) == {}


# the UI reads in one go (house style 17): a tab is a layout, a bind and small module-level handlers
UI_FUNCTION_LINES = 60


def long_functions(source: str, limit: int = UI_FUNCTION_LINES) -> list[str]:
    """'name (N lines)' for every function or method of a module longer than `limit` lines (nested ones counted
    with the function that holds them: a 200-line build() of closures is one long function)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found.append(f"{node.name} ({lines} lines)")
    return found


def test_no_function_in_the_ui_is_over_sixty_lines():
    found = {name: long for name, path in MODULES.items() if name.startswith("explorer.ui")
             for long in [long_functions(path.read_text(encoding="utf-8"))] if long}
    assert found == {}, f"functions in explorer/ui over {UI_FUNCTION_LINES} lines: {found}"


def test_the_length_rule_sees_a_build_of_closures():
    handlers = "".join(f"    def on_{i}(x):\n        return x + {i}\n\n" for i in range(25))
    assert long_functions("def build(ctx):\n" + handlers + "    return on_0\n") == ["build (77 lines)"]
    assert long_functions("def short(x):\n    return x\n") == []
