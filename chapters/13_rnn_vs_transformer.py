"""
Title: RNN vs Transformer, with one command
What you learn: how to compare the book's attention-free GRU, a GRU with attention and the
    Transformer fairly (same data, same test set, same training-time budget on a CPU), and how to
    read the report `nmt compare` writes: parameters, speed, learning curves, BLEU/chrF with
    greedy and beam decoding, BLEU by sentence length and attention maps.
Run: python chapters/13_rnn_vs_transformer.py [--quick] [--out DIR] [--budget-minutes M]
"""

import json
import os

try:  # python -m chapters.13_rnn_vs_transformer
    from chapters.common import check, parse_args, section
except ImportError:  # python chapters/13_rnn_vs_transformer.py
    from common import check, parse_args, section

# train_and_compare and compare_runs are in nmt/compare.py (the code behind `nmt compare`);
# LENGTH_BUCKETS in nmt/scoring.py.
from nmt.compare import train_and_compare
from nmt.scoring import LENGTH_BUCKETS, bucket_name

args = parse_args(__doc__.strip().splitlines()[0], extra=lambda parser: parser.add_argument(
    "--budget-minutes", type=float, default=20.0, help="training budget per model (full mode)"))

# Settings. The full run trains the three `book-small` models for the same training-time budget
# each (3 x 20 minutes by default on 2 CPU cores); --quick trains tiny ones for a few seconds
# each.
models = ["gru", "rnn", "transformer"]
preset = "book-small"
budget_minutes = args.budget_minutes
epochs = None  # with a budget, models train until the budget is spent
overrides = {}
limit = 0  # test sources scored (0 = all)
if args.quick:
    preset, budget_minutes, epochs, limit = "tiny", 0, 2, 200
    overrides = dict(max_pairs=4000, steps_per_epoch=40, learning_rate=3e-3, dropout=0.1)
out = os.path.join(args.out, "13_compare")


"""## Training the three models the same way"""
section("Training the three models the same way")
print(f"models: {models}, preset '{preset}', "
      + (f"{budget_minutes:g} minutes of training each" if budget_minutes else f"{epochs} epochs each")
      + f"; runs in {out}/runs")
# The same equivalent of the command line:
#   nmt compare --train --preset book-small --budget-minutes 20 --out DIR
report = train_and_compare(models, preset, budget_minutes, out, epochs=epochs, overrides=overrides,
                           limit=limit, verbose=False)
runs = report["runs"]
check(set(runs) == set(models), "all three models were trained and evaluated")


"""## The report"""
section("The report")
for file in ("report.md", "report.json", "learning_curves.png", "bleu_by_length.png"):
    path = os.path.join(out, file)
    check(os.path.isfile(path) and os.path.getsize(path) > 0, f"{file} written")
print(f"open {os.path.join(out, 'report.md')} (it renders on GitHub with its figures)")
with open(os.path.join(out, "report.json")) as f:
    check(json.load(f)["runs"].keys() == runs.keys(), "report.json holds every run")


"""## Size and speed"""
section("Size and speed")
print(f"{'model':12s} {'parameters':>12s} {'s/epoch':>8s} {'train tok/s':>12s} "
      f"{'sent/s':>8s} {'latency ms':>11s}")
for name, r in runs.items():
    p = r["parameters"]
    check(p["total"] == p["embeddings"] + p["encoder"] + p["decoder"] + p["output"],
          f"{name}: parameters by part add up to the total ({p['total']:,})")
    print(f"{name:12s} {p['total']:>12,} {r['seconds_per_epoch'] or 0:>8.0f} "
          f"{r['train_tokens_per_s'] or 0:>12,.0f} {r['greedy']['decode_sentences_per_s']:>8,.0f} "
          f"{r['latency_ms']:>11.1f}")
fastest = max(runs, key=lambda n: runs[n]["train_tokens_per_s"] or 0)
print(f"fastest to train (target tokens per second): {fastest}. The GRUs must walk each "
      "sentence one word at a time; the Transformer handles all positions of a batch at once.")


"""## Scores"""
section("Scores")
print(f"{'model':12s} {'accuracy':>9s} {'BLEU':>6s} {'BLEU beam':>10s} {'chrF':>6s} {'chrF beam':>10s}")
for name, r in runs.items():
    g, b = r["greedy"], r["beam"]
    check(0.0 <= g["masked_accuracy"] <= 1.0 and 0.0 <= g["bleu"] <= 100.0,
          f"{name}: accuracy and BLEU are in range")
    print(f"{name:12s} {g['masked_accuracy']:>9.4f} {g['bleu']:>6.2f} {b['bleu']:>10.2f} "
          f"{g['chrf']:>6.2f} {b['chrf']:>10.2f}")
best = max(runs, key=lambda n: runs[n]["greedy"]["bleu"])
print(f"best test BLEU (greedy): {best}")


"""## Longer sentences"""
section("Longer sentences")
buckets = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
counts = [next(iter(runs.values()))["by_length"][b]["sources"] for b in buckets]
check(sum(counts) == report["test_sources"], "the length buckets partition the test sources")
print(f"{'model':12s} " + " ".join(f"{b + ' words':>12s}" for b in buckets))
for name, r in runs.items():
    print(f"{name:12s} " + " ".join(f"{r['by_length'][b].get('bleu', float('nan')):>12.2f}"
                                    for b in buckets))
long_buckets = [b for b, n in zip(buckets, counts) if n and b != buckets[0]]
if long_buckets:
    longest = long_buckets[-1]
    winner = max(runs, key=lambda n: runs[n]["by_length"][longest].get("bleu", 0.0))
    print(f"on the longest bucket with sentences ({longest} words) the best is {winner}. "
          "Without attention the GRU must squeeze a whole sentence into one vector, which "
          "hurts most on long sentences.")
if args.quick:
    print("(quick mode: tiny models trained for seconds; the ranking means little here)")
