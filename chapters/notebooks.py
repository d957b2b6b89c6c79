"""Write the lessons as Jupyter notebooks: `python -m chapters.notebooks [--out DIR] [LESSON ...]`.

Each lesson, chapters/NN_name.py, is a jupytext "percent" script (`# %%` code cells,
`# %% [markdown]` + `\"\"\"...\"\"\"` prose cells), the one source of both the script and the
notebook. This reads it with jupytext, puts one setup cell first (it finds the checkout, so the
lesson's imports work wherever Jupyter was started; in Colab it says how to get one), and writes
DIR/NN_name.ipynb (default notebooks/) without outputs, through a temporary file and a rename, so
an interrupted build never leaves half a notebook. A notebook whose content did not change is
not rewritten; a notebook built from a lesson that no longer exists is removed when all are
built. LESSON is a name (`02_self_attention`), its number (`02`) or its path; none: all.

The notebooks are not paired back to the scripts (no jupytext `formats`): the setup cell is not
part of the lesson, and a pairing would let `jupytext --sync` or Jupyter's jupytext extension
write it into chapters/. Edit the script, then build again.
"""

import argparse
import os
import re
import subprocess
import sys

import jupytext
import nbformat

try:  # python -m chapters.notebooks
    from chapters.common import ROOT
except ImportError:  # python chapters/notebooks.py
    from common import ROOT

CHAPTERS = os.path.join(ROOT, "chapters")
LESSON_FILE = re.compile(r"^(\d\d)_\w+\.py$")

SETUP_CELL = '''\
# Setup, added by `make notebooks`: it finds the checkout and makes it the working folder.
# The lesson itself is {source}; edit that file, then run `make notebooks` again.
import os
import sys


def _find_checkout(start):
    """The nearest folder at or above `start`, or just inside it, holding chapters/common.py."""
    folder = start
    while True:
        if os.path.isfile(os.path.join(folder, "chapters", "common.py")):
            return folder
        if os.path.dirname(folder) == folder:
            break
        folder = os.path.dirname(folder)
    for name in sorted(os.listdir(start)):
        if os.path.isfile(os.path.join(start, name, "chapters", "common.py")):
            return os.path.join(start, name)
    return None


_checkout = _find_checkout(os.getcwd())
if _checkout:
    os.chdir(_checkout)
    if _checkout not in sys.path:
        sys.path.insert(0, _checkout)
    print(f"checkout: {{_checkout}}")
elif "google.colab" in sys.modules:
    print("Colab: clone the project ({clone}), `%cd` into it, "
          "`!pip install -r requirements.txt`, then run this cell again.")
else:
    raise FileNotFoundError(f"no checkout of the project (a folder with chapters/common.py) at or "
                            f"above {{os.getcwd()}}: start Jupyter inside the checkout")
'''


def lesson_paths(names=()):
    """The lesson scripts chapters/NN_name.py named by `names` (name, number or path), sorted;
    all of them when `names` is empty."""
    every = sorted(name for name in os.listdir(CHAPTERS) if LESSON_FILE.match(name))
    if not names:
        return [os.path.join(CHAPTERS, name) for name in every]
    paths = []
    for wanted in names:
        base = os.path.basename(wanted)
        found = [name for name in every
                 if base in (name, name[:-3], LESSON_FILE.match(name).group(1))]
        if len(found) != 1:
            raise ValueError(f"no lesson {wanted!r} in chapters/ (one of: "
                             f"{', '.join(name[:-3] for name in every)})")
        paths.append(os.path.join(CHAPTERS, found[0]))
    return paths


def clone_hint():
    """How to clone this project: the checkout's `origin` remote when it has one."""
    try:
        url = subprocess.run(["git", "-C", ROOT, "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        url = ""
    return f"`!git clone {url}`" if url else "`!git clone` followed by its git URL"


def build_notebook(path, clone=None):
    """The notebook of the lesson at `path`: a setup cell, then the lesson's own cells."""
    source = os.path.relpath(path, ROOT).replace(os.sep, "/")
    notebook = jupytext.read(path, fmt="py:percent")
    setup = nbformat.v4.new_code_cell(
        SETUP_CELL.format(source=source, clone=clone or clone_hint()).rstrip("\n"))
    notebook.cells.insert(0, setup)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"  # the same ids every build, so an unchanged lesson
        if cell.cell_type == "code":       # gives the same bytes
            cell.outputs, cell.execution_count = [], None
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["companion"] = {"source": source, "built_by": "make notebooks"}
    return notebook


def write_notebook(notebook, path):
    """Write `notebook` to `path` via a temporary file in the same folder and a rename; return
    False (and write nothing) when the file already holds exactly this notebook."""
    text = jupytext.writes(notebook, fmt="ipynb")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def build(out, names=()):
    """Write out/NN_name.ipynb for each lesson; return the paths written or unchanged."""
    paths = lesson_paths(names)
    os.makedirs(out, exist_ok=True)
    clone = clone_hint()
    written = []
    for path in paths:
        notebook = build_notebook(path, clone)
        target = os.path.join(out, os.path.basename(path)[:-3] + ".ipynb")
        changed = write_notebook(notebook, target)
        kinds = [cell.cell_type for cell in notebook.cells[1:]]
        shown = os.path.relpath(target)
        shown = target if shown.startswith("..") else shown
        print(f"{'wrote' if changed else 'unchanged'} {shown} "
              f"({kinds.count('markdown')} markdown, {kinds.count('code')} code cells + setup)")
        written.append(target)
    if not names:
        remove_stale(out)
    return written


def remove_stale(out):
    """Remove the notebooks in `out` that this builder wrote for a lesson that no longer exists
    (renamed or deleted); files it did not write are left alone."""
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if not name.endswith(".ipynb") or not os.path.isfile(path):
            continue
        try:
            source = nbformat.read(path, as_version=4).metadata.get("companion", {}).get("source")
        except (OSError, ValueError, AttributeError):  # unreadable: not its own
            continue
        if source and not os.path.isfile(os.path.join(ROOT, source)):
            os.remove(path)
            print(f"removed {path} ({source} no longer exists)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m chapters.notebooks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "notebooks"),
                        help="folder for the .ipynb files (default: notebooks/ in the checkout)")
    parser.add_argument("lessons", nargs="*", help="lesson names, numbers or paths (default: all)")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.lessons)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
