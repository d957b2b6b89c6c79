# %% [markdown]
"""
# 05 · Padding and causal masks

**What you learn:** the padding mask (never attend to padding) and the causal mask (never look
ahead) as matrices; how the decoder's input and its target are the same sentence shifted by
one token (teacher forcing), and why the causal mask lets training compute every position in
one parallel pass; the three kinds of attention in a Transformer, with cross-attention written
out by hand; and numeric proof that future tokens cannot change earlier outputs and that
padding never changes a real output.

**Book:** *Deep Learning with Python*, 2nd ed. §11.3.3 "Processing words as a sequence"
("Understanding padding and masking"), §11.5.1 "A machine translation example" and §11.5.3
"Sequence-to-sequence learning with Transformer" ("The Transformer decoder"); 3rd ed. §15.2.1
"English-to-Spanish translation", §15.3.3 "Transformer decoder block" and §15.3.4
"Sequence-to-sequence learning with a Transformer".

**Run:** `python chapters/05_masks.py [--quick] [--out DIR]` (or open it as a notebook:
`make notebooks`).
"""

# %%
try:  # python -m chapters.05_masks
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/05_masks.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import keras
import numpy as np
from keras import ops

from data.vectorize import WordTokenizer, add_markers

# PositionalEmbedding is defined in models/positional_embedding.py, TransformerEncoder in
# models/transformer_encoder.py, TransformerDecoder and causal_mask in models/transformer_decoder.py.
from models.positional_embedding import PositionalEmbedding
from models.transformer_decoder import TransformerDecoder, causal_mask
from models.transformer_encoder import TransformerEncoder

args = parse_args("05 · Padding and causal masks")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
english = "Where is the station?"  # the source sentence shown throughout
spanish = "¿Dónde está la estación?"  # its translation (the target, with [start] / [end])
# A few more pairs so the vocabularies are not just one sentence.
more_english = ["I love AI.", "The station is far.", "Where is the train?", "The train is late."]
more_spanish = ["Me encanta la IA.", "La estación está lejos.", "¿Dónde está el tren?",
                "El tren llega tarde."]
sequence_length = 8 if args.quick else 10  # padded length of the source and the decoder input
embed_dim = 16 if args.quick else 64  # width of the untrained blocks below
num_heads = 2 if args.quick else 4  # attention heads (key_dim = embed_dim // num_heads, 3rd ed.)
dense_dim = 32 if args.quick else 128  # feed-forward width
cross_source_length = 5  # the by-hand cross-attention uses this many source positions ...
cross_target_length = 3  # ... and this many target positions
seed = 0  # weights and replacement tokens come from this seed

keras.utils.set_random_seed(seed)
rng = np.random.default_rng(seed)
np.set_printoptions(linewidth=120)
plt = pyplot()


def show_mask(title, mask, rows, columns):
    """Print a boolean (rows, columns) mask as 1 (may attend) / 0 (hidden)."""
    print(f"{title} (row = query, column = key; 1 = may attend):")
    print(f"{'':>10}" + "".join(f"{c[:8]:>9}" for c in columns))
    for label, row in zip(rows, np.asarray(mask).astype(int)):
        print(f"{label[:9]:>10}" + "".join(f"{v:>9}" for v in row))


# %% [markdown]
"""
## Token ids and the padding mask

Sentences in a batch have different lengths, so shorter ones are padded with id 0 up to
`sequence_length`. The padding mask is True on real tokens. In attention it hides padded
*keys*: no query may take information from a padding slot, so every row of the (query, key)
mask is the same.

The Spanish side is tokenized one token longer (`[start] ... [end]` padded to
sequence_length + 1), as in both editions, because the next section cuts it into two
sequences of sequence_length tokens.
"""

# %%
section("Token ids and the padding mask")
source_tokenizer = WordTokenizer.adapt([english] + more_english, vocab_size=100,
                                       sequence_length=sequence_length, language="english")
target_tokenizer = WordTokenizer.adapt(add_markers([spanish] + more_spanish), vocab_size=100,
                                       sequence_length=sequence_length + 1, language="spanish")
source_ids = source_tokenizer.encode([english])  # (1, sequence_length)
spanish_ids = target_tokenizer.encode(add_markers([spanish]))  # (1, sequence_length + 1)


def labels(tokenizer, ids):
    return [token or "[pad]" for token in tokenizer.tokens(ids)]


source_labels = labels(source_tokenizer, source_ids[0])
print(f"vocabularies: {source_tokenizer.vocab_size} English, "
      f"{target_tokenizer.vocab_size} Spanish tokens")
print(f"source {english!r} -> {source_ids[0].tolist()} = {source_labels}")
print(f"Spanish {add_markers([spanish])[0]!r} -> {spanish_ids[0].tolist()} = "
      f"{labels(target_tokenizer, spanish_ids[0])}")
source_mask = ops.convert_to_numpy(PositionalEmbedding.padding_mask(source_ids))  # (1, S)
num_source = int(source_mask.sum())
print(f"source padding mask: {source_mask[0].astype(int).tolist()} ({num_source} real tokens)")
# As the encoder uses it: (batch, 1, S), broadcast over the queries.
padding_matrix = np.broadcast_to(source_mask[:, None, :], (1, sequence_length, sequence_length))[0]
show_mask("\nencoder self-attention mask", padding_matrix, source_labels, source_labels)
check(padding_matrix[:, num_source:].sum() == 0 and padding_matrix[:, :num_source].all(),
      f"padding mask hides exactly the {sequence_length - num_source} padded key columns")

# %% [markdown]
"""
## Decoder input and target: shifted by one token

The decoder is trained with *teacher forcing*: it is fed the correct Spanish sentence and asked
to predict, at every position, the next token. The tokenized sentence `[start] a b c [end]`
gives two sequences:

    decoder input   [start]  a   b   c          (all but the last token)
    target             a     b   c   [end]      (all but the first token)

Output position t must predict target token t, which is input token t + 1. So position t may
use the input tokens at positions 0..t, and must not see input position t + 1 or later: that
is the answer it is asked for (and at translation time it has not been generated yet).

A sentence shorter than the padded length keeps its `[end]` in the decoder input too (only the
last column, padding, is cut); the position reading `[end]` must predict padding, and the loss
gives padded targets weight 0 (data/pipeline.py), so it is never trained.
"""

# %%
section("Decoder input and target: shifted by one token")
target_ids = spanish_ids[:, :-1]  # the decoder input, (1, sequence_length)
next_ids = spanish_ids[:, 1:]  # what each position must predict, (1, sequence_length)
target_labels = labels(target_tokenizer, target_ids[0])
next_labels = labels(target_tokenizer, next_ids[0])
target_mask = ops.convert_to_numpy(PositionalEmbedding.padding_mask(target_ids))  # (1, T)
num_target = int(target_mask.sum())  # real (non-padding) decoder input tokens
num_predicted = int((next_ids != 0).sum())  # positions whose target is a real token
print(f"{'position t':>10}  {'decoder input t':>16}  {'target t':>10}  may use inputs")
for t in range(num_target):
    print(f"{t:>10}  {target_labels[t]:>16}  {next_labels[t]:>10}  "
          f"{' '.join(target_labels[: t + 1])}")
check(np.array_equal(next_ids[0, :-1], target_ids[0, 1:]),
      "target token t == decoder input token t + 1 at every position (the one-token shift)")
check(target_ids[0, 0] == target_tokenizer.start_id
      and next_ids[0, num_predicted - 1] == target_tokenizer.end_id,
      f"the input starts with [start]; the last real target (position {num_predicted - 1}) is [end]")
print(f"positions 0..{num_predicted - 1} predict a real token; the input's [end] at position "
      f"{num_target - 1} predicts padding, which the loss ignores (weight 0, data/pipeline.py)")

# %% [markdown]
"""
## The causal (look-ahead) mask

`causal_mask` is lower-triangular: query t may attend to keys 0..t, exactly the inputs the
previous section says position t may use. The decoder combines it with the target padding
mask.

This is what lets training be parallel. Without the mask, position t would have to be computed
by running the decoder on the prefix `input[0..t]` alone, once per position. With the mask,
one pass over the whole input computes every position as if it had seen only its prefix, so
the loss at all positions comes from a single forward pass (checked below, in "One masked pass
equals decoding prefix by prefix").
"""

# %%
section("The causal (look-ahead) mask")
causal = ops.convert_to_numpy(causal_mask(sequence_length, sequence_length))[0]  # (T, T)
show_mask("causal mask", causal, target_labels, target_labels)
check(np.array_equal(causal, np.tril(np.ones((sequence_length, sequence_length), bool))),
      "causal mask is lower-triangular: query t sees keys 0..t")
check(not any(causal[t, t + 1] for t in range(sequence_length - 1)),
      "query t never sees key t + 1, the input token equal to its own target")
decoder_self_mask = causal & target_mask[0][None, :]  # what TransformerDecoder builds
show_mask("\ncausal AND target padding (decoder self-attention)", decoder_self_mask,
          target_labels, target_labels)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
for ax, (mask, rows, cols, title) in zip(axes, (
        (padding_matrix, source_labels, source_labels, "padding mask (encoder)"),
        (causal, target_labels, target_labels, "causal mask"),
        (decoder_self_mask, target_labels, target_labels, "causal AND padding (decoder)"))):
    image = ax.imshow(mask.astype(float), cmap="Greens", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    colorbar = fig.colorbar(image, ax=ax, ticks=[0, 1], shrink=0.8)
    colorbar.ax.set_yticklabels(["hidden", "may attend"])
fig.suptitle("Attention masks on one sentence pair (green: the query may attend to the key)")
save_figure(fig, args.out, "05_masks.png")
plt.close(fig)

# %% [markdown]
"""
## Three kinds of attention

- Encoder self-attention: source tokens attend to source tokens (padding mask).
- Decoder masked self-attention: target tokens attend to earlier target tokens (causal mask
  AND target padding).
- Cross-attention: queries come from the decoder, keys and values from the encoder output;
  each target token looks at the real source tokens (source padding mask).

The blocks here are untrained (random weights), so the weights inside the allowed region are
arbitrary; the zeros outside it are what the masks guarantee. TransformerDecoder returns the
cross-attention scores; its self-attention map is read from its `self_attention` sublayer with
the same mask the block builds. The blocks use the 3rd edition's key_dim = embed_dim // num_heads.
"""

# %%
section("Three kinds of attention")
source_embedding = PositionalEmbedding(sequence_length, source_tokenizer.vocab_size, embed_dim)
target_embedding = PositionalEmbedding(sequence_length, target_tokenizer.vocab_size, embed_dim)
encoder = TransformerEncoder(embed_dim, dense_dim, num_heads)
decoder = TransformerDecoder(embed_dim, dense_dim, num_heads)


def encode(source_vectors):
    return encoder(source_vectors, padding_mask=source_mask, return_attention_scores=True)


def decode(target_vectors, encoder_outputs, source_padding=source_mask, target_padding=target_mask):
    return decoder(target_vectors, encoder_outputs, decoder_padding_mask=target_padding,
                   encoder_padding_mask=source_padding, return_attention_scores=True)


x = source_embedding(source_ids)  # (1, S, embed_dim)
y = target_embedding(target_ids)  # (1, T, embed_dim)
encoder_outputs, encoder_scores = encode(x)  # (1, heads, S, S)
decoder_outputs, cross_scores = decode(y, encoder_outputs)  # (1, heads, T, S)
_, self_scores = decoder.self_attention(y, y, attention_mask=decoder_self_mask[None],
                                        return_attention_scores=True)  # (1, heads, T, T)
maps = {name: ops.convert_to_numpy(scores)[0]
        for name, scores in (("encoder self-attention", encoder_scores),
                             ("decoder masked self-attention", self_scores),
                             ("cross-attention", cross_scores))}
for name, scores in maps.items():
    print(f"{name:>30}: scores {scores.shape} (heads, queries, keys)")
largest = float(maps["encoder self-attention"][..., num_source:].max())
check(largest <= 1e-7,
      f"encoder self-attention: padded source keys get weight 0 in every head (largest {largest:.1e})")
upper = np.triu(np.ones((sequence_length, sequence_length), bool), k=1)
largest = float(maps["decoder masked self-attention"][:, upper].max())
check(largest <= 1e-7,
      f"decoder self-attention: every weight above the diagonal (the future) is 0 "
      f"(largest {largest:.1e})")
largest = float(maps["cross-attention"][..., num_source:].max())
check(largest <= 1e-7,
      f"cross-attention: padded source keys get weight 0 in every head (largest {largest:.1e})")
check(maps["cross-attention"].shape[-2:] == (sequence_length, sequence_length)
      and np.allclose(maps["cross-attention"].sum(-1), 1, atol=1e-5),
      "cross-attention: one row per target token over the source tokens, each summing to 1")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
for ax, (name, rows, cols) in zip(axes, (
        ("encoder self-attention", source_labels, source_labels),
        ("decoder masked self-attention", target_labels, target_labels),
        ("cross-attention", target_labels, source_labels))):
    image = ax.imshow(maps[name].mean(0), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("key: " + ("source (encoder output)" if cols is source_labels else "target"))
    ax.set_ylabel("query: " + ("source" if rows is source_labels else "target (decoder)"))
    ax.set_title(f"{name}\n(mean of {num_heads} heads)")
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
fig.suptitle("Untrained (random) weights: only the zeros where the masks hide keys are meaningful")
save_figure(fig, args.out, "05_attention_kinds.png")
plt.close(fig)

# %% [markdown]
"""
## Cross-attention by hand

Cross-attention is the same arithmetic as self-attention with the roles split between two
sequences. With a source of 5 positions (4 words and 1 padding slot) and a target of 3:

    Q = target W_q + b_q      (3, heads, key_dim)   one query per target token
    K = source W_k + b_k      (5, heads, key_dim)   one key per source token
    V = source W_v + b_v      (5, heads, key_dim)
    weights = softmax(Q K^T / sqrt(key_dim))        (heads, 3, 5): target x source
    output  = (weights V) W_o + b_o                 (3, embed_dim): one vector per target token

The weights are (target_len, source_len), not square, and the output has the target's length.
Padded source keys get a score of minus infinity before the softmax (weight 0; Keras uses a
very large negative number, which gives 0 in float32 too). Below, the
decoder's own cross-attention sublayer, and keras.layers.MultiHeadAttention given its weights,
are called as cross-attention (query = target, value = key = source) and compared with this.
The queries are the target embeddings here; inside the decoder block they are the output of
the self-attention block.
"""

# %%
section("Cross-attention by hand")
query_vectors = ops.convert_to_numpy(y)[0, :cross_target_length]  # (3, embed_dim)
source_vectors = ops.convert_to_numpy(encoder_outputs)[0, :cross_source_length]  # (5, embed_dim)
source_keep = source_mask[0, :cross_source_length]  # (5,) True on real source tokens
w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o = decoder.cross_attention.get_weights()
key_dim = w_q.shape[-1]
q = np.einsum("td,dhk->thk", query_vectors, w_q) + b_q  # (3, heads, key_dim)
k = np.einsum("sd,dhk->shk", source_vectors, w_k) + b_k  # (5, heads, key_dim)
v = np.einsum("sd,dhk->shk", source_vectors, w_v) + b_v  # (5, heads, key_dim)
scores = np.einsum("thk,shk->hts", q, k) / np.sqrt(key_dim)  # (heads, 3, 5)
scores = np.where(source_keep[None, None, :], scores, -np.inf)  # hide padded source keys
by_hand_weights = np.exp(scores - scores.max(-1, keepdims=True))
by_hand_weights /= by_hand_weights.sum(-1, keepdims=True)
by_hand = np.einsum("hts,shk->thk", by_hand_weights, v)  # (3, heads, key_dim)
by_hand = np.einsum("thk,hkd->td", by_hand, w_o) + b_o  # (3, embed_dim)
print(f"target {target_labels[:cross_target_length]} -> queries {q.shape} (target, heads, key_dim)")
print(f"source {source_labels[:cross_source_length]} -> keys and values {k.shape} (source, heads, key_dim)")
print(f"weights {by_hand_weights.shape} (heads, target, source); output {by_hand.shape}")
print("head 0 weights (row = target token, column = source token):")
print(f"{'':>10}" + "".join(f"{c[:8]:>9}" for c in source_labels[:cross_source_length]))
for label, row in zip(target_labels, by_hand_weights[0]):
    print(f"{label[:9]:>10}" + "".join(f"{v_:9.3f}" for v_ in row))
check(by_hand_weights.shape == (num_heads, cross_target_length, cross_source_length),
      f"cross-attention weights are (heads, target_len, source_len) = "
      f"({num_heads}, {cross_target_length}, {cross_source_length})")
check(float(by_hand_weights[..., ~source_keep].max(initial=0.0)) == 0.0
      and np.allclose(by_hand_weights.sum(-1), 1.0),
      f"the {int((~source_keep).sum())} padded source position(s) get weight 0; each row sums to 1")

cross_mask = source_keep[None, None, :]  # (batch, 1, source_len): the same for every query
project_output, project_weights = decoder.cross_attention(
    query_vectors[None], source_vectors[None], attention_mask=cross_mask,
    return_attention_scores=True)
check_close(project_output[0], by_hand,
            "cross-attention by hand == the decoder's cross_attention sublayer (models/cached_attention.py)")
check_close(ops.convert_to_numpy(project_weights)[0], by_hand_weights,
            "same (heads, target, source) weights as the decoder's sublayer")
keras_attention = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim)
keras_attention(query_vectors[None], source_vectors[None])  # builds it
keras_attention.set_weights(decoder.cross_attention.get_weights())
keras_output, keras_weights = keras_attention(query=query_vectors[None], value=source_vectors[None],
                                              key=source_vectors[None], attention_mask=cross_mask,
                                              return_attention_scores=True)
cross_diff = check_close(keras_output[0], by_hand,
                         f"cross-attention by hand == keras.layers.MultiHeadAttention(num_heads="
                         f"{num_heads}, key_dim={key_dim}) with query = target, value = key = source")
check_close(ops.convert_to_numpy(keras_weights)[0], by_hand_weights,
            "same (heads, target, source) weights as keras.layers.MultiHeadAttention")
unmasked_output = ops.convert_to_numpy(keras_attention(query_vectors[None], source_vectors[None]))[0]
cross_gap = float(np.max(np.abs(unmasked_output - by_hand)))
check(cross_gap > 1e-4, f"without the source padding mask the output differs (max abs diff "
      f"{cross_gap:.2e}): the padding slot would be attended to")

# %% [markdown]
"""
## The future cannot change the past

Replace every decoder input token after position t by another word and run the decoder again:
outputs at positions 0..t must not move, while later ones do (so the check is not vacuous).
"""

# %%
section("The future cannot change the past")
decoder_outputs = ops.convert_to_numpy(decoder_outputs)
positions = range(num_target - 1) if not args.quick else [2]
worst = 0.0
for t in positions:
    changed_ids = target_ids.copy()
    for i in range(t + 1, sequence_length):  # a different real word at every later position
        choices = [v_ for v_ in range(2, target_tokenizer.vocab_size)
                   if v_ not in (target_tokenizer.start_id, target_tokenizer.end_id, target_ids[0, i])]
        changed_ids[0, i] = rng.choice(choices)
    changed_mask = ops.convert_to_numpy(PositionalEmbedding.padding_mask(changed_ids))
    changed, _ = decode(target_embedding(changed_ids), encoder_outputs, target_padding=changed_mask)
    changed = ops.convert_to_numpy(changed)
    past = float(np.max(np.abs(changed[:, : t + 1] - decoder_outputs[:, : t + 1])))
    future = float(np.max(np.abs(changed[:, t + 1 :] - decoder_outputs[:, t + 1 :])))
    worst = max(worst, past)
    later = labels(target_tokenizer, changed_ids[0])[t + 1:]
    print(f"t={t} ({target_labels[t]!r}), later tokens -> {later}: "
          f"max abs diff at 0..{t} = {past:.2e}, after {t} = {future:.2f}")
    check(past <= 1e-5 and future > 1e-3,
          f"t={t}: outputs up to t unchanged (max abs diff {past:.2e} <= 1e-05), later ones change")
future_diff = worst

# %% [markdown]
"""
## One masked pass equals decoding prefix by prefix

The decoder below is run once per position t on the prefix `input[0..t]` only, the way it
would see the sentence while generating it, and its last output is compared with position t
of the single masked pass above. They agree at every real position, so one training pass
computes all of them at once.

Without the causal mask this fails: the decoder's self-attention sublayer, run on the whole
input without a mask, gives position t a different output than on the prefix, because it
mixes in the later tokens.
"""

# %%
section("One masked pass equals decoding prefix by prefix")
prefix_outputs = []
for t in range(num_target):
    prefix_ids = target_ids[:, : t + 1]  # input positions 0..t
    prefix_out, _ = decode(target_embedding(prefix_ids), encoder_outputs,
                           target_padding=target_mask[:, : t + 1])
    prefix_outputs.append(ops.convert_to_numpy(prefix_out)[0, t])  # the output at position t
prefix_outputs = np.stack(prefix_outputs)  # (num_target, embed_dim)
print(f"{num_target} decoder runs on prefixes of length 1..{num_target} against 1 masked pass "
      f"over all {sequence_length} positions")
prefix_diff = check_close(decoder_outputs[0, :num_target], prefix_outputs,
                          f"teacher forcing: one masked pass == running the decoder prefix by prefix "
                          f"at all {num_target} real positions")
self_attention = decoder.self_attention
y_numpy = ops.convert_to_numpy(y)
unmasked_full = ops.convert_to_numpy(self_attention(y_numpy, y_numpy))[0]
unmasked_prefix = np.stack([ops.convert_to_numpy(self_attention(y_numpy[:, : t + 1], y_numpy[:, : t + 1]))[0, t]
                            for t in range(num_target)])
no_mask_gap = float(np.max(np.abs(unmasked_full[:num_target] - unmasked_prefix)))
check(no_mask_gap > 1e-3, f"without the causal mask, the full pass differs from the prefix runs "
      f"(max abs diff {no_mask_gap:.2e})")

# %% [markdown]
"""
## Padding never changes a real output

Put large random values in the padded source slots (the mask stays the same). Encoder outputs
at real positions and every decoder output must not move. Without the mask they would.
"""

# %%
section("Padding never changes a real output")
noisy = ops.convert_to_numpy(x).copy()
noisy[:, num_source:] = 10.0 * rng.standard_normal(noisy[:, num_source:].shape)
noisy_encoder_outputs, _ = encode(noisy)
noisy_decoder_outputs, _ = decode(y, noisy_encoder_outputs)
encoder_diff = check_close(ops.convert_to_numpy(noisy_encoder_outputs)[:, :num_source],
                           ops.convert_to_numpy(encoder_outputs)[:, :num_source],
                           "encoder outputs at real source positions unchanged")
decoder_diff = check_close(noisy_decoder_outputs, decoder_outputs,
                           "decoder outputs (all target positions) unchanged")
unmasked = ops.convert_to_numpy(encoder(x)[:, :num_source])
unmasked_noisy = ops.convert_to_numpy(encoder(noisy)[:, :num_source])
gap = float(np.max(np.abs(unmasked - unmasked_noisy)))
check(gap > 1e-2,
      f"without the padding mask the same change moves real outputs (max abs diff {gap:.2f})")

# %% [markdown]
"""
## Summary
"""

# %%
section("Summary")
print(f"future tokens -> earlier decoder outputs:      max abs diff {future_diff:.2e}")
print(f"one masked pass vs prefix by prefix:           max abs diff {prefix_diff:.2e}")
print(f"cross-attention by hand vs MultiHeadAttention: max abs diff {cross_diff:.2e}")
print(f"padded source values -> real encoder outputs:  max abs diff {encoder_diff:.2e}")
print(f"padded source values -> decoder outputs:       max abs diff {decoder_diff:.2e}")
print(f"(without the padding mask:                      max abs diff {gap:.2f})")

# %% [markdown]
"""
## What you learned

- The decoder input is the Spanish sentence without its last token, the target the same
  sentence without its first: output position t predicts input token t + 1.
- The causal mask lets query t see keys 0..t only, so one masked pass over the whole input
  gives the same outputs as running the decoder on each prefix (checked at every real
  position), and changing later tokens never moves earlier outputs.
- The padding mask gives padded keys weight 0 in encoder self-attention and cross-attention;
  noise in padded source slots changes no real output.
- Cross-attention takes Q from the target and K, V from the source: its weights are
  (target_len, source_len), here (3, 5), the same by hand, in the project's layer and in
  keras.layers.MultiHeadAttention.

## Exercises

1. Feed the decoder the full `[start] ... [end]` sentence as input and the same sentence as
   target (no shift): which token could position t copy, and what would the loss learn?
2. Remove the causal mask from TransformerDecoder's self-attention (a copy of the layer):
   which check of this lesson fails first?
3. In the by-hand cross-attention, mask the source with the *target* padding mask instead (a
   bug some published code had): what shape problem or wrong result do you get?
"""
