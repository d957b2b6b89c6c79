"""
Title: Sequence-to-sequence with RNNs, then with attention
What you learn: the book's GRU encoder-decoder squeezes the whole English sentence into one
    vector, the decoder's only view of the source; Luong attention lets every decoder step look
    at all the encoder states instead. You see the shapes each decoder step receives, train both
    models on a slice of the corpus, translate with them, and plot where the decoder looks.
Run: python chapters/08_rnn_seq2seq.py [--quick] [--out DIR]
"""

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
# plot_attention in nmt/plotting.py; parameter_counts in models/registry.py.
from nmt.config import resolve_config
from nmt.plotting import plot_attention
from models.registry import parameter_counts
from nmt.training import prepare_splits, train

args = parse_args(__doc__.strip().splitlines()[0])

# Settings. The full run trains the "book-small" sizes on the whole corpus (tens of minutes on a
# CPU); --quick trains tiny models for a few seconds on the corpus' first (short) pairs.
preset = "book-small"  # the book's recipe; embed 128, GRU units 256 (nmt/config.py)
max_pairs = 0  # 0 = the whole corpus
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
    # The first 3,000 pairs of the corpus are 1-3 word sentences.
    sentence, reference = "I love you.", "Te quiero."


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
    print(f"{model}: trained {epochs} epoch(s) in {state['train_seconds']:.1f} s, masked val "
          f"accuracy {state['final_metrics']['val_accuracy']:.3f} (run folder {out_dir})")
    return translator


"""## The data slice"""
section("The data slice")

splits = prepare_splits(resolve_config("gru", preset, max_pairs=max_pairs))
print(f"example pair: {splits.train[len(splits.train) // 2]}")

"""## The GRU encoder-decoder: one vector for the whole sentence"""
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

"""## Adding attention: every decoder step looks at every encoder state"""
section("Adding attention: every decoder step looks at every encoder state")

rnn = train_quietly("rnn")
for name, count in parameter_counts(rnn.model).items():
    print(f"  {name:<18} {count:>10,}")
steps = rnn.steps
units = rnn.config.rnn_units
# One decoding step written out with the model's own layers (what RNNSteps.next_fn does).
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

"""## Translations"""
section("Translations")

translations = {}
for name, translator in (("gru", gru), ("rnn", rnn)):
    (text,), (ids,) = translator.translate([sentence], return_ids=True)
    translations[name] = (text, ids)
    print(f"{name:>4}: {sentence!r} -> {text!r}")
    print(f"      ids {ids.tolist()}")
    check(ids[0] == translator.target_tokenizer.start_id, f"{name}: decoding starts at [start]")

"""## Where the decoder looks"""
section("Where the decoder looks")

text, ids = translations["rnn"]
title = "Luong attention, own output"
if not text:
    # A barely trained model may say [end] at once; then show where it looks while reading
    # a reference translation instead (teacher forcing, as in training).
    print(f"the translation is empty: using the reference {reference!r} as the decoder's input")
    ids = rnn.target_tokenizer.encode([f"[start] {reference} [end]"])[0]
    title = "Luong attention, reference"
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

path = plot_attention(attention, source_tokens, target_tokens,
                      os.path.join(args.out, "08_rnn_attention.png"), head=0, title=title)
print(f"  figure saved: {path}")
