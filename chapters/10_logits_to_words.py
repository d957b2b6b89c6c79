"""
Title: From logits to words
What you learn: the decoder's last vector becomes one score (logit) per Spanish word through
    the output layer (the "unembedding"); softmax turns the scores into a next-token
    distribution; temperature sharpens it (T < 1) or flattens it (T > 1); greedy decoding takes
    the most likely word, sampling draws one, and what sampling at several temperatures gives.
Run: python chapters/10_logits_to_words.py [--quick] [--out DIR] [--run RUN_FOLDER]
"""

import contextlib
import io
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

args = parse_args(__doc__.strip().splitlines()[0], extra=lambda parser: parser.add_argument(
    "--run", help="an existing Transformer run folder to use instead of training one"))

# Settings. Without --run, the full run trains the "book-small" Transformer for one epoch on the
# whole corpus (a few minutes on 2 CPU cores); --quick trains the tiny one for seconds.
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
    sentence = "Where is Tom?"  # the first 3,000 pairs of the corpus are 1-3 word sentences
    seeds = [0, 1, 2]

"""## A model"""
section("A model")

if args.run:
    translator = Translator.load(args.run)
    print(f"loaded {args.run} ({translator.config.model}, preset {translator.config.preset})")
else:
    config = resolve_config("transformer", preset, max_pairs=max_pairs, epochs=epochs,
                            steps_per_epoch=steps_per_epoch, **training)
    out_dir = os.path.join(args.out, "10_transformer")
    with contextlib.redirect_stdout(io.StringIO()):  # train()'s own log
        translator = train(config, out_dir, overwrite=True, verbose=0)
    print(f"trained the {preset} Transformer into {out_dir}")
check(translator.config.model == "transformer", "this lesson uses a Transformer translator")
model, steps = translator.model, translator.steps
spanish = translator.target_tokenizer
vocabulary = np.array(spanish.tokens(range(spanish.vocab_size)))
print(f"Spanish vocabulary: {spanish.vocab_size:,} tokens ('' = padding, [UNK], [start], ...)")

"""## The output layer: one score per Spanish word"""
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

"""## Softmax: scores to probabilities"""
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

"""## Temperature: sharper or flatter"""
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
ax.set_title(f"First Spanish word for {sentence!r} at three temperatures")
ax.legend()
save_figure(fig, args.out, "10_temperature.png")

"""## Sampling translations"""
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
