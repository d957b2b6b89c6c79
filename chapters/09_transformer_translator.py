"""
Title: The Transformer translator
What you learn: how the encoder, the decoder and the output layer make one English->Spanish
    model, where its parameters are, how it trains (loss and accuracy over real tokens only),
    how it translates, and why decoding with a key/value cache gives exactly the tokens that the
    book's loop (re-running the whole model for every new token) gives, only faster.
Run: python chapters/09_transformer_translator.py [--quick] [--out DIR]
"""

import contextlib
import csv
import io
import json
import os
import time

try:  # python -m chapters.09_transformer_translator
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/09_transformer_translator.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import numpy as np

# build_transformer and TransformerSteps (encode once, then one token at a time with a cache)
# are in models/transformer.py, the blocks in models/transformer_encoder.py and
# models/transformer_decoder.py, the decode loop in models/decoding.py, train and
# prepare_splits in nmt/training.py, masked_accuracy in nmt/evaluation.py.
from data.pipeline import make_dataset
from nmt.config import resolve_config
from nmt.evaluation import masked_accuracy
from nmt.training import prepare_splits, train

args = parse_args(__doc__.strip().splitlines()[0])

# Settings. The full run trains the "book-small" Transformer (the book's recipe at embed 128,
# feed-forward 512, 4 heads) on the whole corpus (about 10 minutes on 2 CPU cores); --quick
# trains the tiny one for a few hundred steps on the corpus' first (short) pairs.
preset = "book-small"
max_pairs = 0  # 0 = the whole corpus
epochs = 3
steps_per_epoch = 0  # 0 = whole epochs
# Other config overrides. float32: the lesson prints the same numbers on every machine
# (`nmt train` picks bfloat16 where the hardware has it).
training = dict(precision="float32")
sentences = ["I love AI.", "Where is the train station?", "She is reading a book in the garden.",
             "We will go to the beach tomorrow if it does not rain."]
num_compared = 16  # test sentences decoded both ways
if args.quick:
    preset, max_pairs, epochs, steps_per_epoch = "tiny", 3000, 2, 150
    # Words after a few hundred steps.
    training = dict(precision="float32", learning_rate=3e-3, dropout=0.1)
    sentences = ["I love you.", "Tom is here.", "Go away.", "I'm hungry."]
    num_compared = 8

"""## The model"""
section("The model")

config = resolve_config("transformer", preset, max_pairs=max_pairs, epochs=epochs,
                        steps_per_epoch=steps_per_epoch, **training)
splits = prepare_splits(config)
out_dir = os.path.join(args.out, "09_transformer")
log = io.StringIO()
with contextlib.redirect_stdout(log):  # train()'s own log is kept in `log`
    translator = train(config, out_dir, overwrite=True, verbose=0, splits=splits)
model = translator.model
print(f"{'layer':<18} {'type':<22} {'parameters':>12}")
for layer in model.layers:
    if layer.count_params():
        print(f"{layer.name:<18} {type(layer).__name__:<22} {layer.count_params():>12,}")
total = sum(layer.count_params() for layer in model.layers)
print(f"{'total':<41} {total:>12,}")
check(total == model.count_params(), "the layers' counts add up to model.count_params()")

# One forward pass: English ids and the Spanish prefix in, next-token logits out.
source, target = translator.vectorize(splits.val[:2])
logits = model({"english": source, "spanish": target[:, :-1]})
print(f"\nenglish {source.shape} + spanish {target[:, :-1].shape} -> logits {tuple(logits.shape)}"
      "  (batch, tgt_len, Spanish vocabulary)")
check(tuple(logits.shape) == target[:, :-1].shape + (translator.target_tokenizer.vocab_size,),
      "one distribution over the Spanish vocabulary per target position")

"""## Training"""
section("Training")

with open(os.path.join(out_dir, "history.csv")) as f:
    history = list(csv.DictReader(f))
with open(os.path.join(out_dir, "train_state.json")) as f:
    state = json.load(f)
print(f"{len(splits.train):,} training pairs, {epochs} epoch(s)"
      + (f" of {steps_per_epoch} steps" if steps_per_epoch else "")
      + f", batches of {config.batch_size} sentences, {state['train_seconds']:.1f} s")
print(f"{'epoch':>5} {'loss':>8} {'accuracy':>9} {'val_loss':>9} {'val_accuracy':>13}")
for row in history:
    print(f"{int(row['epoch']) + 1:>5} {float(row['loss']):>8.3f} {float(row['accuracy']):>9.3f} "
          f"{float(row['val_loss']):>9.3f} {float(row['val_accuracy']):>13.3f}")
check(len(history) == epochs, f"the log has one row per epoch ({epochs})")

"""## Masked validation accuracy"""
section("Masked validation accuracy")

report = masked_accuracy(translator, splits.val)
print(f"masked_accuracy(val): {report}")
check_close(report["masked_accuracy"], float(history[-1]["val_accuracy"]),
            "evaluation gives the val_accuracy of the last epoch", atol=1e-3)
# The definition, by hand: correct next tokens / real (non-padding) next tokens.
source, target = translator.vectorize(splits.val)
logits = model.predict({"english": source, "spanish": target[:, :-1]}, batch_size=256, verbose=0)
correct = logits.argmax(-1) == target[:, 1:]
real = target[:, 1:] != 0
by_hand = correct[real].mean()
print(f"by hand: {correct[real].sum():,} correct of {real.sum():,} real tokens = {by_hand:.4f}")
print(f"counting the {(~real).sum():,} padding positions as targets too: {correct.mean():.4f} "
      "(the model is never trained to predict padding)")
# Keras averages a batch's weighted accuracy over its padded length before averaging batches,
# so with fixed-length batches it is exactly the token count, and with length buckets (batches
# of different lengths) it can differ from it slightly.
fixed = make_dataset(source, target, 256, batching="fixed", shuffle=False)
fixed_accuracy = model.evaluate(fixed, verbose=0, return_dict=True)["accuracy"]
check_close(fixed_accuracy, by_hand, "with fixed-length batches, Keras' masked accuracy is the "
            "token count", atol=1e-5)
print(f"with length buckets: {report['masked_accuracy']:.4f} "
      f"(differs from the token count by {report['masked_accuracy'] - by_hand:+.4f})")
check_close(report["masked_accuracy"], by_hand, "with length buckets it is close to it",
            atol=0.01)

"""## Translating"""
section("Translating")

translations = translator.translate(sentences)
width = max(len(repr(english)) for english in sentences)
for english, spanish in zip(sentences, translations):
    print(f"{english!r:>{width}} -> {spanish!r}")
check(len(translations) == len(sentences), "one translation per sentence")

"""## The cached decode equals the full recompute"""
section("The cached decode equals the full recompute")


def greedy_by_full_recompute(source_ids, max_length):
    """The book's loop: run the whole model on the whole prefix for every new token."""
    start_id, end_id = translator.target_tokenizer.start_id, translator.target_tokenizer.end_id
    tokens = np.full((len(source_ids), 1), start_id, dtype="int64")
    done = np.zeros(len(source_ids), bool)
    for _ in range(max_length):
        logits = np.asarray(model({"english": source_ids, "spanish": tokens}))[:, -1]
        next_ids = np.where(done, 0, logits.argmax(-1))
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        done |= next_ids == end_id
        if done.all():
            break
    return np.pad(tokens, ((0, 0), (0, max_length + 1 - tokens.shape[1])))


test_sources = list(dict.fromkeys(e for e, _ in splits.test))[:num_compared]
source_ids = translator.source_tokenizer.encode(test_sources)
source_ids = source_ids[:, : int((source_ids != 0).sum(1).max())]
max_length = config.sequence_length
translator.translate_ids(source_ids[:1])  # compile the cached decode once
started = time.perf_counter()
cached = translator.translate_ids(source_ids, max_length=max_length)
cached_seconds = time.perf_counter() - started
started = time.perf_counter()
recomputed = greedy_by_full_recompute(source_ids, max_length)
full_seconds = time.perf_counter() - started
print(f"{len(test_sources)} test sentences, greedy, up to {max_length} tokens:")
print(f"  cached decode (one new token through the decoder per step): {cached_seconds:.3f} s")
print(f"  full recompute (whole model on the whole prefix per step):  {full_seconds:.3f} s")
for english, ids in list(zip(test_sources, cached))[:3]:
    print(f"  {english!r} -> {translator.target_tokenizer.decode([ids])[0]!r}")
check(np.array_equal(cached, recomputed),
      f"the cached decode gives the same tokens as the full recompute on {len(test_sources)} "
      "sentences")

"""## Figure: learning curves"""
section("Figure: learning curves")

plt = pyplot()
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6))
epoch_numbers = [int(row["epoch"]) + 1 for row in history]
for prefix, style, label in (("", "o-", "training"), ("val_", "s--", "validation")):
    ax_loss.plot(epoch_numbers, [float(r[prefix + "loss"]) for r in history], style, label=label)
    ax_acc.plot(epoch_numbers, [float(r[prefix + "accuracy"]) for r in history], style,
                label=label)
ax_loss.set(xlabel="epoch", ylabel="cross-entropy (real tokens)", title="Loss")
ax_acc.set(xlabel="epoch", ylabel="next-token accuracy (real tokens)", title="Masked accuracy")
for ax in (ax_loss, ax_acc):
    ax.legend()
    ax.set_xticks(epoch_numbers)
save_figure(fig, args.out, "09_learning_curves.png")
