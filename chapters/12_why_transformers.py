"""
Title: Why Transformers beat RNNs here
What you learn: two reasons, measured on the same data. Parallel training: a GRU has to walk
    through a sentence one position after another, a Transformer processes all positions at
    once, so a training step's time grows differently with sentence length. Long-range
    dependencies: an RNN carries the sentence in a state that every step rewrites; attention
    reaches every word directly. We train the GRU-with-attention and the Transformer on the
    same pairs, time them, and score them (BLEU, chrF) by source length: 1-5, 6-10, 11-15, 16+.
Run: python chapters/12_why_transformers.py [--quick] [--out DIR]
"""

import contextlib
import io
import json
import os
import random
import time

try:  # python -m chapters.12_why_transformers
    from chapters.common import check, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/12_why_transformers.py
    from common import check, parse_args, pyplot, save_figure, section

import numpy as np

# load_corpus, split_corpus, Splits and group_references are in data/corpus.py;
# normalize_like_book in data/vectorize.py; build_model and Translator.vectorize in
# nmt/translator.py; compile_model and train in nmt/training.py; LENGTH_BUCKETS (1-5, 6-10,
# 11-15, 16+ English words) and scores_by_length (sacrebleu BLEU and chrF against every
# reference, per bucket, through corpus_scores) in nmt/scoring.py.
from data.corpus import Splits, group_references, load_corpus, split_corpus
from data.vectorize import normalize_like_book
from nmt.config import resolve_config
from nmt.scoring import LENGTH_BUCKETS, bucket_name, scores_by_length
from nmt.training import compile_model, train
from nmt.translator import build_model

args = parse_args(__doc__.strip().splitlines()[0])

# Settings. The full run trains both "book-small" models on the whole training split (tens of
# minutes per model on 2 CPU cores); --quick trains tiny ones for seconds on a sample.
preset = "book-small"
train_pairs = 0  # pairs sampled from the training split (0 = all of it)
val_pairs = 0  # pairs sampled from the validation split (0 = all)
epochs = 3
steps_per_epoch = 0  # 0 = whole epochs
# Other config overrides. float32: the lesson prints the same numbers on every machine
# (`nmt train` picks bfloat16 where the hardware has it).
training = dict(precision="float32")
per_bucket = 1000  # test sources scored per length bucket at most
timed_lengths = [5, 10, 20]  # target lengths of the timed training steps
timed_steps = 10  # steps timed per model and length (after one untimed warm-up step)
seed = 1337
if args.quick:
    preset, train_pairs, val_pairs, epochs, steps_per_epoch = "tiny", 4000, 300, 1, 60
    training = dict(precision="float32", learning_rate=3e-3, dropout=0.1)
    per_bucket, timed_lengths, timed_steps = 20, [5, 20], 3
models = ("rnn", "transformer")  # the GRU with Luong attention (models/rnn.py) and ours


"""## The same data for both"""
section("The same data for both")

# The corpus is sorted by length, so a slice of its first pairs would hold short sentences
# only: split the whole corpus, then sample.
corpus = load_corpus(None)
full = split_corpus(corpus.pairs, seed=seed, mode="source")
rng = random.Random(seed)
splits = Splits(
    train=rng.sample(full.train, train_pairs) if train_pairs else full.train,
    val=rng.sample(full.val, val_pairs) if val_pairs else full.val,
    test=full.test,
)
print(", ".join(f"{name} {n:,}" for name, n in splits.sizes().items()) + " pairs")

translators, states = {}, {}
for name in models:
    config = resolve_config(name, preset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            seed=seed, **training)
    out_dir = os.path.join(args.out, f"12_{name}")
    with contextlib.redirect_stdout(io.StringIO()):  # train()'s own log
        translators[name] = train(config, out_dir, overwrite=True, verbose=0, splits=splits)
    with open(os.path.join(out_dir, "train_state.json")) as f:
        states[name] = json.load(f)
    print(f"{name:<12} {translators[name].model.count_params():>10,} parameters, masked val "
          f"accuracy {states[name]['final_metrics']['val_accuracy']:.3f}")

"""## Parallel training: time per step and per epoch"""
section("Parallel training: time per step and per epoch")

# Fresh models of the same sizes (the trained ones stay as they are), random token ids, and
# the same batch for both; only the target length changes.
batch_size = translators["transformer"].config.batch_size
np_rng = np.random.default_rng(seed)
step_ms = {name: [] for name in models}
for name in models:
    translator = translators[name]
    model = build_model(translator.config, translator.source_tokenizer.vocab_size,
                        translator.target_tokenizer.vocab_size)
    compile_model(model, translator.config)
    for length in timed_lengths:
        english_vocab = translator.source_tokenizer.vocab_size
        spanish_vocab = translator.target_tokenizer.vocab_size
        x = {"english": np_rng.integers(4, english_vocab, size=(batch_size, length)),
             "spanish": np_rng.integers(4, spanish_vocab, size=(batch_size, length))}
        y = np_rng.integers(4, spanish_vocab, size=(batch_size, length))
        model.train_on_batch(x, y)  # warm-up: tracing for this shape
        started = time.perf_counter()
        for _ in range(timed_steps):
            model.train_on_batch(x, y)
        step_ms[name].append(1000 * (time.perf_counter() - started) / timed_steps)
print(f"ms per training step, batch {batch_size} (mean of {timed_steps} steps):")
print(f"{'target length':<14}" + "".join(f"{name:>13}" for name in models) + f"{'ratio':>8}")
for i, length in enumerate(timed_lengths):
    rnn_ms, transformer_ms = step_ms["rnn"][i], step_ms["transformer"][i]
    print(f"{length:<14}{rnn_ms:>13.1f}{transformer_ms:>13.1f}{rnn_ms / transformer_ms:>8.2f}")
check(all(ms > 0 for values in step_ms.values() for ms in values), "every timing is positive")
for name in models:
    growth = step_ms[name][-1] / step_ms[name][0]
    print(f"{name}: {timed_lengths[-1]} tokens cost {growth:.1f}x {timed_lengths[0]} tokens")
faster = min(models, key=lambda name: step_ms[name][-1])
print(f"faster per step at {timed_lengths[-1]} tokens: {faster}")

print("\nwhole training run (train(), including validation and compilation):")
for name in models:
    seconds = states[name]["train_seconds"]
    print(f"{name:<12} {seconds:>7.1f} s for {epochs} epoch(s), {seconds / epochs:.1f} s per epoch")
    check(seconds > 0, f"{name}: training took a positive time")

"""## Long-range dependencies: scores by source length"""
section("Long-range dependencies: scores by source length")

references = group_references(splits.test)
sources = list(references)
words = dict(zip(sources, translators["transformer"].source_tokenizer.token_counts(sources)))
members = {bucket_name(low, high): [s for s in sources
                                    if words[s] >= low and (high is None or words[s] <= high)]
           for low, high in LENGTH_BUCKETS}
buckets = list(members)
print("test sources per bucket: " + ", ".join(f"{b} words: {len(members[b]):,}" for b in buckets))
check(sum(map(len, members.values())) == len(sources)
      and set().union(*map(set, members.values())) == set(sources),
      f"the buckets partition the {len(sources):,} test sources (each in exactly one)")
check(all(members[b] for b in buckets), "every bucket has test sentences")
longest = translators["transformer"].config.sequence_length
print(f"(sources longer than {longest} words are truncated to {longest} by the tokenizer)")

# The same sample of each bucket for both models.
chosen = [s for b in buckets
          for s in random.Random(seed).sample(members[b], min(per_bucket, len(members[b])))]
refs = [normalize_like_book(references[s], "spanish") for s in chosen]
pairs = [(s, spanish) for s in chosen for spanish in references[s]]
bucket_of = {s: b for b in buckets for s in members[b]}
pair_bucket = np.array([bucket_of[s] for s, _ in pairs])
scores = {}
for name in models:
    translator = translators[name]
    # Translation quality: BLEU and chrF against every reference of each source, per bucket.
    scores[name] = scores_by_length(chosen, translator.translate(chosen), refs,
                                    [words[s] for s in chosen])
    # Next-token accuracy over real tokens, teacher forcing, on every (source, reference) pair.
    source, target = translator.vectorize(pairs)
    logits = translator.model.predict({"english": source, "spanish": target[:, :-1]},
                                      batch_size=256, verbose=0)
    correct, real = logits.argmax(-1) == target[:, 1:], target[:, 1:] != 0
    for b in buckets:
        rows = pair_bucket == b
        scores[name][b]["accuracy"] = float(correct[rows][real[rows]].mean())
check(all(scores[name][b]["sources"] == min(per_bucket, len(members[b]))
          for name in models for b in buckets),
      "scores_by_length buckets the scored sources as we did")
print(f"\n{'words':<7} {'sources':>7}  {'model':<12} {'accuracy':>8} {'BLEU':>7} {'chrF':>7}")
for b in buckets:
    for k, name in enumerate(models):
        label = f"{b:<7} {scores[name][b]['sources']:>7}" if k == 0 else " " * 15
        print(f"{label}  {name:<12} {scores[name][b]['accuracy']:>8.3f} "
              f"{scores[name][b]['bleu']:>7.2f} {scores[name][b]['chrf']:>7.2f}")
    # Better: higher BLEU, then chrF, then accuracy break ties (weak models often score 0 BLEU).
    key = lambda name: tuple(scores[name][b][m] for m in ("bleu", "chrf", "accuracy"))  # noqa: E731
    winner = max(models, key=key) if key(models[0]) != key(models[1]) else "neither (tie)"
    print(f"{'':<17}better: {winner}")
check(all(0 <= scores[name][b][metric] <= 100 for name in models for b in buckets
          for metric in ("bleu", "chrf")), "BLEU and chrF are between 0 and 100")
check(all(0 <= scores[name][b]["accuracy"] <= 1 for name in models for b in buckets),
      "accuracies are between 0 and 1")
for name in models:
    drop = scores[name][buckets[0]]["accuracy"] - scores[name][buckets[-1]]["accuracy"]
    print(f"{name}: accuracy on {buckets[0]} words minus on {buckets[-1]} words: {drop:+.3f}")

"""## Figures"""
section("Figures")

plt = pyplot()
fig, ax = plt.subplots(figsize=(6, 4))
for name, marker in zip(models, "os"):
    ax.plot(timed_lengths, step_ms[name], marker=marker, label=name)
ax.set_xlabel("target length (tokens)")
ax.set_ylabel("ms per training step")
ax.set_title(f"Training step time, batch {batch_size}")
ax.set_xticks(timed_lengths)
ax.set_ylim(bottom=0)
ax.legend()
save_figure(fig, args.out, "12_step_time.png")

labels = {"accuracy": "Masked token accuracy", "bleu": "BLEU", "chrf": "chrF"}
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
positions = np.arange(len(buckets))
for ax, metric in zip(axes, labels):
    for k, name in enumerate(models):
        ax.bar(positions + (k - 0.5) * 0.4, [scores[name][b][metric] for b in buckets], 0.4,
               label=name)
    ax.set_xticks(positions, [f"{b}\n({scores[models[0]][b]['sources']})" for b in buckets])
    ax.set_xlabel("English words per source (sources scored)")
    ax.set_ylabel(labels[metric])
    ax.set_title(f"{labels[metric]} by source length")
    highest = max(scores[name][b][metric] for name in models for b in buckets)
    ax.set_ylim(0, max(highest * 1.15, 1.0 if metric == "accuracy" else 5.0))
    ax.legend()
save_figure(fig, args.out, "12_length_buckets.png")
