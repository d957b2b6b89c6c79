# %% [markdown]
"""
# 04 · Multi-head attention, by hand

**What you learn:** how the Q, K and V projections of width num_heads * key_dim are cut into
heads, each head attends on its own, and the heads are concatenated and projected back; that
`keras.layers.MultiHeadAttention` computes exactly this; and how the two editions choose
key_dim (2nd ed.: key_dim = embed_dim; 3rd ed.: key_dim = embed_dim // num_heads).

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.2 "Multi-head attention"; 3rd ed.
§15.3.1 "Dot-product attention".

**Run:** `python chapters/04_multi_head_attention.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.04_multi_head_attention
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/04_multi_head_attention.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import keras
import numpy as np
from keras import ops

args = parse_args("04 · Multi-head attention, by hand")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
sentence = "I am a student"  # 4 tokens
embed_dim = 4  # [4 x 4] embeddings, as in the lesson
num_heads = 2  # two heads ...
key_dim = 4  # ... of width 4 (2nd ed.: key_dim = embed_dim): Q, K, V of width 2 x 4 = 8, [4 x 8]
# Full mode also checks larger shapes: (tokens, embed_dim, num_heads, key_dim).
extra_shapes = [] if args.quick else [(6, 32, 4, 8), (10, 64, 8, 8), (5, 12, 3, 5)]
seed = 0  # numpy generator seed for embeddings and weights
sharpness = 1.5  # scale of the random query/key weights (larger: peakier attention maps)

rng = np.random.default_rng(seed)
np.set_printoptions(precision=3, suppress=True)


def random_weights(embed_dim, num_heads, key_dim):
    """Projection weights as plain matrices: (embed_dim, heads * key_dim) and back."""
    width = num_heads * key_dim

    def draw(*shape, fan_in):  # Glorot-like scale: outputs of about unit variance
        # float64: the by-hand numpy result is a more precise reference than the layer's float32.
        return rng.standard_normal(shape) / np.sqrt(fan_in)

    # Query and key weights `sharpness` times larger give peakier maps, as trained heads often
    # have; with unit scale the untrained maps are close to uniform and hard to tell apart.
    return {"W_q": draw(embed_dim, width, fan_in=embed_dim) * sharpness,
            "b_q": draw(width, fan_in=4),
            "W_k": draw(embed_dim, width, fan_in=embed_dim) * sharpness,
            "b_k": draw(width, fan_in=4),
            "W_v": draw(embed_dim, width, fan_in=embed_dim),
            "b_v": draw(width, fan_in=4),
            "W_o": draw(width, embed_dim, fan_in=width),
            "b_o": draw(embed_dim, fan_in=4)}


def softmax(scores):
    shifted = np.exp(scores - scores.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def multi_head_by_hand(x, w, num_heads, key_dim, verbose=False):
    """Multi-head self-attention on one sentence x (tokens, embed_dim), in numpy."""
    tokens = x.shape[0]
    # 1. Project: one wide matrix per role.  (tokens, heads * key_dim)
    q, k, v = x @ w["W_q"] + w["b_q"], x @ w["W_k"] + w["b_k"], x @ w["W_v"] + w["b_v"]

    # 2. Split: columns [h * key_dim, (h + 1) * key_dim) belong to head h.
    def split(t):  # (tokens, heads * key_dim) -> (heads, tokens, key_dim)
        return t.reshape(tokens, num_heads, key_dim).transpose(1, 0, 2)

    q_h, k_h, v_h = split(q), split(k), split(v)
    # 3. Attend, each head on its own.  (heads, tokens, tokens)
    weights = softmax(q_h @ k_h.transpose(0, 2, 1) / np.sqrt(key_dim))
    heads = weights @ v_h  # (heads, tokens, key_dim)
    # 4. Concatenate the heads side by side.  (tokens, heads * key_dim)
    concatenated = np.concatenate(list(heads), axis=-1)
    # 5. Project back to embed_dim.  (tokens, embed_dim)
    output = concatenated @ w["W_o"] + w["b_o"]
    if verbose:
        print(f"x                      {x.shape}")
        print(f"Q = x W_q + b_q        {q.shape}   (and K, V the same)")
        print(f"split into heads       {q_h.shape}   (heads, tokens, key_dim)")
        print(f"softmax(Q_h K_h^T / sqrt({key_dim}))  {weights.shape}   one map per head")
        print(f"weights_h V_h          {heads.shape}")
        print(f"concatenate heads      {concatenated.shape}")
        print(f"output = concat W_o    {output.shape}")
    return output, weights, heads


def copy_into_multi_head_attention(w, mha, embed_dim, num_heads, key_dim):
    """The same numbers with the head axis made explicit, in MultiHeadAttention's order."""
    weights = []
    for role in "qkv":
        weights += [w[f"W_{role}"].reshape(embed_dim, num_heads, key_dim),  # (dim, heads, key_dim)
                    w[f"b_{role}"].reshape(num_heads, key_dim)]  # (heads, key_dim)
    weights += [w["W_o"].reshape(num_heads, key_dim, embed_dim), w["b_o"]]  # (heads, key_dim, dim)
    mha.set_weights(weights)


def compare(x, w, num_heads, key_dim, label):
    """By-hand result vs keras.layers.MultiHeadAttention with the same weights."""
    embed_dim = x.shape[-1]
    output, weights, heads = multi_head_by_hand(x, w, num_heads, key_dim)
    mha = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim)
    mha(x[None], x[None])  # builds the layer
    copy_into_multi_head_attention(w, mha, embed_dim, num_heads, key_dim)
    reference, reference_weights = mha(x[None], x[None], return_attention_scores=True)
    expected_params = 3 * (embed_dim * num_heads * key_dim + num_heads * key_dim) \
        + num_heads * key_dim * embed_dim + embed_dim
    check(mha.count_params() == expected_params,
          f"{label}: parameters 3 x ({embed_dim}x{num_heads * key_dim} + {num_heads * key_dim}) + "
          f"{num_heads * key_dim}x{embed_dim} + {embed_dim} = {expected_params}")
    diff = check_close(
        output, ops.convert_to_numpy(reference)[0],
        f"{label}: by hand == MultiHeadAttention(num_heads={num_heads}, key_dim={key_dim})")
    check_close(weights, ops.convert_to_numpy(reference_weights)[0],
                f"{label}: same {num_heads} attention maps as MultiHeadAttention")
    return diff, output, weights, heads

# %% [markdown]
"""
## Cutting Q, K and V into heads

Four tokens with [4 x 4] embeddings. Each projection maps 4 -> 8 = 2 heads x 4, a [4 x 8]
matrix (key_dim = embed_dim = 4, the 2nd edition's choice); head 0 uses columns 0-3 of Q, K
and V, head 1 columns 4-7. Each head computes its own
attention map over the same tokens, so after training one head can follow e.g. the subject
while another follows the neighbour. The weights here are untrained (random): the two maps
differ, but what each one attends to is noise. The heads' outputs are concatenated back to width 8 and a [8 x 4]
output projection mixes them.
"""

# %%
section("Cutting Q, K and V into heads")
tokens = sentence.split()
x = rng.standard_normal((len(tokens), embed_dim)).astype("float32")  # [4 x 4]
w = random_weights(embed_dim, num_heads, key_dim)
print(f"tokens: {tokens}\nembeddings [{x.shape[0]} x {x.shape[1]}]:\n{x}\n")
for name in ("W_q", "W_k", "W_v", "W_o"):
    print(f"{name}: {w[name].shape}")
print()
output, weights, heads = multi_head_by_hand(x, w, num_heads, key_dim, verbose=True)
print()
for h in range(num_heads):
    print(f"head {h} attention weights (row = query, column = key):")
    print(f"{'':>9}" + "".join(f"{t:>9}" for t in tokens))
    for token, row in zip(tokens, weights[h]):
        print(f"{token:>9}" + "".join(f"{v:9.3f}" for v in row))
check(weights.shape == (num_heads, len(tokens), len(tokens)),
      f"one ({len(tokens)} x {len(tokens)}) map per head: {weights.shape}")
check_close(weights.sum(-1), 1.0, "every row of every head's map sums to 1", atol=1e-6)
check(float(np.abs(weights[0] - weights[1]).max()) > 0.05,
      "the two heads attend differently (their maps differ by more than 0.05 somewhere)")
# Concatenating then projecting is the same as projecting each head with its own rows of W_o
# and summing: the output projection is where the heads are mixed.
per_head = sum(heads[h] @ w["W_o"][h * key_dim:(h + 1) * key_dim] for h in range(num_heads)) + w["b_o"]
check_close(per_head, output, "concat(heads) W_o == sum over heads of head_h W_o[rows of h]")

# %% [markdown]
"""
## The same thing as keras.layers.MultiHeadAttention

MultiHeadAttention stores the same numbers with the head axis explicit: the query kernel is
(embed_dim, num_heads, key_dim) = W_q reshaped, the output kernel (num_heads, key_dim,
embed_dim) = W_o reshaped. We check it at the 2nd edition's key_dim = embed_dim = 4 and at the
3rd edition's key_dim = embed_dim // num_heads = 2, whose Q, K and V are only as wide as the
embedding (2 heads x 2 = 4): fewer attention parameters (both counts are checked below),
and at the book's sizes (embed_dim 256, 8 heads) d_k = 32 instead of 256.
"""

# %%
section("The same thing as keras.layers.MultiHeadAttention")
diff, *_ = compare(x, w, num_heads, key_dim, f"'{sentence}'")
diffs = [(f"{len(tokens)} tokens, embed_dim {embed_dim}, {num_heads} heads x {key_dim}", diff)]
third_key_dim = embed_dim // num_heads  # the 3rd edition's blocks
label = f"3rd ed. key_dim = {embed_dim} // {num_heads} = {third_key_dim}"
diffs.append((label, compare(x, random_weights(embed_dim, num_heads, third_key_dim), num_heads,
                             third_key_dim, label)[0]))
for num_tokens, dim, heads_count, width in extra_shapes:
    label = f"{num_tokens} tokens, embed_dim {dim}, {heads_count} heads x {width}"
    x_extra = rng.standard_normal((num_tokens, dim)).astype("float32")
    diffs.append((label, compare(x_extra, random_weights(dim, heads_count, width),
                                 heads_count, width, label)[0]))

# %% [markdown]
"""
## Summary

The maximum differences between the by-hand result and Keras, and the two heads' maps.
"""

# %%
section("Summary")
for label, diff in diffs:
    print(f"max abs diff, by hand vs MultiHeadAttention ({label}): {diff:.2e}")

plt = pyplot()
fig, axes = plt.subplots(1, num_heads, figsize=(4.6 * num_heads, 4.2))
for h, ax in enumerate(np.atleast_1d(axes)):
    image = ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(tokens)), tokens)
    ax.set_yticks(range(len(tokens)), tokens)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(f"head {h}: columns {h * key_dim}-{(h + 1) * key_dim - 1} of Q, K, V")
    for i in range(len(tokens)):
        for j in range(len(tokens)):
            ax.text(j, i, f"{weights[h, i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.85)
fig.suptitle(f"'{sentence}': {num_heads} heads of width {key_dim}, untrained (random) weights: "
             "the maps differ, their pattern is noise")
save_figure(fig, args.out, "04_multi_head_attention_maps.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- Multi-head attention is one wide projection per role, split into num_heads slices of
  key_dim columns; each head computes its own (tokens x tokens) map whose rows sum to 1.
- Concatenating the heads and multiplying by W_o equals summing each head times its own rows
  of W_o: the output projection is where the heads mix.
- keras.layers.MultiHeadAttention with the same weights (head axis made explicit) gives the
  same outputs and maps, at the 2nd edition's key_dim = embed_dim and at the 3rd edition's
  key_dim = embed_dim // num_heads.

## Exercises

1. Compute by hand the parameter count of the 2nd and the 3rd edition's attention layer at
   the book's sizes (embed_dim 256, 8 heads); compare with lesson 11.
2. Give both heads the same W_q, W_k and W_v columns: what do the two maps look like, and what
   does the output projection then do?
3. Change `num_heads` to 4 with `key_dim = 1` (3rd edition's rule): does the by-hand version
   still match Keras?
"""
