# %% [markdown]
"""
# 01 · Tokens and embeddings

**What you learn:** how a sentence becomes a `(batch, length, embed_dim)` tensor; that an
embedding lookup is a one-hot matrix product; what a larger `embed_dim` costs in parameters,
memory and time (parameters checked against a formula, time measured on this machine).

**Book:** *Deep Learning with Python*, 2nd ed. §11.2 "Preparing text data" and §11.3.3
"Processing words as a sequence" ("Understanding word embeddings", "Learning word embeddings
with the Embedding layer"); 3rd ed. §14.2 "Preparing text data" and §14.5 "Sequence models"
("Understanding word embeddings").

**Run:** `python chapters/01_tokens_and_embeddings.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.01_tokens_and_embeddings
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/01_tokens_and_embeddings.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import time

import keras
import matplotlib.ticker
import numpy as np

# PositionalEmbedding is defined in models/positional_embedding.py,
# TransformerEncoder in models/transformer_encoder.py.
from models.positional_embedding import PositionalEmbedding
from models.transformer_encoder import TransformerEncoder

args = parse_args("01 · Tokens and embeddings")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
sentence = "I love AI"  # the running example
embedding_width = 64  # keras.layers.Embedding(4, 64) as in the lesson
seed = 0  # weights and token ids are drawn from this seed
embed_dims = [16, 64] if args.quick else [16, 32, 64, 128, 256, 512]  # sizes to compare
vocab_size = 1_000 if args.quick else 15_000  # 15,000 words as in the 2nd ed.'s §11.5.1
sequence_length = 20  # the 2nd ed.'s translation example pads to 20 tokens
batch_size = 8 if args.quick else 32  # sentences per timed forward pass
num_heads = 2  # every embed_dim above is divisible by it
dense_ratio = 4  # dense_dim = dense_ratio * embed_dim (the paper's 512 -> 2048)
timing_repeats = 3 if args.quick else 10  # forward passes timed per size (the median is kept)

keras.utils.set_random_seed(seed)
plt = pyplot()

# %% [markdown]
"""
## From words to ids

A tokenizer cuts the text into tokens (here: words) and a vocabulary gives each one an
integer. Id 0 is kept for padding, so "I love AI" needs a vocabulary of 4: {pad, I, love, AI}.
"""

# %%
section("From words to ids")
words = sentence.split()
vocabulary = {"[pad]": 0}
for word in words:
    vocabulary.setdefault(word, len(vocabulary))
token_ids = np.array([[vocabulary[w] for w in words]])  # (batch=1, length=3)
print("words:      ", words)
print("vocabulary: ", vocabulary)
print("input ids:  ", token_ids.tolist(), "shape", token_ids.shape)
check(token_ids.tolist() == [[1, 2, 3]], "'I love AI' -> ids [[1, 2, 3]] (0 is kept for padding)")

# %% [markdown]
"""
## The embedding layer

`Embedding(input_dim=4, output_dim=64)` holds a (4, 64) table of trainable numbers; looking up
id `i` returns row `i`. The result is one vector per token: (batch, length, embed_dim).
The same lookup is a matrix product: one_hot(ids) (3, 4) times the table (4, 64), i.e. a
Dense layer without bias applied to one-hot vectors, done cheaply.

The table below is untrained: its numbers are random (Keras draws them uniformly in
[-0.05, 0.05]), so the figure shows noise. Only training gives the rows a meaning, e.g. similar
words ending up with similar vectors.
"""

# %%
section("The embedding layer")
embedding = keras.layers.Embedding(input_dim=len(vocabulary), output_dim=embedding_width)
embedded = keras.ops.convert_to_numpy(embedding(token_ids))  # (1, 3, 64)
table = keras.ops.convert_to_numpy(embedding.embeddings)  # (4, 64)
print("embedding table shape:", table.shape, " output shape:", embedded.shape)
np.set_printoptions(precision=4, suppress=True)
for word, vector in zip(words, embedded[0]):
    print(f"  {word:>5} -> [{', '.join(f'{v:+.4f}' for v in vector[:5])}, ...]")
check(embedded.shape == (1, len(words), embedding_width),
      f"output shape is (batch, length, embed_dim) = (1, {len(words)}, {embedding_width})")
check(embedding.count_params() == len(vocabulary) * embedding_width,
      f"parameters = vocab x embed_dim = {len(vocabulary)} x {embedding_width} "
      f"= {len(vocabulary) * embedding_width}")
check_close(embedded[0], table[token_ids[0]], "looking up id i returns row i of the table", atol=0)
# The same lookup written as a matrix product: one_hot(ids) @ table.
one_hot = np.eye(len(vocabulary), dtype="float32")[token_ids[0]]  # (3, 4)
check_close(one_hot @ table, embedded[0], "an embedding is one_hot(ids) @ table (a Dense without bias)")
check(float(np.abs(table).max()) <= 0.05,
      f"untrained: every entry is a random draw in [-0.05, 0.05] (largest |value| "
      f"{float(np.abs(table).max()):.4f})")

fig, ax = plt.subplots(figsize=(9, 2.6))
image = ax.imshow(embedded[0], aspect="auto", cmap="coolwarm", vmin=-0.05, vmax=0.05)
ax.set_yticks(range(len(words)), words)
ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
ax.set_xlabel("embedding dimension")
ax.set_ylabel("token")
ax.set_title(f"Embedding(4, {embedding_width}) of '{sentence}': untrained (random) weights, "
             "noise until trained")
fig.colorbar(image, ax=ax, label="value")
save_figure(fig, args.out, "01_embedding_vectors.png")
plt.close(fig)

# %% [markdown]
"""
## The embed_dim trade-off, measured

A wider vector has room for more about each token, but every part of the model grows with
it: the embedding tables linearly, the attention and feed-forward weights quadratically. For
each width we build PositionalEmbedding + one TransformerEncoder block (the project's layers,
with the 3rd edition's key_dim = embed_dim // num_heads) and count, for V = vocab,
L = sequence_length, d = embed_dim, f = dense_dim = 4d:

    embeddings   (V + L) d            token table + position table
    attention    4 (d d + d)          query, key, value, output projections with biases
    feed-forward (d f + f) + (f d + d)
    layer norms  2 x 2d               a scale and an offset each
    total        (V + L) d + 4d^2 + 2df + f + 9d

(The 2nd edition's encoder uses key_dim = embed_dim, so with h heads its attention has
3 (d hd + hd) + (hd d + d) parameters instead; lesson 11 counts both editions.) The forward time is measured, not
checked: it depends on this machine and its load.
"""

# %%
section("The embed_dim trade-off, measured")


def expected_parameters(d):
    f = dense_ratio * d
    return (vocab_size + sequence_length) * d + 4 * d * d + 2 * d * f + f + 9 * d


rng = np.random.default_rng(seed)
ids = rng.integers(1, vocab_size, size=(batch_size, sequence_length))
print(f"vocab {vocab_size:,}, length {sequence_length}, batch {batch_size}, heads {num_heads}, "
      f"dense_dim = {dense_ratio} x embed_dim; time = median of {timing_repeats} forward passes\n")
print(f"{'embed_dim':>9} {'parameters':>12} {'formula':>12} {'weights MB':>10} {'forward ms':>10}")
rows = []
for d in embed_dims:
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(sequence_length, vocab_size, d)(inputs)
    x = TransformerEncoder(d, dense_ratio * d, num_heads)(x)
    model = keras.Model(inputs, x)
    params = model.count_params()
    megabytes = sum(w.numpy().nbytes for w in model.weights) / 2**20
    # predict_on_batch runs the traced (compiled) forward pass, so Python overhead does not
    # hide the cost of the arithmetic; the first call traces, so it is not timed.
    model.predict_on_batch(ids)
    times = []
    for _ in range(timing_repeats):
        start = time.perf_counter()
        model.predict_on_batch(ids)
        times.append(time.perf_counter() - start)
    milliseconds = 1000 * float(np.median(times))
    rows.append((d, params, megabytes, milliseconds))
    print(f"{d:>9} {params:>12,} {expected_parameters(d):>12,} {megabytes:>10.2f} {milliseconds:>10.2f}")
    check(params == expected_parameters(d), f"embed_dim={d}: parameter count equals the formula")
    check_close(megabytes, params * 4 / 2**20, f"embed_dim={d}: weight memory = 4 bytes x parameters")

dims = np.array([r[0] for r in rows])
params = np.array([r[1] for r in rows])
check(bool(np.all(np.diff(params) > 0)), "parameters grow with embed_dim")
# For small d the vocabulary table dominates; the quadratic 12 d^2 terms catch up as d grows.
share = [(vocab_size + sequence_length) * d / p for d, p in zip(dims, params)]
print("\nshare of parameters in the embedding tables:",
      ", ".join(f"d={d}: {s:.0%}" for d, s in zip(dims, share)))
check(share[-1] < share[0], "the embedding tables' share shrinks as embed_dim grows")
times_ms = [r[3] for r in rows]
if times_ms[-1] > 1.1 * times_ms[0]:
    trend = "grew"
elif times_ms[-1] < times_ms[0] / 1.1:
    trend = "fell (at sizes this small, overhead and machine load can outweigh the arithmetic)"
else:
    trend = "stayed within 10%"
print(f"forward time from embed_dim {dims[0]} to {dims[-1]}: {times_ms[0]:.2f} -> {times_ms[-1]:.2f} ms: "
      f"it {trend} on this machine in this run")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.plot(dims, [r[2] for r in rows], "o-", label="weights (MB, float32)")
left.set_xscale("log", base=2)
left.set_yscale("log")
left.set_xticks(dims, [str(d) for d in dims])
left.set_xlabel("embed_dim")
left.set_ylabel("MB")
left.set_title(f"Weight memory (vocab {vocab_size:,})")
left.legend()
right.plot(dims, times_ms, "s-", color="tab:orange",
           label=f"forward pass, batch {batch_size} x {sequence_length}")
right.set_xscale("log", base=2)
right.set_xticks(dims, [str(d) for d in dims])
right.set_xlabel("embed_dim")
right.set_ylabel("milliseconds (median)")
right.set_title("Measured forward time (compiled, this machine)")
right.legend()
save_figure(fig, args.out, "01_embed_dim_tradeoff.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- A sentence becomes integer ids (0 kept for padding), and an Embedding turns them into a
  (batch, length, embed_dim) tensor: here (1, 3, 64).
- Looking up id i returns row i of a (vocab, embed_dim) table, exactly one_hot(ids) @ table.
- An untrained table is random numbers in [-0.05, 0.05]: its vectors mean nothing until
  training.
- PositionalEmbedding + one encoder block has (V + L) d + 4d^2 + 2df + f + 9d parameters
  (checked for every width); the embedding tables' share shrinks as d grows.

## Exercises

1. Add the word "love" a second time to the sentence: which ids and which rows of the table
   does it use?
2. With vocab 15,000 and embed_dim 256 (the 2nd edition's translation model), how many
   parameters are in the token table alone? Check it with the formula above.
3. Run the full mode and read the timing column: from which embed_dim on does the forward
   time grow clearly on your machine?
"""
