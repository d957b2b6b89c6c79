# %% [markdown]
"""
# 17 · Attention heads and scoring functions

**What you learn:** what changes when the same width is cut into 1, 2, 4 or 8 heads (parameters,
forward cost, the rank of each head's score matrix, what each trained head looks at), how the
2nd and 3rd editions size their heads, and how additive (Bahdanau) scoring compares with
dot-product (Luong, Vaswani) scoring on the same queries and keys: weights, FLOPs and time.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.1 "Understanding self-attention" and
§11.4.2 "Multi-head attention"; 3rd ed. §15.3.1 "Dot-product attention". Papers: Bahdanau et
al. 2015 (additive attention), Luong et al. 2015 and Vaswani et al. 2017 (dot-product attention).

**Run:** `python chapters/17_heads_and_scoring.py [--quick] [--out DIR] [--run RUN_FOLDER]`
(or open it as a notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.17_heads_and_scoring
    from chapters.common import ROOT, check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/17_heads_and_scoring.py
    from common import ROOT, check, check_close, parse_args, pyplot, save_figure, section

import os
import time

import keras
import matplotlib.ticker
import numpy as np
import tensorflow as tf
from keras import ops

# CachedMultiHeadAttention (models/cached_attention.py) is keras.layers.MultiHeadAttention with
# a decoding cache: same weights, same parameter count. TransformerEncoder is in
# models/transformer_encoder.py, PositionalEmbedding in models/positional_embedding.py,
# LuongAttention (the RNN translator's multiplicative attention) in models/luong_attention.py.
from models.cached_attention import CachedMultiHeadAttention
from models.luong_attention import LuongAttention
from models.positional_embedding import PositionalEmbedding
from models.transformer_encoder import TransformerEncoder

args = parse_args("17 · Attention heads and scoring functions", extra=lambda parser: parser.add_argument(
    "--run", help="a Transformer run folder trained with `nmt train` whose encoder heads to show"))

# Settings. --quick shrinks them so the test suite runs the lesson in seconds.
head_counts = [1, 2, 4, 8]  # heads compared at one width
width = 256  # embed_dim of the parameter, cost and rank sections (the 3rd edition's 256)
cost_batch, cost_length = 16, 128  # the input whose forward pass is timed
rank_length = 64  # tokens of the input whose score-matrix ranks are measured
# The neighbours task (trained below): `task_length` tokens drawn from `task_vocab` symbols.
task_vocab, task_length, task_width, task_steps = 8, 16, 64, 600
task_batch, task_learning_rate = 64, 1e-2
score_dim = 64  # query/key width of the scoring comparison (the paper's d_k = 64)
score_lengths = [16, 32, 64, 128, 256, 512, 1024]  # Lq = Lk for the scoring cost
repeats = 9  # timed calls per measurement (the median is kept)
default_run = os.path.join(ROOT, "runs", "small-transformer")  # the full lesson's translator
sentence = "Where is the train station?"  # the translator's heads read this sentence
if args.quick:
    width, cost_batch, cost_length, rank_length = 64, 8, 32, 16
    task_vocab, task_length, task_width, task_steps = 5, 10, 32, 150
    score_lengths, repeats = [16, 32, 64, 128], 5
    default_run = None  # quick mode reads a translator only when --run names one
seed = 0
rng = np.random.default_rng(seed)
keras.utils.set_random_seed(seed)
np.set_printoptions(precision=3, suppress=True)


def median_seconds(function, *inputs, repeats=repeats):
    """Median wall time of `function(*inputs)` over `repeats` calls, after two warm-up calls."""
    for _ in range(2):
        function(*inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*inputs)
        np.asarray(result)  # wait for the result
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ratio_verdict(ratio, first, second, noise=1.25):
    """`first` slower / faster than `second` from a measured time ratio first/second, or a tie
    within `noise` (timings on a shared CPU vary by about this much)."""
    if ratio > noise:
        return f"{first} slower (x{ratio:.2f})"
    if ratio < 1 / noise:
        return f"{second} slower (x{1 / ratio:.2f})"
    return f"within x{noise:g} of each other (x{ratio:.2f}): a tie at this noise level"


def integer_ticks(ax, x=True, y=True):
    if x:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if y:
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


# %% [markdown]
"""
## Same width, 1, 2, 4 and 8 heads: the parameters

The 3rd edition's Transformer gives every head `key_dim = embed_dim // num_heads`
(3rd ed. §15.3.2, and Vaswani et al. 2017: d_k = d_model / h). The query, key and value
projections are then `embed_dim x (heads x key_dim) = embed_dim x embed_dim` whatever the number
of heads, so the parameter count is 4 x embed_dim^2 + 4 x embed_dim for any head count.

The 2nd edition's `TransformerEncoder` calls `MultiHeadAttention(num_heads, key_dim=embed_dim)`
(2nd ed. §11.4.3): every head has the full width, so each extra head adds a full set of
projections: 3 x (D x h x D + h x D) + h x D x D + D = 4hD^2 + 3hD + D.
"""

# %%
section("Same width, 1, 2, 4 and 8 heads: the parameters")


def attention_parameters(embed_dim, num_heads, key_dim):
    """MultiHeadAttention's count: Q, K, V kernels and biases, then the output kernel and bias."""
    inner = num_heads * key_dim
    return 3 * (embed_dim * inner + inner) + inner * embed_dim + embed_dim


def built_attention(num_heads, key_dim, embed_dim):
    layer = CachedMultiHeadAttention(num_heads=num_heads, key_dim=key_dim)
    layer.build((None, None, embed_dim), (None, None, embed_dim))
    return layer


conventions = {"3rd ed. (key_dim = D / heads)": lambda h: width // h,
               "2nd ed. (key_dim = D)": lambda h: width}
layers = {name: {h: built_attention(h, key_dim(h), width) for h in head_counts}
          for name, key_dim in conventions.items()}
print(f"embed_dim D = {width}")
print(f"{'heads':>5} | {'3rd ed.: key_dim':>16} {'parameters':>11} | {'2nd ed.: key_dim':>16} "
      f"{'parameters':>11}")
counts = {name: {} for name in conventions}
for h in head_counts:
    row = f"{h:>5} |"
    for name, key_dim in conventions.items():
        counts[name][h] = layers[name][h].count_params()
        row += f" {key_dim(h):>16} {counts[name][h]:>11,} |"
    print(row.rstrip("|"))
third, second = conventions
for h in head_counts:
    check(counts[third][h] == attention_parameters(width, h, width // h) == 4 * width ** 2 + 4 * width,
          f"3rd ed., {h} head(s) x {width // h}: {counts[third][h]:,} = 4D^2 + 4D")
    check(counts[second][h] == attention_parameters(width, h, width) == 4 * h * width ** 2 + 3 * h * width + width,
          f"2nd ed., {h} head(s) x {width}: {counts[second][h]:,} = 4hD^2 + 3hD + D")
check(len(set(counts[third].values())) == 1,
      f"3rd ed.: the same {counts[third][1]:,} parameters for {head_counts} heads")
check(all(counts[second][a] < counts[second][b] for a, b in zip(head_counts, head_counts[1:])),
      f"2nd ed.: parameters grow with the heads, x{counts[second][8] / counts[second][1]:.2f} "
      f"from 1 to 8 heads")

# %% [markdown]
"""
## Same width, more heads: the forward cost

Counting multiply-adds as 2 FLOPs, for a batch of B sentences of L tokens: the projections cost
2BLD x 3(h x key_dim) + 2BL(h x key_dim)D, the scores Q K^T 2BhL^2 key_dim and the weighted sum
of values as much again. With the 3rd edition's key_dim = D / h every one of these is the same
for any h; what grows with the heads is the number of attention weights (B x h x L x L: h
softmaxes and h maps in memory). With the 2nd edition's key_dim = D everything grows with h.
The times below are measured on this machine (median of several calls), not derived.
"""

# %%
section("Same width, more heads: the forward cost")


def attention_flops(batch, length, embed_dim, num_heads, key_dim):
    inner = num_heads * key_dim
    projections = 2 * batch * length * embed_dim * 3 * inner + 2 * batch * length * inner * embed_dim
    scores_and_mix = 2 * (2 * batch * num_heads * length ** 2 * key_dim)
    return projections + scores_and_mix


x_cost = tf.constant(rng.standard_normal((cost_batch, cost_length, width)), "float32")
seconds = {name: {} for name in conventions}
print(f"input: batch {cost_batch} x {cost_length} tokens x D = {width}")
print(f"{'convention':<30} {'heads':>5} {'GFLOPs':>8} {'weights':>10} {'ms':>8} {'vs 1 head':>9}")
for name, key_dim in conventions.items():
    for h in head_counts:
        layer = layers[name][h]
        forward = tf.function(lambda x, layer=layer: layer(x, x))
        seconds[name][h] = median_seconds(forward, x_cost)
        flops = attention_flops(cost_batch, cost_length, width, h, key_dim(h))
        weights = cost_batch * h * cost_length ** 2
        print(f"{name:<30} {h:>5} {flops / 1e9:>8.3f} {weights:>10,} {seconds[name][h] * 1e3:>8.2f} "
              f"{seconds[name][h] / seconds[name][1]:>8.2f}x")
flops_third = {h: attention_flops(cost_batch, cost_length, width, h, width // h) for h in head_counts}
check(len(set(flops_third.values())) == 1,
      f"3rd ed.: {flops_third[1] / 1e9:.3f} GFLOPs of matrix products for every head count")
flops_second = [attention_flops(cost_batch, cost_length, width, h, width) for h in head_counts]
check(all(a < b for a, b in zip(flops_second, flops_second[1:])),
      f"2nd ed.: the FLOPs grow with the heads, x{flops_second[-1] / flops_second[0]:.1f} from "
      f"1 to {head_counts[-1]} heads")
for name in conventions:
    print(f"{name}: 8 heads against 1 head: "
          f"{ratio_verdict(seconds[name][8] / seconds[name][1], '8 heads', '1 head')}")

plt = pyplot()
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for name in conventions:
    ax.plot(head_counts, [seconds[name][h] * 1e3 for h in head_counts], marker="o", label=name)
ax.set_xscale("log", base=2)
ax.set_xticks(head_counts, [str(h) for h in head_counts])
ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
ax.set_xlabel("heads")
ax.set_ylabel("forward time (ms, median)")
ax.set_title(f"Multi-head attention at D = {width}, batch {cost_batch} x {cost_length} tokens "
             f"(measured)")
ax.legend()
save_figure(fig, args.out, "17_head_cost.png")
plt.close(fig)

# %% [markdown]
"""
## What a head of width key_dim can represent: the rank of its scores

Head h scores the tokens with Q_h K_h^T, an (L x L) matrix that is a product of an (L x key_dim)
and a (key_dim x L) matrix, so its rank is at most min(L, key_dim), whatever the weights (this
is algebra, so random weights show it as well as trained ones). With the 3rd edition's
key_dim = D / h, more heads means more score patterns, each of lower rank; the 2nd edition
keeps key_dim = D, rank up to min(L, D), in every head. The softmax then acts on each score
matrix; the bound is on the scores before it.
"""

# %%
section("What a head of width key_dim can represent: the rank of its scores")


def head_scores(layer, x):
    """Per-head score matrices Q_h K_h^T (heads, L, L) of one sentence x (L, D), in float64,
    from the layer's own query and key kernels and biases."""
    q_kernel, q_bias = (np.asarray(w, "float64") for w in layer._query_dense.weights)
    k_kernel, k_bias = (np.asarray(w, "float64") for w in layer._key_dense.weights)
    q = np.einsum("ld,dhk->hlk", x, q_kernel) + q_bias[:, None, :]  # (heads, L, key_dim)
    k = np.einsum("ld,dhk->hlk", x, k_kernel) + k_bias[:, None, :]
    return q @ k.transpose(0, 2, 1)


def softmax(scores):
    shifted = np.exp(scores - scores.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


x_rank = rng.standard_normal((rank_length, width))
print(f"one input of L = {rank_length} tokens, D = {width} (random weights and input)")
print(f"{'convention':<30} {'heads':>5} {'key_dim':>7} {'bound':>5} {'ranks per head'}")
for name, key_dim in conventions.items():
    for h in head_counts:
        layer = layers[name][h]
        scores = head_scores(layer, x_rank)
        ranks = [int(np.linalg.matrix_rank(s)) for s in scores]
        bound = min(rank_length, key_dim(h))
        print(f"{name:<30} {h:>5} {key_dim(h):>7} {bound:>5} {ranks}")
        check(max(ranks) <= bound, f"{name}, {h} head(s): every score matrix has rank <= "
                                   f"min(L, key_dim) = {bound}")
        if name == third and h == max(head_counts):
            # Our scores are the layer's: softmax(Q K^T / sqrt(key_dim)) = its attention weights.
            _, weights = layer(x_rank[None].astype("float32"), x_rank[None].astype("float32"),
                               return_attention_scores=True)
            check_close(softmax(scores / np.sqrt(key_dim(h))), ops.convert_to_numpy(weights)[0],
                        f"{h} heads: softmax(Q_h K_h^T / sqrt({key_dim(h)})) = the layer's weights",
                        atol=1e-4)
reached = sum(min(rank_length, width // h) == int(np.linalg.matrix_rank(s))
              for h in head_counts for s in head_scores(layers[third][h], x_rank))
print(f"3rd ed.: {reached} of {sum(head_counts)} heads reach the bound (random weights)")

# %% [markdown]
"""
## What each head sees: a task that needs two neighbours

Attention maps of untrained weights mean nothing, so here we train. The task: a sequence of
random symbols, and at every position the answer is the pair (previous symbol, next symbol),
one class out of vocab^2 (the sequence wraps around at its ends). A head that looks at one
neighbour gives half the answer; the encoder needs both, in order. We train four small models
from models/ (PositionalEmbedding, one TransformerEncoder block, a Dense layer) that differ only
in the number of heads, for a few seconds each, then read their attention: the weight each head
puts on the previous token, on itself and on the next one, the entropy of its rows (0 bits: one
token; log2 L bits: uniform), and how different the heads of one model are, as the mean
Jensen-Shannon distance between their rows (0: identical maps, 1: no overlap; base 2).
"""

# %%
section("What each head sees: a task that needs two neighbours")


def neighbours_task(count):
    """`count` sequences of symbols 1..vocab (0 is padding, unused) and the class
    (previous - 1) x vocab + (next - 1) at every position."""
    x = rng.integers(1, task_vocab + 1, size=(count, task_length))
    previous, following = np.roll(x, 1, axis=1), np.roll(x, -1, axis=1)
    return x.astype("int32"), ((previous - 1) * task_vocab + following - 1).astype("int32")


def train_neighbours_model(num_heads):
    """A PositionalEmbedding + TransformerEncoder + Dense model trained for `task_steps` steps."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((task_length,), dtype="int32"),
        PositionalEmbedding(task_length, task_vocab + 1, task_width),
        TransformerEncoder(task_width, 2 * task_width, num_heads),
        keras.layers.Dense(task_vocab ** 2)])
    optimizer = keras.optimizers.Adam(task_learning_rate)
    optimizer.build(model.trainable_variables)  # built now: the step below is traced once
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    start = time.perf_counter()
    for x, y in zip(np.split(train_x, task_steps), np.split(train_y, task_steps)):
        loss = train_step(x, y)
    return model, time.perf_counter() - start, float(loss)


def attention_maps(model, x):
    """The encoder's attention weights (batch, heads, L, L) on x."""
    embedding, encoder = model.layers[0], model.layers[1]
    _, weights = encoder(embedding(x), return_attention_scores=True)
    return ops.convert_to_numpy(weights).astype("float64")


def js_distance(p, q):
    """Jensen-Shannon distance (base 2, in [0, 1]) between distributions on the last axis."""
    m = (p + q) / 2

    def kl(a, b):
        ratio = np.where(a > 0, a, 1.0) / np.where(b > 0, b, 1.0)
        return (a * np.log2(ratio)).sum(-1)

    return np.sqrt(np.clip((kl(p, m) + kl(q, m)) / 2, 0.0, 1.0))


def entropy_bits(p):
    return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(-1)


check_close(js_distance(np.array([0.2, 0.8]), np.array([0.2, 0.8])), 0.0,
            "Jensen-Shannon distance of a distribution to itself is 0", atol=1e-12)
check_close(js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])), 1.0,
            "Jensen-Shannon distance of two disjoint distributions is 1 (base 2)", atol=1e-12)


def head_role(previous, itself, following, share=0.7):
    """A name for where a head's weight goes, from its average weights (share: the threshold)."""
    if previous >= share:
        return "previous token"
    if following >= share:
        return "next token"
    if previous + following >= share:
        return "both neighbours"
    if itself >= share:
        return "itself"
    return "spread"


train_x, train_y = neighbours_task(task_steps * task_batch)
test_x, test_y = neighbours_task(512)
chance = 1 / task_vocab ** 2
positions = np.arange(task_length)
summary = {}
print(f"task: {task_length} symbols from {task_vocab}, {task_vocab ** 2} classes (chance "
      f"{chance:.3f}); width {task_width}, {task_steps} steps of {task_batch} sequences, "
      f"Adam {task_learning_rate:g}")
for h in head_counts:
    model, train_seconds, loss = train_neighbours_model(h)
    accuracy = float((ops.convert_to_numpy(model(test_x)).argmax(-1) == test_y).mean())
    maps = attention_maps(model, test_x)  # (batch, heads, L, L)
    previous = maps[:, :, positions, (positions - 1) % task_length].mean(axis=(0, 2))  # (heads,)
    itself = maps[:, :, positions, positions].mean(axis=(0, 2))
    following = maps[:, :, positions, (positions + 1) % task_length].mean(axis=(0, 2))
    entropy = entropy_bits(maps).mean(axis=(0, 2))  # (heads,)
    pairs = [(a, b) for a in range(h) for b in range(a + 1, h)]
    distance = (float(np.mean([js_distance(maps[:, a], maps[:, b]).mean() for a, b in pairs]))
                if pairs else None)
    summary[h] = dict(model=model, accuracy=accuracy, distance=distance, maps=maps,
                      roles=[head_role(*w) for w in zip(previous, itself, following)],
                      previous=previous, following=following, entropy=entropy)
    print(f"\n{h} head(s) of key_dim {task_width // h}: trained {train_seconds:.1f} s, last loss "
          f"{loss:.3f}, test accuracy {accuracy:.3f}")
    check(accuracy > 10 * chance, f"{h} head(s): trained, test accuracy {accuracy:.3f} > 10 x chance")
    check_close(maps.sum(-1), 1.0, f"{h} head(s): every attention row sums to 1", atol=1e-5)
    for head in range(h):
        print(f"  head {head}: previous {previous[head]:.2f}, itself {itself[head]:.2f}, next "
              f"{following[head]:.2f}, entropy {entropy[head]:.2f} bits "
              f"(uniform {np.log2(task_length):.2f}) -> {summary[h]['roles'][head]}")
    if distance is None:
        print("  one head: no pair of heads to compare")
    else:
        print(f"  mean Jensen-Shannon distance between its {len(pairs)} pairs of heads: {distance:.3f}")

print(f"\n{'heads':>5} {'key_dim':>7} {'accuracy':>8} {'JS distance':>11}  roles")
for h, s in summary.items():
    distance = "-" if s["distance"] is None else f"{s['distance']:.3f}"
    print(f"{h:>5} {task_width // h:>7} {s['accuracy']:>8.3f} {distance:>11}  {s['roles']}")
for h, s in summary.items():
    covered = [role for role in ("previous token", "next token") if role in s["roles"]]
    print(f"{h} head(s): {len(covered)} of the 2 neighbours have a head of their own "
          f"(>= 70% of its weight){': ' + ', '.join(covered) if covered else ''}")

# Per-head maps of one test sequence, one row of panels per model.
example = 0
symbols = test_x[example]
fig, axes = plt.subplots(len(head_counts), max(head_counts),
                         figsize=(2.3 * max(head_counts), 2.5 * len(head_counts)), squeeze=False)
for row, h in enumerate(head_counts):
    for head in range(max(head_counts)):
        ax = axes[row, head]
        if head >= h:
            ax.axis("off")
            continue
        ax.imshow(summary[h]["maps"][example, head], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{h} head(s): head {head}\n{summary[h]['roles'][head]}", fontsize=8)
        ax.set_xlabel("key position", fontsize=7)
        ax.set_ylabel("query position", fontsize=7)
        integer_ticks(ax)
        ax.tick_params(labelsize=6)
fig.suptitle(f"Per-head attention on the sequence {symbols.tolist()}: models trained "
             f"{task_steps} steps (seconds) on the neighbours task")
save_figure(fig, args.out, "17_head_maps.png")
plt.close(fig)

# %% [markdown]
"""
The same rank bound holds for the trained heads: on a sequence of L tokens, head h's score
matrix has rank at most min(L, key_dim).
"""

# %%
for h, s in summary.items():
    embedding, encoder = s["model"].layers[0], s["model"].layers[1]
    vectors = ops.convert_to_numpy(embedding(test_x[:1]))[0].astype("float64")  # (L, D)
    scores = head_scores(encoder.attention, vectors)
    ranks = [int(np.linalg.matrix_rank(m)) for m in scores]
    bound = min(task_length, task_width // h)
    print(f"trained, {h} head(s) of key_dim {task_width // h}: ranks {ranks} (bound {bound})")
    check(max(ranks) <= bound, f"trained, {h} head(s): rank <= min(L, key_dim) = {bound}")
    check_close(softmax(scores / np.sqrt(task_width // h)), s["maps"][0],
                f"trained, {h} head(s): softmax(Q_h K_h^T / sqrt(key_dim)) = the encoder's weights",
                atol=1e-4)

# %% [markdown]
"""
## Additive and dot-product scoring on the same queries and keys

Bahdanau et al. (2015) score a query q against a key k with a small network,
score(q, k) = v^T tanh(W_q q + W_k k) ("additive", or "concat"); Luong et al. (2015) and the
Transformer (Vaswani et al. 2017; 2nd ed. §11.4.1, 3rd ed. §15.3.1) use a dot product,
score(q, k) = q . k / sqrt(d). Both give one score per (query, key) pair and a softmax over the
keys; they are different functions, so on the same queries and keys they give different weights.
Keras has both as layers: `keras.layers.AdditiveAttention` (it expects q and k already
projected, and its `scale` vector is v) and `keras.layers.Attention` (dot product, with an
optional scalar `scale`). The project's `LuongAttention` (the RNN translator's, Luong's
"general" score q . W_a k) is the dot product when W_a = I / sqrt(d).
"""

# %%
section("Additive and dot-product scoring on the same queries and keys")


def additive_scores(q, k, w_q, w_k, v):
    """v^T tanh(W_q q + W_k k) for every (query, key) pair: (batch, Lq, Lk).

    q: (batch, Lq, d), k: (batch, Lk, d); w_q, w_k: (d, units); v: (units,)."""
    hidden = ops.tanh(ops.expand_dims(ops.matmul(q, w_q), 2)      # (batch, Lq, 1, units)
                      + ops.expand_dims(ops.matmul(k, w_k), 1))   # (batch, 1, Lk, units)
    return ops.matmul(hidden, v), hidden                           # (batch, Lq, Lk)


def dot_scores(q, k):
    """q . k / sqrt(d) for every (query, key) pair: (batch, Lq, Lk)."""
    return ops.matmul(q, ops.transpose(k, (0, 2, 1))) / np.sqrt(q.shape[-1]).astype("float32")


d, n_queries, n_keys = 8, 4, 6  # small enough to print
q = rng.standard_normal((1, n_queries, d)).astype("float32")
k = rng.standard_normal((1, n_keys, d)).astype("float32")
values = rng.standard_normal((1, n_keys, d)).astype("float32")
w_q = (rng.standard_normal((d, d)) / np.sqrt(d)).astype("float32")
w_k = (rng.standard_normal((d, d)) / np.sqrt(d)).astype("float32")
v = (rng.standard_normal(d) / np.sqrt(d)).astype("float32")
additive, hidden = additive_scores(q, k, w_q, w_k, v)
dot = dot_scores(q, k)
additive_weights = ops.convert_to_numpy(ops.softmax(additive, axis=-1))[0]
dot_weights = ops.convert_to_numpy(ops.softmax(dot, axis=-1))[0]
print(f"queries {q.shape}, keys {k.shape}; additive's hidden tensor {tuple(hidden.shape)} "
      f"(batch, Lq, Lk, units); scores {tuple(additive.shape)} and {tuple(dot.shape)}")
print(f"additive weights (random W_q, W_k, v):\n{additive_weights}")
print(f"dot-product weights (no parameters):\n{dot_weights}")
check(tuple(hidden.shape) == (1, n_queries, n_keys, d),
      f"additive scoring builds a (batch, Lq, Lk, units) = {tuple(hidden.shape)} tensor")
check(tuple(additive.shape) == tuple(dot.shape) == (1, n_queries, n_keys),
      f"both give one score per (query, key) pair: (batch, Lq, Lk) = (1, {n_queries}, {n_keys})")
check_close(additive_weights.sum(-1), 1.0, "additive: every softmax row sums to 1", atol=1e-6)
check_close(dot_weights.sum(-1), 1.0, "dot-product: every softmax row sums to 1", atol=1e-6)
difference = float(np.abs(additive_weights - dot_weights).max())
same_top = int((additive_weights.argmax(-1) == dot_weights.argmax(-1)).sum())
check(difference > 0.01, f"the two weight matrices differ (max abs difference {difference:.3f})")
print(f"the most-weighted key is the same for {same_top} of the {n_queries} queries")

# The hand-written versions against Keras and the project's LuongAttention.
keras_additive = keras.layers.AdditiveAttention(use_scale=True)
projected_q, projected_k = ops.matmul(q, w_q), ops.matmul(k, w_k)
keras_additive([projected_q, values, projected_k])  # builds the layer
keras_additive.set_weights([v])  # its `scale` vector is v
_, keras_weights = keras_additive([projected_q, values, projected_k], return_attention_scores=True)
check_close(ops.convert_to_numpy(keras_weights)[0], additive_weights,
            "by hand == keras.layers.AdditiveAttention(use_scale=True), scale = v, on W_q q and W_k k")
keras_dot = keras.layers.Attention(use_scale=True)
keras_dot([q, values, k])
keras_dot.set_weights([np.array(1 / np.sqrt(d), "float32")])  # its scalar `scale`
_, keras_weights = keras_dot([q, values, k], return_attention_scores=True)
check_close(ops.convert_to_numpy(keras_weights)[0], dot_weights,
            f"by hand == keras.layers.Attention(use_scale=True), scale = 1/sqrt({d})")
luong = LuongAttention(units=d)
luong.build(q.shape, k.shape)
luong.set_weights([np.eye(d, dtype="float32") / np.sqrt(d)])  # W_a = I / sqrt(d)
_, luong_weights = luong(q, k)
check_close(ops.convert_to_numpy(luong_weights)[0], dot_weights,
            f"by hand == models/luong_attention.py's LuongAttention with W_a = I / sqrt({d})")

# %% [markdown]
"""
## Additive and dot-product scoring: the cost

For Lq queries and Lk keys of width d (and `units` = d hidden units for the additive score),
counting a multiply-add as 2 FLOPs and an addition or a tanh as 1:

- dot product: 2 Lq Lk d (one matrix product) + Lq Lk (the 1/sqrt(d) scale);
- additive: 2 d units (Lq + Lk) (the projections W_q q and W_k k) + Lq Lk units (the sum)
  + Lq Lk units (the tanh) + 2 Lq Lk units (the product with v), and it holds the
  (Lq, Lk, units) hidden tensor in memory where the dot product needs none.

Vaswani et al. (2017, section 3.2.1) write that dot-product attention "is much faster and more
space-efficient in practice"; the measured times below (TensorFlow on this machine, median of
several calls, Lq = Lk = L, batch 1) say what it is here.
"""

# %%
section("Additive and dot-product scoring: the cost")


def scoring_flops(length, d):
    dot_flops = 2 * length * length * d + length * length
    additive_flops = 2 * d * d * (2 * length) + 4 * length * length * d
    return dot_flops, additive_flops


spec = tf.TensorSpec((1, None, score_dim), "float32")
additive_fn = tf.function(lambda q, k, w_q, w_k, v: ops.softmax(additive_scores(q, k, w_q, w_k, v)[0]),
                          reduce_retracing=True)
dot_fn = tf.function(lambda q, k: ops.softmax(dot_scores(q, k)), reduce_retracing=True)
w_q = tf.constant(rng.standard_normal((score_dim, score_dim)) / np.sqrt(score_dim), "float32")
w_k = tf.constant(rng.standard_normal((score_dim, score_dim)) / np.sqrt(score_dim), "float32")
v = tf.constant(rng.standard_normal(score_dim) / np.sqrt(score_dim), "float32")
timings = {"dot product": [], "additive": []}
print(f"d = units = {score_dim}, batch 1, Lq = Lk = L")
print(f"{'L':>5} {'dot MFLOPs':>10} {'add. MFLOPs':>11} {'FLOP ratio':>10} {'hidden MB':>9} "
      f"{'dot ms':>8} {'add. ms':>8} {'time ratio':>10}  verdict")
for length in score_lengths:
    q_long = tf.constant(rng.standard_normal((1, length, score_dim)), "float32")
    k_long = tf.constant(rng.standard_normal((1, length, score_dim)), "float32")
    timings["dot product"].append(median_seconds(dot_fn, q_long, k_long))
    timings["additive"].append(median_seconds(additive_fn, q_long, k_long, w_q, w_k, v))
    dot_flops, additive_flops = scoring_flops(length, score_dim)
    ratio = timings["additive"][-1] / timings["dot product"][-1]
    print(f"{length:>5} {dot_flops / 1e6:>10.2f} {additive_flops / 1e6:>11.2f} "
          f"{additive_flops / dot_flops:>10.2f} {length * length * score_dim * 4 / 2 ** 20:>9.2f} "
          f"{timings['dot product'][-1] * 1e3:>8.3f} {timings['additive'][-1] * 1e3:>8.3f} "
          f"{ratio:>9.2f}x  {ratio_verdict(ratio, 'additive', 'dot product')}")
longest = score_lengths[-1]
dot_flops, additive_flops = scoring_flops(longest, score_dim)
check(additive_flops > dot_flops,
      f"by the formulas, additive scoring needs x{additive_flops / dot_flops:.2f} the FLOPs at "
      f"L = {longest} (as L grows the ratio tends to 4d / (2d + 1) = "
      f"{4 * score_dim / (2 * score_dim + 1):.2f})")
final_ratio = timings["additive"][-1] / timings["dot product"][-1]
print(f"measured at L = {longest}: {ratio_verdict(final_ratio, 'additive', 'dot product')}")

fig, ax = plt.subplots(figsize=(6.4, 4.2))
for name, times in timings.items():
    ax.plot(score_lengths, [t * 1e3 for t in times], marker="o", label=name)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xticks(score_lengths, [str(n) for n in score_lengths])
ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
ax.set_xlabel("queries = keys (L)")
ax.set_ylabel("time for scores + softmax (ms, median)")
ax.set_title(f"Additive and dot-product scoring, d = {score_dim} (measured)")
ax.legend()
save_figure(fig, args.out, "17_scoring_cost.png")
plt.close(fig)

# %% [markdown]
"""
## The heads of a trained translator

With `--run RUN_FOLDER` (in the full lesson, by default, `runs/small-transformer` when it
exists: the `make demo` translator), the encoder self-attention of a translator trained with
`nmt train`, head by head, on one English sentence: the entropy of each head's rows and the
Jensen-Shannon distance between each pair of heads, measured as above.
"""

# %%
section("The heads of a trained translator")
run = args.run or (default_run if default_run and os.path.isdir(default_run) else None)
if run is None:
    print("no translator: pass --run RUN_FOLDER (a Transformer trained with `nmt train`)")
else:
    from nmt.translator import Translator  # only here: loading a run reads its files

    translator = Translator.load(run)
    check(translator.config.model == "transformer", f"{run} is a Transformer translator")
    parts = translator.model.parts
    ids = translator.source_tokenizer.encode([sentence])
    ids = ids[:, : int((ids != 0).sum())]  # the real tokens only
    tokens = translator.source_tokenizer.tokens(ids[0])
    encoder = parts.encoders[0]
    _, weights = encoder(parts.source_embedding(ids), return_attention_scores=True)
    weights = ops.convert_to_numpy(weights)[0].astype("float64")  # (heads, L, L)
    heads = weights.shape[0]
    print(f"{run}: {heads} heads of key_dim {encoder.embed_dim // heads}, first encoder block; "
          f"{sentence!r} -> {tokens}")
    check_close(weights.sum(-1), 1.0, "every row of every head's map sums to 1", atol=1e-5)
    entropy = entropy_bits(weights).mean(-1)
    for head in range(heads):
        favourite = [tokens[j] for j in weights[head].argmax(-1)]
        near_uniform = np.log2(len(tokens)) - entropy[head] < 0.05
        print(f"  head {head}: entropy {entropy[head]:.2f} bits (uniform {np.log2(len(tokens)):.2f}"
              f"{': within 0.05 bits of uniform, it barely prefers any token' if near_uniform else ''}"
              f"); most-weighted key per query: {favourite}")
    for a in range(heads):
        for b in range(a + 1, heads):
            print(f"  heads {a} and {b}: mean Jensen-Shannon distance "
                  f"{js_distance(weights[a], weights[b]).mean():.3f}")
    fig, axes = plt.subplots(1, heads, figsize=(3.6 * heads, 3.8), squeeze=False)
    for head, ax in enumerate(axes[0]):
        # One colour scale, 0 to the largest weight: near-uniform rows show their differences.
        image = ax.imshow(weights[head], cmap="viridis", vmin=0, vmax=weights.max())
        ax.set_xticks(range(len(tokens)), tokens, rotation=90)
        ax.set_yticks(range(len(tokens)), tokens)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query (attending)")
        ax.set_title(f"head {head}: entropy {entropy[head]:.2f} bits")
    fig.colorbar(image, ax=axes[0, -1], label="attention weight", shrink=0.85)
    fig.suptitle(f"Encoder self-attention per head, trained translator {os.path.basename(run)}")
    save_figure(fig, args.out, "17_translator_heads.png")
    plt.close(fig)

# %% [markdown]
"""
## What you learned

- At one width, the 3rd edition's heads (key_dim = embed_dim / heads) leave the parameter count
  at 4D^2 + 4D and the matrix-product FLOPs unchanged; the 2nd edition's key_dim = embed_dim
  makes both grow with the heads (both checked above).
- What grows with the 3rd edition's heads is the number of attention maps; each head's score
  matrix has rank at most min(L, key_dim) (checked on random and trained weights), so more heads
  means more patterns of lower rank.
- Trained heads can be read: the weight each puts on its neighbours, its entropy, and how far
  apart the heads of one model are (the Jensen-Shannon distances printed above).
- Additive scoring, v^T tanh(W_q q + W_k k), and the scaled dot product give different weights on
  the same queries and keys; the hand-written versions equal Keras's AdditiveAttention and
  Attention. Additive needs a (Lq, Lk, units) tensor and, by the formulas, more FLOPs; the
  measured time ratio on this machine is the one printed above.

## Exercises

1. Train the neighbours task with a target that needs three positions (previous, next and the
   one two steps back). How many heads does a model need before each of those positions has a
   head of its own, and what happens to the Jensen-Shannon distances?
2. Redo the rank section with L smaller than key_dim. Which bound binds now, and does cutting
   the width into more heads still lower the rank of each head's scores?
3. Time the two scoring functions with `units` = 16 and 256 instead of d. Which terms of the
   FLOP formulas change, and does the measured ratio follow them?
"""
