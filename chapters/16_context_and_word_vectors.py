# %% [markdown]
"""
# 16 · Words in context and word vectors

**What you learn:** the embedding layer gives a word the same vector in every sentence; the
encoder of a trained translator gives it a vector that depends on the sentence around it. We
measure both with cosine similarity on words with two senses ("turn left" / "she left"), then
look at the trained embedding table itself: nearest neighbours and word-vector analogies, scored
against a random-embedding baseline.

**Book:** *Deep Learning with Python*, 2nd ed. §11.3.3 "Processing words as a sequence"
("Understanding word embeddings", "Learning word embeddings with the Embedding layer"); 3rd ed.
§14.5 "Sequence models" ("Understanding word embeddings") and 3rd ed. §15.3 "The Transformer
architecture" (self-attention makes context-aware token representations).

**Run:** `python chapters/16_context_and_word_vectors.py [--quick] [--out DIR] [--run RUN_FOLDER]`
(or open it as a notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.16_context_and_word_vectors
    from chapters.common import ROOT, check, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/16_context_and_word_vectors.py
    from common import ROOT, check, parse_args, pyplot, save_figure, section

import contextlib
import io
import os
import sys

import keras
import numpy as np
import tensorflow as tf

# Translator.load and build_model are in nmt/translator.py, train in nmt/training.py; the
# encoder alone is `Translator.steps.encode` (TransformerSteps in models/transformer.py: the
# source PositionalEmbedding, then the TransformerEncoder blocks, then the final LayerNorm of a
# pre-LN stack; RNNSteps in models/rnn.py: the bidirectional GRU's states).
from data.corpus import load_corpus
from data.errors import NmtError
from nmt.config import resolve_config
from nmt.runs import read_history
from nmt.training import train
from nmt.translator import Translator, build_model

args = parse_args("16 · Words in context and word vectors", extra=lambda parser: (
    parser.add_argument("--run", help="a run folder trained with `nmt train` (a Transformer, or "
                                      "a GRU with attention) to study instead of the default")))

# Settings. Without --run, the full lesson loads runs/small-transformer (the `make demo` run)
# or, when it is missing, trains the same "small" Transformer (10 minutes); --quick trains the
# tiny Transformer with the book's word vocabulary for a few seconds.
default_run = os.path.join(ROOT, "runs", "small-transformer")
full_training = dict(model="transformer", preset="small")  # the `make demo` settings
quick_training = dict(model="transformer", preset="tiny", tokenizer="word", max_pairs=5000,
                      epochs=1, steps_per_epoch=80, batch_size=64, sequence_length=16,
                      learning_rate=3e-3, val_fraction=0.05, test_fraction=0.05)
SUPPORTED = {"transformer": "the Transformer encoder's outputs",
             "rnn": "the bidirectional GRU's states (directions summed)"}

# Words with two senses, each sense in sentences copied from the corpus (the Spanish differs:
# izquierda / se fue, derecha / razón, reloj / ver, luz / ligero, libro / reservar,
# parque / aparcar, obra / jugar).
senses = {
    "left": {"direction": ["Turn left at the corner.", "Cars keep to the left in Japan.",
                           "Turn left at the next corner."],
             "went away": ["Tom left at midnight.", "I left home at seven.",
                           "She left for Paris."]},
    "right": {"direction": ["Turn right.", "His house is there on the right.",
                            "Turn right at the next intersection."],
              "correct": ["I guess Tom was right.", "I think that you're right.",
                          "His mother was right."]},
    "watch": {"noun": ["Where is my watch?", "My watch is very precise.",
                       "Have you seen my watch?"],
              "verb": ["We watch TV every day.", "Did you watch the movie?",
                       "Can you watch the kids?"]},
    "light": {"noun": ["Tom turned on the light.", "Don't turn off the light.",
                       "All plants need water and light."],
              "not heavy": ["This box is light enough to carry.",
                            "My overcoat is light but warm."]},
    "book": {"noun": ["Close the book.", "Could you lend me the book?",
                      "Yesterday, I bought a book."],
             "verb": ["Please book a room for her.", "I have to book a hotel room."]},
    "park": {"noun": ["He got lost in the park.", "Her house is near the park.",
                      "A dog is running in the park."],
             "verb": ["You can't park here.", "Where did you park the car?",
                      "I'm going to park the car."]},
    "play": {"noun": ["She acted in the play.", "I thought the play went very well.",
                      "Let's rewrite the end of the play."],
             "verb": ["Tom can't play tennis.", "He can play a flute.",
                      "I don't want to play anymore."]},
}
heatmap_word = "left"  # the word of the heatmap (the first usable word if this one is not)
margin = 0.02  # a cosine difference smaller than this is reported as no difference
# Frequent words whose nearest neighbours we print.
neighbour_words = ["father", "dog", "car", "eat", "good", "red", "Monday", "three"]
# Word pairs that share a relation; every ordered pair of pairs (a, b), (c, d) of one relation
# is an analogy "a is to b as c is to d": d should be the nearest word to b - a + c.
relations = {
    "male : female": [("man", "woman"), ("boy", "girl"), ("he", "she"), ("father", "mother"),
                      ("brother", "sister"), ("son", "daughter"), ("husband", "wife"),
                      ("king", "queen"), ("uncle", "aunt")],
    "adjective : comparative": [("good", "better"), ("bad", "worse"), ("big", "bigger"),
                                ("small", "smaller"), ("old", "older"), ("young", "younger"),
                                ("tall", "taller"), ("fast", "faster"), ("long", "longer"),
                                ("cheap", "cheaper"), ("easy", "easier")],
    "verb : past tense": [("go", "went"), ("come", "came"), ("see", "saw"), ("eat", "ate"),
                          ("take", "took"), ("give", "gave"), ("run", "ran"), ("write", "wrote"),
                          ("speak", "spoke"), ("know", "knew"), ("buy", "bought"),
                          ("find", "found")],
    "singular : plural": [("cat", "cats"), ("dog", "dogs"), ("book", "books"), ("car", "cars"),
                          ("boy", "boys"), ("girl", "girls"), ("house", "houses"),
                          ("apple", "apples"), ("friend", "friends"), ("child", "children")],
    "country : language": [("Spain", "Spanish"), ("France", "French"), ("Germany", "German"),
                           ("Japan", "Japanese"), ("China", "Chinese"), ("Italy", "Italian"),
                           ("England", "English")],
}
random_seeds = [0, 1, 2, 3, 4]  # random embedding tables for the baseline
pca_relation = "male : female"  # the word pairs drawn in the embedding PCA figure


def fail(message):
    """A problem with the user's input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


# %% [markdown]
"""
## A trained translator

Context is something a model learns, so we study a trained one: the run given with `--run`,
else `runs/small-transformer` (what `make demo` trains: a 128-wide Transformer with a WordPiece
vocabulary), else one trained here. Quick mode trains the tiny Transformer for a few seconds,
with the book's word vocabulary (learning a WordPiece vocabulary takes longer than that), so
its numbers say little about what training gives; the titles say how long each model trained.
"""

# %%
section("A trained translator")

try:
    if args.run:
        source_of_run = args.run
    elif args.quick or not os.path.isfile(os.path.join(default_run, "model.keras")):
        settings = quick_training if args.quick else full_training
        config = resolve_config(settings["model"], settings["preset"],
                                **{k: v for k, v in settings.items()
                                   if k not in ("model", "preset")})
        source_of_run = os.path.join(args.out, "16_transformer")
        print(f"training the {config.preset} Transformer into {source_of_run} ...")
        with contextlib.redirect_stdout(io.StringIO()):  # train()'s own log
            train(config, source_of_run, overwrite=True, verbose=0)
    else:
        source_of_run = default_run
    translator = Translator.load(source_of_run)
    corpus = load_corpus(translator.config.corpus or None, download=False, verbose=False)
except NmtError as error:
    fail(str(error))
config = translator.config
if config.model not in SUPPORTED:
    fail(f"{source_of_run}: a {config.model!r} run; this lesson needs the encoder's output at "
         f"every position, which only {' and '.join(map(repr, SUPPORTED))} runs have")
seconds = sum(row.get("epoch_seconds", 0.0) for row in read_history(source_of_run))
trained = f"after {seconds:,.0f} seconds of training"
tokenizer = translator.source_tokenizer
print(f"run {source_of_run}: {config.model}, preset {config.preset}, {config.tokenizer} "
      f"vocabulary of {tokenizer.vocab_size:,} English tokens, width {config.embed_dim}, "
      + (f"{config.num_layers} encoder block(s), " if config.model == "transformer" else "")
      + trained)
print(f"encoder outputs here: {SUPPORTED[config.model]}")

embedding_layer = translator.model.parts.source_embedding
# The Transformer's PositionalEmbedding holds a keras Embedding; the RNNs use one directly.
token_table = getattr(embedding_layer, "token_embeddings", embedding_layer)
table = np.asarray(token_table.embeddings, dtype="float64")  # (vocab, embed_dim)
print(f"English token embedding table: {table.shape} (vocab, embed_dim)")
check(table.shape[0] == tokenizer.vocab_size, "one embedding row per English token")


# %% [markdown]
"""
## Finding a word in a sentence

The model never sees words, only token ids. With the book's word vocabulary a word is one id
(or [UNK], which every unknown word shares: such a word is left out). A WordPiece vocabulary
may split a rarer word into pieces ("##" continues a word); we then average the vectors of the
word's pieces, for the encoder outputs and the input embeddings alike. A sentence longer than
the model's `sequence_length` is cut, and loses the word if it sat in the tail: such a sentence
is left out too.
"""

# %%
section("Finding a word in a sentence")


def word_ids(word):
    """The token ids of `word` alone (no padding)."""
    ids = tokenizer.encode([word])[0]
    return ids[ids != 0]


def find_span(sentence_ids, pieces):
    """(start, end) of the first whole occurrence of `pieces` in one row of ids, or None."""
    tokens = tokenizer.tokens(sentence_ids)
    k = len(pieces)
    for i in range(len(sentence_ids) - k + 1):
        # A match must not continue into a "##" piece (that would be a longer word).
        whole = i + k == len(sentence_ids) or not tokens[i + k].startswith("##")
        if np.array_equal(sentence_ids[i : i + k], pieces) and whole:
            return i, i + k
    return None


all_sentences = {s for by_sense in senses.values() for group in by_sense.values() for s in group}
english_sentences = {english for english, _ in corpus.pairs}
check(all_sentences <= english_sentences,
      f"all {len(all_sentences)} example sentences are English sentences of the corpus")

occurrences = {}  # word -> list of (sense, sentence, ids row, (start, end))
for word, by_sense in senses.items():
    pieces = word_ids(word)
    if tokenizer.unk_id in pieces or len(pieces) == 0:
        print(f"{word!r}: not in this vocabulary ([UNK]); left out")
        continue
    found, lost = [], []
    for sense, sentences in by_sense.items():
        rows = tokenizer.encode(sentences)
        for sentence, row in zip(sentences, rows):
            span = find_span(row, pieces)
            (found if span else lost).append((sense, sentence, row, span))
    kept_senses = [sense for sense in by_sense if sum(o[0] == sense for o in found) >= 2]
    if len(kept_senses) < 2:
        print(f"{word!r}: fewer than two sentences left for a sense (cut at "
              f"{tokenizer.sequence_length} tokens); left out")
        continue
    occurrences[word] = found
    print(f"{word!r} = {tokenizer.tokens(pieces)}: {len(found)} sentences"
          + (f" ({len(lost)} left out: the word was cut off)" if lost else ""))
split_words = [w for w in occurrences if len(word_ids(w)) > 1]
print(f"words kept: {len(occurrences)} of {len(senses)}; split into pieces (averaged): "
      f"{split_words or 'none'}")
check(len(occurrences) >= 1, "at least one word is usable in this vocabulary")
example_word = next(iter(occurrences))
sense, sentence, row, (start, end) = occurrences[example_word][0]
print(f"example: {sentence!r} -> {tokenizer.tokens(row[row != 0])}; "
      f"{example_word!r} is token(s) {start}..{end - 1}")

# %% [markdown]
"""
## The input embedding has no context

`Embedding` is a lookup table: row `i` of the table is the vector of token `i`, whatever the
sentence. (The Transformer's `PositionalEmbedding` then adds a vector for the position; we
leave it out here, to keep the context-free vector of the word.) So every occurrence of a word
has the same input vector, and the cosine similarity of any two of them is exactly 1.
"""

# %%
section("The input embedding has no context")


def cosine_matrix(vectors):
    """(n, d) -> (n, n) cosine similarities."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


def input_vectors(word):
    """The context-free vector of each occurrence of `word`: its pieces' rows, averaged."""
    return np.stack([table[row[start:end]].mean(axis=0)
                     for _, _, row, (start, end) in occurrences[word]])


input_similarity = {word: cosine_matrix(input_vectors(word)) for word in occurrences}
lowest = min(float(m.min()) for m in input_similarity.values())
print(f"lowest input-embedding cosine between two occurrences of the same word: {lowest:.6f}")
check(lowest > 1 - 1e-6, "the input embedding of a word is identical in every sentence "
                         "(cosine 1)")

# %% [markdown]
"""
## The encoder output depends on the sentence

The encoder runs self-attention over the whole sentence (a GRU encoder reads it in both
directions), so its output at a word's position mixes in the other words (2nd ed. §11.4.1
"Understanding self-attention"; 3rd ed. §15.3.1 "Dot-product attention"). The same word now
gets a different vector in every sentence. Are two sentences that use the word in the same
sense closer than two that do not? We print the mean
cosine within a sense and across senses, and, for each occurrence, whether its most similar
other occurrence has the same sense (against the share of same-sense occurrences among the
others, what a random pick would give).

Two sentences with the same sense often share neighbouring words ("turn left at the corner",
"turn left at the next corner"), and the output mixes in those neighbours whatever the model
learned. So we measure the same numbers with an untrained (random) encoder of the same shape:
what training adds is the difference between the two. The two encoders' cosines sit at
different levels (a trained encoder's vectors often share a common direction), so compare the
differences and the nearest-occurrence rates, not the raw cosines.
"""

# %%
section("The encoder output depends on the sentence")


def encoder_vectors(steps, word):
    """The encoder output at each occurrence of `word`: its pieces' vectors, averaged."""
    rows = np.stack([row for _, _, row, _ in occurrences[word]])
    outputs = np.asarray(steps.encode(tf.constant(rows))["encoder_outputs"], dtype="float64")
    return np.stack([outputs[i, start:end].mean(axis=0)
                     for i, (_, _, _, (start, end)) in enumerate(occurrences[word])])


def sense_scores(similarity, labels):
    """Mean cosine within a sense, across senses, and the nearest-neighbour sense match rate
    with its chance level."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    masked = np.where(off_diagonal, similarity, -np.inf)
    closest = masked.argmax(axis=1)  # each occurrence's most similar other occurrence
    chance = ((same & off_diagonal).sum(axis=1) / off_diagonal.sum(axis=1)).mean()
    return dict(same=float(similarity[same & off_diagonal].mean()),
                cross=float(similarity[~same].mean()),
                match=float((labels[closest] == labels).mean()), chance=float(chance))


def verdict(difference):
    if difference > margin:
        return "same sense closer"
    if difference < -margin:
        return "other sense closer"
    return f"no difference beyond {margin}"


keras.utils.set_random_seed(0)
untrained = build_model(config, tokenizer.vocab_size, translator.target_tokenizer.vocab_size)
untrained_steps = type(translator.steps)(untrained)
encoder_similarity, scores, untrained_scores = {}, {}, {}
smallest = np.inf  # the smallest difference between the vectors of two different sentences
for word in occurrences:
    labels = [sense for sense, *_ in occurrences[word]]
    vectors = encoder_vectors(translator.steps, word)
    differences = np.abs(vectors[:, None] - vectors[None, :]).max(axis=-1)
    smallest = min(smallest, float(differences[~np.eye(len(vectors), dtype=bool)].min()))
    encoder_similarity[word] = cosine_matrix(vectors)
    scores[word] = sense_scores(encoder_similarity[word], labels)
    untrained_scores[word] = sense_scores(
        cosine_matrix(encoder_vectors(untrained_steps, word)), labels)

highest = max(float(m[~np.eye(len(m), dtype=bool)].max()) for m in encoder_similarity.values())
print(f"highest encoder-output cosine between two different sentences: {highest:.4f}")
check(smallest > 0, "the encoder gives the same word a different vector in every sentence "
                    f"(the two closest differ by {smallest:.2e} in their most different "
                    "coordinate)")

print(f"\n{'word':<7}{'same':>7}{'cross':>7}{'diff':>7}  {'verdict':<26}"
      f"{'NN same':>8}{'chance':>7} | untrained:{'same':>6}{'cross':>7}{'diff':>7}{'NN':>6}")
for word, s in scores.items():
    u = untrained_scores[word]
    print(f"{word:<7}{s['same']:>7.3f}{s['cross']:>7.3f}{s['same'] - s['cross']:>7.3f}  "
          f"{verdict(s['same'] - s['cross']):<26}{s['match']:>8.0%}{s['chance']:>7.0%} | "
          f"{'':>10}{u['same']:>6.3f}{u['cross']:>7.3f}{u['same'] - u['cross']:>7.3f}"
          f"{u['match']:>6.0%}")
mean = {key: np.mean([s[key] for s in scores.values()]) for key in ("same", "cross", "match",
                                                                    "chance")}
mean_untrained = {key: np.mean([s[key] for s in untrained_scores.values()])
                  for key in ("same", "cross", "match")}
closer = sum(s["same"] - s["cross"] > margin for s in scores.values())
farther = sum(s["same"] - s["cross"] < -margin for s in scores.values())
print(f"\ntrained ({trained}): same sense {mean['same']:.3f}, across senses "
      f"{mean['cross']:.3f} (difference {mean['same'] - mean['cross']:+.3f}); same sense closer "
      f"for {closer} of {len(scores)} words, other sense closer for {farther}; the nearest "
      f"occurrence has the same sense {mean['match']:.0%} of the time (chance "
      f"{mean['chance']:.0%})")
print(f"untrained: same sense {mean_untrained['same']:.3f}, across senses "
      f"{mean_untrained['cross']:.3f} (difference "
      f"{mean_untrained['same'] - mean_untrained['cross']:+.3f}); nearest occurrence same sense "
      f"{mean_untrained['match']:.0%}")
gain = (mean["same"] - mean["cross"]) - (mean_untrained["same"] - mean_untrained["cross"])
print(f"trained minus untrained same-minus-cross difference: {gain:+.3f}: "
      + ("the trained encoder separates the senses more" if gain > margin else
         "the untrained encoder separates them more" if gain < -margin else
         f"no change beyond {margin}"))

# %%
plt = pyplot()
word = heatmap_word if heatmap_word in occurrences else example_word
names = [f"{sentence} ({sense})" for sense, sentence, *_ in occurrences[word]]
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
low = np.floor(encoder_similarity[word].min() * 100) / 100  # one colour scale for both
for ax, matrix, what in ((axes[0], encoder_similarity[word], "encoder outputs"),
                         (axes[1], input_similarity[word], "input embedding")):
    image = ax.imshow(matrix, vmin=low, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), [str(i) for i in range(len(names))])
    ax.set_yticks(range(len(names)), names if ax is axes[0] else [""] * len(names), fontsize=8)
    ax.set_xlabel("sentence (numbered as the rows)")
    ax.set_ylabel("sentence" if ax is axes[0] else "")
    ax.set_title(f"{what}: cosine of {word!r} across sentences")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] < (low + 1) / 2 else "black")
fig.colorbar(image, ax=axes[1], label="cosine similarity")
fig.suptitle(f"The same word in different sentences ({config.model}, {trained})")
save_figure(fig, args.out, "16_context_heatmap.png")

# %% [markdown]
"""
A 2-D picture of the encoder outputs of every kept occurrence: principal component analysis
(PCA) with numpy's singular value decomposition: centre the vectors, and their coordinates on
the first two right singular vectors are the directions of largest variance.
"""

# %%


def pca_2d(vectors):
    """(n, d) -> (n, 2): coordinates on the two directions of largest variance, and the share
    of the variance they hold."""
    centred = vectors - vectors.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T, float((singular[:2] ** 2).sum() / (singular ** 2).sum())


vectors, labels = [], []
for word in occurrences:
    vectors.append(encoder_vectors(translator.steps, word))
    labels += [(word, sense) for sense, *_ in occurrences[word]]
points, share = pca_2d(np.concatenate(vectors))
fig, ax = plt.subplots(figsize=(9, 7))
colours = plt.get_cmap("tab10")
for k, word in enumerate(occurrences):
    for m, sense in enumerate(senses[word]):
        chosen = [i for i, label in enumerate(labels) if label == (word, sense)]
        if chosen:
            ax.scatter(points[chosen, 0], points[chosen, 1], color=colours(k % 10),
                       marker="o^"[m], s=60, label=f"{word} ({sense})")
ax.set_xlabel("first principal component")
ax.set_ylabel("second principal component")
ax.set_title(f"Encoder outputs of each word in each sentence, PCA ({share:.0%} of the "
             f"variance)\n{config.model}, {trained}; circle: first sense, triangle: second")
ax.legend(fontsize=8, ncol=2)
save_figure(fig, args.out, "16_context_pca.png")

# %% [markdown]
"""
## Word vectors: nearest neighbours

The embedding table is learned for translation only: a word's vector moves wherever it helps
predict the Spanish. Words used alike end up near each other, as with word2vec or GloVe, but a
translator trained on about 100,000 short sentence pairs has seen most words a few dozen times,
so expect a noisier table than one pretrained on billions of words (2nd ed. §11.3.3 "Using
pretrained word embeddings"; 3rd ed. §14.5 "Pretraining a word embedding"). We compare
tokens that start a word only (no "##" pieces, no punctuation or reserved tokens); in a
WordPiece vocabulary these are whole words and the first pieces of longer words.
"""

# %%
section("Word vectors: nearest neighbours")

vocabulary = tokenizer.tokens(range(tokenizer.vocab_size))
candidates = np.array([i for i, token in enumerate(vocabulary)
                       if token.isalpha() and token not in ("[UNK]", "[start]", "[end]")])
index = {vocabulary[i]: i for i in candidates}


def lookup(word):
    """The id of `word` as one token (as written, else lowercased), or None."""
    return index.get(word, index.get(word.lower()))


def nearest(unit_table, query, exclude, k=5):
    """The `k` candidate ids most similar (cosine) to `query`, without the ids in `exclude`."""
    scores_ = unit_table[candidates] @ (query / np.linalg.norm(query))
    order = candidates[np.argsort(-scores_)]
    return [i for i in order[: k + len(exclude)] if i not in exclude][:k]


unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
print(f"{len(candidates):,} word-start tokens (whole words, first pieces) of "
      f"{tokenizer.vocab_size:,}")
shown = 0
for query_word in neighbour_words:
    i = lookup(query_word)
    if i is None:
        print(f"{query_word!r}: not one token here")
        continue
    found_ids = nearest(unit, unit[i], {i})
    print(f"{vocabulary[i]:<8} -> " + ", ".join(
        f"{vocabulary[j]} ({unit[i] @ unit[j]:.2f})" for j in found_ids))
    shown += 1
print(f"{shown} of {len(neighbour_words)} query words are one token here")

# %% [markdown]
"""
## Word vectors: analogies

"man is to woman as king is to ?": take `woman - man + king` and look for the nearest word,
leaving out the three words of the question (else the answer is nearly always one of them). We
form every analogy from the word pairs of each relation in the settings, skip those with a word
that is not one token of this vocabulary, and count how often the expected word is the
nearest (top-1) or among the nearest five (top-5). Two baselines, computed the same way: random
embedding tables of the same shape (what chance gives), and the nearest word to the third word
alone, ignoring `woman - man` (is the offset doing the work, or are "king" and "queen" simply
neighbours?).
"""

# %%
section("Word vectors: analogies")

questions, skipped = [], 0  # (relation, a, b, c, d) ids
for relation, pairs in relations.items():
    for a, b in pairs:
        for c, d in pairs:
            if (a, b) == (c, d):
                continue
            ids = [lookup(w) for w in (a, b, c, d)]
            if None in ids or len(set(ids)) < 4:
                skipped += 1
            else:
                questions.append((relation, *ids))
total = len(questions) + skipped
print(f"{total} analogies from {sum(len(p) for p in relations.values())} word pairs in "
      f"{len(relations)} relations; {skipped} skipped (a word not in this vocabulary), "
      f"{len(questions)} asked")


def hit_counts(unit_table, offset=True):
    """(top-1 hits, top-5 hits) per relation: `nearest` for every question, in one matmul."""
    names = [q[0] for q in questions]
    a, b, c, d = (np.array([q[k] for q in questions]) for k in (1, 2, 3, 4))
    queries = unit_table[b] - unit_table[a] + unit_table[c] if offset else unit_table[c]
    scores_ = queries @ unit_table[candidates].T  # (questions, candidates); the query's norm
    position = np.full(len(unit_table), -1)       # does not change its ranking
    position[candidates] = np.arange(len(candidates))
    rows = np.arange(len(questions))
    for excluded in (a, b, c):  # the three words of the question are never the answer
        scores_[rows, position[excluded]] = -np.inf
    top = candidates[np.argsort(-scores_, axis=1)[:, :5]]
    counts = {relation: [0, 0] for relation in relations}
    for name, row, answer in zip(names, top, d):
        counts[name][0] += int(row[0] == answer)
        counts[name][1] += int(answer in row)
    return counts


def total_hits(counts):
    return [sum(c[k] for c in counts.values()) for k in (0, 1)]


def rate(hits):
    return f"{hits}/{len(questions)} ({hits / len(questions):.1%})" if questions else "n/a"


if questions:
    trained_counts = hit_counts(unit)
    only_c_counts = hit_counts(unit, offset=False)
    random_totals = []
    for seed in random_seeds:
        noise = np.random.default_rng(seed).normal(size=table.shape)
        random_totals.append(total_hits(hit_counts(noise / np.linalg.norm(noise, axis=1,
                                                                          keepdims=True))))
    asked = {relation: sum(q[0] == relation for q in questions) for relation in relations}
    print(f"\n{'relation':<26}{'asked':>6}{'top-1':>7}{'top-5':>7}{'only c: top-1':>15}"
          f"{'top-5':>7}")
    for relation in relations:
        print(f"{relation:<26}{asked[relation]:>6}{trained_counts[relation][0]:>7}"
              f"{trained_counts[relation][1]:>7}{only_c_counts[relation][0]:>15}"
              f"{only_c_counts[relation][1]:>7}")
    top1, top5 = total_hits(trained_counts)
    only_c1, only_c5 = total_hits(only_c_counts)
    random_best5 = max(t[1] for t in random_totals)
    random_mean1 = np.mean([t[0] for t in random_totals])
    random_mean5 = np.mean([t[1] for t in random_totals])
    print(f"\ntrained embedding ({trained}): top-1 {rate(top1)}, top-5 {rate(top5)}")
    print(f"nearest to the third word only:  top-1 {rate(only_c1)}, top-5 {rate(only_c5)}")
    print(f"random embeddings ({len(random_seeds)} seeds): top-1 mean {random_mean1:.1f}, top-5 "
          f"mean {random_mean5:.1f}, best top-5 {random_best5} of {len(questions)}")
    print("against random tables: " + (
        f"above every one of the {len(random_seeds)} (top-5 {top5} > {random_best5})"
        if top5 > random_best5 else
        f"not above all {len(random_seeds)} (top-5 {top5}, best random {random_best5})"))
    print("the offset b - a against the third word alone: " + (
        f"{top5 - only_c5} more top-5 hits" if top5 > only_c5 else
        f"{only_c5 - top5} fewer top-5 hits" if top5 < only_c5 else "the same top-5 hits"))
    example = next((q for q in questions if q[0] == pca_relation), questions[0])
    _, a, b, c, d = example
    answer = nearest(unit, unit[b] - unit[a] + unit[c], {a, b, c})
    print(f"example: {vocabulary[b]} - {vocabulary[a]} + {vocabulary[c]} -> "
          f"{', '.join(vocabulary[i] for i in answer)} (expected {vocabulary[d]})")
else:
    print("no analogy has all four words in this vocabulary: no hit rate to report")

# %%
pairs = [(lookup(a), lookup(b)) for a, b in relations[pca_relation]]
pairs = [(i, j) for i, j in pairs if i is not None and j is not None]
if len(pairs) >= 2:
    points, share = pca_2d(table[[i for pair in pairs for i in pair]])
    fig, ax = plt.subplots(figsize=(8, 6.5))
    first, second = pca_relation.split(" : ")
    ax.scatter(points[0::2, 0], points[0::2, 1], marker="o", s=50, label=first)
    ax.scatter(points[1::2, 0], points[1::2, 1], marker="^", s=50, label=second)
    for k, (i, j) in enumerate(pairs):
        ax.annotate("", xy=points[2 * k + 1], xytext=points[2 * k],
                    arrowprops=dict(arrowstyle="->", color="grey", lw=0.8))
        ax.annotate(vocabulary[i], points[2 * k], fontsize=9)
        ax.annotate(vocabulary[j], points[2 * k + 1], fontsize=9)
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.set_title(f"Input embeddings of {pca_relation} pairs, PCA ({share:.0%} of their "
                 f"variance)\n{config.model}, {trained}; arrows: {first} to {second}")
    ax.legend()
    save_figure(fig, args.out, "16_embedding_pca.png")
else:
    print(f"fewer than two {pca_relation} pairs in this vocabulary: no embedding figure")

# %% [markdown]
"""
## What you learned

- An embedding layer is a table: the same token has the same input vector in every sentence
  (checked above: cosine 1), so "left" as a direction and "left" as "went away" start equal.
- The encoder's output at the word is different in every sentence (checked): self-attention
  (or a GRU's recurrence) mixes in the context. The tables above say, word by word, whether
  the same sense came out closer, and how that compares with an untrained encoder, which mixes
  in the neighbouring words too.
- The embedding table is learned for translation only. The nearest neighbours and the analogy
  counts above, against random tables and against the third word alone, say how much
  word2vec-style structure this run's table has; read them rather than assume the
  "king - man + woman = queen" picture, which comes from word2vec trained on billions of words.
- Quick mode trains for seconds, so its numbers say little about what training gives: compare
  them with those of a trained run (`--run runs/small-transformer`).

## Exercises

1. Choose same-sense sentences that share no other word with each other (from the corpus: the
   lesson checks that its sentences are corpus sentences) and rerun: how much of the same-sense
   similarity was shared neighbours?
2. Compare the encoder outputs of the first and the last encoder block of a deeper run
   (`--run` a `cpu-best` run, three blocks): does context grow with depth?
3. Run the analogy test on the Spanish target embedding
   (`translator.model.parts.target_embedding`) with pairs such as hombre / mujer, rey / reina.
   Is it better or worse than the English table, and why might it be?
"""
