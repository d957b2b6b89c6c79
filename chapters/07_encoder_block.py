# %% [markdown]
"""
# 07 · The Transformer encoder block, step by step

**What you learn:** what the encoder block computes (multi-head self-attention, a feed-forward
network, two residual connections and two layer normalizations), the shape of every
intermediate tensor, and that these few lines of NumPy reproduce the Keras layer exactly,
padding included.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.2 "Multi-head attention" and §11.4.3
"The Transformer encoder"; 3rd ed. §15.3.1 "Dot-product attention" and §15.3.2 "Transformer
encoder block".

**Run:** `python chapters/07_encoder_block.py [--quick] [--out DIR]` (or open it as a notebook:
`make notebooks`).
"""

# %%
try:  # python -m chapters.07_encoder_block
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/07_encoder_block.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import keras
import numpy as np

# TransformerEncoder is defined in models/transformer_encoder.py (the book's layer, post-LN,
# with the 3rd edition's key_dim = embed_dim // num_heads); its attention sublayer is the
# CachedMultiHeadAttention of models/cached_attention.py, a keras.layers.MultiHeadAttention
# with the same weights.
from models.transformer_encoder import TransformerEncoder

args = parse_args("07 · The Transformer encoder block, step by step")

# %% [markdown]
"""
## Settings

The full run uses the book's sizes (the same in both editions): `embed_dim` 256, a
feed-forward width of 2,048 and 8 heads. Each head works in `key_dim` dimensions. The
3rd edition's encoder (and this project's `TransformerEncoder`) sets
`key_dim = embed_dim // num_heads`, 32 here, so the 8 heads together are as wide as one
token vector; the 2nd edition's passes `key_dim = embed_dim`, so each of its heads is 256
wide. `--quick` shrinks the sizes; the steps are the same.
"""

# %%
embed_dim = 256  # d_model: width of every token vector in and out of the block
dense_dim = 2048  # inner width of the feed-forward network
num_heads = 8  # attention heads (each sees embed_dim // num_heads dimensions)
lengths = [6, 4]  # two "sentences": 6 real tokens, and 4 real tokens + 2 padding positions
seed = 7  # random inputs and weights
if args.quick:
    embed_dim, dense_dim, num_heads = 32, 64, 4

batch, seq_len = len(lengths), max(lengths)
key_dim = embed_dim // num_heads
rng = np.random.default_rng(seed)
keras.utils.set_random_seed(seed)
print(f"embed_dim {embed_dim}, dense_dim {dense_dim}, num_heads {num_heads}, "
      f"key_dim = embed_dim // num_heads = {key_dim} (3rd edition)")

# %% [markdown]
"""
## The block and its sublayers

The inputs are random token vectors of shape `(batch, seq_len, embed_dim)`, as a positional
embedding would produce, for two sentences: the first has 6 real tokens, the second 4 real
tokens and 2 padding positions. A fresh layer has zero biases and unit layer-norm gains,
which would hide mistakes in the step-by-step version below (a forgotten bias would still be
"right"), so every weight gets a random value: this block is *untrained*, and the point here
is the computation, not what it has learned.
"""

# %%
section("The block and its sublayers")

encoder = TransformerEncoder(embed_dim=embed_dim, dense_dim=dense_dim, num_heads=num_heads,
                             name="encoder_block")
# Inputs: token vectors (batch, seq_len, embed_dim), as the positional embedding would give.
x = rng.normal(size=(batch, seq_len, embed_dim)).astype("float32")
# Padding mask (batch, seq_len): True on real tokens. The second sentence ends with padding.
padding_mask = np.arange(seq_len)[None, :] < np.array(lengths)[:, None]
encoder.build(x.shape)
for weight in encoder.weights:
    weight.assign(rng.normal(scale=0.1, size=weight.shape).astype("float32")
                  + (1.0 if "gamma" in weight.path else 0.0))

print(f"inputs x: {x.shape}  (batch, seq_len, embed_dim)")
print(f"padding mask:\n{padding_mask.astype(int)}")
print(f"{'sublayer':<26} {'weight':<7} shape")
attention = encoder.attention
for label, sublayer in (("attention.query_dense", attention.query_dense),
                        ("attention.key_dense", attention.key_dense),
                        ("attention.value_dense", attention.value_dense),
                        ("attention.output_dense", attention.output_dense),
                        ("dense_1", encoder.dense_1), ("dense_2", encoder.dense_2),
                        ("layernorm_1", encoder.layernorm_1), ("layernorm_2", encoder.layernorm_2)):
    for weight in sublayer.weights:
        print(f"{label:<26} {weight.path.split('/')[-1]:<7} {tuple(weight.shape)}")

# The reference: calling the layer.
expected, expected_scores = encoder(x, padding_mask=padding_mask, return_attention_scores=True)
expected, expected_scores = np.asarray(expected), np.asarray(expected_scores)
print(f"\nencoder(x, padding_mask) -> {expected.shape}")

# %% [markdown]
"""
## Step 1: queries, keys and values for every head

Three learned projections turn each token vector into a query, a key and a value per head.
Keras stores each projection as one kernel of shape `(embed_dim, num_heads, key_dim)`: one
`(embed_dim, key_dim)` matrix per head.
"""

# %%
section("Step 1: queries, keys and values for every head")

mha = encoder.attention  # a keras.layers.MultiHeadAttention subclass


def dense(inputs, layer, equation):
    """One of the attention's einsum projections: kernel and bias of `layer`."""
    kernel, bias = (np.asarray(w) for w in layer.weights)
    return np.einsum(equation, inputs, kernel) + bias


q = dense(x, mha.query_dense, "btd,dhk->bthk")  # (batch, seq_len, heads, key_dim)
k = dense(x, mha.key_dense, "bsd,dhk->bshk")
v = dense(x, mha.value_dense, "bsd,dhk->bshk")
print(f"query kernel {tuple(mha.query_dense.weights[0].shape)}  (embed_dim, heads, key_dim)")
print(f"Q {q.shape}, K {k.shape}, V {v.shape}  (batch, seq_len, heads, key_dim)")
check(q.shape == (batch, seq_len, num_heads, key_dim),
      f"every token gets one query of key_dim = {key_dim} per head")

# %% [markdown]
"""
## Step 2: scaled dot-product scores, padding masked, softmax

Each query is compared with every key (a dot product divided by `sqrt(key_dim)`, see lesson
03). Padded keys get minus infinity before the softmax, so their weight is exactly 0.
"""

# %%
section("Step 2: scaled dot-product scores, padding masked, softmax")

scores = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(key_dim)  # (batch, heads, seq, seq)
scores = np.where(padding_mask[:, None, None, :], scores, -np.inf)
weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
print(f"scores / sqrt(key_dim={key_dim}) -> {scores.shape}  (batch, heads, queries, keys)")
print(f"attention weights of sentence 2, head 0 (rows: queries, columns: keys):\n"
      f"{np.round(weights[1, 0], 2)}")
check_close(weights.sum(-1), 1.0, "every query's attention weights sum to 1")
check(np.all(weights[1, :, :, lengths[1]:] == 0), "no query attends to a padded key")
check_close(weights, expected_scores, "our weights equal the layer's attention scores")

# %% [markdown]
"""
## Step 3: weighted sum of values, heads concatenated and projected

Each query's output is the weighted sum of the values. The output kernel, of shape
`(heads, key_dim, embed_dim)`, concatenates the heads and projects them back to `embed_dim`.
"""

# %%
section("Step 3: weighted sum of values, heads concatenated and projected")

context = np.einsum("bhts,bshk->bthk", weights, v)  # (batch, seq_len, heads, key_dim)
out_kernel, out_bias = (np.asarray(w) for w in mha.output_dense.weights)
attended = np.einsum("bthk,hkd->btd", context, out_kernel) + out_bias
print(f"context per head {context.shape}; output kernel {out_kernel.shape} "
      f"-> attention output {attended.shape}")
check(attended.shape == x.shape, "the attention output has the input's shape")

# %% [markdown]
"""
## Step 4: residual connection and layer normalization

The block adds its input back to the attention output (the residual connection keeps the
input's information) and normalizes each token vector to mean 0 and variance 1 before a
learned scale (gamma) and shift (beta). This is the "post-LN" order of the book (both
editions) and of the original paper: normalize after the addition.
"""

# %%
section("Step 4: residual connection and layer normalization")


def layer_norm(inputs, norm):
    """Normalize each token vector to mean 0 and variance 1, then scale (gamma) and shift (beta)."""
    gamma, beta = (np.asarray(w) for w in norm.weights)
    mean = inputs.mean(-1, keepdims=True)
    variance = inputs.var(-1, keepdims=True)
    return (inputs - mean) / np.sqrt(variance + norm.epsilon) * gamma + beta


residual_1 = x + attended
normalized = (residual_1 - residual_1.mean(-1, keepdims=True)) / np.sqrt(
    residual_1.var(-1, keepdims=True) + encoder.layernorm_1.epsilon)
h = layer_norm(residual_1, encoder.layernorm_1)  # (batch, seq_len, embed_dim)
print(f"x + attention {residual_1.shape} -> layernorm_1 -> {h.shape}")
print(f"before normalization: per-token mean {residual_1.mean(-1)[0, :3].round(3)}, "
      f"std {residual_1.std(-1)[0, :3].round(3)}")
check_close(normalized.mean(-1), 0.0, "normalized tokens have mean 0", atol=1e-5)
check_close(normalized.std(-1), 1.0, "... and standard deviation 1 (before gamma and beta)",
            atol=1e-2)

# %% [markdown]
"""
## Step 5: the position-wise feed-forward network

Two dense layers with a ReLU between them, applied to every position separately (the same
weights at every position): `embed_dim -> dense_dim -> embed_dim`.
"""

# %%
section("Step 5: the position-wise feed-forward network")

w1, b1 = (np.asarray(w) for w in encoder.dense_1.weights)
w2, b2 = (np.asarray(w) for w in encoder.dense_2.weights)
inner = np.maximum(h @ w1 + b1, 0.0)  # (batch, seq_len, dense_dim), ReLU
projected = inner @ w2 + b2  # (batch, seq_len, embed_dim)
print(f"dense_1 {w1.shape} + ReLU -> {inner.shape}; dense_2 {w2.shape} -> {projected.shape}")
print(f"fraction of inner units the ReLU zeroes here: {np.mean(inner == 0):.2f}")

# %% [markdown]
"""
## Step 6: second residual connection and layer normalization
"""

# %%
section("Step 6: second residual connection and layer normalization")

outputs = layer_norm(h + projected, encoder.layernorm_2)
print(f"layernorm_2(h + feed_forward) -> {outputs.shape}  (same shape as the input)")
check(outputs.shape == x.shape, "the block maps (batch, seq_len, embed_dim) to the same shape")

# %% [markdown]
"""
## Step by step equals the layer

The six steps above reproduce `encoder(x)` on every real token. Padded positions also get an
output (nobody reads it); what matters is that their content cannot leak into the real tokens:
changing what sits in the padded positions changes nothing at the real ones.
"""

# %%
section("Step by step equals the layer")

check_close(outputs[0], expected[0], "sentence 1: step-by-step output equals encoder(x)",
            atol=1e-4)
real = lengths[1]
check_close(outputs[1, :real], expected[1, :real],
            "sentence 2 (real tokens): step-by-step output equals encoder(x)", atol=1e-4)
x_changed = x.copy()
x_changed[1, real:] = rng.normal(size=x_changed[1, real:].shape)
changed = np.asarray(encoder(x_changed, padding_mask=padding_mask))
check_close(changed[1, :real], expected[1, :real], "padding content never reaches real tokens",
            atol=1e-5)

# %% [markdown]
"""
## Figure: the attention weights of one sentence

The figure shows the attention weights of sentence 2 for a few heads. These weights come from
the *untrained (random) weights* set above, so the pattern among the real tokens is noise: it
is whatever the random draw gives and means nothing about the sentence (lesson 08 plots the
attention of a model that has been trained, if only briefly). Two things in it do not depend
on the draw and are checked: each row sums to 1, and the padded key columns are exactly 0,
because of the mask.
"""

# %%
section("Figure: the attention weights of one sentence")

plt = pyplot()
from matplotlib.ticker import MaxNLocator  # noqa: E402  (after pyplot() picks the backend)

shown = min(num_heads, 4)
fig, axes = plt.subplots(1, shown + 1, figsize=(3.2 * shown + 0.6, 4.1),
                         gridspec_kw={"width_ratios": [1] * shown + [0.06]})
for head, ax in enumerate(axes[:shown]):
    image = ax.imshow(weights[1, head], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {head}")
    ax.set_xlabel(f"key position (>= {lengths[1]}: padding)")
    ax.set_ylabel("query position")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
fig.colorbar(image, cax=axes[-1], label="attention weight")
fig.suptitle("Encoder self-attention with untrained (random) weights: the pattern is noise; "
             "only the zero padding columns are by design", fontsize=10)
padding_columns = weights[1, :shown, :, lengths[1]:]
check(np.all(padding_columns == 0),
      f"the figure's padding columns (key positions >= {lengths[1]}) are exactly 0")
save_figure(fig, args.out, "07_encoder_attention.png")

# %% [markdown]
"""
## What you learned

- The encoder block is attention, then add and normalize, then a two-layer feed-forward
  network, then add and normalize again; it maps `(batch, seq_len, embed_dim)` to the same shape.
- Each head gets a `key_dim`-wide query, key and value per token; with the 3rd edition's
  `key_dim = embed_dim // num_heads` the heads together are exactly as wide as a token vector.
- Written out in NumPy, the six steps give the Keras layer's output and attention weights to
  within float rounding.
- The padding mask gives padded keys a weight of exactly 0, so what sits in padded positions
  never changes a real token's output.

## Exercises

1. Build `TransformerEncoder(..., key_dim=embed_dim)` (the 2nd edition's head width) and redo
   Step 1: which kernel shapes change, and how many parameters does the attention gain?
2. Move the layer normalizations before each sublayer ("pre-LN": `x + attention(norm(x))`) in
   the NumPy version. Which check fails, and why?
3. Drop the mask in Step 2 (no minus infinity). How far do sentence 2's real outputs move
   when you change the padded inputs?
"""
