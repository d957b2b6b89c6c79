"""Small helpers shared by the chapter scripts: arguments, printing, self-checks, figures.

Every chapter script runs as `python chapters/NN_name.py [--quick] [--out DIR]` (or
`python -m chapters.NN_name`); `--quick` shrinks its settings so the test suite runs it in
seconds, `--out` is where figures go (default `runs/chapters`).
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python chapters/NN.py` from anywhere finds models/ and data/.
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(description, extra=None):
    """`--quick` and `--out DIR` (plus what `extra(parser)` adds); creates the output folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="small settings so the script runs in seconds (used by the tests)")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "chapters"),
                        help="folder for figures and small runs")
    if extra:
        extra(parser)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args


def section(title):
    """Print a `## Section` header, the way the script's docstring blocks are titled."""
    print(f"\n## {title}\n")


def check(condition, claim):
    """Assert a claim the lesson makes; print it so the reader sees what was verified."""
    if not condition:
        raise AssertionError(f"CHECK FAILED: {claim}")
    print(f"  [check] {claim}")


def check_close(actual, expected, claim, atol=1e-5):
    """Check two arrays agree within `atol`; print the max abs difference."""
    import numpy as np

    diff = float(np.max(np.abs(np.asarray(actual, "float64") - np.asarray(expected, "float64"))))
    check(diff <= atol, f"{claim} (max abs diff {diff:.2e} <= {atol:g})")
    return diff


def save_figure(fig, out, name):
    """Save a matplotlib figure as PNG in `out`; print and return the path."""
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"  figure saved: {path}")
    return path


def pyplot():
    """matplotlib.pyplot with a non-interactive backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
