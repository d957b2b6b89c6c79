"""
Title: The Transformer encoder block, step by step
What you learn: what the encoder block computes (multi-head self-attention, a feed-forward
    network, two residual connections and two layer normalizations), the shape of every
    intermediate tensor, and that these few lines of NumPy reproduce the Keras layer exactly.
Run: python chapters/07_encoder_block.py [--quick] [--out DIR]
"""

try:  # python -m chapters.07_encoder_block
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/07_encoder_block.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import keras
import numpy as np

# TransformerEncoder is defined in models/transformer_encoder.py (the book's layer, post-LN,
# key_dim = embed_dim // num_heads); its attention sublayer is the CachedMultiHeadAttention of
# models/cached_attention.py, a keras.layers.MultiHeadAttention with the same weights.
from models.transformer_encoder import TransformerEncoder

args = parse_args(__doc__.strip().splitlines()[0])

# Settings. The full run uses the book's sizes; --quick shrinks them.
embed_dim = 256  # d_model: width of every token vector in and out of the block
dense_dim = 2048  # inner width of the feed-forward network
num_heads = 8  # attention heads (each sees embed_dim // num_heads = 32 dimensions)
lengths = [6, 4]  # two "sentences": 6 real tokens, and 4 real tokens + 2 padding positions
seed = 7  # random inputs and weights
if args.quick:
    embed_dim, dense_dim, num_heads = 32, 64, 4

batch, seq_len = len(lengths), max(lengths)
key_dim = embed_dim // num_heads
rng = np.random.default_rng(seed)
keras.utils.set_random_seed(seed)

"""## The block and its sublayers"""
section("The block and its sublayers")

encoder = TransformerEncoder(embed_dim=embed_dim, dense_dim=dense_dim, num_heads=num_heads,
                             name="encoder_block")
# Inputs: token vectors (batch, seq_len, embed_dim), as the positional embedding would give.
x = rng.normal(size=(batch, seq_len, embed_dim)).astype("float32")
# Padding mask (batch, seq_len): True on real tokens. The second sentence ends with padding.
padding_mask = np.arange(seq_len)[None, :] < np.array(lengths)[:, None]
encoder.build(x.shape)
# A fresh layer has zero biases and unit layer-norm gains, which would hide mistakes in the
# step-by-step version below (a forgotten bias is still "right"). Give every weight a random
# value so the final check tests every term.
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

"""## Step 1: queries, keys and values for every head"""
section("Step 1: queries, keys and values for every head")

mha = encoder.attention  # a keras.layers.MultiHeadAttention subclass


def dense(inputs, layer, equation):
    """One of the attention's einsum projections: kernel and bias of `layer`."""
    kernel, bias = (np.asarray(w) for w in layer.weights)
    return np.einsum(equation, inputs, kernel) + bias


# Kernels are (embed_dim, num_heads, key_dim): one (embed_dim, key_dim) projection per head.
q = dense(x, mha.query_dense, "btd,dhk->bthk")  # (batch, seq_len, heads, key_dim)
k = dense(x, mha.key_dense, "bsd,dhk->bshk")
v = dense(x, mha.value_dense, "bsd,dhk->bshk")
print(f"query kernel {tuple(mha.query_dense.weights[0].shape)}  (embed_dim, heads, key_dim)")
print(f"Q {q.shape}, K {k.shape}, V {v.shape}  (batch, seq_len, heads, key_dim)")

"""## Step 2: scaled dot-product scores, padding masked, softmax"""
section("Step 2: scaled dot-product scores, padding masked, softmax")

scores = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(key_dim)  # (batch, heads, seq, seq)
# Padded keys get -inf before the softmax: weight exactly 0, so padding cannot change anything.
scores = np.where(padding_mask[:, None, None, :], scores, -np.inf)
weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
weights /= weights.sum(axis=-1, keepdims=True)
print(f"scores / sqrt(key_dim={key_dim}) -> {scores.shape}  (batch, heads, queries, keys)")
print(f"attention weights of sentence 2, head 0 (rows: queries, columns: keys):\n"
      f"{np.round(weights[1, 0], 2)}")
check_close(weights.sum(-1), 1.0, "every query's attention weights sum to 1")
check(np.all(weights[1, :, :, lengths[1]:] == 0), "no query attends to a padded key")
check_close(weights, expected_scores, "our weights equal the layer's attention scores")

"""## Step 3: weighted sum of values, heads concatenated and projected"""
section("Step 3: weighted sum of values, heads concatenated and projected")

context = np.einsum("bhts,bshk->bthk", weights, v)  # (batch, seq_len, heads, key_dim)
# The output kernel (heads, key_dim, embed_dim) concatenates the heads and projects them back.
out_kernel, out_bias = (np.asarray(w) for w in mha.output_dense.weights)
attended = np.einsum("bthk,hkd->btd", context, out_kernel) + out_bias
print(f"context per head {context.shape}; output kernel {out_kernel.shape} "
      f"-> attention output {attended.shape}")


"""## Step 4: residual connection and layer normalization"""
section("Step 4: residual connection and layer normalization")


def layer_norm(inputs, norm):
    """Normalize each token vector to mean 0 and variance 1, then scale (gamma) and shift (beta)."""
    gamma, beta = (np.asarray(w) for w in norm.weights)
    mean = inputs.mean(-1, keepdims=True)
    variance = inputs.var(-1, keepdims=True)
    return (inputs - mean) / np.sqrt(variance + norm.epsilon) * gamma + beta


residual_1 = x + attended  # the residual connection keeps the input's information
normalized = (residual_1 - residual_1.mean(-1, keepdims=True)) / np.sqrt(
    residual_1.var(-1, keepdims=True) + encoder.layernorm_1.epsilon)
h = layer_norm(residual_1, encoder.layernorm_1)  # (batch, seq_len, embed_dim)
print(f"x + attention {residual_1.shape} -> layernorm_1 -> {h.shape}")
print(f"before normalization: per-token mean {residual_1.mean(-1)[0, :3].round(3)}, "
      f"std {residual_1.std(-1)[0, :3].round(3)}")
check_close(normalized.mean(-1), 0.0, "normalized tokens have mean 0", atol=1e-5)
check_close(normalized.std(-1), 1.0, "... and standard deviation 1 (before gamma and beta)",
            atol=1e-2)

"""## Step 5: the position-wise feed-forward network"""
section("Step 5: the position-wise feed-forward network")

w1, b1 = (np.asarray(w) for w in encoder.dense_1.weights)
w2, b2 = (np.asarray(w) for w in encoder.dense_2.weights)
inner = np.maximum(h @ w1 + b1, 0.0)  # (batch, seq_len, dense_dim), ReLU
projected = inner @ w2 + b2  # (batch, seq_len, embed_dim)
print(f"dense_1 {w1.shape} + ReLU -> {inner.shape}; dense_2 {w2.shape} -> {projected.shape}")
print(f"fraction of inner units the ReLU zeroes: {np.mean(inner == 0):.2f}")

"""## Step 6: second residual connection and layer normalization"""
section("Step 6: second residual connection and layer normalization")

outputs = layer_norm(h + projected, encoder.layernorm_2)
print(f"layernorm_2(h + feed_forward) -> {outputs.shape}  (same shape as the input)")
check(outputs.shape == x.shape, "the block maps (batch, seq_len, embed_dim) to the same shape")

"""## Step by step equals the layer"""
section("Step by step equals the layer")

check_close(outputs[0], expected[0], "sentence 1: step-by-step output equals encoder(x)",
            atol=1e-4)
real = lengths[1]
check_close(outputs[1, :real], expected[1, :real],
            "sentence 2 (real tokens): step-by-step output equals encoder(x)", atol=1e-4)
# Changing what sits in the padded positions changes nothing at the real positions.
x_changed = x.copy()
x_changed[1, real:] = rng.normal(size=x_changed[1, real:].shape)
changed = np.asarray(encoder(x_changed, padding_mask=padding_mask))
check_close(changed[1, :real], expected[1, :real], "padding content never reaches real tokens",
            atol=1e-5)

"""## Figure: the attention weights of one sentence"""
section("Figure: the attention weights of one sentence")

plt = pyplot()
shown = min(num_heads, 4)
fig, axes = plt.subplots(1, shown + 1, figsize=(3.2 * shown + 0.6, 3.9),
                         gridspec_kw={"width_ratios": [1] * shown + [0.06]})
for head, ax in enumerate(axes[:shown]):
    image = ax.imshow(weights[1, head], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {head}")
    ax.set_xlabel(f"key position (>= {lengths[1]}: padding)")
    ax.set_ylabel("query position")
fig.colorbar(image, cax=axes[-1], label="attention weight")
fig.suptitle("Encoder self-attention, sentence 2 (random weights)")
save_figure(fig, args.out, "07_encoder_attention.png")
