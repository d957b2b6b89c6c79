# %% [markdown]
"""
# 12 · RNN or Transformer: what differs, measured

**What you learn:** what really separates a GRU, a GRU with attention and a Transformer, measured
rather than asserted. (a) The cost of one training step as the sequence grows from a few tokens
to hundreds: the GRU walks the positions one after another (2L sequential steps for L source and
L target tokens), self-attention handles them all at once but builds a batch x heads x L x L
matrix of scores, whose size grows with the square of L. (b) What attention buys on long
sentences: BLEU by source length for the three translators trained the same way.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.4 "When to use sequence models over
bag-of-words models", §11.5.2 "Sequence-to-sequence learning with RNNs", §11.5.3
"Sequence-to-sequence learning with Transformer"; 3rd ed. §15.2.2 "Sequence-to-sequence
learning with RNNs", §15.3.4 "Sequence-to-sequence learning with a Transformer", §15.5 "What
makes the Transformer effective?".

**Run:** `python chapters/12_rnn_or_transformer.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`). The full run times 7 sequence lengths (8 to 512 tokens) and reads
the 20-minute comparison in `reports/compare-small-20min/` (or trains it: 3 x 20 minutes);
`--quick` times 3 lengths (8 to 64 tokens) and trains three tiny models for seconds.
"""

# %%
try:  # python -m chapters.12_rnn_or_transformer
    from chapters.common import ROOT, check, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/12_rnn_or_transformer.py
    from common import ROOT, check, parse_args, pyplot, save_figure, section

import json
import math
import os
import statistics
import time

import matplotlib.ticker
import numpy as np

# resolve_config is in nmt/config.py, build_model in nmt/translator.py, compile_model in
# nmt/training.py, train_and_compare in nmt/compare.py (the code behind `nmt compare`),
# LENGTH_BUCKETS in nmt/scoring.py, and the rules that turn numbers into conclusions
# (ahead, tie within noise, too little training) in nmt/verdicts.py.
from models.registry import MODELS
from models.transformer_encoder import TransformerEncoder
from nmt.compare import train_and_compare
from nmt.config import resolve_config
from nmt.scoring import LENGTH_BUCKETS, bucket_name
from nmt.training import compile_model
from nmt.translator import build_model
from nmt.verdicts import bleu_noise, compare_scores, rank_scores, rank_table

args = parse_args("12 · RNN or Transformer: what differs, measured")

# Settings. (a) One fixed width for the three models, random token ids, one batch per length.
models = ("gru", "rnn", "transformer")  # no attention, Luong attention, the Transformer
width = dict(embed_dim=64, dense_dim=256, num_heads=4, rnn_units=64)
lengths = [8, 16, 32, 64, 128, 256, 512]
batch_size, vocab_size, timed_steps = 8, 1000, 3
time_noise = 0.2  # step times within 20% of each other count as ties (a shared CPU is noisy)
# (b) Full mode reads the project's 20-minute comparison (or trains it if it is missing).
report_path = os.path.join(ROOT, "reports", "compare-small-20min", "report.json")
seed = 1337
if args.quick:
    width = dict(embed_dim=32, dense_dim=64, num_heads=2, rnn_units=32)
    lengths, timed_steps = [8, 24, 64], 2
    report_path = None  # quick mode trains tiny models for seconds instead


# %% [markdown]
"""
## Step time and memory versus sequence length

A GRU reads its input one position at a time: position t needs the state from position t - 1, so
a sentence of L tokens is L steps that cannot run side by side (and the decoder another L). A
Transformer's self-attention compares every position with every other in one batch of matrix
products (3rd ed. §15.3.1 "Dot-product attention"; 2nd ed. §11.4.1 "Understanding
self-attention"): no sequential steps, but a matrix of L x L scores per head and sentence. So
neither is free: the RNN pays in sequential steps, linear in L; attention pays in the size of
its score matrix, quadratic in L. Which cost dominates depends on L, the width and the
hardware, so we measure one training step (forward, backward, Adam update) of the whole
translator at each length, with the same width for the three models. The book's sentences are
short (at most 20 tokens), where the quadratic term is still small.
"""

# %%
section("Step time and memory versus sequence length")

try:  # Linux: writing 5 to clear_refs resets the process's peak resident memory (VmHWM).
    import ctypes

    _libc = ctypes.CDLL("libc.so.6")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    can_measure_memory = True
except OSError:
    can_measure_memory = False


def resident_kib(field):
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def one_step_cost(model, length, rng):
    """Median ms of `timed_steps` training steps at `length` tokens, and (Linux) the measured
    peak resident memory the last step added over what was resident before it, in MiB."""
    x = {"english": rng.integers(4, vocab_size, size=(batch_size, length)),
         "spanish": rng.integers(4, vocab_size, size=(batch_size, length))}
    y = rng.integers(4, vocab_size, size=(batch_size, length))
    model.train_on_batch(x, y)  # warm-up: traces the step for this shape
    times = []
    for _ in range(timed_steps):
        started = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(1000 * (time.perf_counter() - started))
    peak_mib = None
    if can_measure_memory:
        _libc.malloc_trim(0)  # hand freed memory back, so the step must allocate its own
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = resident_kib("VmRSS:")
        model.train_on_batch(x, y)
        peak_mib = (resident_kib("VmHWM:") - before) / 1024
    return statistics.median(times), peak_mib


rng = np.random.default_rng(seed)
step_ms = {name: [] for name in models}
peak_mib = {name: [] for name in models}
configs = {}
for name in models:
    configs[name] = resolve_config(name, "tiny", sequence_length=max(lengths),
                                   vocab_size=vocab_size, batch_size=batch_size,
                                   precision="float32", seed=seed, **width)
    model = build_model(configs[name])
    compile_model(model, configs[name])
    for length in lengths:
        ms, mib = one_step_cost(model, length, rng)
        step_ms[name].append(ms)
        peak_mib[name].append(mib)
heads = width["num_heads"]
print(f"width {width['embed_dim']} (GRU units {width['rnn_units']}), batch {batch_size}, "
      f"vocabulary {vocab_size:,}, float32; one training step = forward + backward + Adam update")
print(f"measured: median ms of {timed_steps} steps after a warm-up step; peak MiB = resident "
      "memory at the step's peak minus before it"
      + ("" if can_measure_memory else " (not measurable here: needs Linux /proc)"))
print(f"\n{'tokens':>6}" + "".join(f"{name + ' ms':>17}" for name in models)
      + "".join(f"{name + ' MiB':>17}" for name in models))
for i, length in enumerate(lengths):
    print(f"{length:>6}" + "".join(f"{step_ms[name][i]:>17.1f}" for name in models)
          + "".join(f"{peak_mib[name][i]:>17.1f}" if peak_mib[name][i] is not None
                    else f"{'-':>17}" for name in models))
check(all(ms > 0 for name in models for ms in step_ms[name]), "every step time is positive")

# %% [markdown]
"""
The matrices themselves, computed rather than measured: per attention layer, batch x heads x L x L
float32 scores (4 bytes each), kept for the backward pass. The Transformer here has three such
layers (encoder self-attention, decoder causal self-attention, decoder cross-attention), the GRU
with attention one (a single head of target x source scores), the GRU none; its cost is the 2L
sequential steps, each holding a batch x units state. We check the shape of the scores on the
project's own encoder block.
"""

# %%
# TransformerEncoder is defined in models/transformer_encoder.py; its attention is a Keras
# MultiHeadAttention that can return its scores.
probe_length = lengths[1]
encoder = TransformerEncoder(embed_dim=width["embed_dim"], dense_dim=width["dense_dim"],
                             num_heads=heads)
probe = np.zeros((batch_size, probe_length, width["embed_dim"]), "float32")
encoder(probe)  # builds it
_, scores = encoder.attention(probe, probe, return_attention_scores=True)
check(tuple(scores.shape) == (batch_size, heads, probe_length, probe_length),
      f"self-attention scores are batch x heads x L x L = {tuple(scores.shape)}")

attention_layers = {"gru": (0, 0), "rnn": (1, 1), "transformer": (3, heads)}  # (layers, heads)
matrix_mib = {name: [layers * batch_size * h * length * length * 4 / 2**20 for length in lengths]
              for name, (layers, h) in attention_layers.items()}
sequential = {name: [2 * length if name != "transformer" else 0 for length in lengths]
              for name in models}
print("\ncomputed: attention score matrices per step (MiB, float32) and sequential steps")
print(f"{'tokens':>6}{'transformer MiB':>17}{'rnn MiB':>10}{'GRU steps in sequence':>24}")
for i, length in enumerate(lengths):
    print(f"{length:>6}{matrix_mib['transformer'][i]:>17.2f}{matrix_mib['rnn'][i]:>10.2f}"
          f"{sequential['gru'][i]:>24,}")
check(math.isclose(matrix_mib["transformer"][-1] / matrix_mib["transformer"][0],
                   (lengths[-1] / lengths[0]) ** 2),
      f"the score matrices grow with the square of L: {lengths[-1] // lengths[0]}x the tokens, "
      f"{(lengths[-1] // lengths[0]) ** 2:,}x the floats")

# %% [markdown]
"""
How each measured cost grows, and which grows faster. The growth exponent between the two
longest lengths is log(t2 / t1) / log(L2 / L1): about 1 for a cost proportional to L, about 2
for one proportional to L squared. Conclusions below are computed from the table (differences
within 20% count as ties: the CPU is shared and timings move).
"""

# %%
def exponent(values):
    """Growth exponent between the two longest lengths."""
    return math.log(values[-1] / values[-2]) / math.log(lengths[-1] / lengths[-2])


growth = {name: step_ms[name][-1] / step_ms[name][0] for name in models}
for name in models:
    print(f"{name:<12} step time x{growth[name]:.1f} from {lengths[0]} to {lengths[-1]} tokens; "
          f"exponent between {lengths[-2]} and {lengths[-1]}: {exponent(step_ms[name]):.2f}")
span = f"{lengths[0]} to {lengths[-1]} tokens"
time_verdicts = {
    "growth": rank_scores(growth, metric=f"growth of step time from {span}", noise=time_noise,
                          relative=True, floor=None, digits=1),
    "shortest": rank_scores({n: step_ms[n][0] for n in models}, higher_is_better=False,
                            metric=f"ms per step at {lengths[0]} tokens", noise=time_noise,
                            relative=True, floor=None, digits=1),
    "longest": rank_scores({n: step_ms[n][-1] for n in models}, higher_is_better=False,
                           metric=f"ms per step at {lengths[-1]} tokens", noise=time_noise,
                           relative=True, floor=None, digits=1),
}
for verdict in time_verdicts.values():
    print(verdict.sentence)
if can_measure_memory:
    memory_growth = {n: peak_mib[n][-1] / max(peak_mib[n][0], 1.0) for n in models}
    time_verdicts["memory"] = rank_scores(
        {n: peak_mib[n][-1] for n in models}, higher_is_better=False, floor=None, digits=1,
        metric=f"measured peak MiB per step at {lengths[-1]} tokens", noise=time_noise,
        relative=True)
    print(time_verdicts["memory"].sentence)
transformer_exponent = exponent(step_ms["transformer"])
if transformer_exponent > 1.3:
    print(f"the Transformer's step time grows faster than linearly at the longest lengths "
          f"(exponent {transformer_exponent:.2f}): the L x L matrices are taking over")
elif transformer_exponent >= 0.7:
    print(f"the Transformer's step time grows about linearly up to {lengths[-1]} tokens here "
          f"(exponent {transformer_exponent:.2f}): at this width the quadratic matrices are "
          "not yet the dominant cost")
else:
    print(f"the Transformer's step time grows less than linearly up to {lengths[-1]} tokens "
          f"here (exponent {transformer_exponent:.2f}): fixed costs per step still dominate")

# %% [markdown]
"""
## BLEU by source length

A GRU without attention (the book's 2nd ed. §11.5.2 and 3rd ed. §15.2.2 model) must squeeze the
whole English sentence into the encoder's final state before it writes a word; with attention
(Luong's), the decoder looks back at every encoder state at every step, as the Transformer's
cross-attention does. Both attention models reach every source word directly, so the interesting
comparison on long sentences is the GRU without attention against the two others; and the GRU
with attention against the Transformer shows what is left of the Transformer's advantage here.

Full mode reads the project's comparison of the three `small` models trained for 20 minutes each
on 2 CPU cores, on the same split, scored on the whole test set (`nmt compare`, written to
`reports/compare-small-20min/`); quick mode trains three tiny models for seconds, which is far
too little to rank them. A BLEU difference counts only beyond `bleu_noise(sources)` (1 BLEU,
more for small buckets, see nmt/verdicts.py); BLEU under 1 everywhere is "too little training to
compare".

In the 20-minute report the GRU with attention and the Transformer tie overall (37.91 against
37.87 BLEU, within 1 BLEU); the GRU with attention is ahead on 11-15 and 16+ words, the
Transformer on 1-5 words; the GRU without attention is far behind on long sentences; and the
Transformer trains the most target tokens per second with the fewest parameters. The full run
computes these conclusions from the report and checks them.
"""

# %%
section("BLEU by source length")
if report_path and os.path.isfile(report_path):
    with open(report_path) as f:
        report = json.load(f)
    source_note = f"read from {os.path.relpath(report_path, ROOT)} (20 minutes of training each)"
else:
    compare_out = os.path.join(args.out, "12_compare")
    if args.quick:
        report = train_and_compare(
            list(models), "tiny", 0, compare_out, epochs=1, limit=100, num_beams=2, verbose=False,
            overrides=dict(max_pairs=2000, steps_per_epoch=20, learning_rate=3e-3, dropout=0.1))
        source_note = "quick mode: tiny models trained for seconds, 100 test sources"
    else:
        report = train_and_compare(list(models), "small", 20, compare_out, verbose=False)
        source_note = f"trained here for 20 minutes each, report in {compare_out}"
runs = report["runs"]
check(set(runs) == set(models), "the comparison holds the three models")
buckets = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
counts = {b: runs["gru"]["by_length"][b]["sources"] for b in buckets}
check(sum(counts.values()) == report["test_sources"],
      f"the length buckets partition the {report['test_sources']:,} test sources")
print(source_note)
print(f"\n{'BLEU':<12}" + "".join(f"{b + ' words':>13}" for b in buckets) + f"{'all':>9}")
print(f"{'sources':<12}" + "".join(f"{counts[b]:>13,}" for b in buckets)
      + f"{report['test_sources']:>9,}")
for name in models:
    print(f"{name:<12}" + "".join(f"{runs[name]['by_length'][b].get('bleu', float('nan')):>13.2f}"
                                  for b in buckets) + f"{runs[name]['greedy']['bleu']:>9.2f}")
table = {name: {b: runs[name]["by_length"][b].get("bleu") for b in buckets} for name in models}
noise = {b: bleu_noise(counts[b]) for b in buckets if counts[b]}
with_sources = [b for b in buckets if counts[b]]
bucket_verdicts = rank_table(table, with_sources, noise=noise, metric="BLEU")
overall = rank_scores({name: runs[name]["greedy"]["bleu"] for name in models}, metric="BLEU",
                      noise=bleu_noise(report["test_sources"]))
print("")
for b in with_sources:
    print(bucket_verdicts[b].sentence)
print(overall.sentence)

# %% [markdown]
"""
What the numbers show: the sentences below are printed only when the table supports them.
"""

# %%
longest = with_sources[-1]
attention_gain = compare_scores(table["rnn"][longest], table["gru"][longest], ("rnn", "gru"),
                                metric=f"BLEU ({longest} words)", noise=noise[longest])
print(attention_gain.sentence)
if attention_gain.leader == "rnn":
    print(f"attention buys {table['rnn'][longest] - table['gru'][longest]:.2f} BLEU on "
          f"{longest} words: without it the GRU must carry the whole sentence in one state vector")
head_to_head = compare_scores(runs["rnn"]["greedy"]["bleu"], runs["transformer"]["greedy"]["bleu"],
                              ("rnn", "transformer"), metric="BLEU (all test sources)",
                              noise=bleu_noise(report["test_sources"]))
if head_to_head.outcome == "tie":
    print("the GRU with attention and the Transformer tie overall"
          + (" after 20 CPU minutes each on this corpus of short sentences" if report_path else "")
          + ": with attention, an RNN reaches every source word directly too")
elif head_to_head.leader:
    print(f"overall, {head_to_head.leader} is ahead: {head_to_head.sentence}")

# The Transformer's edge, where there is one: training speed, size, epochs in the same budget.
speed = rank_scores({n: runs[n]["train_tokens_per_s"] for n in models}, noise=0.1, relative=True,
                    metric="target tokens per second of training", floor=None, digits=0)
size = rank_scores({n: runs[n]["parameters"]["total"] for n in models}, noise=0.05,
                   relative=True, higher_is_better=False, metric="parameter count", floor=None,
                   digits=0)
print(speed.sentence)
print(size.sentence)
if speed.leader == "transformer":
    epochs = {n: runs[n]["epochs"] for n in models}
    print("the Transformer's edge here is speed: it trains the most target tokens per second"
          + ("" if args.quick else ", so the same 20-minute budget gave it "
             f"{epochs['transformer']} epochs against {epochs['rnn']} for the GRU with attention"))
if report_path and os.path.isfile(report_path):  # what the text above says of this report
    check(head_to_head.outcome == "tie" and attention_gain.leader == "rnn"
          and bucket_verdicts[longest].leader == "rnn" and speed.leader == "transformer"
          and size.leader == "transformer" and bucket_verdicts["11-15"].leader == "rnn"
          and bucket_verdicts["1-5"].leader == "transformer",
          "the 20-minute report: the attention GRU ties the Transformer overall, is ahead on 11-15 "
          "and 16+ words (and of the GRU without attention on 16+), the Transformer on 1-5 words; "
          "the Transformer trains fastest and is smallest")
if args.quick:
    print("(quick mode: tiny models trained for seconds; these scores cannot rank the models)")

# %% [markdown]
"""
## Figures

Step time and measured peak memory against sequence length (both axes logarithmic, so a cost
proportional to L is a line of slope 1 and one proportional to L squared a line of slope 2), the
computed size of the attention matrices, and BLEU by source length.
"""

# %%
section("Figures")
plt = pyplot()
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
panels = [(step_ms, "ms per training step (measured)", "Step time vs sequence length"),
          (peak_mib if can_measure_memory else matrix_mib,
           "peak MiB per step (measured)" if can_measure_memory else "MiB (computed)",
           "Peak memory vs sequence length"),
          ({"transformer": matrix_mib["transformer"], "rnn": matrix_mib["rnn"]},
           "MiB of float32 scores (computed)", "Attention score matrices, B x heads x L x L")]
for ax, (values, ylabel, title) in zip(axes, panels):
    for k, (name, marker) in enumerate(zip(models, "os^")):
        if name in values:
            ax.plot(lengths, [max(v, 1e-3) for v in values[name]], marker=marker, color=f"C{k}",
                    label=f"{name} ({MODELS[name].label})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(xlabel="sequence length (tokens, source and target)", ylabel=ylabel,
           title=f"{title}, batch {batch_size}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
save_figure(fig, args.out, "12_step_cost.png")

# BLEU and chrF (character n-grams: it moves before BLEU does, so quick mode's panel is not empty).
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
positions = np.arange(len(with_sources))
trained = "quick mode: trained for seconds" if args.quick else "20 minutes of training each"
for ax, metric in zip(axes, ("bleu", "chrf")):
    for k, name in enumerate(models):
        values = [runs[name]["by_length"][b][metric] for b in with_sources]
        bars = ax.bar(positions + (k - 1) * 0.27, values, 0.27, color=f"C{k}",
                      label=f"{name} ({MODELS[name].label})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(positions, [f"{b} words\n({counts[b]:,} sources)" for b in with_sources])
    label = {"bleu": "BLEU", "chrf": "chrF"}[metric]
    ax.set(xlabel="English source length", ylabel=f"{label} (greedy, book-normalised)",
           title=f"{label} by source length, {trained}")
    top = max(runs[n]["by_length"][b][metric] for n in models for b in with_sources)
    ax.set_ylim(0, max(top * 1.2, 5.0))
    ax.legend(fontsize=8)
    if top < 1.0:  # the bars are flat: say why rather than leave the panel blank
        ax.text(0.5, 0.6, f"every {label} below 1: too little training to compare",
                transform=ax.transAxes, ha="center", fontsize=11)
save_figure(fig, args.out, "12_bleu_by_length.png")

results = {"lengths": lengths, "step_ms": step_ms, "peak_mib": peak_mib, "matrix_mib": matrix_mib,
           "bleu_by_length": table, "bleu": {n: runs[n]["greedy"]["bleu"] for n in models},
           "sources": counts, "test_sources": report["test_sources"],
           "verdicts": {"overall": overall.sentence,
                        **{b: v.sentence for b, v in bucket_verdicts.items()},
                        **{k: v.sentence for k, v in time_verdicts.items()}}}
with open(os.path.join(args.out, "12_results.json"), "w") as f:
    json.dump(results, f, indent=1)
print(f"  numbers and conclusions saved: {os.path.join(args.out, '12_results.json')}")

# %% [markdown]
"""
## What you learned

- The GRUs take 2L sequential steps per sentence pair; self-attention takes none but builds
  batch x heads x L x L scores (checked on the encoder block), whose floats grow with the
  square of L. The tables above give the measured step time and peak memory at each length, and
  which model's cost grows faster on this machine.
- Attention, not the Transformer as such, is what helps on long sentences: compare the GRU
  without attention with the two attention models in the longest bucket (printed above).
- In the 20-minute comparison the GRU with attention and the Transformer score within noise of
  each other overall; the run prints where each is ahead by bucket and what the Transformer's
  edge is (training speed, size) when its numbers show one.
- A conclusion is printed only when the numbers carry it: ties within noise and scores near zero
  say so (nmt/verdicts.py).

## Exercises

1. Rerun the timing with `width` 256 and see whether the Transformer's exponent between the two
   longest lengths rises towards 2 (the matrices against the feed-forward layers).
2. Train the comparison longer (`nmt compare --train --budget-minutes 60`) and check whether
   the 16+ bucket still separates the GRU with attention from the Transformer.
3. Read `nmt/verdicts.py`: what would `bleu_noise` call a tie on the 105 sentences of 16+ words?
"""
