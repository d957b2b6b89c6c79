# %% [markdown]
"""
# 10 · From logits to words: softmax, temperature, sampling

**What you learn:** the decoder's last vector becomes one score (logit) per Spanish word
through the output layer (the "unembedding"); softmax turns the scores into a next-token
distribution; temperature sharpens it (T < 1) or flattens it (T > 1); greedy decoding takes
the most likely word, sampling draws one, and what sampling at several temperatures gives.

**Book:** *Deep Learning with Python*, 2nd ed. §11.5.3 "Sequence-to-sequence learning with
Transformer" (the output layer and the decoding loop) and §12.1 "Text generation" ("The
importance of the sampling strategy"); 3rd ed. §15.1.2 "Generating Shakespeare", §15.3.4
"Sequence-to-sequence learning with a Transformer" and §16.2 "Training a mini-GPT" (sampling
strategies).

**Run:** `python chapters/10_logits_to_words.py [--quick] [--out DIR] [--run RUN_FOLDER]` (or
open it as a notebook: `make notebooks`). `--run` studies a Transformer you trained with
`nmt train` instead of training one here.
"""

# %%
import contextlib
import io
import json
import os

try:  # python -m chapters.10_logits_to_words
    from chapters.common import check, check_close, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/10_logits_to_words.py
    from common import check, check_close, parse_args, pyplot, save_figure, section

import numpy as np
import tensorflow as tf

# The output layer ("output", a Dense) is built in models/transformer.py; TransformerSteps
# (encode, init_cache, next_fn) there too; greedy and temperature / top-k sampling are in
# models/decoding.py (_pick); Translator.translate in nmt/translator.py.
from nmt.config import resolve_config
from nmt.training import train
from nmt.translator import Translator

args = parse_args("10 · From logits to words: softmax, temperature, sampling",
                  extra=lambda parser: parser.add_argument(
                      "--run", help="an existing Transformer run folder to use instead of "
                                    "training one"))

# %% [markdown]
"""
## Settings

Without `--run`, the full lesson trains the `book-small` Transformer (the book's recipe, with
the 3rd edition's `key_dim = embed_dim // num_heads`, at embed 128) for one epoch on the whole
corpus. `--quick` trains the `tiny` one for 2 epochs of 150 steps on a seeded random sample of
3,000 of the corpus' pairs (`max_pairs`, seed 1337: `nmt/training.py`'s `prepare_splits`):
seconds of training. The distributions below are whatever that model learned; the checks are
about softmax, temperature and sampling, which hold for any logits.
"""

# %%
preset = "book-small"  # the book's recipe: an output layer of its own
max_pairs, epochs, steps_per_epoch = 0, 1, 0
# Other config overrides. float32: the lesson prints the same numbers on every machine
# (`nmt train` picks bfloat16 where the hardware has it).
training = dict(precision="float32")
sentence = "Where is the train station?"  # the sentence whose first Spanish word we study
temperatures = [0.2, 1.0, 2.0]  # for the first-token distribution
sample_temperatures = [0.2, 0.7, 1.0, 1.5]  # for sampled translations
seeds = [0, 1, 2, 3]  # one sampled translation per seed
top = 10  # words shown per distribution
if args.quick:
    preset, max_pairs, epochs, steps_per_epoch = "tiny", 3000, 2, 150
    training = dict(precision="float32", learning_rate=3e-3, dropout=0.1)
    sentence = "Where is Tom?"  # short: the quick model has trained for seconds
    seeds = [0, 1, 2]

# %% [markdown]
"""
## A model

A Transformer translator: trained here, or loaded from `--run`.
"""

# %%
section("A model")

if args.run:
    translator = Translator.load(args.run)
    print(f"loaded {args.run} ({translator.config.model}, preset {translator.config.preset})")
    provenance = f"run {os.path.basename(os.path.normpath(args.run))}"
else:
    config = resolve_config("transformer", preset, max_pairs=max_pairs, epochs=epochs,
                            steps_per_epoch=steps_per_epoch, **training)
    out_dir = os.path.join(args.out, "10_transformer")
    with contextlib.redirect_stdout(io.StringIO()):  # train()'s own log
        translator = train(config, out_dir, overwrite=True, verbose=0)
    with open(os.path.join(out_dir, "train_state.json")) as f:
        train_seconds = json.load(f)["train_seconds"]
    per_epoch = f" of {steps_per_epoch} steps" if steps_per_epoch else ""
    provenance = f"{preset} model, {epochs} epoch(s){per_epoch}, {train_seconds:.0f} s of training"
    print(f"trained the {preset} Transformer into {out_dir}: {epochs} epoch(s){per_epoch}, "
          f"{train_seconds:.1f} s")
check(translator.config.model == "transformer", "this lesson uses a Transformer translator")
model, steps = translator.model, translator.steps
spanish = translator.target_tokenizer
vocabulary = np.array(spanish.tokens(range(spanish.vocab_size)))
print(f"Spanish vocabulary: {spanish.vocab_size:,} tokens ('' = padding, [UNK], [start], ...)")

# %% [markdown]
"""
## The output layer: one score per Spanish word

The encoder reads the English sentence once; the decoder, having read only `[start]`, gives
one vector `h` for the next position. The output layer is a dense layer from `embed_dim` to the
Spanish vocabulary: each word's score (logit) is the dot product of `h` with that word's
column of the kernel, plus its bias. The run checks that the step-by-step decoder (`next_fn`),
the full model and `h @ kernel + bias` give the same logits.
"""

# %%
section("The output layer: one score per Spanish word")

source = translator.source_tokenizer.encode([sentence])
source = tf.constant(source[:, : int((source != 0).sum())])
state = steps.encode(source)  # the encoder runs once
cache = steps.init_cache(state, translator.config.sequence_length)
tokens = tf.constant([[spanish.start_id]], tf.int64)  # the decoder has read only [start]
logits, _ = steps.next_fn(tokens, cache, 0)
logits = np.asarray(logits)[0]  # (vocab,)
print(f"{sentence!r}: encoder output {tuple(state['encoder_outputs'].shape)}; after [start] "
      f"the decoder gives logits {logits.shape}")
output_layer = model.parts.output_layer
kernel, bias = (np.asarray(w) for w in output_layer.weights)
print(f"output layer '{output_layer.name}': kernel {kernel.shape} (embed_dim, vocab), bias "
      f"{bias.shape}: logit(word) = h · kernel[:, word] + bias[word]")
# The same logits from the full model, and by hand from the decoder's last vector h.
full = np.asarray(model({"english": source, "spanish": tokens}))[0, 0]
check_close(logits, full, "next_fn's logits equal the full model's for the first position",
            atol=1e-4)
hidden = tf.keras.Model(model.inputs, output_layer.input)  # everything before the output layer
h = np.asarray(hidden({"english": source, "spanish": tokens}))[0, 0]
print(f"decoder output h: {h.shape}")
check_close(h @ kernel + bias, full, "logits = h @ kernel + bias", atol=1e-4)

# %% [markdown]
"""
## Softmax: scores to probabilities

Softmax exponentiates the logits and divides by their sum: positive numbers that sum to 1,
in the same order as the logits, so the most likely word is the highest logit.
"""

# %%
section("Softmax: scores to probabilities")


def softmax(scores, temperature=1.0):
    scaled = np.asarray(scores, "float64") / temperature
    exp = np.exp(scaled - scaled.max())  # subtracting the max changes nothing, avoids overflow
    return exp / exp.sum()


def entropy(p):
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


probabilities = softmax(logits)
order = np.argsort(-logits)
print(f"{'word':<12} {'logit':>8} {'probability':>12}")
for i in order[:top]:
    print(f"{vocabulary[i]:<12} {logits[i]:>8.3f} {probabilities[i]:>12.4f}")
print(f"the top {top} words hold {probabilities[order[:top]].sum():.1%} of the probability")
check_close(probabilities.sum(), 1.0, "the probabilities sum to 1", atol=1e-6)
check(probabilities.argmax() == logits.argmax(), "softmax keeps the order: greedy = highest logit")
check_close(np.asarray(tf.nn.softmax(logits)), probabilities, "our softmax equals tf.nn.softmax",
            atol=1e-5)  # float32 against float64

# %% [markdown]
"""
## Temperature: sharper or flatter

Dividing the logits by a temperature `T` before the softmax changes how peaked the
distribution is without changing the order of the words: `T < 1` sharpens it (the top word
gets more of the probability), `T > 1` flattens it toward uniform. Entropy (in nats) measures
the spread: 0 for one certain word, `log(vocabulary size)` for uniform. The figure shows the
model's top words at three temperatures; its title says how the model was trained.
"""

# %%
section("Temperature: sharper or flatter")

distributions = {t: softmax(logits, t) for t in temperatures}
header = "".join(f"{'T=' + str(t):>10}" for t in temperatures)
print(f"{'word':<12}{header}")
for i in order[:top]:
    print(f"{vocabulary[i]:<12}" + "".join(f"{distributions[t][i]:>10.4f}" for t in temperatures))
entropies = [entropy(distributions[t]) for t in temperatures]
print(f"{'entropy':<12}" + "".join(f"{e:>10.3f}" for e in entropies)
      + f"  (nats; uniform over the vocabulary: {np.log(spanish.vocab_size):.3f})")
check(all(a < b for a, b in zip(entropies, entropies[1:])),
      "entropy increases with the temperature")
check(all(distributions[t].argmax() == logits.argmax() for t in temperatures),
      "temperature never changes which word is most likely")
check(distributions[min(temperatures)].max() > probabilities.max() > distributions[
    max(temperatures)].max(), "T < 1 raises the top probability, T > 1 lowers it")

plt = pyplot()
fig, ax = plt.subplots(figsize=(9, 4))
positions = np.arange(top)
width = 0.8 / len(temperatures)
for k, t in enumerate(temperatures):
    ax.bar(positions + (k - (len(temperatures) - 1) / 2) * width, distributions[t][order[:top]],
           width, label=f"T = {t} (entropy {entropies[k]:.2f})")
ax.set_xticks(positions, vocabulary[order[:top]], rotation=30, ha="right")
ax.set_xlabel("Spanish word (the model's top 10 at T = 1)")
ax.set_ylabel("probability of being the first word")
ax.set_title(f"First Spanish word for {sentence!r} at three temperatures\n({provenance})",
             fontsize=10)
ax.legend()
save_figure(fig, args.out, "10_temperature.png")

# %% [markdown]
"""
## Sampling translations

Greedy decoding takes the highest logit at every step. Sampling draws the next word from the
(temperature-scaled) distribution instead, so different seeds can give different translations;
the count of different ones per temperature is printed. The same seed gives the same sample,
and sampling from the top 1 word only is greedy decoding; both are checked.
"""

# %%
section("Sampling translations")

greedy = translator.translate([sentence])[0]
print(f"greedy: {greedy!r}")
samples = {}
for t in sample_temperatures:
    samples[t] = [translator.translate([sentence], decode="sample", temperature=t, seed=s)[0]
                  for s in seeds]
    print(f"T={t:<4} " + " | ".join(repr(x) for x in samples[t])
          + f"   ({len(set(samples[t]))} different)")
again = translator.translate([sentence], decode="sample", temperature=sample_temperatures[-1],
                             seed=seeds[0])[0]
check(again == samples[sample_temperatures[-1]][0], "the same seed gives the same sample")
top_1 = translator.translate([sentence], decode="sample", top_k=1, seed=seeds[0])[0]
check(top_1 == greedy, "sampling from the top 1 word only is greedy decoding")

# %% [markdown]
"""
## What you learned

- The output layer turns the decoder's last vector into one logit per Spanish word:
  `logits = h @ kernel + bias`, the same numbers the full model and the cached `next_fn` give.
- Softmax keeps the logits' order, so greedy decoding takes the highest logit.
- Temperature never changes which word is most likely; below 1 it raises the top probability,
  above 1 it lowers it, and the entropy grows with it.
- Sampling with a fixed seed is reproducible, and top-1 sampling is greedy decoding.

## Exercises

1. Set `temperatures = [0.01, 1.0, 100.0]`. What do the two extreme distributions approach,
   and what are their entropies close to?
2. Sample 20 translations at `T = 0.7` with `top_k=5` and without. Which words appear only
   without the top-k cut?
3. Train the full lesson (or pass `--run` with a run from `nmt train`) and compare the entropy
   at `T = 1` with the quick model's. Is the trained model more certain of its first word?
"""
