# %% [markdown]
"""
# 03 · Scaling the dot product by sqrt(d_k)

**What you learn:** the dot product of two random d_k-dimensional vectors has variance d_k, so
without scaling the softmax saturates as d_k grows (one key takes almost all the weight, the
entropy falls towards 0) and its gradient vanishes; dividing by sqrt(d_k) keeps all three
stable. The book's models have d_k = 256 / 8 = 32 per head in the 3rd edition
(key_dim = embed_dim // num_heads) and d_k = 256 in the 2nd (key_dim = embed_dim).

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.1 "Understanding self-attention";
3rd ed. §15.3.1 "Dot-product attention".

**Run:** `python chapters/03_scaling.py [--quick] [--out DIR]` (or open it as a notebook:
`make notebooks`).
"""

# %%
try:  # python -m chapters.03_scaling
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/03_scaling.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import numpy as np
import tensorflow as tf

args = parse_args("03 · Scaling the dot product by sqrt(d_k)")

# Settings. --quick shrinks them so the test suite runs every chapter in seconds.
key_dims = [4, 16, 64, 256, 1024] if args.quick else [4, 8, 16, 32, 64, 128, 256, 512, 1024]
num_keys = 10  # keys each query is scored against (a 10-token sentence)
num_queries = 500 if args.quick else 4000  # random queries averaged over, per d_k
seed = 0  # numpy generator seed
vanishing = 0.01  # a softmax Jacobian norm below this counts as a vanished gradient

rng = np.random.default_rng(seed)

# %% [markdown]
"""
## Dot products grow with d_k

If q and k have independent components with mean 0 and variance 1, then
q . k = sum_i q_i k_i is a sum of d_k terms of variance 1: its variance is d_k and its typical
size sqrt(d_k). Dividing by sqrt(d_k) brings the variance back to 1 for every d_k.
"""

# %%
section("Dot products grow with d_k")


def softmax(scores):
    shifted = np.exp(scores - scores.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def softmax_jacobian_norm(p):
    """Frobenius norm of d softmax / d scores = diag(p) - p p^T, for each row of p."""
    jacobian = np.einsum("...i,ij->...ij", p, np.eye(p.shape[-1])) - p[..., :, None] * p[..., None, :]
    return np.sqrt((jacobian**2).sum((-2, -1)))


rows = []
for d_k in key_dims:
    q = rng.standard_normal((num_queries, 1, d_k))
    k = rng.standard_normal((num_queries, num_keys, d_k))
    unscaled = (q * k).sum(-1)  # (num_queries, num_keys)
    scaled = unscaled / np.sqrt(d_k)
    row = {"d_k": d_k}
    for name, scores in (("unscaled", unscaled), ("scaled", scaled)):
        p = softmax(scores)
        row[name] = {
            "variance": float(scores.var()),
            "max_prob": float(p.max(-1).mean()),
            # Entropy in nats: log(10) = 2.30 for uniform weights, 0 for one-hot.
            "entropy": float(-(p * np.log(np.maximum(p, 1e-30))).sum(-1).mean()),
        }
        gradient = softmax_jacobian_norm(p)  # (num_queries,)
        # The median is the typical query; the mean is pulled up by the rare near-ties.
        row[name]["grad_norm"] = float(np.median(gradient))
        row[name]["grad_mean"] = float(gradient.mean())
        row[name]["vanished"] = float((gradient < vanishing).mean())
    rows.append(row)

print(f"{num_queries:,} random queries x {num_keys} keys per d_k, components ~ N(0, 1)\n")
print(f"{'d_k':>5} {'var(q.k)':>9} {'var/d_k':>8} {'var(q.k/sqrt d_k)':>18}")
for row in rows:
    d_k, u, s = row["d_k"], row["unscaled"], row["scaled"]
    print(f"{d_k:>5} {u['variance']:>9.1f} {u['variance'] / d_k:>8.3f} {s['variance']:>18.3f}")
for row in rows:
    check(0.85 < row["unscaled"]["variance"] / row["d_k"] < 1.15,
          f"d_k={row['d_k']}: var(q.k) / d_k = {row['unscaled']['variance'] / row['d_k']:.3f} ~ 1")
    check(0.85 < row["scaled"]["variance"] < 1.15,
          f"d_k={row['d_k']}: var(q.k / sqrt(d_k)) = {row['scaled']['variance']:.3f} ~ 1")

# %% [markdown]
"""
## The softmax saturates without scaling

Scores with a spread of sqrt(d_k) (32 at d_k = 1024) put almost all the weight on the largest
one: the softmax approaches a one-hot argmax (max weight towards 1, entropy towards 0). Scaled scores keep the same
spread at every d_k, so the attention stays soft.
"""

# %%
section("The softmax saturates without scaling")
print(f"{'':>5} {'max weight':>21} {'entropy (nats)':>21}")
print(f"{'d_k':>5} {'unscaled':>10} {'scaled':>10} {'unscaled':>10} {'scaled':>10}")
for row in rows:
    u, s = row["unscaled"], row["scaled"]
    print(f"{row['d_k']:>5} {u['max_prob']:>10.3f} {s['max_prob']:>10.3f} {u['entropy']:>10.3f} "
          f"{s['entropy']:>10.3f}")
first, last = rows[0], rows[-1]
print(f"\nuniform weights over {num_keys} keys: max weight {1 / num_keys:.2f}, "
      f"entropy log({num_keys}) = {np.log(num_keys):.2f}")
check(last["unscaled"]["max_prob"] > 0.9,
      f"unscaled, d_k={last['d_k']}: mean max weight {last['unscaled']['max_prob']:.3f} > 0.9 "
      "(near one-hot)")
check(last["unscaled"]["entropy"] < 0.3,
      f"unscaled, d_k={last['d_k']}: entropy {last['unscaled']['entropy']:.3f} < 0.3 nats")
scaled_max = [r["scaled"]["max_prob"] for r in rows]
check(max(scaled_max) < 0.5,
      f"scaled: mean max weight stays below 0.5 at every d_k (largest {max(scaled_max):.3f})")
check(max(scaled_max) - min(scaled_max) < 0.05,
      f"scaled: mean max weight varies by {max(scaled_max) - min(scaled_max):.3f} < 0.05 across d_k")
check(min(r["scaled"]["entropy"] for r in rows) > 1.5, "scaled: entropy > 1.5 nats at every d_k")
unscaled_max = [r["unscaled"]["max_prob"] for r in rows]
check(bool(np.all(np.diff(unscaled_max) > 0)), "unscaled: max weight rises with every increase of d_k")

# %% [markdown]
"""
## The gradient vanishes without scaling

The softmax's Jacobian is diag(p) - p p^T. When p is one-hot, every entry is 0: nudging any
score changes nothing, so the queries and keys receive no gradient and stop learning.
We check the formula against TensorFlow's autodiff, then compare the two regimes.
"""

# %%
section("The gradient vanishes without scaling")
scores = tf.constant(rng.standard_normal((3, num_keys)))
with tf.GradientTape() as tape:
    tape.watch(scores)
    probabilities = tf.nn.softmax(scores)
autodiff = tape.batch_jacobian(probabilities, scores).numpy()  # (3, num_keys, num_keys)
check_close(np.sqrt((autodiff**2).sum((-2, -1))), softmax_jacobian_norm(probabilities.numpy()),
            "|diag(p) - p p^T| equals the norm of TensorFlow's softmax Jacobian", atol=1e-9)
print(f"|d softmax / d scores| per query ({num_queries:,} queries per d_k); 'vanished' = "
      f"share of queries with a norm below {vanishing}\n")
print(f"{'':>5} {'median':>21} {'mean':>21} {'vanished':>17}")
print(f"{'d_k':>5} {'unscaled':>10} {'scaled':>10} {'unscaled':>10} {'scaled':>10} "
      f"{'unscaled':>8} {'scaled':>8}")
for row in rows:
    u, s = row["unscaled"], row["scaled"]
    print(f"{row['d_k']:>5} {u['grad_norm']:>10.2e} {s['grad_norm']:>10.2e} {u['grad_mean']:>10.2e} "
          f"{s['grad_mean']:>10.2e} {u['vanished']:>8.1%} {s['vanished']:>8.1%}")
ratio = last["scaled"]["grad_norm"] / last["unscaled"]["grad_norm"]
mean_ratio = last["scaled"]["grad_mean"] / last["unscaled"]["grad_mean"]
print(f"\nd_k={last['d_k']}: the typical (median) query gets {ratio:,.0f}x less gradient unscaled; "
      f"the mean ({mean_ratio:.0f}x less) is carried by the few queries whose top two scores tie.")
check(ratio > 100, f"d_k={last['d_k']}: median gradient norm scaled / unscaled = {ratio:,.0f} > 100")
check(last["unscaled"]["vanished"] > 0.5,
      f"d_k={last['d_k']}: {last['unscaled']['vanished']:.0%} of unscaled queries have a vanished "
      f"gradient (> 50%)")
check(mean_ratio > 4,
      f"d_k={last['d_k']}: even the mean gradient norm is {mean_ratio:.1f}x smaller (> 4x)")
# Below d_k ~ 16 the scores are still soft and a wider spread can even raise the gradient.
unscaled_grads = [r["unscaled"]["grad_norm"] for r in rows if r["d_k"] >= 16]
check(bool(np.all(np.diff(unscaled_grads) < 0)),
      "unscaled: median gradient norm falls with every increase of d_k from 16 on")
scaled_grads = [r["scaled"]["grad_norm"] for r in rows]
check(max(scaled_grads) / min(scaled_grads) < 1.2 and max(r["scaled"]["vanished"] for r in rows) < 0.01,
      f"scaled: median gradient norm stays within 20% across d_k ({min(scaled_grads):.3f}.."
      f"{max(scaled_grads):.3f}) and under 1% of queries vanish")

plt = pyplot()
dims = [r["d_k"] for r in rows]
fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
panels = (("variance", "variance of the scores", "log"),
          ("max_prob", "mean max attention weight", "linear"),
          ("entropy", "entropy of the weights (nats)", "linear"),
          ("grad_norm", "median |d softmax / d scores|", "log"))
for ax, (key, label, yscale) in zip(axes.flat, panels):
    ax.plot(dims, [r["unscaled"][key] for r in rows], "o-", label="q . k (unscaled)")
    ax.plot(dims, [r["scaled"][key] for r in rows], "s-", label="q . k / sqrt(d_k)")
    if key == "variance":
        ax.plot(dims, dims, ":", color="gray", label="d_k")
    if key == "max_prob":
        ax.axhline(1 / num_keys, ls=":", color="gray", label="uniform")
    if key == "entropy":
        ax.axhline(np.log(num_keys), ls=":", color="gray", label="uniform")
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(d) for d in dims], fontsize=7)
    ax.set_yscale(yscale)
    ax.set_xlabel("d_k")
    ax.set_ylabel(label)
    ax.set_title(label)
    ax.legend(fontsize=8)
fig.suptitle(f"Scaled vs unscaled dot-product attention ({num_keys} keys, N(0, 1) components)")
save_figure(fig, args.out, "03_scaling.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- For q, k with N(0, 1) components, var(q . k) is close to d_k at every d_k tried, and
  var(q . k / sqrt(d_k)) close to 1.
- Unscaled, the mean largest attention weight rises with d_k, above 0.9 at d_k = 1024 (entropy
  under 0.3 nats); scaled, it stays below 0.5 at every d_k.
- The softmax's Jacobian diag(p) - p p^T (checked against TensorFlow's autodiff) is close to 0
  for a near one-hot p: unscaled at d_k = 1024, the typical query gets over 100 times less
  gradient than scaled.

## Exercises

1. The 3rd edition's heads have d_k = 32, the 2nd edition's d_k = 256: read both rows in the
   table of a full run (`key_dims` includes 32 and 256). How saturated would unscaled
   attention be in each?
2. Divide by d_k instead of sqrt(d_k): what happens to the variance and the entropy as d_k
   grows?
3. Use 100 keys instead of 10 (`num_keys`): does unscaled attention saturate sooner or later?
"""
