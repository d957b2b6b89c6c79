"""The folders are levels: data/ -> models/ -> nmt/ -> chapters/, benchmarks/.

A module imports only modules of its own level or lower (imports inside functions included),
the project's modules import one another without cycles, and each module imports on its own.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVELS = {"data": 0, "models": 1, "nmt": 2, "chapters": 3, "benchmarks": 3}
LIBRARY = ("data", "models", "nmt")


def project_modules():
    """{module name: file path} for every .py file of the level folders."""
    modules = {}
    for folder in LEVELS:
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py"):
                module = f"{folder}.{name[:-3]}".removesuffix(".__init__")
                modules[module] = os.path.join(ROOT, folder, name)
    return modules


def imported_modules(path, known):
    """The project modules that the file at `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from models import metrics` imports models.metrics; `from nmt.config import X`
            # imports nmt.config.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.partition(".")[0] in LEVELS:
                found.add(name)
    return found


def import_graph():
    modules = project_modules()
    return {module: imported_modules(path, modules) - {module}
            for module, path in modules.items()}


def upward_imports(graph):
    """(importer, imported) pairs that go up a level or across the top level's folders."""
    bad = []
    for module, imports in graph.items():
        level, folder = LEVELS[module.partition(".")[0]], module.partition(".")[0]
        for imported in imports:
            other = imported.partition(".")[0]
            if LEVELS[other] > level or (LEVELS[other] == level and other != folder):
                bad.append((module, imported))
    return sorted(bad)


def cycles(graph):
    """The import cycles of `graph`, each as a list of modules (empty when there is none)."""
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                found.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_imports_a_higher_level():
    assert upward_imports(import_graph()) == []


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    graph = {"data.corpus": {"nmt.config"}, "nmt.config": {"data.corpus"},
             "chapters.a": {"benchmarks.b"}, "benchmarks.b": set(), "models.x": {"data.corpus"}}
    assert upward_imports(graph) == [("chapters.a", "benchmarks.b"), ("data.corpus", "nmt.config")]
    assert cycles(graph) == [["data.corpus", "nmt.config", "data.corpus"]]


def test_imports_inside_functions_count(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("def f():\n    from nmt.training import train\n    import models.rnn\n")
    assert imported_modules(str(path), {"nmt.training", "models.rnn"}) == {"nmt.training",
                                                                           "models.rnn"}


@pytest.mark.slow
def test_each_library_module_imports_on_its_own():
    # One process (TensorFlow is imported once): before each module, every project module is
    # forgotten, so each is imported with nothing of the project loaded before it.
    modules = [m for m in project_modules()
               if m.partition(".")[0] in LIBRARY and not m.endswith("__main__")]
    script = (
        "import importlib, sys, keras\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('data', 'models', 'nmt')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(" f"{modules!r}" "))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"imported {len(modules)}" in result.stdout
