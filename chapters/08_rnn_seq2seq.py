# %% [markdown]
"""
# 08 · Sequence-to-sequence with RNNs, then with attention

**What you learn:** the book's GRU encoder-decoder squeezes the whole English sentence into one
vector, the decoder's only view of the source; Luong attention (not in the book: this
project's addition, from Luong et al. 2015) lets every decoder step look at all the encoder
states instead. You see the shapes each decoder step receives, train both models on a slice
of the corpus, translate with them, and plot where the decoder looks.

**Book:** *Deep Learning with Python*, 2nd ed. §11.5.1 "A machine translation example" and
§11.5.2 "Sequence-to-sequence learning with RNNs"; 3rd ed. §15.2.1 "English-to-Spanish
translation" and §15.2.2 "Sequence-to-sequence learning with RNNs".

**Run:** `python chapters/08_rnn_seq2seq.py [--quick] [--out DIR]` (or open it as a notebook:
`make notebooks`).
"""

# %%
import contextlib
import io
import json
import os

try:  # python -m chapters.08_rnn_seq2seq
    from chapters.common import check, check_close, parse_args, section
except ImportError:  # python chapters/08_rnn_seq2seq.py
    from common import check, check_close, parse_args, section

import numpy as np
import tensorflow as tf

# build_gru, build_rnn_attention and RNNSteps (encode once, then one GRU step per token) are in
# models/rnn.py; LuongAttention in models/luong_attention.py; the one training path (train,
# prepare_splits) in nmt/training.py; Translator (translate, attention) in nmt/translator.py;
# plot_attention in nmt/plotting.py; parameter_counts in models/registry.py; rank_scores (a
# conclusion computed from the numbers) in nmt/verdicts.py.
from models.registry import parameter_counts
from nmt.config import resolve_config
from nmt.plotting import plot_attention
from nmt.training import prepare_splits, train
from nmt.verdicts import TOO_LITTLE, rank_scores

args = parse_args("08 · Sequence-to-sequence with RNNs, then with attention")

# %% [markdown]
"""
## Settings

Both editions build the same GRU translator: a bidirectional GRU encoder whose final state
starts a GRU decoder, at embed 256 and 1,024 units. The full run trains the `book-small` sizes
(embed 128, 256 GRU units, `nmt/config.py`) on the whole corpus for 3 epochs (tens of minutes
on a CPU). `--quick` trains `tiny` models (embed 32, 32 units) for 200 steps on a seeded random
sample of 3,000 of the corpus' pairs (`max_pairs`, seed 1337: `nmt/training.py`'s
`prepare_splits`), split by English sentence into training, validation and test. That is
seconds of training: the shapes, the masking and the checks are the point, not the quality.
"""

# %%
preset = "book-small"  # the book's recipe at small sizes (nmt/config.py)
max_pairs = 0  # 0 = the whole corpus; N = a seeded random sample of N pairs
epochs = 3
steps_per_epoch = 0  # 0 = whole epochs
# Other config overrides. float32: the lesson prints the same numbers on every machine
# (`nmt train` picks bfloat16 where the hardware has it).
training = dict(precision="float32")
sentence = "She is reading a book in the garden."  # translated and plotted
reference = "Ella está leyendo un libro en el jardín."  # plotted if the model outputs nothing
if args.quick:
    preset, max_pairs, epochs, steps_per_epoch = "tiny", 3000, 1, 200
    # A higher learning rate and less dropout, so 200 steps produce words at all.
    training = dict(precision="float32", learning_rate=3e-3, dropout=0.1)
    # A short sentence keeps the attention figure small.
    sentence, reference = "I love you.", "Te quiero."
seconds, val_accuracy = {}, {}  # per model: training time, final masked val accuracy


def train_quietly(model):
    """Train `model` with nmt.training.train; keep its log, print a one-line summary."""
    config = resolve_config(model, preset, max_pairs=max_pairs, epochs=epochs,
                            steps_per_epoch=steps_per_epoch, **training)
    out_dir = os.path.join(args.out, f"08_{model}")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        translator = train(config, out_dir, overwrite=True, verbose=0, splits=splits)
    with open(os.path.join(out_dir, "train_state.json")) as f:
        state = json.load(f)
    seconds[model] = state["train_seconds"]
    val_accuracy[model] = state["final_metrics"]["val_accuracy"]
    print(f"{model}: trained {epochs} epoch(s)"
          + (f" of {steps_per_epoch} steps" if steps_per_epoch else "")
          + f" in {seconds[model]:.1f} s, masked val accuracy {val_accuracy[model]:.3f} "
          f"(run folder {out_dir})")
    return translator


# %% [markdown]
"""
## The data slice

English-Spanish pairs from the Tatoeba corpus the book uses. The file is sorted by length, so
a quick run samples its pairs at random across the whole file rather than taking its first
ones: the sample holds short and long sentences alike.
"""

# %%
section("The data slice")

splits = prepare_splits(resolve_config("gru", preset, max_pairs=max_pairs))
all_pairs = splits.train + splits.val + splits.test
if max_pairs:
    check(len(all_pairs) == max_pairs,
          f"a seeded random sample of {max_pairs:,} pairs, split into train, val and test")
words = np.array([len(english.split()) for english, _ in splits.train])
print(f"English sentence length in the training split: {words.min()} to {words.max()} words, "
      f"median {np.median(words):.0f}; {np.mean(words <= 4):.0%} have 4 words or fewer")
check(words.max() > 4, "the training pairs include sentences longer than 4 words")
print(f"example pair: {splits.train[len(splits.train) // 2]}")

# %% [markdown]
"""
## The GRU encoder-decoder: one vector for the whole sentence

The book's encoder reads the English sentence and keeps only its final state; the decoder
starts from that state and, at each step, sees only the previous Spanish word and its own
state. Whatever the sentence's length, the decoder's view of the source is one vector of
`units` numbers.
"""

# %%
section("The GRU encoder-decoder: one vector for the whole sentence")

gru = train_quietly("gru")
for name, count in parameter_counts(gru.model).items():
    print(f"  {name:<18} {count:>10,}")
steps = gru.steps  # RNNSteps: what the decoder gets from the encoder
short, long = "Go.", "I think that we should go to the beach tomorrow morning."
for text in (short, long):
    source = gru.source_tokenizer.encode([text])
    state = steps.encode(tf.constant(source))
    print(f"{text!r}: {int((source != 0).sum())} words -> encoder state "
          f"{tuple(state['state'].shape)}  (batch, units)")
check(steps.encode(tf.constant(gru.source_tokenizer.encode([short])))["state"].shape
      == steps.encode(tf.constant(gru.source_tokenizer.encode([long])))["state"].shape,
      "a 1-word and an 11-word sentence reach the decoder as vectors of the same size")
print("Each decoder step sees: the previous Spanish word and its own state, which started as "
      "that one vector.")

# %% [markdown]
"""
## Adding attention: every decoder step looks at every encoder state

With Luong attention the encoder keeps all its states, one per English word. At each step the
decoder's state scores every encoder state, a softmax turns the scores into weights, and the
weighted sum of the encoder states (the context) joins the decoder's state to predict the
next word. One step, written out with the model's own layers:
"""

# %%
section("Adding attention: every decoder step looks at every encoder state")

rnn = train_quietly("rnn")
for name, count in parameter_counts(rnn.model).items():
    print(f"  {name:<18} {count:>10,}")
steps = rnn.steps
units = rnn.config.rnn_units
source = rnn.source_tokenizer.encode([sentence])
source = tf.constant(source[:, : int((source != 0).sum())])  # drop the padding columns
state = steps.encode(source)
print(f"encoder states (all of them): {tuple(state['encoder_outputs'].shape)}  "
      "(batch, src_len, units)")
print(f"initial decoder state:        {tuple(state['state'].shape)}  (batch, units)")
start = tf.constant([[rnn.target_tokenizer.start_id]], tf.int64)
decoder_state = steps.parts.decoder_gru(steps.parts.target_embedding(start),
                                        initial_state=state["state"])
print(f"decoder state after [start]:  {tuple(decoder_state.shape)}  (batch, 1, units)")
context, weights = steps.parts.attention(decoder_state, state["encoder_outputs"],
                                         values_mask=state["source_mask"])
print(f"attention weights:            {tuple(weights.shape)}  (batch, 1, src_len)")
print(f"context vector:               {tuple(context.shape)}  (batch, 1, units)")
print(f"weights over {rnn.source_tokenizer.tokens(source[0].numpy())}: "
      f"{np.round(np.asarray(weights)[0, 0], 2)}")
check_close(np.sum(weights, -1), 1.0, "the attention weights of a decoder step sum to 1")
expected_context = np.einsum("bts,bsu->btu", weights, state["encoder_outputs"])
check_close(context, expected_context,
            "the context is the weighted sum of the encoder states", atol=1e-5)
check(tuple(context.shape) == (1, 1, units),
      "the context has one fixed size whatever the sentence's length")

# %% [markdown]
"""
## Translations

Both models translate greedily: start from `[start]`, take the most likely next word, feed it
back, stop at `[end]`. The line after the translations compares the two models' masked
validation accuracy, but only when the training was long enough to say anything: a quick run
trains each for seconds.
"""

# %%
section("Translations")

translations = {}
for name, translator in (("gru", gru), ("rnn", rnn)):
    (text,), (ids,) = translator.translate([sentence], return_ids=True)
    translations[name] = (text, ids)
    print(f"{name:>4}: {sentence!r} -> {text!r}")
    print(f"      ids {ids.tolist()}")
    check(ids[0] == translator.target_tokenizer.start_id, f"{name}: decoding starts at [start]")
if steps_per_epoch:  # training capped at a few hundred steps
    verdict = (f"{TOO_LITTLE}: {epochs} epoch(s) of {steps_per_epoch} steps each (masked val "
               f"accuracy gru {val_accuracy['gru']:.3f}, rnn {val_accuracy['rnn']:.3f})")
else:
    verdict = rank_scores(val_accuracy, metric="masked val accuracy", noise=0.01, floor=0.05,
                          digits=3).sentence
print(f"verdict: {verdict}")

# %% [markdown]
"""
## Where the decoder looks

The attention map has one row per Spanish token and one column per English word; row `t`
holds the weights of the decoder step that produced token `t`. If the model's own translation
is empty (a briefly trained model may say `[end]` at once), the map is drawn while the decoder
reads the reference translation instead, as in training (teacher forcing, see lesson 09).
Whether the weights line up with the words they translate depends on how long the model
trained; the figure's title says how long that was. What does not depend on training is
checked: each row sums to 1, and padded source positions get exactly zero weight.
"""

# %%
section("Where the decoder looks")

text, ids = translations["rnn"]
how = "its own translation"
if not text:
    print(f"the translation is empty: using the reference {reference!r} as the decoder's input")
    ids = rnn.target_tokenizer.encode([f"[start] {reference} [end]"])[0]
    how = "the reference (teacher forcing)"
attention, source_tokens, target_tokens = rnn.attention(sentence, ids)
print(f"attention {attention.shape}  (heads = 1, target tokens, source tokens)")
print(f"source tokens: {source_tokens}\ntarget tokens: {target_tokens}")
check_close(attention.sum(-1), 1.0, "every row of the attention map sums to 1")
check(attention.shape[1:] == (len(target_tokens), len(source_tokens)),
      "one row per Spanish token, one column per English word")
# Padding: the same sentence with 5 padding columns gives zero weight there, and the same
# weights on the real words (the encoder and the softmax both skip masked positions).
source_ids = rnn.source_tokenizer.encode([sentence])
real = int((source_ids != 0).sum())
inputs = tf.constant(np.asarray(ids)[None, : attention.shape[1]])
unpadded = np.asarray(steps.attention(tf.constant(source_ids[:, :real]), inputs))[0, 0]
padded = np.asarray(steps.attention(tf.constant(source_ids[:, : real + 5]), inputs))[0, 0]
check(np.all(padded[:, real:] == 0), "padded source positions get exactly zero attention")
check_close(padded[:, :real], unpadded, "padding does not change the weights on real words",
            atol=1e-5)

trained = (f"{epochs} epoch(s) of {steps_per_epoch} steps" if steps_per_epoch
           else f"{epochs} epoch(s)")
title = (f"Luong attention while reading {how}\n{preset} model, trained {trained} "
         f"({seconds['rnn']:.0f} s)")
path = plot_attention(attention, source_tokens, target_tokens,
                      os.path.join(args.out, "08_rnn_attention.png"), head=0, title=title)
print(f"  figure saved: {path}")

# %% [markdown]
"""
## What you learned

- Without attention, a 1-word and an 11-word sentence reach the decoder as vectors of the same
  size: the GRU's final state is all it sees of the source.
- With Luong attention, each decoder step weighs all `src_len` encoder states (weights summing
  to 1) and adds their weighted sum, a context of fixed size, to its own state.
- Padded source positions get exactly zero attention, and adding padding does not change the
  weights on the real words.
- A comparison of the two models is printed only when their training was long enough; a quick
  run says "too little training to compare".

## Exercises

1. Translate a sentence of 15 words or more with both models after the full run. Where do the
   translations go wrong first, and does the attention map show why?
2. Replace the attention weights with uniform ones (the mean of the encoder states). What does
   the decoder lose, and which check would still pass?
3. Run with `--quick` again after adding `seed=1` to the two `resolve_config(...)` calls (the
   sample, the split and the initial weights all follow it). How much do the two models'
   validation accuracies move?
"""
