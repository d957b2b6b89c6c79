"""
Title: Padding and causal masks
What you learn: the padding mask (never attend to padding) and the causal mask (never look
    ahead) as matrices; the three kinds of attention in a Transformer on one sentence pair; and
    numeric proof that future target tokens cannot change earlier outputs and that padding
    never changes a real output.
Run: python chapters/05_masks.py [--quick] [--out DIR]
"""

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

args = parse_args(__doc__.strip().splitlines()[0])

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
english = "Where is the station?"  # the source sentence shown throughout
spanish = "¿Dónde está la estación?"  # its translation (the target, with [start] / [end])
# A few more pairs so the vocabularies are not just one sentence.
more_english = ["I love AI.", "The station is far.", "Where is the train?", "The train is late."]
more_spanish = ["Me encanta la IA.", "La estación está lejos.", "¿Dónde está el tren?",
                "El tren llega tarde."]
sequence_length = 8 if args.quick else 10  # padded length of source and target
embed_dim = 16 if args.quick else 64  # width of the untrained blocks below
num_heads = 2 if args.quick else 4  # attention heads
dense_dim = 32 if args.quick else 128  # feed-forward width
seed = 0  # weights and replacement tokens come from this seed

keras.utils.set_random_seed(seed)
rng = np.random.default_rng(seed)
np.set_printoptions(linewidth=120)


def show_mask(title, mask, rows, columns):
    """Print a boolean (rows, columns) mask as 1 (may attend) / 0 (hidden)."""
    print(f"{title} (row = query, column = key; 1 = may attend):")
    print(f"{'':>10}" + "".join(f"{c[:8]:>9}" for c in columns))
    for label, row in zip(rows, np.asarray(mask).astype(int)):
        print(f"{label[:9]:>10}" + "".join(f"{v:>9}" for v in row))


"""
## Token ids and the padding mask

Sentences in a batch have different lengths, so shorter ones are padded with id 0 up to
`sequence_length`. The padding mask is True on real tokens. In attention it hides padded
*keys*: no query may take information from a padding slot, so every row of the (query, key)
mask is the same.
"""
section("Token ids and the padding mask")
source_tokenizer = WordTokenizer.adapt([english] + more_english, vocab_size=100,
                                       sequence_length=sequence_length, language="english")
target_tokenizer = WordTokenizer.adapt(add_markers([spanish] + more_spanish), vocab_size=100,
                                       sequence_length=sequence_length, language="spanish")
source_ids = source_tokenizer.encode([english])  # (1, sequence_length)
target_ids = target_tokenizer.encode(add_markers([spanish]))  # (1, sequence_length)


def labels(tokenizer, ids):
    return [token or "[pad]" for token in tokenizer.tokens(ids)]


source_labels = labels(source_tokenizer, source_ids[0])
target_labels = labels(target_tokenizer, target_ids[0])
print(f"vocabularies: {source_tokenizer.vocab_size} English, "
      f"{target_tokenizer.vocab_size} Spanish tokens")
print(f"source {english!r} -> {source_ids[0].tolist()} = {source_labels}")
print(f"target {add_markers([spanish])[0]!r} -> {target_ids[0].tolist()} = {target_labels}")
source_mask = ops.convert_to_numpy(PositionalEmbedding.padding_mask(source_ids))  # (1, S)
target_mask = ops.convert_to_numpy(PositionalEmbedding.padding_mask(target_ids))  # (1, T)
num_source, num_target = int(source_mask.sum()), int(target_mask.sum())
print(f"source padding mask: {source_mask[0].astype(int).tolist()} ({num_source} real tokens)")
# As the encoder uses it: (batch, 1, S), broadcast over the queries.
padding_matrix = np.broadcast_to(source_mask[:, None, :], (1, sequence_length, sequence_length))[0]
show_mask("\nencoder self-attention mask", padding_matrix, source_labels, source_labels)
check(padding_matrix[:, num_source:].sum() == 0 and padding_matrix[:, :num_source].all(),
      f"padding mask hides exactly the {sequence_length - num_source} padded key columns")


"""
## The causal (look-ahead) mask

When the decoder predicts the token at position t it must not see positions after t: at
inference time they do not exist yet. `causal_mask` is lower-triangular: query t may attend
to keys 0..t. The decoder combines it with the target padding mask.
"""
section("The causal (look-ahead) mask")
causal = ops.convert_to_numpy(causal_mask(sequence_length, sequence_length))[0]  # (T, T)
show_mask("causal mask", causal, target_labels, target_labels)
check(np.array_equal(causal, np.tril(np.ones((sequence_length, sequence_length), bool))),
      "causal mask is lower-triangular: query t sees keys 0..t")
decoder_self_mask = causal & target_mask[0][None, :]  # what TransformerDecoder builds
show_mask("\ncausal AND target padding (decoder self-attention)", decoder_self_mask,
          target_labels, target_labels)

plt = pyplot()
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
save_figure(fig, args.out, "05_masks.png")
plt.close(fig)


"""
## Three kinds of attention

- Encoder self-attention: source tokens attend to source tokens (padding mask).
- Decoder masked self-attention: target tokens attend to earlier target tokens (causal mask
  AND target padding).
- Cross-attention: queries come from the decoder, keys and values from the encoder output;
  each target token looks at the real source tokens (source padding mask).

The blocks here are untrained, so the weights inside the allowed region are arbitrary; the
zeros outside it are what the masks guarantee. TransformerDecoder returns the cross-attention
scores; its self-attention map is read from its `self_attention` sublayer with the same mask
the block builds.
"""
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
    ax.set_title(f"{name}\n(mean of {num_heads} heads, untrained)")
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
save_figure(fig, args.out, "05_attention_kinds.png")
plt.close(fig)


"""
## The future cannot change the past

Replace every target token after position t by another word and run the decoder again:
outputs at positions 0..t must not move, while later ones do (so the check is not vacuous).
"""
section("The future cannot change the past")
decoder_outputs = ops.convert_to_numpy(decoder_outputs)
positions = range(num_target - 1) if not args.quick else [2]
worst = 0.0
for t in positions:
    changed_ids = target_ids.copy()
    for i in range(t + 1, sequence_length):  # a different real word at every later position
        choices = [v for v in range(2, target_tokenizer.vocab_size)
                   if v not in (target_tokenizer.start_id, target_tokenizer.end_id, target_ids[0, i])]
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


"""
## Padding never changes a real output

Put large random values in the padded source slots (the mask stays the same). Encoder outputs
at real positions and every decoder output must not move. Without the mask they would.
"""
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

section("Summary")
print(f"future tokens -> earlier decoder outputs: max abs diff {future_diff:.2e}")
print(f"padded source values -> real encoder outputs: max abs diff {encoder_diff:.2e}")
print(f"padded source values -> decoder outputs:      max abs diff {decoder_diff:.2e}")
print(f"(without the padding mask:                     max abs diff {gap:.2f})")
