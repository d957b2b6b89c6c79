# %% [markdown]
"""
# 09 · The Transformer translator: build, train, translate

**What you learn:** how the encoder, the decoder and the output layer make one English->Spanish
model and where its parameters are; teacher forcing (the decoder reads the target shifted
right by one token); how it trains (loss and accuracy over real tokens only); how it
translates; and why decoding with a key/value cache gives exactly the tokens that the book's
loop (re-running the whole model for every new token) gives.

**Book:** *Deep Learning with Python*, 2nd ed. §11.5.3 "Sequence-to-sequence learning with
Transformer" ("The Transformer decoder", "Putting it all together: A Transformer for machine
translation"); 3rd ed. §15.3.3 "Transformer decoder block" and §15.3.4 "Sequence-to-sequence
learning with a Transformer".

**Run:** `python chapters/09_transformer_translator.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
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
# prepare_splits in nmt/training.py, masked_accuracy in nmt/evaluation.py, make_dataset (the
# teacher-forcing split of each target) in data/pipeline.py, rank_scores in nmt/verdicts.py.
from data.pipeline import make_dataset
from nmt.config import resolve_config
from nmt.evaluation import masked_accuracy
from nmt.training import prepare_splits, train
from nmt.verdicts import rank_scores

args = parse_args("09 · The Transformer translator: build, train, translate")

# %% [markdown]
"""
## Settings

The book's Transformer translator is one encoder block and one decoder block between two
positional embeddings, and a dense output layer. At the book's sizes (embed 256, feed-forward
2,048, 8 heads) the 3rd edition's model, with `key_dim = embed_dim // num_heads`, has
14,428,824 parameters, and the 2nd edition's, with `key_dim = embed_dim`, 19,960,216
(lesson 11 counts them). This project's layers follow the 3rd edition (`--preset book-2nd`
builds the 2nd edition's). The full run trains the `book-small` sizes (embed 128, feed-forward
512, 4 heads) for 3 epochs on the whole corpus. `--quick` trains the `tiny` one (embed 32,
feed-forward 64, 2 heads) for 2 epochs of 150 steps on a seeded random sample of 3,000 of the
corpus' pairs (`max_pairs`, seed 1337: `nmt/training.py`'s `prepare_splits`), split by English
sentence: seconds of training, enough to show the mechanics, not to translate well.
"""

# %%
preset = "book-small"
max_pairs = 0  # 0 = the whole corpus; N = a seeded random sample of N pairs
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
    # A higher learning rate and less dropout, so a few hundred steps produce words at all.
    training = dict(precision="float32", learning_rate=3e-3, dropout=0.1)
    sentences = ["I love you.", "Tom is here.", "Go away.", "I'm hungry."]
    num_compared = 8

# %% [markdown]
"""
## The model

Training runs first (its log is kept quiet), then the model's layers and their parameters are
listed. One forward pass takes the English ids and the Spanish prefix and returns one score per
Spanish vocabulary word at every target position.
"""

# %%
section("The model")

config = resolve_config("transformer", preset, max_pairs=max_pairs, epochs=epochs,
                        steps_per_epoch=steps_per_epoch, **training)
splits = prepare_splits(config)
if max_pairs:
    check(sum(splits.sizes().values()) == max_pairs,
          f"a seeded random sample of {max_pairs:,} pairs, split into train, val and test")
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

source, target = translator.vectorize(splits.val[:2])
logits = model({"english": source, "spanish": target[:, :-1]})
print(f"\nenglish {source.shape} + spanish {target[:, :-1].shape} -> logits {tuple(logits.shape)}"
      "  (batch, tgt_len, Spanish vocabulary)")
check(tuple(logits.shape) == target[:, :-1].shape + (translator.target_tokenizer.vocab_size,),
      "one distribution over the Spanish vocabulary per target position")

# %% [markdown]
"""
## Teacher forcing: the decoder reads the target shifted right

In training the decoder is not fed its own guesses: it reads the correct Spanish sentence,
shifted right by one token, and at every position it is asked for the next token. Both
editions build their training data this way: the decoder input is `[start] w1 ... wn` and the
target is `w1 ... wn [end]`, the same sentence one token later. The causal mask keeps position
`t` from seeing the tokens after it, so all positions train in one parallel pass (lesson 05,
"Decoder input and target: shifted by one token", shows the mask and the shift in detail).
Here is what the library's training dataset (`make_dataset`) feeds the model for one
validation pair; the loss weight is 0 on padding.
"""

# %%
section("Teacher forcing: the decoder reads the target shifted right")

spanish = translator.target_tokenizer
dataset = make_dataset(source, target, 2, batching="fixed", shuffle=False)
batch_inputs, batch_labels, batch_weights = next(iter(dataset))
decoder_input = np.asarray(batch_inputs["spanish"])[0]
labels, weights = np.asarray(batch_labels)[0], np.asarray(batch_weights)[0]
n = int(weights.sum())  # real target tokens of this sentence
print(f"pair: {splits.val[0]}")
print(f"{'position':>8}  {'decoder input':<16} {'target':<16} loss weight")
for t in range(min(n + 2, len(labels))):
    print(f"{t:>8}  {spanish.tokens([decoder_input[t]])[0]!r:<16} "
          f"{spanish.tokens([labels[t]])[0]!r:<16} {weights[t]:g}")
check(decoder_input[0] == spanish.start_id, "the decoder input starts with [start]")
check(np.array_equal(decoder_input[1:n], labels[: n - 1]),
      "the decoder input is the target shifted right by one token")
check(labels[n - 1] == spanish.end_id, "the last real target is [end]")
check(np.all(weights[:n] == 1) and np.all(weights[n:] == 0),
      "the loss weight is 1 on real target tokens and 0 on padding")

# %% [markdown]
"""
## Training

The loss is the cross-entropy of the next token, averaged over real target tokens only; the
accuracy is the fraction of real next tokens the model ranks first (teacher forcing, as above).
The table is the run's log, one row per epoch.
"""

# %%
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
val_losses = [float(row["val_loss"]) for row in history]
change = val_losses[-1] - val_losses[0]
if len(val_losses) < 2:
    trend = "one epoch: no trend to read"
elif abs(change) <= 0.01:
    trend = f"stayed within 0.01 ({val_losses[0]:.3f} -> {val_losses[-1]:.3f})"
else:
    trend = (f"{'fell' if change < 0 else 'rose'} from {val_losses[0]:.3f} to "
             f"{val_losses[-1]:.3f} over {len(val_losses)} epochs")
print(f"validation loss: {trend}")

# %% [markdown]
"""
## Masked validation accuracy

`masked_accuracy` (in `nmt/evaluation.py`) evaluates the model on the validation split. Below,
the same number by hand: correct next tokens divided by real (non-padding) next tokens.
Counting the padding positions as targets too would give another number, for a prediction the
model is never trained to make.
"""

# %%
section("Masked validation accuracy")

report = masked_accuracy(translator, splits.val)
print(f"masked_accuracy(val): {report}")
check_close(report["masked_accuracy"], float(history[-1]["val_accuracy"]),
            "evaluation gives the val_accuracy of the last epoch", atol=1e-3)
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

# %% [markdown]
"""
## Translating

Greedy decoding: encode the English sentence once, then start from `[start]` and append the
most likely next token until `[end]`. How good the translations are depends on how long the
model trained (printed above); in a quick run, seconds.
"""

# %%
section("Translating")

translations = translator.translate(sentences)
width = max(len(repr(english)) for english in sentences)
for english, spanish_text in zip(sentences, translations):
    print(f"{english!r:>{width}} -> {spanish_text!r}")
check(len(translations) == len(sentences), "one translation per sentence")

# %% [markdown]
"""
## The cached decode equals the full recompute

The book's decoding loop (both editions) runs the whole model on the whole prefix for every
new token. `translator.translate_ids` encodes once and passes one new token per step through
the decoder, keeping the keys and values of the earlier tokens in a cache. Because of the
causal mask, earlier positions never change when a token is appended, so both must give the
same tokens; the run checks it and times both (the verdict on speed is computed from the
timings, with differences under 10% counted as ties).
"""

# %%
section("The cached decode equals the full recompute")


def greedy_by_full_recompute(source_ids, max_length):
    """The book's loop: run the whole model on the whole prefix for every new token."""
    start_id, end_id = spanish.start_id, spanish.end_id
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
speed = rank_scores({"cached decode": cached_seconds, "full recompute": full_seconds},
                    metric="seconds", higher_is_better=False, noise=0.1, relative=True,
                    floor=None, digits=3)
print(f"  verdict: {speed.sentence}")
for english, ids in list(zip(test_sources, cached))[:3]:
    print(f"  {english!r} -> {spanish.decode([ids])[0]!r}")
check(np.array_equal(cached, recomputed),
      f"the cached decode gives the same tokens as the full recompute on {len(test_sources)} "
      "sentences")

# %% [markdown]
"""
## Figure: learning curves

Loss and masked accuracy per epoch, on the training and the validation split. The title says
how much training the curves cover. The training numbers are averages over the epoch, taken
while the model is still learning; the validation numbers are measured at the epoch's end.
So in the first epochs the training loss can sit above the validation loss without meaning
anything about overfitting.
"""

# %%
section("Figure: learning curves")

plt = pyplot()
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.8))
epoch_numbers = [int(row["epoch"]) + 1 for row in history]
for prefix, style, label in (("", "o-", "training"), ("val_", "s--", "validation")):
    ax_loss.plot(epoch_numbers, [float(r[prefix + "loss"]) for r in history], style, label=label)
    ax_acc.plot(epoch_numbers, [float(r[prefix + "accuracy"]) for r in history], style,
                label=label)
ax_loss.set(xlabel="epoch", ylabel="cross-entropy (real tokens)", title="Loss")
ax_acc.set(xlabel="epoch", ylabel="next-token accuracy (real tokens)", title="Masked accuracy")
for ax in (ax_loss, ax_acc):
    ax.legend()
    ax.set_xticks(epoch_numbers)  # whole epochs only
per_epoch = f" of {steps_per_epoch} steps" if steps_per_epoch else ""
fig.suptitle(f"{preset} Transformer: {epochs} epoch(s){per_epoch}, "
             f"{state['train_seconds']:.0f} s of training", fontsize=10)
save_figure(fig, args.out, "09_learning_curves.png")

# %% [markdown]
"""
## What you learned

- The translator is two positional embeddings, an encoder block, a decoder block and a dense
  output layer; their parameter counts add up to the model's.
- Teacher forcing: the decoder input is the target shifted right by one token, starting at
  `[start]`; the last real target is `[end]`, and padding has a loss weight of 0.
- Masked accuracy counts real next tokens only; with fixed-length batches Keras' number is
  exactly that count, and with length buckets it stays within 0.01 of it.
- Decoding with a key/value cache gives the same tokens as re-running the whole model for
  every new token.

## Exercises

1. Build the 2nd edition's model (`resolve_config("transformer", "book-2nd", ...)`) and
   compare its parameter count per layer with the 3rd edition's (`"book"`): which layers grow?
2. Feed the decoder the *unshifted* target (`target[:, 1:]` as its input, so position `t`
   reads the very token it must predict) for a few hundred training steps. What happens to
   the training accuracy, and to greedy translations?
3. Time both decodings on 64 sentences instead of 16. How does the gap change, and why does
   the full recompute get slower per token as the translation grows?
"""
