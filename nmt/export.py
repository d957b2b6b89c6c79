"""Export a `Translator` as a TensorFlow SavedModel for TensorFlow Serving: strings in, strings out.

Tokenization, encoding, cached decoding and detokenization all run inside the graph (TensorFlow,
`tf.strings` and tensorflow-text ops), for the word and the WordPiece tokenizers and every model,
so the SavedModel serves in a process that does not import this project:

    import tensorflow as tf, tensorflow_text  # tensorflow_text registers the WordPiece ops
    model = tf.saved_model.load("exported/small/1")
    model.translate(tf.constant(["Where is the station?"]))["spanish"]
    # <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'¿Dónde está la estación?'], ...)>

One SavedModel holds both decodings, each a signature with input "english" (a batch of strings)
and output "spanish": `translate` (greedy) and `translate_beam` (beam search, its beams and
length penalty fixed at export); `serving_default` is the greedy one unless the export asks for
beam. Each call translates as `Translator.translate` does, sentence for sentence: blank inputs
give "", the others are sorted by length, decoded 256 at a time, each batch cut to its longest
source, and detokenized by the same rules as the tokenizer's `decode`.

`export_versioned` writes the layout TensorFlow Serving watches: `OUT/1/`, then `OUT/2/`, ...
(each written to a temporary folder, then renamed into place).
"""

import os
import shutil

import keras
import tensorflow as tf

# The spacing rules of `detokenize_words`, reproduced in the graph below.
from data.subword import (_APOSTROPHES, _CONTRACTIONS, _DIGIT_JOINERS, _NO_SPACE_AFTER,
                          _NO_SPACE_BEFORE, _WORD_JOINERS, SUFFIX, SubwordTokenizer)
from models.decoding import decode
from nmt.config import Decoding
from nmt.runs import RunError

INPUT_NAME = "english"
OUTPUT_NAME = "spanish"
# Signature (and callable) name of each decoding.
SIGNATURES = {"greedy": "translate", "beam": "translate_beam"}
# Sentences decoded at once: `nmt translate`'s default (same batches, same numbers).
BATCH_SIZE = Decoding().batch_size


# Detokenization in the graph.

def _char_class(chars):
    """An RE2 character class of exactly `chars` (with U+FFFF, a noncharacter, so never empty)."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(set(chars) | {"\uffff"})) + "]"


def _matches(strings, pattern):
    return tf.strings.regex_full_match(strings, "(?s)" + pattern)


def _is_in(strings, values):
    return tf.reduce_any(tf.equal(strings[..., None], tf.constant(sorted(values))), axis=-1)


def join_wordpieces(pieces):
    """RaggedTensor (batch, None) of wordpieces -> RaggedTensor (batch, None) of words.

    As `SubwordTokenizer._join`: a piece "##x" is glued to the piece before it, a "##" that
    starts a row or stands alone loses its "##" and starts a word.

    Example:
    >>> words = join_wordpieces(tf.ragged.constant([["¿", "Dón", "##de", "?"], ["##a", "##"]]))
    >>> [[w.decode() for w in row] for row in words.to_list()]
    [['¿', 'Dónde', '?'], ['a', '']]
    """
    flat = pieces.flat_values
    position = tf.ragged.range(pieces.row_lengths()).flat_values
    suffixed = tf.equal(tf.strings.substr(flat, 0, len(SUFFIX)), SUFFIX)
    continues = suffixed & (tf.strings.length(flat) > len(SUFFIX)) & (position > 0)
    text = tf.strings.regex_replace(flat, "^" + SUFFIX, "", replace_global=False)
    starts = tf.logical_not(continues)
    word_index = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    words = tf.strings.unsorted_segment_join(text, word_index,
                                             tf.reduce_sum(tf.cast(starts, tf.int32)))
    rows = tf.boolean_mask(pieces.value_rowids(), starts)
    return tf.RaggedTensor.from_value_rowids(words, rows, nrows=pieces.nrows())


def space_words(words, vocabulary):
    """`data.subword.detokenize_words` in the graph: RaggedTensor (batch, None) of words ->
    (batch,) sentences.

    Args:
        words: RaggedTensor of strings, each made of the tokens of `vocabulary`.
        vocabulary: list of str. Python's `isalpha`, `isalnum` and `isdigit` are evaluated here
            on each of its characters, so the graph's character classes agree with them on
            every word the vocabulary can spell.

    The rules look one word back and two ahead; the open quotes (" and ') are carried from
    word to word by a `tf.scan` over the columns.

    Example:
    >>> words = [["¿", "Dónde", "está", "?"], ["It", "'", "s", "5", ":", "30"]]
    >>> out = space_words(tf.ragged.constant(words), [w for row in words for w in row])
    >>> [s.decode() for s in out.numpy()]
    ['¿Dónde está?', "It's 5:30"]
    """
    chars = set("".join(vocabulary))
    alpha = _char_class(c for c in chars if c.isalpha())
    alnum = _char_class(c for c in chars if c.isalnum())
    digit = _char_class(c for c in chars if c.isdigit())

    def lowers_to(text):  # the words whose Python `lower()` is `text`
        return "".join(_char_class(c for c in chars | {want} if c.lower() == want)
                       for want in text)

    contraction = "(?:" + "|".join(lowers_to(ending) for ending in _CONTRACTIONS) + ")"

    lengths = words.row_lengths()
    rows = words.nrows()
    blank = tf.fill(tf.stack([rows, 1]), "")
    # One blank column more, so there is always a column to scan.
    dense = tf.concat([words.to_tensor(default_value=""), blank], axis=1)  # (batch, n)
    n = tf.shape(dense)[1]
    padded = tf.concat([blank, dense, blank, blank], axis=1)
    # The word before, the word itself and the two after ("" beyond either end, as in Python).
    prev, word, nxt, nxt2 = (padded[:, i : i + n] for i in range(4))

    after, before = _matches(prev, f".*{alnum}"), _matches(nxt, f"{alnum}.*")
    digit_glue = (_is_in(word, _DIGIT_JOINERS) & _matches(prev, f".*{digit}")
                  & _matches(nxt, f"{digit}.*"))  # 5:30, 3.14
    abbreviation = (tf.equal(word, ".") & _matches(prev, f"{alpha}+") & _matches(nxt, alpha)
                    & tf.equal(nxt2, "."))  # p.m., U.S.
    features = [
        tf.broadcast_to(tf.equal(tf.range(n), 0)[None, :], tf.shape(word)),  # first word
        _is_in(word, _NO_SPACE_BEFORE),
        _is_in(word, _NO_SPACE_AFTER),
        tf.equal(word, '"'),
        _is_in(word, _APOSTROPHES),
        _is_in(word, _WORD_JOINERS + _DIGIT_JOINERS),
        digit_glue | abbreviation,
        after,
        before,
        _matches(nxt, contraction),
        _matches(prev, ".*s"),  # ends in s: a plural possessive
        tf.equal(word, "’"),
        tf.strings.length(prev, unit="UTF8_CHAR") <= 2,
    ]
    columns = tf.transpose(tf.stack(features), [2, 0, 1])  # (n, features, batch)

    def step(state, column):
        glue, open_double, open_single, _ = state
        (first, no_space_before, no_space_after, double_quote, apostrophe, joiner, joins,
         after, before, contraction, ends_s, right_quote, short_prev) = tf.unstack(column)
        space = ~first & ~glue
        # The branches of `detokenize_words`, in order: each applies if no earlier one did.
        b1 = no_space_before
        b2 = ~b1 & no_space_after
        b3 = ~b1 & ~b2 & double_quote
        b4 = ~b1 & ~b2 & ~b3 & apostrophe
        b5 = ~b1 & ~b2 & ~b3 & ~b4 & joiner
        # The apostrophe's cases.
        joined = b4 & after & before & contraction  # isn't, it's
        closes = b4 & ~joined & (open_single | (after & (~before | ends_s))
                                 | (right_quote & ~before))  # closing quote, students'
        elides = b4 & ~joined & ~closes & after & before & short_prev  # O'Brien, l'eau
        opens = b4 & ~joined & ~closes & ~elides  # opening quote
        links = b5 & after & before  # well-known, y/o
        no_space = b1 | (b3 & open_double) | joined | closes | elides | links
        glue = ((b1 & joins) | b2 | (b3 & ~open_double) | joined | elides | opens | links)
        open_double = tf.math.logical_xor(open_double, b3)
        open_single = (open_single & ~closes) | opens
        return glue, open_double, open_single, space & ~no_space

    false = tf.zeros([rows], tf.bool)
    spaces = tf.scan(step, columns, initializer=(false, false, false, false))[3]  # (n, batch)
    text = tf.strings.join([tf.where(tf.transpose(spaces), " ", ""), dense])
    return tf.strings.reduce_join(tf.RaggedTensor.from_tensor(text, lengths=lengths), axis=1)


def detokenize(tokenizer):
    """A graph function: (batch, length) int64 ids -> (batch,) sentences, as `tokenizer.decode`.

    Each row is read up to its first [end]; padding and [start] are dropped; the tokens are
    joined with spaces (words) or with the WordPiece rules (`join_wordpieces`, `space_words`).
    """
    vocabulary = tf.constant(tokenizer.vocabulary)

    def run(ids):
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, tokenizer.end_id), tf.int32),
                                        axis=1), 0)
        keep = before_end & tf.not_equal(ids, 0) & tf.not_equal(ids, tokenizer.start_id)
        tokens = tf.ragged.boolean_mask(tf.gather(vocabulary, ids), keep)
        if isinstance(tokenizer, SubwordTokenizer):
            return space_words(join_wordpieces(tokens), tokenizer.vocabulary)
        return tf.strings.reduce_join(tokens, axis=1, separator=" ")

    return run


# Tokenization, decoding and the SavedModel.

def _tokenize(tokenizer):
    """A graph function: (batch,) strings -> (batch, sequence_length) int64 ids, and the
    trackable object holding the vocabulary (the SavedModel must track it)."""
    length = tokenizer.sequence_length
    if isinstance(tokenizer, SubwordTokenizer):
        def run(sentences):
            return tokenizer.ragged_ids(sentences).to_tensor(default_value=0, shape=[None, length])
        return run, tokenizer.module
    layer = tokenizer.layer  # the word tokenizer's TextVectorization
    layer(tf.constant([""]))  # builds the layer (export needs built layers)
    return (lambda sentences: tf.cast(layer(sentences), tf.int64)), layer


def translate_function(translator, strategy, num_beams=4, alpha=0.6, tokenize=None):
    """A graph function: (batch,) English strings -> {"spanish": (batch,) Spanish strings}.

    The same sentences, batches and decoding as `Translator.translate(sentences, decode=...)`.
    """
    if strategy not in SIGNATURES:
        raise ValueError(f"strategy={strategy!r}: export supports {tuple(SIGNATURES)}")
    steps = translator.steps
    target = translator.target_tokenizer
    max_length = translator.config.sequence_length
    options = {"strategy": strategy}
    if strategy == "beam":
        options.update(num_beams=int(num_beams), alpha=float(alpha))
    tokenize = tokenize or _tokenize(translator.source_tokenizer)[0]
    to_text = detokenize(target)

    def decode_batch(source):
        state = steps.encode(source)
        cache = steps.init_cache(state, max_length)
        start = tf.fill([tf.shape(source)[0]], tf.constant(target.start_id, tf.int64))
        tokens = decode(steps.next_fn, start, cache, max_length, target.end_id, **options)
        return to_text(tokens[:, 1:])

    def translate(sentences):
        source = tokenize(sentences)  # (batch, src_len)
        counts = tf.reduce_sum(tf.cast(tf.not_equal(source, 0), tf.int32), axis=1)
        # Sentences with words (not blank, not only punctuation), shortest first (stable).
        work = tf.cast(tf.reshape(tf.where(counts > 0), [-1]), tf.int32)
        order = tf.gather(work, tf.argsort(tf.gather(counts, work), stable=True))
        source, counts = tf.gather(source, order), tf.gather(counts, order)
        total = tf.size(order)
        batches = (total + BATCH_SIZE - 1) // BATCH_SIZE

        def body(i, texts):
            begin = i * BATCH_SIZE
            end = tf.minimum(begin + BATCH_SIZE, total)
            # Only the columns some sentence of the batch uses (as `Translator.translate_ids`).
            width = tf.maximum(1, tf.reduce_max(counts[begin:end]))
            return i + 1, texts.write(i, decode_batch(source[begin:end, :width]))

        texts = tf.TensorArray(tf.string, size=batches, infer_shape=False, element_shape=[None])
        _, texts = tf.while_loop(lambda i, _: i < batches, body, (tf.constant(0), texts))
        size = tf.size(sentences)
        spanish = tf.dynamic_stitch([tf.range(size), order],
                                    [tf.fill([size], ""), texts.concat()])
        return {OUTPUT_NAME: spanish}

    return translate


def export_saved_model(translator, path, strategy="greedy", num_beams=4, alpha=0.6):
    """Write `translator` as a SavedModel at `path` (a folder that must not exist yet).

    Args:
        translator: `nmt.translator.Translator`, word or WordPiece, any model.
        path: str. The SavedModel folder.
        strategy: "greedy" or "beam": which signature is also `serving_default`.
        num_beams, alpha: the beam search of `translate_beam`.

    The SavedModel has the signatures (and callables) `translate` (greedy) and `translate_beam`,
    each (batch,) strings "english" -> {"spanish": (batch,) strings}, plus `serving_default`.
    """
    if strategy not in SIGNATURES:
        raise ValueError(f"strategy={strategy!r}: export supports {tuple(SIGNATURES)}")
    tokenize, vocabulary = _tokenize(translator.source_tokenizer)
    archive = keras.export.ExportArchive()
    archive.track(translator.model)
    archive.track(vocabulary)
    # The first endpoint is also `serving_default`.
    for name in sorted(SIGNATURES, key=lambda s: s != strategy):
        archive.add_endpoint(
            SIGNATURES[name],
            translate_function(translator, name, num_beams, alpha, tokenize=tokenize),
            input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    archive.write_out(path, verbose=False)
    return path


def _versions(folder):
    return [int(name) for name in os.listdir(folder)
            if name.isdigit() and os.path.isdir(os.path.join(folder, name))]


def _sync_tree(folder):
    """Flush every file under `folder` to disk (before the rename that publishes it)."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())


def _commit(temporary, path):
    """Rename a complete temporary folder into place (atomic on POSIX; fails if `path` exists).
    Tests inject failures here."""
    os.rename(temporary, path)


def export_versioned(translator, folder, strategy="greedy", num_beams=4, alpha=0.6):
    """Export to the next version folder of `folder` (TensorFlow Serving's layout); return it.

    The version is 1 in a new or empty folder, else one more than the highest there (TensorFlow
    Serving serves the highest). The SavedModel is written to a temporary folder inside
    `folder` (its name is not a number, so TensorFlow Serving ignores it), then renamed to the
    version: a kill at any instant leaves no partial version. Arguments as `export_saved_model`.
    """
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"{folder}: is a file; give a folder for the versions")
    if os.path.isfile(os.path.join(folder, "saved_model.pb")):
        raise RunError(f"{folder}: holds a SavedModel itself (a version, or an export from "
                       "before versions); give the folder above it, or a new one")
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".export.tmp-{os.getpid()}")
    try:
        export_saved_model(translator, temporary, strategy, num_beams, alpha)
        _sync_tree(temporary)
        while True:
            path = os.path.join(folder, str(max(_versions(folder), default=0) + 1))
            try:
                _commit(temporary, path)
                return path
            except OSError:
                if not os.path.exists(path):  # not taken by another export meanwhile
                    raise
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)
