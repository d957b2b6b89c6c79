# %% [markdown]
"""
# 06 · Positional information

**What you learn:** self-attention by itself carries no information about word order (shuffle
the tokens and the outputs are shuffled the same way), so "dog bites man" and "man bites dog"
look alike to it; adding a learned positional embedding (the book) or the sinusoidal encoding
(the paper) breaks that symmetry; how the two encodings differ before any training.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.3 "The Transformer encoder" ("Using
positional encoding to re-inject order information"); 3rd ed. §15.3.5 "Embedding positional
information".

**Run:** `python chapters/06_positional_information.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.06_positional_information
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/06_positional_information.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import itertools

import keras
import matplotlib.ticker
import numpy as np
from keras import ops

# PositionalEmbedding is defined in models/positional_embedding.py, TransformerEncoder in
# models/transformer_encoder.py, sinusoidal_encoding / SinusoidalEncoding in
# models/sinusoidal_encoding.py.
from models.positional_embedding import PositionalEmbedding
from models.sinusoidal_encoding import SinusoidalEncoding, sinusoidal_encoding
from models.transformer_encoder import TransformerEncoder

args = parse_args("06 · Positional information")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
sentences = ["dog bites man", "man bites dog"]  # same words, opposite meanings
num_tokens = 6  # length of the random sequence shuffled in the first section
embed_dim = 16 if args.quick else 64  # width of the token vectors
num_heads = 2 if args.quick else 4  # attention heads (key_dim = embed_dim // num_heads, 3rd ed.)
dense_dim = 32 if args.quick else 128  # feed-forward width of the encoder block
sequence_length = 20  # learned positions in PositionalEmbedding
plot_length = 50 if args.quick else 100  # positions shown in the sinusoidal heatmap
plot_depth = 64 if args.quick else 128  # dimensions shown in the sinusoidal heatmap
seed = 0  # weights, inputs and the permutation come from this seed

keras.utils.set_random_seed(seed)
rng = np.random.default_rng(seed)


def numpy(tensor):
    return ops.convert_to_numpy(tensor)

# %% [markdown]
"""
## Self-attention is permutation-equivariant

Self-attention itself carries no position information. Some study notes say the attention
weights tell the model where each word is; they do not. Every step treats the tokens as a set:
the projections act on each token alone, and the weighted sum does not care in which order
the keys come. Shuffling the input tokens (a permutation P) just shuffles the outputs:

    softmax((P Q)(P K)^T) (P V) = P softmax(Q K^T) V

The same holds for a whole encoder block (its feed-forward and layer norms act on each token
alone). Checked below on random vectors.
"""

# %%
section("Self-attention is permutation-equivariant")
x = rng.standard_normal((1, num_tokens, embed_dim)).astype("float32")
permutation = rng.permutation(num_tokens)
while np.array_equal(permutation, np.arange(num_tokens)):
    permutation = rng.permutation(num_tokens)
print(f"input (1, {num_tokens}, {embed_dim}); permutation {permutation.tolist()}")
attention = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)
encoder = TransformerEncoder(embed_dim, dense_dim, num_heads)
for name, layer in (("MultiHeadAttention", lambda t: attention(t, t)), ("TransformerEncoder", encoder)):
    shuffled_then_attended = numpy(layer(x[:, permutation]))
    attended_then_shuffled = numpy(layer(x))[:, permutation]
    check_close(shuffled_then_attended, attended_then_shuffled,
                f"{name}: attention(shuffled tokens) == shuffled attention(tokens)")

# One exception: a causal mask (decoders) treats position 0 differently from position 5, so a
# masked decoder can infer some order. Encoders and cross-attention have no such mask.
shuffled = x[:, permutation]
causal_gap = float(np.max(np.abs(numpy(attention(shuffled, shuffled, use_causal_mask=True))
                                 - numpy(attention(x, x, use_causal_mask=True))[:, permutation])))
check(causal_gap > 1e-2, f"with a causal mask the symmetry is broken (max abs diff {causal_gap:.2f}): "
      "the mask itself is positional")

# %% [markdown]
"""
## "dog bites man" and "man bites dog"

With token embeddings only, the two sentences are the same set of vectors in a different
order, so the encoder gives each word the same vector in both sentences, and any order-free
summary (here: the mean over tokens) is identical. A classifier on top could not tell who bit
whom.
"""

# %%
section('"dog bites man" and "man bites dog"')
vocabulary = {"[pad]": 0}
for word in " ".join(sentences).split():
    vocabulary.setdefault(word, len(vocabulary))
ids = np.array([[vocabulary[w] for w in s.split()] for s in sentences])  # (2, 3)
print("vocabulary:", vocabulary)
for s, row in zip(sentences, ids):
    print(f"  {s!r} -> {row.tolist()}")
# Sentence 2 is sentence 1 reversed: word i of sentence 2 is word order[i] of sentence 1.
order = [sentences[0].split().index(w) for w in sentences[1].split()]

embedding = PositionalEmbedding(sequence_length, len(vocabulary), embed_dim)
embedding(ids)  # builds the token and position tables


def encode(vectors):
    return numpy(encoder(vectors))  # (2, 3, embed_dim)


def best_permutation_gap(outputs):
    """Smallest max abs diff between sentence 2's outputs and any reordering of sentence 1's."""
    return min(float(np.max(np.abs(outputs[1] - outputs[0][list(p)])))
               for p in itertools.permutations(range(outputs.shape[1])))


tokens_only = encode(embedding.token_embeddings(ids))  # no position information at all
check_close(tokens_only[1], tokens_only[0][order],
            "tokens only: each word gets the same vector in both sentences")
check_close(tokens_only[1].mean(0), tokens_only[0].mean(0),
            "tokens only: the mean sentence vectors are identical")
dog_1, dog_2 = sentences[0].split().index("dog"), sentences[1].split().index("dog")
print(f"  'dog' as subject vs object, first 4 dims: {tokens_only[0, dog_1, :4].round(3)} "
      f"{tokens_only[1, dog_2, :4].round(3)}")

# %% [markdown]
"""
## Adding positions breaks the symmetry

The book's `PositionalEmbedding` (2nd ed. §11.4.3; 3rd ed. §15.3.5 discusses position
embeddings) adds a learned vector per position (random until trained);
the paper adds a fixed sinusoidal vector per position. Either way "dog" at position 0 and
"dog" at position 2 are different inputs, so no reordering of one sentence's outputs gives
the other's (all 3! = 6 reorderings are tried).
"""

# %%
section("Adding positions breaks the symmetry")
token_vectors = embedding.token_embeddings(ids)
variants = {
    "learned PositionalEmbedding (book)": embedding(ids),
    "sinusoidal encoding (paper)": token_vectors + SinusoidalEncoding()(token_vectors),
}
print(f"tokens only: closest reordering differs by {best_permutation_gap(tokens_only):.2e}")
for name, vectors in variants.items():
    outputs = encode(vectors)
    gap = best_permutation_gap(outputs)
    pooled = float(np.max(np.abs(outputs[1].mean(0) - outputs[0].mean(0))))
    print(f"{name}: closest reordering differs by {gap:.3f}, mean vectors by {pooled:.3f}")
    check(gap > 1e-2, f"{name}: outputs are no longer a reordering of each other "
          f"(smallest max abs diff {gap:.3f} > 0.01)")
    check(pooled > 1e-3, f"{name}: the mean sentence vectors now differ ({pooled:.3f} > 0.001)")

# %% [markdown]
"""
## The two encodings

The learned table is (sequence_length, embed_dim) trainable numbers: it can only represent
positions it has rows for, and it is random noise until training shapes it. The sinusoidal
encoding needs no weights and exists for any position: column pair (2i, 2i+1) is a sine and
cosine of frequency 1 / 10000^(2i/d), from a wavelength of 2 pi (left columns) to
2 pi x 10000 (right columns). Each pair turns on a circle, so moving k positions is the same
rotation wherever you start: PE[p + k] is a fixed linear function of PE[p], and PE[p] . PE[q]
depends only on p - q.
"""

# %%
section("The two encodings")
learned = numpy(embedding.position_embeddings.embeddings)  # (sequence_length, embed_dim)
pe = numpy(sinusoidal_encoding(plot_length, plot_depth))  # (plot_length, plot_depth)
print(f"learned table {learned.shape}, {learned.size:,} trainable numbers; "
      f"sinusoidal {pe.shape}, no weights")
check_close(pe[0], np.tile([0.0, 1.0], plot_depth // 2),
            "position 0 is [sin 0, cos 0, ...] = [0, 1, 0, 1, ...]")
check_close(np.linalg.norm(pe, axis=1), np.sqrt(plot_depth / 2),
            f"every position has norm sqrt(d/2) = {np.sqrt(plot_depth / 2):.3f} "
            "(sin^2 + cos^2 = 1 per pair)", atol=1e-4)
shift = 5
frequencies = 10000.0 ** (-2 * np.arange(plot_depth // 2) / plot_depth)
rotated = np.empty_like(pe[:-shift])
cos_k, sin_k = np.cos(frequencies * shift), np.sin(frequencies * shift)
rotated[:, 0::2] = pe[:-shift, 0::2] * cos_k + pe[:-shift, 1::2] * sin_k  # sin(a + b)
rotated[:, 1::2] = pe[:-shift, 1::2] * cos_k - pe[:-shift, 0::2] * sin_k  # cos(a + b)
check_close(rotated, pe[shift:], f"PE[p + {shift}] = rotation(PE[p]), the same rotation for every p",
            atol=1e-4)
similarity = pe @ pe.T  # (plot_length, plot_length)
diagonal = np.array([similarity[p, p + shift] for p in range(plot_length - shift)])
check_close(diagonal, diagonal[0], f"PE[p] . PE[p + {shift}] is the same for every p", atol=1e-3)

# %% [markdown]
"""
## What an untrained table knows about nearness

A useful position code makes neighbouring positions similar and distant ones less so. The
sinusoidal encoding has this from the start; the learned table has it only if training puts
it there. Below, the cosine similarity of the vectors of positions p and p + 1, for the
untrained learned table and for the sinusoidal encoding at the same width.
"""

# %%
section("What an untrained table knows about nearness")


def unit_rows(matrix):
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


learned_unit = unit_rows(learned)
sinusoidal_unit = unit_rows(numpy(sinusoidal_encoding(sequence_length, embed_dim)))
learned_cosine = learned_unit @ learned_unit.T  # (sequence_length, sequence_length)
sinusoidal_cosine = sinusoidal_unit @ sinusoidal_unit.T
far = 10  # "distant": ten positions apart
learned_next = float(np.mean(np.diag(learned_cosine, k=1)))
sinusoidal_next = float(np.mean(np.diag(sinusoidal_cosine, k=1)))
sinusoidal_far = float(np.mean(np.diag(sinusoidal_cosine, k=far)))
print(f"mean cosine of positions p and p + 1: learned (untrained) {learned_next:+.3f}, "
      f"sinusoidal {sinusoidal_next:+.3f}; sinusoidal p and p + {far}: {sinusoidal_far:+.3f}")
check(abs(learned_next) < 0.2,
      f"untrained learned table: neighbouring positions are unrelated (mean cosine {learned_next:+.3f}, "
      "|.| < 0.2): random noise")
check(sinusoidal_next > 0.9 and sinusoidal_far < sinusoidal_next,
      f"sinusoidal: neighbours are similar (cosine {sinusoidal_next:.3f} > 0.9) and positions "
      f"{far} apart less so ({sinusoidal_far:.3f})")

plt = pyplot()
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1.4, 1]})
image = left.imshow(learned, aspect="auto", cmap="coolwarm")
left.set_xlabel("embedding dimension")
left.set_ylabel("position")
left.set_title(f"Learned position table ({learned.shape[0]} x {learned.shape[1]}), "
               "untrained (random) weights: noise")
fig.colorbar(image, ax=left, label="value")
image = right.imshow(learned_cosine, cmap="viridis", vmin=-1, vmax=1)
right.set_xlabel("position q")
right.set_ylabel("position p")
right.set_title("cosine(P[p], P[q]), untrained: only the diagonal")
fig.colorbar(image, ax=right, label="cosine similarity")
for axis in (left.xaxis, left.yaxis, right.xaxis, right.yaxis):
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
save_figure(fig, args.out, "06_learned_positional_embedding.png")
plt.close(fig)

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
image = left.imshow(pe, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1)
left.set_xlabel("embedding dimension (even: sin, odd: cos)")
left.set_ylabel("position")
left.set_title(f"Sinusoidal encoding ({plot_length} positions x {plot_depth} dims), no weights")
fig.colorbar(image, ax=left, label="value")
image = right.imshow(similarity, cmap="viridis")
right.set_xlabel("position q")
right.set_ylabel("position p")
right.set_title("PE[p] . PE[q]: depends only on p - q")
fig.colorbar(image, ax=right, label="dot product")
for axis in (left.xaxis, left.yaxis, right.xaxis, right.yaxis):
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
save_figure(fig, args.out, "06_sinusoidal_encoding.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- Shuffling the tokens shuffles MultiHeadAttention's and a TransformerEncoder's outputs the same
  way: without positions, attention treats a sentence as a set (a causal mask is the exception).
- With token embeddings only, "dog bites man" and "man bites dog" give each word the same
  vector and identical mean sentence vectors.
- Adding learned or sinusoidal positions makes the two sentences' outputs differ beyond any
  reordering.
- The sinusoidal encoding needs no weights: PE[p + k] is a fixed rotation of PE[p] and
  neighbouring positions are similar; an untrained learned table is random noise.

## Exercises

1. Train a small model (lesson 09) and plot the cosine similarity of its learned position
   table: do neighbouring positions become similar?
2. Use a causal mask in the first section's permutation test and find which output positions
   still match after shuffling.
3. The learned table has 20 rows: what happens if you call PositionalEmbedding on a sentence
   of 25 tokens? What does the sinusoidal encoding do there?
"""
