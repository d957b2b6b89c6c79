# %% [markdown]
"""
# 15 · A decoder-only language model

**What you learn:** how a GPT-style language model is a Transformer decoder without an encoder:
token + position embedding, blocks of causal self-attention and feed-forward, a final norm and
the unembedding that turns each last hidden state into logits; how it is trained to predict the
next token of Spanish sentences, scored by validation perplexity against a uniform and a
word-frequency (unigram) model, and sampled with temperature and top-k; what it costs next to
the translator of the same width.

**Book:** *Deep Learning with Python*, 3rd ed. §15.1 "The language model" (15.1.1 "Training a
Shakespeare language model", 15.1.2 "Generating Shakespeare") and §16.2 "Training a mini-GPT"
(building the model, pretraining, generative decoding, sampling strategies); 2nd ed. §12.1
"Text generation" (sampling strategy, temperature).

**Run:** `python chapters/15_language_model.py [--quick] [--out DIR]` (or open it as a notebook:
`make notebooks`). The corpus is read from `$SPA_ENG_PATH` (or the Keras cache, or downloaded).
"""

# %%
try:  # python -m chapters.15_language_model
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/15_language_model.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import math
import random
import time

import keras
import matplotlib.ticker
import numpy as np
import tensorflow as tf

# load_corpus and split_corpus are in data/corpus.py, SubwordTokenizer (WordPiece) in
# data/subword.py, LanguageModel (embedding, causal blocks, final norm, unembedding, next_fn)
# in models/language_model.py, decode (greedy / temperature / top-k sampling) in
# models/decoding.py, MaskedCrossEntropy in models/metrics.py, build_transformer (the
# translator) in models/transformer.py, parameter_parts in models/registry.py.
from data.corpus import load_corpus, split_corpus
from data.subword import SubwordTokenizer
from models.decoding import decode
from models.language_model import LanguageModel
from models.metrics import MaskedCrossEntropy
from models.registry import parameter_parts
from models.transformer import build_transformer

args = parse_args("15 · A decoder-only language model")

# Settings. --quick shrinks them so the test suite runs the lesson in seconds.
seed = 1337  # corpus split, sample, weights and sampling all come from it
context = 24  # positions the model reads: [start] + up to 22 wordpieces + [end]
vocab_size = 2000  # WordPiece vocabulary (upper bound)
max_train, max_val = 30000, 2000  # sentences drawn from the training and validation splits
sizes = dict(embed_dim=128, dense_dim=512, num_heads=4, num_layers=2, dropout=0.1)
epochs, steps_per_epoch, batch_size, learning_rate = 6, 100, 64, 2e-3  # 600 steps
num_samples, top_k = 64, 10  # sentences generated per setting; top-k of the sampling section
temperatures = (0.5, 1.0, 1.5)
if args.quick:
    vocab_size, max_train, max_val = 300, 1200, 200
    sizes = dict(embed_dim=32, dense_dim=64, num_heads=2, num_layers=2, dropout=0.0)
    epochs, steps_per_epoch, batch_size, learning_rate = 6, 0, 64, 3e-3  # 0: one pass
    num_samples = 16

keras.utils.set_random_seed(seed)

# %% [markdown]
"""
## The data: Spanish sentences

A language model needs only text: here the Spanish side of the translation corpus, split by
English source as the translator's runs split it (so no validation sentence is a translation of
a training sentence), each Spanish sentence kept once, and validation sentences that also occur
in training removed (otherwise validation would reward memorising them).

The tokenizer is WordPiece (`data/subword.py`), not the book's word vectorizer, for two
reasons. Every character of the training text is a piece, so training text never becomes
`[UNK]`: with words, each rare word would become the same `[UNK]`, an easy token to predict,
and perplexity would look better than the model is. And WordPiece keeps case, accents and the
punctuation "¿ ? ¡ !", so generated sentences read as Spanish. Each sentence is wrapped as
`[start] ... [end]`; the model reads positions 0..n-1 and predicts positions 1..n.
Sentences longer than the context are left out, so every sequence ends with `[end]` and the
model learns where sentences stop.
"""

# %%
section("The data: Spanish sentences")
corpus = load_corpus(None)
splits = split_corpus(corpus.pairs, seed=seed, mode="source")
train_sentences = list(dict.fromkeys(spanish for _, spanish in splits.train))
seen = set(train_sentences)
val_all = list(dict.fromkeys(spanish for _, spanish in splits.val))
val_sentences = [s for s in val_all if s not in seen]
print(f"unique Spanish sentences: train {len(train_sentences):,}, validation {len(val_all):,} "
      f"({len(val_all) - len(val_sentences):,} of them also in train, removed)")
random.Random(seed).shuffle(train_sentences)
random.Random(seed + 1).shuffle(val_sentences)
if max_train:
    train_sentences = train_sentences[:max_train]
val_sentences = val_sentences[:max_val]

start = time.perf_counter()
tokenizer = SubwordTokenizer.adapt(train_sentences, vocab_size=vocab_size,
                                   sequence_length=context + 1, language="spanish")
print(f"WordPiece vocabulary: {tokenizer.vocab_size:,} pieces learned from "
      f"{len(train_sentences):,} sentences in {time.perf_counter() - start:.1f} s")


def encode(sentences):
    """Sentences that fit -> (n, context + 1) ids [start] ... [end] 0 0 ...; and how many fit."""
    fits = tokenizer.token_counts(sentences) + 2 <= context + 1
    kept = [s for s, ok in zip(sentences, fits) if ok]
    return tokenizer.encode(kept, markers=True), len(sentences) - len(kept)


train_ids, train_dropped = encode(train_sentences)
val_ids, val_dropped = encode(val_sentences)
print(f"sequences: train {len(train_ids):,} ({train_dropped:,} too long left out), "
      f"validation {len(val_ids):,} ({val_dropped:,} left out)")
real_train_tokens = int(np.count_nonzero(train_ids[:, 1:]))
print(f"training tokens to predict per epoch: {real_train_tokens:,}")
check(not np.any(train_ids == tokenizer.unk_id), "no training token is [UNK]")
val_unk = int(np.sum(val_ids == tokenizer.unk_id))
print(f"[UNK] in validation (characters never seen in training): {val_unk:,} of "
      f"{int(np.count_nonzero(val_ids)):,} tokens")
check(bool(np.all(np.sum(train_ids == tokenizer.end_id, axis=1) == 1)),
      "every training sequence holds exactly one [end]")

example = train_ids[0]
print(f"\nexample: {tokenizer.decode([example])[0]!r}")
print(f"  pieces: {tokenizer.tokens([i for i in example if i])}")
inputs, targets = train_ids[:, :-1], train_ids[:, 1:]  # read 0..n-1, predict 1..n
weights = (targets != 0).astype("float32")  # padding is not a token to predict
print(f"inputs {inputs.shape}, targets {targets.shape}: targets[t] = inputs[t + 1]")
check(bool(np.array_equal(inputs[:, 1:], targets[:, :-1])), "the targets are the inputs shifted by one")

# %% [markdown]
"""
## The model

`LanguageModel` (models/language_model.py) is the translator's decoder without cross-attention:
`PositionalEmbedding` (token + learned position), `num_layers` blocks of causal self-attention
(`CachedMultiHeadAttention`) and feed-forward (GELU), each as `x + f(norm(x))` (pre-LN, as
GPT-2), then one final LayerNorm, which a pre-LN stack needs since its residual stream is never
normalised otherwise. The shapes at each stage, for one batch:
"""

# %%
section("The model")
model = LanguageModel(vocab_size=tokenizer.vocab_size, sequence_length=context,
                      tie_embeddings=True, **sizes)
batch = inputs[:4]
x = model.embedding(batch)
print(f"ids {batch.shape} -> embedding (token + position) {tuple(x.shape)}")
for block in model.blocks:
    x = block(x)
    print(f"  {block.name}: causal self-attention + feed-forward -> {tuple(x.shape)}")
hidden = model.final_norm(x)
print(f"  final norm -> {tuple(hidden.shape)}")
logits = model(batch)
print(f"  unembedding -> logits {tuple(logits.shape)} (batch, length, vocabulary)")
check(tuple(logits.shape) == batch.shape + (tokenizer.vocab_size,),
      "one logit per vocabulary entry at every position")
parts = {"embedding (token + position + output bias)": model.embedding.count_params(),
         **{block.name: block.count_params() for block in model.blocks},
         "final norm": model.final_norm.count_params()}
for name, count in parts.items():
    print(f"  {name:<45} {count:>10,}")
print(f"  {'total':<45} {model.count_params():>10,}")
check(sum(parts.values()) == model.count_params(), "the parts add up to count_params()")

# %% [markdown]
"""
## The unembedding: logits = last hidden state @ W

The last hidden state of position t, a vector of `embed_dim` numbers, becomes one score per
vocabulary entry by a matrix product with W, `embed_dim` x vocabulary. This model ties W to the
token embedding (W is the embedding table transposed, plus a bias per token, as GPT-2 does):
the vector that reads a token in is the one that scores it out, and the model saves a
vocabulary x `embed_dim` matrix (`tie_embeddings=False` gives it a Dense layer of its own).
"""

# %%
section("The unembedding: logits = last hidden state @ W")
hidden = keras.ops.convert_to_numpy(model.hidden_states(batch))
table = keras.ops.convert_to_numpy(model.embedding.token_embeddings.embeddings)
bias = keras.ops.convert_to_numpy(model.embedding.output_bias)
W = table.T
print(f"last hidden states {hidden.shape} @ W {W.shape} (the token embedding {table.shape}, "
      f"transposed) + bias {bias.shape} -> {(hidden @ W + bias).shape}")
check_close(hidden @ W + bias, keras.ops.convert_to_numpy(model(batch)),
            "logits = hidden @ embedding^T + bias, by hand = the model's", atol=1e-4)
untied = LanguageModel(vocab_size=tokenizer.vocab_size, sequence_length=context,
                       tie_embeddings=False, **sizes)
untied(batch)
extra = untied.count_params() - model.count_params()
print(f"untied: {untied.count_params():,} parameters, {extra:,} more")
check(extra == sizes["embed_dim"] * tokenizer.vocab_size,
      f"an untied unembedding costs embed_dim x vocabulary = {extra:,} more parameters")

# %% [markdown]
"""
## The causal mask: the past cannot see the future

Training predicts every position of a sentence at once, so position t must not read the token
it is asked to predict, nor any later one. Change the token at one position: the logits before
it stay exactly as they were, the logits from it on change.
"""

# %%
section("The causal mask: the past cannot see the future")
position = 5
changed = batch.copy()
changed[:, position] = (changed[:, position] % (tokenizer.vocab_size - 4)) + 4  # another piece
before = keras.ops.convert_to_numpy(model(batch))
after = keras.ops.convert_to_numpy(model(changed))
check_close(after[:, :position], before[:, :position],
            f"changing the token at position {position} leaves positions 0..{position - 1} unchanged",
            atol=1e-5)
moved = float(np.abs(after[:, position:] - before[:, position:]).max())
print(f"largest change at positions {position}..: {moved:.3f}")
check(moved > 1e-3, f"the logits from position {position} on do change")

# %% [markdown]
"""
## Training

The loss is the cross-entropy of the next token, averaged over real tokens (padding has sample
weight 0), with Adam. The full run trains `embed_dim=128` on 30,000 training sentences for a
fixed 600 batches of 64 (6 epochs of 100 steps, about 1.4 passes over the data; a few minutes
on this 2-core CPU); `--quick` trains a tiny model on 1,200 sentences for 6 passes (seconds). After each epoch the exact validation cross-entropy per real token is
computed (epoch 0 is the untrained model).
"""

# %%
section("Training")
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                  reduction="mean_with_sample_weight")
# jit_compile=False: XLA compiling the step takes longer than the quick run's whole training.
model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=False)
val_inputs, val_targets = val_ids[:, :-1], val_ids[:, 1:]
train_data = (tf.data.Dataset.from_tensor_slices((inputs, targets, weights)).cache()
              .shuffle(len(inputs), seed=seed).batch(batch_size, drop_remainder=True)
              .repeat().prefetch(tf.data.AUTOTUNE))
steps_per_epoch = steps_per_epoch or len(inputs) // batch_size  # quick: one pass per epoch


def perplexity(logits_fn, ids):
    """exp(mean cross-entropy of every real next token of `ids`), and that mean."""
    metric = MaskedCrossEntropy()
    for i in range(0, len(ids), 256):
        chunk = ids[i : i + 256]
        target = chunk[:, 1:]
        metric.update_state(target, logits_fn(chunk[:, :-1]), (target != 0).astype("float32"))
    mean = float(metric.result())
    return math.exp(mean), mean


def model_logits(x):
    return model(x, training=False)


class ValidationLoss(keras.callbacks.Callback):
    """The exact validation cross-entropy per real token after each epoch."""

    def __init__(self):
        super().__init__()
        self.losses = [perplexity(model_logits, val_ids)[1]]  # epoch 0: untrained

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(perplexity(model_logits, val_ids)[1])
        print(f"  epoch {epoch + 1}: validation cross-entropy {self.losses[-1]:.3f}")


validation = ValidationLoss()
untrained_ppl = math.exp(validation.losses[0])
start = time.perf_counter()
history = model.fit(train_data, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=2,
                    callbacks=[validation])
train_seconds = time.perf_counter() - start
steps = epochs * steps_per_epoch
print(f"trained {epochs} epochs of {steps_per_epoch:,} steps ({steps:,} batches of {batch_size}, "
      f"{steps * batch_size / len(inputs):.1f} passes over the {len(inputs):,} sequences) in "
      f"{train_seconds:.1f} s, the first step's graph tracing included")
train_loss, val_loss = history.history["loss"], validation.losses

plt = pyplot()
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(range(1, epochs + 1), train_loss, "o-", label="training (mean over the epoch)")
ax.plot(range(0, epochs + 1), val_loss, "s-", label="validation (epoch 0: untrained)")
ax.axhline(math.log(tokenizer.vocab_size), color="gray", linestyle="--",
           label=f"uniform: ln({tokenizer.vocab_size:,})")
ax.set_xlabel(f"epoch ({steps_per_epoch} steps of {batch_size} sentences)")
ax.set_ylabel("cross-entropy per token (nats)")
ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
mode = "quick mode: seconds of training" if args.quick else f"{train_seconds / 60:.1f} min of training"
ax.set_title(f"Spanish language model, {model.count_params():,} parameters\n({mode})",
             fontsize=10)
ax.legend()
save_figure(fig, args.out, "15_training_curve.png")
check(train_loss[-1] < train_loss[0], "the training loss went down over the epochs")
check(val_loss[-1] < val_loss[0], "the validation loss is lower than the untrained model's")

# %% [markdown]
"""
## Validation perplexity

Perplexity is exp(mean cross-entropy per token) on held-out sentences: the number of equally
likely tokens the model is, on average, as unsure as. A model that gives every token the same
probability scores exactly the vocabulary size; a unigram model (each token's training frequency,
ignoring the context) is the next baseline: beating it means the model uses the context.
"""

# %%
section("Validation perplexity")
V = tokenizer.vocab_size
uniform_ppl, uniform_ce = perplexity(lambda x: tf.zeros(x.shape + (V,)), val_ids)
counts = np.bincount(train_ids[:, 1:][train_ids[:, 1:] != 0], minlength=V) + 1.0  # add-one
unigram_logits = np.log(counts / counts.sum()).astype("float32")
unigram_ppl, _ = perplexity(lambda x: tf.broadcast_to(unigram_logits, x.shape + (V,)), val_ids)
model_ppl, model_ce = perplexity(model_logits, val_ids)
val_tokens = int(np.count_nonzero(val_ids[:, 1:]))
print(f"validation: {len(val_ids):,} sentences, {val_tokens:,} tokens to predict")
print(f"  uniform model     perplexity {uniform_ppl:10.1f}   (vocabulary {V:,})")
print(f"  untrained model   perplexity {untrained_ppl:10.1f}")
print(f"  unigram model     perplexity {unigram_ppl:10.1f}")
print(f"  language model    perplexity {model_ppl:10.1f}   (cross-entropy {model_ce:.3f} nats)")
check_close(uniform_ppl, V, "the uniform model's perplexity is the vocabulary size", atol=1e-2 * V)
check(model_ppl < uniform_ppl,
      f"the trained model beats the uniform model ({model_ppl:.1f} < {uniform_ppl:.1f})")
if model_ppl < 0.98 * unigram_ppl:
    print(f"it also beats the unigram model by {1 - model_ppl / unigram_ppl:.0%}: "
          "it predicts from the context, not only from word frequencies")
elif model_ppl <= 1.02 * unigram_ppl:
    print("it is level with the unigram model (within 2%): so far it has learned little "
          "more than token frequencies")
else:
    print(f"it is {model_ppl / unigram_ppl - 1:.0%} worse than the unigram model: too little "
          "training to learn even the token frequencies well")

# %% [markdown]
"""
## Generating with temperature and top-k

Generation starts from `[start]` and draws one token at a time from the softmax of the
logits divided by the temperature T, until `[end]`. It runs in the project's one decode loop
(`decode` in models/decoding.py, `strategy="sample"`), fed by the model's `next_fn`, which
runs only the new token through the blocks and keeps the earlier keys and values in a cache.
T < 1 sharpens the distribution toward the likeliest tokens, T > 1 flattens it; top-k draws
only among the k likeliest tokens. For fixed logits, the entropy of softmax(logits / T) grows
with T; the sampled sentences are measured by the share of distinct tokens among all the
tokens generated and by their mean cross-entropy under the model at T = 1 (how surprising the
model itself finds them).
"""

# %%
section("Generating with temperature and top-k")
keep_k = (0, top_k)  # 0 = sample from the whole vocabulary
start_ids = tf.fill([num_samples], tf.constant(tokenizer.start_id, tf.int64))
results = {}
for k in keep_k:
    for temperature in temperatures:
        tokens = decode(model.next_fn, start_ids, model.init_cache(num_samples, context),
                        max_length=context - 1, end_id=tokenizer.end_id, strategy="sample",
                        temperature=temperature, top_k=k, seed=seed).numpy()
        # Score what was generated with one full pass: logits at t score the token at t + 1.
        full = keras.ops.convert_to_numpy(model(tokens[:, :-1]))
        generated = tokens[:, 1:]
        real = generated != 0
        top = full.max(-1, keepdims=True)
        log_probs = full - top - np.log(np.exp(full - top).sum(-1, keepdims=True))
        picked = np.take_along_axis(log_probs, generated[..., None], axis=-1)[..., 0]
        ranks = (full > np.take_along_axis(full, generated[..., None], axis=-1)).sum(-1)
        ended = int(np.sum(np.any(generated == tokenizer.end_id, axis=1)))
        flat = generated[real]
        results[(k, temperature)] = dict(
            sentences=tokenizer.decode(tokens), distinct=len(set(flat.tolist())) / len(flat),
            surprise=float(-picked[real].mean()), max_rank=int(ranks[real].max()), ended=ended)

for k in keep_k:
    label = "all tokens" if k == 0 else f"top-k = {k}"
    for temperature in temperatures:
        r = results[(k, temperature)]
        print(f"\nT = {temperature}, {label}: distinct tokens {r['distinct']:.2f}, "
              f"cross-entropy at T=1 {r['surprise']:.2f} nats/token, "
              f"{r['ended']}/{num_samples} reached [end]")
        for sentence in r["sentences"][:4]:
            print(f"    {sentence}")
    if k:
        worst = max(results[(k, t)]["max_rank"] for t in temperatures)
        check(worst < k, f"with top-k = {k} every sampled token is among the {k} likeliest "
                         f"(worst rank {worst})")

# Entropy of the sampling distribution at each T, on the same contexts (validation inputs).
contexts = keras.ops.convert_to_numpy(model(val_inputs[:64]))[val_targets[:64] != 0]
entropies = {}
for k in keep_k:
    for temperature in temperatures:
        z = contexts / temperature
        if k:
            kth = np.sort(z, axis=-1)[:, -k][:, None]
            z = np.where(z < kth, -np.inf, z)
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        entropies[(k, temperature)] = float(-(p * np.log(np.where(p > 0, p, 1))).sum(-1).mean())
for k in keep_k:
    row = [entropies[(k, t)] for t in temperatures]
    label = "all tokens" if k == 0 else f"top-k = {k}"
    print(f"entropy of the next-token distribution ({label}): "
          + ", ".join(f"T={t}: {e:.2f}" for t, e in zip(temperatures, row)) + " nats")
    check(all(a < b for a, b in zip(row, row[1:])),
          f"{label}: on the same contexts the entropy grows with the temperature")
check(all(entropies[(top_k, t)] <= entropies[(0, t)] + 1e-6 for t in temperatures),
      f"top-k = {top_k} never has more entropy than the whole vocabulary at the same T")
for name, label in (("distinct", "distinct-token share"), ("surprise", "cross-entropy at T=1")):
    row = [results[(0, t)][name] for t in temperatures]
    trend = ("rises with T" if all(a < b for a, b in zip(row, row[1:])) else
             "does not rise steadily with T in this run")
    print(f"sampled sentences, all tokens: {label} " + ", ".join(f"{v:.2f}" for v in row)
          + f" -> {trend}")

fig, ax = plt.subplots(figsize=(6, 4))
for k in keep_k:
    label = "all tokens" if k == 0 else f"top-k = {k}"
    ax.plot(temperatures, [entropies[(k, t)] for t in temperatures], "o-", label=label)
ax.set_xticks(temperatures)
ax.set_xlabel("temperature T")
ax.set_ylabel("mean entropy (nats)")
ax.set_title("Entropy of the next-token distribution on validation contexts"
             + ("\n(quick mode: seconds of training)" if args.quick else ""), fontsize=10)
ax.legend()
save_figure(fig, args.out, "15_temperature_entropy.png")

# %% [markdown]
"""
## Next to the translator

The translator of lesson 09 (`build_transformer`, the book's post-LN encoder-decoder) at the same
width (embed_dim, dense_dim, heads, blocks) and vocabulary size on both sides: it adds a source
embedding, an encoder stack, a cross-attention per decoder block and an output layer of its
own. The formula below counts the language model's parameters by hand.
"""

# %%
section("Next to the translator")
d, f, n = sizes["embed_dim"], sizes["dense_dim"], sizes["num_layers"]
translator = build_transformer(source_vocab_size=V, target_vocab_size=V, sequence_length=context,
                               embed_dim=d, dense_dim=f, num_heads=sizes["num_heads"],
                               num_layers=n)
attention = 4 * d * d + 4 * d  # query, key, value, output projections with biases
block = attention + (d * f + f) + (f * d + d) + 2 * (2 * d)  # + feed-forward + 2 LayerNorms
by_hand = V * d + context * d + V + n * block + 2 * d  # embeddings, bias, blocks, final norm
print(f"by hand: {V:,} x {d} + {context} x {d} + {V:,} + {n} x {block:,} + 2 x {d} = {by_hand:,}")
check(by_hand == model.count_params(), "the formula equals the language model's count_params()")
lm_total, translator_total = model.count_params(), translator.count_params()
translator_parts = parameter_parts(translator)
lm_parts = {"embeddings": model.embedding.count_params() - V,
            "encoder": 0,
            "decoder": sum(b.count_params() for b in model.blocks) + model.final_norm.count_params(),
            "output": V}
print(f"\n{'':<14}{'language model':>16}{'translator':>14}")
for name in ("embeddings", "encoder", "decoder", "output", "total"):
    lm_count = lm_total if name == "total" else lm_parts[name]
    print(f"{name:<14}{lm_count:>16,}{translator_parts[name]:>14,}")
check(sum(lm_parts.values()) == lm_total, "the language model's parts add up")
print(f"the translator has {translator_total / lm_total:.2f} times the language model's "
      f"parameters ({translator_total - lm_total:,} more)")
check(translator_total > lm_total, "at the same width the translator is the larger model")

# %% [markdown]
"""
## What you learned

- A GPT-style language model is the decoder stack alone: embedding, causal self-attention and
  feed-forward blocks, a final norm, and an unembedding; here it is tied, so the logits are the
  last hidden state times the token embedding transposed, plus a bias, checked by hand.
- The causal mask lets one forward pass train every position: changing a token never changed
  the logits before it.
- Validation perplexity was compared with two computed baselines: the uniform model (exactly the
  vocabulary size) and the unigram model; the printed verdict says where this run's model stands.
- The temperature divides the logits before the softmax: on the same contexts the entropy of
  the sampling distribution rose with T, and top-k kept every sampled token among the k likeliest.
- At the same width the translator has more parameters than the language model: a second
  embedding, an encoder and a cross-attention per block; the table shows where.

## Exercises

1. Train with `tie_embeddings=False` and compare the validation perplexity and the parameter
   count with the tied model.
2. Give generation a prompt: write the first words of a sentence after `[start]` and let
   `next_fn` force them (return a one-hot logit for each prompt token) before sampling.
3. Replace the WordPiece tokenizer by the book's word vectorizer (`data/vectorize.py`) and
   explain why the two perplexities cannot be compared directly (hint: tokens per sentence and
   `[UNK]`).
"""
