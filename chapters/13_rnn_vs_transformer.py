# %% [markdown]
"""
# 13 · RNN vs Transformer, with one command

**What you learn:** how to compare the book's attention-free GRU, a GRU with attention and the
Transformer fairly (same data, same test set, same training-time budget on a CPU), how to read
the report `nmt compare` writes (parameters, speed, learning curves, BLEU and chrF with greedy
and beam decoding, BLEU by sentence length, attention maps), and how to draw conclusions from
it only where the numbers differ by more than their noise.

**Book:** *Deep Learning with Python*, 2nd ed. §11.5.2 "Sequence-to-sequence learning with
RNNs", §11.5.3 "Sequence-to-sequence learning with Transformer"; 3rd ed. §15.2.2
"Sequence-to-sequence learning with RNNs", §15.3.4 "Sequence-to-sequence learning with a
Transformer", §15.5 "What makes the Transformer effective?".

**Run:** `python chapters/13_rnn_vs_transformer.py [--quick] [--out DIR] [--budget-minutes M]`
(or open it as a notebook: `make notebooks`). The full run trains the three `book-small` models
for the same budget each (3 x 20 minutes by default on 2 CPU cores); `--quick` trains tiny ones
for seconds, too little to rank them, and says so.
"""

# %%
try:  # python -m chapters.13_rnn_vs_transformer
    from chapters.common import check, parse_args, section
except ImportError:  # python chapters/13_rnn_vs_transformer.py
    from common import check, parse_args, section

import json
import os

# train_and_compare and compare_runs are in nmt/compare.py (the code behind `nmt compare`);
# LENGTH_BUCKETS in nmt/scoring.py; the rules that turn numbers into conclusions (ahead, tie
# within noise, too little training) in nmt/verdicts.py.
from nmt.compare import train_and_compare
from nmt.scoring import LENGTH_BUCKETS, bucket_name
from nmt.verdicts import bleu_noise, rank_scores, rank_table

args = parse_args(
    "13 · RNN vs Transformer, with one command", extra=lambda parser: parser.add_argument(
        "--budget-minutes", type=float, default=20.0, help="training budget per model (full mode)"))

# Settings. The full run trains the three `book-small` models for the same training-time budget
# each; --quick trains tiny ones for a few seconds each.
models = ["gru", "rnn", "transformer"]
preset = "book-small"
budget_minutes = args.budget_minutes
epochs = None  # with a budget, models train until the budget is spent
overrides = {}
limit = 0  # test sources scored (0 = all)
num_beams = 4  # beam width of the beam-search scores
speed_noise = 0.1  # training speeds within 10% of each other count as ties
if args.quick:
    preset, budget_minutes, epochs, limit, num_beams = "tiny", 0, 1, 100, 2
    overrides = dict(max_pairs=2000, steps_per_epoch=20, learning_rate=3e-3, dropout=0.1)
out = os.path.join(args.out, "13_compare")


# %% [markdown]
"""
## Training the three models the same way

One function trains each model with the same preset, data split and budget, then evaluates all
of them on the same test set; it is what `nmt compare --train` runs.
"""

# %%
section("Training the three models the same way")
print(f"models: {models}, preset '{preset}', "
      + (f"{budget_minutes:g} minutes of training each" if budget_minutes else f"{epochs} epochs each")
      + f"; runs in {out}/runs")
# The same equivalent of the command line:
#   nmt compare --train --preset book-small --budget-minutes 20 --out DIR
report = train_and_compare(models, preset, budget_minutes, out, epochs=epochs, overrides=overrides,
                           limit=limit, num_beams=num_beams, verbose=False)
runs = report["runs"]
check(set(runs) == set(models), "all three models were trained and evaluated")


# %% [markdown]
"""
## The report

`report.md` renders on GitHub with its figures; `report.json` holds every number, which is what
the rest of this lesson reads.
"""

# %%
section("The report")
for file in ("report.md", "report.json", "learning_curves.png", "bleu_by_length.png"):
    path = os.path.join(out, file)
    check(os.path.isfile(path) and os.path.getsize(path) > 0, f"{file} written")
print(f"open {os.path.join(out, 'report.md')} (it renders on GitHub with its figures)")
with open(os.path.join(out, "report.json")) as f:
    check(json.load(f)["runs"].keys() == runs.keys(), "report.json holds every run")


# %% [markdown]
"""
## Size and speed

Training speed is counted in real target tokens per second (padding excluded), so models with
different batch shapes compare. Speeds within 10% of each other count as a tie.
"""

# %%
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
speed = rank_scores({n: r["train_tokens_per_s"] for n, r in runs.items()}, noise=speed_noise,
                    relative=True, floor=None, digits=0,
                    metric="target tokens per second of training")
print(speed.sentence)
if speed.leader == "transformer":
    print("the GRUs walk each sentence one word at a time; the Transformer handles all positions "
          "of a batch at once, and here that made it the fastest to train")
elif speed.outcome == "tie":
    print("no model trains measurably faster than the others here")


# %% [markdown]
"""
## Scores

BLEU differences count only beyond `bleu_noise` of the test set's size (1 BLEU for a few hundred
sources or more, nmt/verdicts.py); when every BLEU is under 1 the models are too little trained
to compare.
"""

# %%
section("Scores")
print(f"{'model':12s} {'accuracy':>9s} {'BLEU':>6s} {'BLEU beam':>10s} {'chrF':>6s} {'chrF beam':>10s}")
for name, r in runs.items():
    g, b = r["greedy"], r["beam"]
    check(0.0 <= g["masked_accuracy"] <= 1.0 and 0.0 <= g["bleu"] <= 100.0,
          f"{name}: accuracy and BLEU are in range")
    print(f"{name:12s} {g['masked_accuracy']:>9.4f} {g['bleu']:>6.2f} {b['bleu']:>10.2f} "
          f"{g['chrf']:>6.2f} {b['chrf']:>10.2f}")
test_noise = bleu_noise(report["test_sources"])
best = rank_scores({n: r["greedy"]["bleu"] for n, r in runs.items()}, metric="test BLEU (greedy)",
                   noise=test_noise)
best_beam = rank_scores({n: r["beam"]["bleu"] for n, r in runs.items()}, noise=test_noise,
                        metric=f"test BLEU (beam {report['num_beams']})")
print(best.sentence)
print(best_beam.sentence)


# %% [markdown]
"""
## Longer sentences

The book's GRU (2nd ed. §11.5.2; 3rd ed. §15.2.2) reads the English sentence into one state
vector before it writes; the two attention models look back at every source word. If that matters,
it shows on the longest sentences. Small buckets are noisy: the tie tolerance grows as the bucket
shrinks (`bleu_noise`).
"""

# %%
section("Longer sentences")
buckets = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
counts = [next(iter(runs.values()))["by_length"][b]["sources"] for b in buckets]
check(sum(counts) == report["test_sources"], "the length buckets partition the test sources")
print(f"{'model':12s} " + " ".join(f"{b + ' words':>12s}" for b in buckets))
print(f"{'sources':12s} " + " ".join(f"{n:>12,}" for n in counts))
for name, r in runs.items():
    print(f"{name:12s} " + " ".join(f"{r['by_length'][b].get('bleu', float('nan')):>12.2f}"
                                    for b in buckets))
with_sources = [b for b, n in zip(buckets, counts) if n]
by_length = rank_table({n: {b: r["by_length"][b].get("bleu") for b in buckets}
                        for n, r in runs.items()}, with_sources,
                       noise={b: bleu_noise(n) for b, n in zip(buckets, counts) if n},
                       metric="BLEU")
for b in with_sources:
    print(by_length[b].sentence)
longest = by_length[with_sources[-1]]
if longest.is_behind("gru"):
    print(f"on {with_sources[-1]} words the GRU without attention is measurably behind: it must "
          "squeeze a whole sentence into one vector, which hurts most on long sentences")
if args.quick:
    print("(quick mode: tiny models trained for seconds; the ranking means little here)")

verdicts = {"speed": speed.sentence, "bleu": best.sentence, "bleu_beam": best_beam.sentence,
            **{b: v.sentence for b, v in by_length.items()}}
with open(os.path.join(args.out, "13_verdicts.json"), "w") as f:
    json.dump(verdicts, f, indent=1)


# %% [markdown]
"""
## What you learned

- One call trains the three models on the same data and budget and writes report.md and
  report.json with the same test set for all.
- Parameters by part add up to each model's total (checked); training speed is compared in real
  target tokens per second, with a 10% tie band.
- Every ranking printed above is computed from the report with a noise tolerance; near-zero BLEU
  says "too little training to compare" instead of naming a winner.

## Exercises

1. Run the full lesson with `--budget-minutes 5` and with 20: which verdicts change?
2. Compare the beam and greedy verdicts: does beam search change the ranking?
3. Lesson 12 measures why the GRUs train slower per token: time one step at 20 tokens there.
"""
