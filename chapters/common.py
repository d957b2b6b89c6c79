"""Small helpers shared by the lessons: arguments, printing, self-checks, figures.

Every lesson runs as `python chapters/NN_name.py [--quick] [--out DIR]` (or
`python -m chapters.NN_name`); `--quick` shrinks its settings so the test suite runs it in
seconds, `--out` is where figures go (default `runs/chapters`). The same lesson opens as a
notebook (`make notebooks`, see chapters/notebooks.py): under a Jupyter kernel the command line
belongs to the kernel, so the lesson's arguments come from the environment variable
`NMT_LESSON_ARGS` instead (e.g. `%env NMT_LESSON_ARGS=--quick` in a cell before the lesson's
first one; unset: the full lesson).
"""

import argparse
import os
import shlex
import sys

# This file's own path is known even in a notebook (a kernel's cells have no `__file__`, but an
# imported module does), so ROOT is the checkout whatever the working directory is.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python chapters/NN.py` from anywhere finds models/ and data/.
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LESSON_ARGS = "NMT_LESSON_ARGS"  # the lesson's arguments when it runs in a notebook


def kernel_argv(argv):
    """True when `argv` is a Jupyter kernel's command line, not a lesson's.

    A kernel is started as `ipykernel_launcher.py -f CONNECTION.json` (Jupyter, nbclient;
    Colab's `colab_kernel_launcher.py` likewise; some front ends write `--f=CONNECTION.json`).

    >>> kernel_argv(["/venv/lib/ipykernel_launcher.py", "-f", "/run/kernel-1.json"])
    True
    >>> kernel_argv(["x.py", "--f=/run/kernel-1.json"])
    True
    >>> kernel_argv(["chapters/02_self_attention.py", "--quick"])
    False
    """
    launcher = os.path.basename(argv[0]) if argv else ""
    if launcher.endswith("kernel_launcher.py"):
        return True
    for flag, value in zip(argv[1:], list(argv[2:]) + [""]):
        if (flag == "-f" and value.endswith(".json")) or (
                flag.startswith("--f=") and flag.endswith(".json")):
            return True
    return False


def in_kernel():
    """True when this code runs in a live Jupyter/IPython kernel (where `display` shows images)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class _Printed:
    """A helper's result that the helper has already printed. In a notebook, a cell that ends
    with the call would echo it once more (`Out[3]: 1.1e-16`); IPython calls this method
    instead of echoing, and it shows nothing."""

    def _ipython_display_(self):
        pass


class _PrintedFloat(_Printed, float):
    pass


class _PrintedStr(_Printed, str):
    pass


def parse_args(description, extra=None):
    """`--quick` and `--out DIR` (plus what `extra(parser)` adds); creates the output folder.

    From the command line the arguments are `sys.argv[1:]`. Under a Jupyter kernel `sys.argv`
    is the kernel's own, so they are `$NMT_LESSON_ARGS` split as a shell would (none: full mode).
    """
    notebook = kernel_argv(sys.argv)
    parser = argparse.ArgumentParser(
        description=description, prog=f"${LESSON_ARGS}" if notebook else None)
    parser.add_argument("--quick", action="store_true",
                        help="small settings so the script runs in seconds (used by the tests)")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "chapters"),
                        help="folder for figures and small runs")
    if extra:
        extra(parser)
    if notebook:
        text = os.environ.get(LESSON_ARGS, "")
        args = parser.parse_args(shlex.split(text))
        print(f"(notebook: arguments from ${LESSON_ARGS}: {text!r})" if text.strip() else
              f"(notebook: full lesson; `%env {LESSON_ARGS}=--quick` before this cell for the "
              f"quick one)")
    else:
        args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args


def section(title):
    """Print a `## Section` header, the way the lesson's markdown cells are titled."""
    print(f"\n## {title}\n")


def check(condition, claim):
    """Assert a claim the lesson makes; print it so the reader sees what was verified."""
    if not condition:
        raise AssertionError(f"CHECK FAILED: {claim}")
    print(f"  [check] {claim}")


def check_close(actual, expected, claim, atol=1e-5):
    """Check two arrays agree within `atol`; print and return the max abs difference (a float)."""
    import numpy as np

    diff = float(np.max(np.abs(np.asarray(actual, "float64") - np.asarray(expected, "float64"))))
    check(diff <= atol, f"{claim} (max abs diff {diff:.2e} <= {atol:g})")
    return _PrintedFloat(diff)


def save_figure(fig, out, name):
    """Save a matplotlib figure as PNG in `out`; print and return the path. In a notebook the
    saved PNG is also shown below the cell."""
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"  figure saved: {path}")
    if in_kernel():
        from IPython.display import Image, display

        display(Image(filename=path))
    return _PrintedStr(path)


def pyplot():
    """matplotlib.pyplot with a non-interactive backend (no screen needed). In a notebook too:
    `save_figure` shows the saved PNG, so a figure is never shown twice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
