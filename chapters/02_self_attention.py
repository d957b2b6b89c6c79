# %% [markdown]
"""
# 02 · Self-attention from scratch

**What you learn:** the four steps of self-attention (project to queries, keys and values;
score q . k / sqrt(d_k); softmax; weighted sum of the values), written out by hand, and that
`keras.layers.MultiHeadAttention` with one head computes exactly the same thing.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.1 "Understanding self-attention"
(incl. "Generalized self-attention: the query-key-value model"); 3rd ed. §15.3.1
"Dot-product attention".

**Run:** `python chapters/02_self_attention.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.02_self_attention
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/02_self_attention.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import keras
import numpy as np
from keras import ops

args = parse_args("02 · Self-attention from scratch")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
sentence = "I love AI"  # embedded with keras.layers.Embedding(4, 64) as in lesson 01
embed_dim = 64  # width of the "I love AI" token vectors
key_dim = 16 if args.quick else 64  # width d_k of the queries, keys and values
student = "I am a student"  # embedded as one-hot rows of a 4x4 identity matrix
seed = 0  # all random weights come from this seed

keras.utils.set_random_seed(seed)
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
"""
## The book's first version: no projections

The 2nd edition's §11.4.1 starts from self-attention without any learned weights: it uses each token vector as its own query, key and value (Q = K = V = X). With one-hot embeddings ("I am a student" as the rows of a 4x4 identity)
every token is its own axis and no two tokens are alike: the scores are I / sqrt(4), 0.5 on
the diagonal and 0 elsewhere, so the softmax gives e^0.5 / (e^0.5 + 3) = 0.355 on the diagonal
and 1 / (e^0.5 + 3) = 0.215 elsewhere: every token attends most to itself.
"""

# %%
section("The book's first version: no projections")
tokens = student.split()
x_student = np.eye(len(tokens), dtype="float32")[None]  # (1, 4, 4)
print("embeddings (identity):\n", x_student[0])
no_projection = ops.convert_to_numpy(
    ops.softmax(x_student[0] @ x_student[0].T / np.sqrt(len(tokens)), axis=-1))
print("weights with Q = K = V = X:\n", no_projection)
diagonal = np.exp(0.5) / (np.exp(0.5) + 3)
expected = np.full((4, 4), 1 / (np.exp(0.5) + 3))
np.fill_diagonal(expected, diagonal)
check_close(no_projection, expected, f"Q = K = V = X: diagonal e^0.5/(e^0.5+3) = {diagonal:.4f}, "
            f"elsewhere 1/(e^0.5+3) = {expected[0, 1]:.4f}")

# %% [markdown]
"""
## Self-attention, step by step

Learned projections let a token ask for something other than itself. Every token asks a
question (its query), offers a label (its key) and carries content (its value); all three are
linear projections of the token's vector. Token i's output is the average of all the values,
weighted by how well its query matches each key:

    scores  = Q K^T / sqrt(d_k)         (length, length)
    weights = softmax(scores)           each row sums to 1
    output  = weights V                 (length, d_k), then an output projection

The layer below is written for teaching; the project's models use keras' MultiHeadAttention
(through models/cached_attention.py), which the next section checks it against.

The projections below are untrained (random), so the attention pattern they produce is
arbitrary: what the checks verify is the arithmetic (rows sum to 1, softmax formula), not
which word attends to which.
"""

# %%
section("Self-attention, step by step")


class TeachingSelfAttention(keras.layers.Layer):
    """One-head self-attention written out with four Dense projections (teaching only)."""

    def __init__(self, key_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = key_dim
        self.query_dense = keras.layers.Dense(key_dim, name="query")
        self.key_dense = keras.layers.Dense(key_dim, name="key")
        self.value_dense = keras.layers.Dense(key_dim, name="value")
        self.output_dense = keras.layers.Dense(output_dim, name="output")

    def call(self, x):
        # (batch, length, key_dim) each
        q, k, v = self.query_dense(x), self.key_dense(x), self.value_dense(x)
        # (batch, length, length): row i scores token i's query against every key.
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / np.sqrt(self.key_dim)
        weights = ops.softmax(scores, axis=-1)
        # (batch, length, key_dim): a weighted sum of the values, then back to output_dim.
        output = self.output_dense(ops.matmul(weights, v))
        return output, {"q": q, "k": k, "v": v, "scores": scores, "weights": weights}


def print_matrix(title, tokens, matrix):
    print(f"{title} (row = query token, column = key token):")
    print(f"{'':>9}" + "".join(f"{t:>9}" for t in tokens))
    for token, row in zip(tokens, matrix):
        print(f"{token:>9}" + "".join(f"{w:9.3f}" for w in row))


# Keras' default embedding initializer (uniform +-0.05) gives tiny vectors, tiny scores and
# near-uniform weights (1/3 each); unit-variance vectors make the pattern visible.
words = sentence.split()
embedding = keras.layers.Embedding(len(words) + 1, embed_dim,  # id 0 = padding
                                   embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))
x_love = embedding(np.array([[1, 2, 3]]))  # (1, 3, 64)
attention_love = TeachingSelfAttention(key_dim, embed_dim)
output_love, steps = attention_love(x_love)
steps = {name: ops.convert_to_numpy(value) for name, value in steps.items()}
print(f'"{sentence}" embedded: x {tuple(x_love.shape)}')
print(f"  q, k, v = Dense(x)         {steps['q'].shape} each (d_k = {key_dim})")
print(f"  scores = q k^T / sqrt({key_dim})  {steps['scores'].shape}")
print(f"  weights = softmax(scores)  {steps['weights'].shape}")
print(f"  output = Dense(weights v)  {tuple(output_love.shape)}\n")
print_matrix("scores", words, steps["scores"][0])
print_matrix("attention weights", words, steps["weights"][0])
check_close(steps["weights"].sum(-1), 1.0, "each row of weights sums to 1", atol=1e-6)
manual = np.exp(steps["scores"][0]) / np.exp(steps["scores"][0]).sum(-1, keepdims=True)
check_close(steps["weights"][0], manual, "softmax(s)_j = exp(s_j) / sum_k exp(s_k)")

# %% [markdown]
"""
## The same thing as MultiHeadAttention with one head

`keras.layers.MultiHeadAttention(num_heads=1, key_dim=d_k)` has the same four projections,
with an extra head axis in its kernels: (dim, 1, d_k) instead of (dim, d_k). Copying the
teaching layer's weights into it must give the same outputs and the same attention weights.
(With one head the editions agree; with h heads the 3rd edition's layers use
key_dim = embed_dim // num_heads and the 2nd edition's key_dim = embed_dim, see lesson 04.)
"""

# %%
section("The same thing as MultiHeadAttention with one head")


def copy_into_multi_head_attention(teaching, mha):
    """MultiHeadAttention keeps a head axis in its kernels: (dim, heads=1, key_dim) etc."""
    weights = []
    for dense in (teaching.query_dense, teaching.key_dense, teaching.value_dense):
        kernel, bias = dense.get_weights()
        weights += [kernel[:, None, :], bias[None, :]]  # (dim, 1, key_dim), (1, key_dim)
    kernel, bias = teaching.output_dense.get_weights()
    weights += [kernel[None, :, :], bias]  # (1, key_dim, dim), (dim,)
    mha.set_weights(weights)


def compare(name, tokens, x, teaching):
    output, steps = teaching(x)
    mha = keras.layers.MultiHeadAttention(num_heads=1, key_dim=key_dim)
    unrelated = ops.convert_to_numpy(mha(x, x))  # builds the layer with its own random weights
    copy_into_multi_head_attention(teaching, mha)
    reference, reference_weights = mha(x, x, return_attention_scores=True)
    print(f"{name}: MultiHeadAttention kernels "
          f"{[tuple(w.shape) for w in mha.weights[:2]]} (query kernel, bias)")
    diff = check_close(output, reference,
                       f"{name}: teaching layer == MultiHeadAttention(num_heads=1, key_dim={key_dim})")
    check_close(steps["weights"], ops.convert_to_numpy(reference_weights)[:, 0],
                f"{name}: same attention weights as MultiHeadAttention")
    gap = float(np.max(np.abs(unrelated - ops.convert_to_numpy(output))))
    check(gap > 1e-3, f"{name}: with its own random weights MultiHeadAttention differs "
          f"(max abs diff {gap:.2f}), so the match above is not an accident")
    return ops.convert_to_numpy(steps["weights"])[0], diff


weights_love, diff_love = compare(f'"{sentence}"', words, x_love, attention_love)
print()
attention_student = TeachingSelfAttention(key_dim, len(tokens))
weights_student, diff_student = compare(f'"{student}" one-hot', tokens, x_student, attention_student)
print_matrix(f'"{student}" attention weights with random projections', tokens, weights_student)

# %% [markdown]
"""
## Summary

The figure puts the two kinds of weights side by side. Left: the book's version without
projections on one-hot vectors, where the pattern follows from the formula (each token
attends most to itself). Right: "I love AI" through untrained (random) projections, whose
pattern is noise; only training would make it mean something.
"""

# %%
section("Summary")
print(f"max abs diff, teaching layer vs MultiHeadAttention: \"{sentence}\" {diff_love:.2e}, "
      f"\"{student}\" {diff_student:.2e}")
check(bool(np.all(np.argmax(no_projection, axis=1) == np.arange(len(tokens)))),
      "without projections each one-hot token attends most to itself")

plt = pyplot()
fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4))
panels = ((axes[0], tokens, no_projection,
           f"'{student}', no projections (Q = K = V = X)\none-hot 4x4: each token favours itself"),
          (axes[1], words, weights_love,
           f"'{sentence}', untrained (random) weights, d_k = {key_dim}\nthe pattern is noise"))
for ax, labels, w, title in panels:
    image = ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title, fontsize=10)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(image, ax=ax, label="attention weight")
fig.suptitle("Self-attention weights (each row sums to 1)")
save_figure(fig, args.out, "02_self_attention_weights.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- Without projections, one-hot tokens get weights e^0.5/(e^0.5+3) = 0.355 on themselves and
  0.215 on the others.
- Self-attention is: Q, K, V = Dense(x); weights = softmax(Q K^T / sqrt(d_k)), each row
  summing to 1; output = Dense(weights V).
- keras.layers.MultiHeadAttention(num_heads=1, key_dim=d_k) with the same weights gives the
  same outputs and the same attention weights (checked on two inputs), and different ones with
  its own random weights.
- Untrained projections give an arbitrary attention pattern.

## Exercises

1. Replace the one-hot embeddings by two identical rows (the same word twice): what happens
   to the weights without projections?
2. Set the query kernel of the teaching layer to zero: what do the attention weights become,
   and why?
3. Change `key_dim` and check that MultiHeadAttention still matches.
"""
