"""Every `>>>` example in the docstrings of data/, models/ and nmt/ runs and prints what it shows.

The modules are found by walking the three folders, so a new module is covered without a change
here. The same examples run one file at a time with
`python -m pytest --doctest-modules models/decoding.py`.
"""

import doctest
import importlib
import io
import os

import pytest

from tests.conftest import ROOT

PACKAGES = ("data", "models", "nmt")
# Importing `nmt.__main__` would run the command line.
NOT_IMPORTABLE = {"nmt.__main__"}


def library_modules():
    """Dotted names of every module under PACKAGES, sorted."""
    names = []
    for package in PACKAGES:
        for folder, subfolders, files in os.walk(os.path.join(ROOT, package)):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "__")))
            prefix = os.path.relpath(folder, ROOT).replace(os.sep, ".")
            for file in files:
                if file.endswith(".py"):
                    name = prefix if file == "__init__.py" else f"{prefix}.{file[:-3]}"
                    names.append(name)
    return sorted(set(names) - NOT_IMPORTABLE)


def test_the_walk_finds_the_layers_and_the_decode_loop():
    # Guards against a walk that finds nothing, which would make every test below vacuous.
    found = library_modules()
    assert {"models.transformer_decoder", "models.decoding", "data.pipeline", "nmt.cli"} <= set(found)


@pytest.mark.parametrize("module_name", library_modules())
def test_docstring_examples_run_and_print_what_they_show(module_name):
    module = importlib.import_module(module_name)
    report = io.StringIO()
    runner = doctest.DocTestRunner()
    # The module's own globals, as `pytest --doctest-modules` gives them to its examples.
    for test in doctest.DocTestFinder().find(module, module_name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, (
        f"{runner.failures} of {runner.tries} examples in {module_name} failed:\n"
        f"{report.getvalue()}")
