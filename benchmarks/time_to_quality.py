"""Time to quality: what the demo's recipe scores after 2.5, 5 and 10 minutes of training here.

For each budget, the demo's command trains a fresh run (`nmt train --model transformer --preset
small --budget-minutes B`), and `nmt evaluate` scores it on the first `--sources` test sources,
greedy and with 4 beams (book-normalised BLEU, all references, as the demo and docs/results.md
report it). `--recipe NAME="FLAGS"` adds a recipe: the same budgets with those `nmt train` flags
added (e.g. `--recipe bucket="--batching bucket --max-tokens 2048"`); the preset as it is is the
recipe `preset`.

Every run is trained in this process, one after another (nothing else should run beside it: a
time-budgeted run measured beside another job measures the other job). The runs are kept under
`--out` (`RECIPE-B` folders) so they can be evaluated again; a whole run there is not trained
again, nor scored again on as many sources, so an interrupted benchmark goes on where it stopped
and a second command with another `--recipe` adds its rows only.

Printed: the CPU (model name, cores, AVX2 / AVX-512 / BF16 / AMX flags), then one row per run:
recipe, budget, epochs and steps trained, minutes of training, validation accuracy, test BLEU
greedy and beam 4, and the decoding speed; the last line is one JSON object with the rows.

Run (about 25 minutes for the default budgets on 2 cores; --quick is the tiny preset on 3,000
pairs, for the tests):
    python benchmarks/time_to_quality.py [--budgets 2.5 5 10] [--sources 2000]
        [--recipe NAME="FLAGS" ...] [--out runs/time-to-quality]
"""

import argparse
import contextlib
import io
import json
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODEL, PRESET = "transformer", "small"  # make demo's run
QUICK = ["--preset", "tiny", "--max-pairs", "3000", "--sequence-length", "12"]


def parse_recipes(given):
    """{name: [nmt train flags]} for the `--recipe NAME=FLAGS` values `given`, after "preset"
    (the preset as it is, no flags added).

    >>> parse_recipes(["bucket=--batching bucket --max-tokens 2048"])
    {'preset': [], 'bucket': ['--batching', 'bucket', '--max-tokens', '2048']}
    """
    recipes = {"preset": []}
    for value in given:
        name, _, flags = value.partition("=")
        if not name.isidentifier() or not flags.strip() or name in recipes:
            raise ValueError(f'--recipe {value!r}: give NAME="FLAGS" with a new name')
        recipes[name] = shlex.split(flags)
    return recipes


def run_nmt(arguments):
    """`nmt ARGUMENTS` in this process; its stdout. A failure is an error here."""
    from nmt.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(arguments)
    if code != 0:
        raise SystemExit(f"nmt {' '.join(arguments)}: exit {code}")
    return out.getvalue()


def train_and_score(folder, budget, extra, sources, quick):
    """Train the run in `folder` (unless it is whole already) and evaluate it; one row."""
    from nmt.runs import write_text

    preset = QUICK if quick else ["--preset", PRESET]
    if not os.path.isfile(os.path.join(folder, "model.keras")):
        run_nmt(["train", "--model", MODEL, *preset, "--budget-minutes", f"{budget:g}",
                 "--out", folder, "--quiet", *extra])
    row = {}
    for name, decoding in (("greedy", []), ("beam4", ["--decode", "beam", "--num-beams", "4"])):
        report_path = os.path.join(folder, f"eval_test_{name}.json")
        report = _report(report_path)
        if report is None or report["sources"] != sources:  # not yet scored so
            started = time.perf_counter()
            run_nmt(["evaluate", "--run", folder, "--limit", str(sources), *decoding,
                     "--json", report_path])
            report = _report(report_path)
            report["evaluate_seconds"] = round(time.perf_counter() - started, 1)
            write_text(report_path, json.dumps(report, indent=1))  # temporary name, then renamed
        row[f"bleu_{name}"] = report["bleu"]
        row[f"{name}_sentences_per_s"] = report["decode_sentences_per_s"]
        row[f"{name}_evaluate_seconds"] = report.get("evaluate_seconds")
    trained = report["training"]
    row.update(epochs=trained["epochs"], steps=trained["steps"],
               train_minutes=trained["train_minutes"],
               val_accuracy=_last_val_accuracy(folder), sources=report["sources"])
    return row


def _report(path):
    """The evaluation report at `path`, or None when there is none (a run scored before, by
    this script, is not scored again)."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _last_val_accuracy(folder):
    from nmt.runs import read_history

    rows = read_history(folder)
    return rows[-1].get("val_accuracy") if rows else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.5, 5.0, 10.0],
                        help="training minutes of each run")
    parser.add_argument("--recipe", action="append", default=[], metavar='NAME="FLAGS"',
                        help="another recipe: these nmt train flags added (repeatable)")
    parser.add_argument("--sources", type=int, default=2000, help="test sources scored")
    parser.add_argument("--out", default=os.path.join("runs", "time-to-quality"))
    parser.add_argument("--quick", action="store_true",
                        help="the tiny preset, the budgets as given (tests)")
    args = parser.parse_args(argv)
    for value in args.budgets:
        if value <= 0:
            parser.error(f"a budget must be > 0 minutes (got {value:g})")
    try:
        recipes = parse_recipes(args.recipe)
    except ValueError as error:
        parser.error(str(error))
    if args.sources < 1:
        parser.error(f"--sources must be >= 1 (got {args.sources})")

    from nmt.hardware import cpu_description

    print(f"CPU: {cpu_description()}")
    print(f"preset {'tiny (--quick)' if args.quick else PRESET}, {args.sources:,} test sources, "
          f"runs in {args.out}")
    os.makedirs(args.out, exist_ok=True)
    plan = [(name, budget, flags) for name, flags in recipes.items() for budget in args.budgets]
    rows = []
    header = (f"{'recipe':10s} {'budget':>7s} {'epochs':>6s} {'steps':>6s} {'train min':>9s} "
              f"{'val acc':>7s} {'BLEU greedy':>11s} {'BLEU beam 4':>11s}")
    print(header)
    for recipe, budget, extra in plan:
        folder = os.path.join(args.out, f"{recipe}-{budget:g}")
        row = {"recipe": recipe, "budget_minutes": budget, "run": folder,
               **train_and_score(folder, budget, extra, args.sources, args.quick)}
        rows.append(row)
        accuracy = "-" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
        print(f"{recipe:10s} {budget:7g} {row['epochs']:6g} {row['steps']:6d} "
              f"{row['train_minutes']:9.1f} {accuracy:>7s} {row['bleu_greedy']:11.2f} "
              f"{row['bleu_beam4']:11.2f}", flush=True)
    print(json.dumps({"cpu": cpu_description(), "preset": "tiny" if args.quick else PRESET,
                      "sources": args.sources, "recipes": recipes, "rows": rows}))


if __name__ == "__main__":
    main()
