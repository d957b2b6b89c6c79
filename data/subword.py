"""WordPiece subword tokenization (tensorflow-text), a drop-in for `data.vectorize.WordTokenizer`.

Why subwords: the book's word-level vocabulary lowercases, strips punctuation and maps every word
it did not keep to `[UNK]` ("I love AI." has no "ai" among 15,000 words). A WordPiece vocabulary
holds frequent words whole and splits rare ones into pieces ("AI" -> "A", "##I"); every character
seen in training is in it, so nothing in-domain becomes `[UNK]`. Case and punctuation are kept,
so the translator can write "¿Dónde está la estación?" rather than "dónde está la estación".

Text is normalised with Unicode NFKC (so "…" becomes "...", full-width letters become ASCII),
split on whitespace and punctuation as BERT's basic tokenizer does (every punctuation mark is a
token of its own), then each word is split into wordpieces; a continuation piece starts with "##".

Example:
>>> tok = SubwordTokenizer.adapt(["¿Dónde está la estación?", "Está aquí."], vocab_size=100,
...                              sequence_length=12, language="spanish")
>>> ids = tok.encode(["¿Dónde está?"], markers=True)
>>> tok.decode(ids)
['¿Dónde está?']
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

from data.tokenizer import (  # noqa: F401  (the reserved tokens: imported from here too)
    END_TOKEN, LANGUAGE_CHOICES, PAD_TOKEN, RESERVED_TOKENS, START_TOKEN, UNK_TOKEN, Tokenizer,
    as_list, check_arguments)

SUFFIX = "##"

# The same settings for learning the vocabulary and for tokenizing: keep case, normalise with NFKC.
_BERT_PARAMS = {"lower_case": False, "normalization_form": "NFKC"}
# Lowest subword count the vocabulary search may go down to (tensorflow-text's default is 10,
# which leaves a small corpus with a much smaller vocabulary than asked for).
_LEARN_PARAMS = {"lower_thresh": 2}

# Detokenization. A space goes between two words unless one of these rules says otherwise.
_NO_SPACE_BEFORE = set(".,;:!?)]}»”%") | {"..."}
_NO_SPACE_AFTER = set("¿¡([{«“‘$")
_APOSTROPHES = ("'", "’")
# English contraction endings after an apostrophe: isn't, it's, we're, I've, we'll, I'd, I'm.
_CONTRACTIONS = ("s", "t", "re", "ve", "ll", "d", "m")
# Between two digits these join them: 5:30, 3.14, 1,000, 3,5, 1/2.
_DIGIT_JOINERS = (":", ".", ",", "/")
# Between two letters or digits these join them: well-known, y/o.
_WORD_JOINERS = ("-", "/")


def normalize(texts):
    """NFKC-normalise strings the way `SubwordTokenizer` does (for references, BLEU, tests).

    Args:
        texts: list of str.

    Example:
    >>> normalize(["Ｔｏｍ…"])
    ['Tom...']
    """
    texts = as_list(texts)
    if not texts:
        return []
    return [t.decode("utf-8") for t in tf_text.normalize_utf8(tf.constant(texts), "NFKC").numpy()]


def _is_alnum_end(word):
    return bool(word) and word[-1].isalnum()


def _is_alnum_start(word):
    return bool(word) and word[0].isalnum()


def detokenize_words(words):
    """Join words and punctuation marks into a sentence with English / Spanish spacing.

    Args:
        words: list of str, one word or punctuation mark each (wordpieces already joined).

    No space before . , ; : ! ? ) ] } » ” %, none after ¿ ¡ ( [ { « “ ‘ $. Straight quotes
    (" and ') alternate between opening and closing. An apostrophe joins a contraction (isn't,
    we're) or follows a word of one or two letters (O'Brien, l'eau); after any other word it
    closes a quote or a plural possessive (students' books), else it opens a quote. Between
    digits : . , / join them (5:30, 3.14); a hyphen or slash between letters joins them
    (well-known); "." between a word and a single letter followed by "." joins them (p.m., U.S.).

    Example:
    >>> detokenize_words(["¿", "Dónde", "está", "la", "estación", "?"])
    '¿Dónde está la estación?'
    """
    out = []
    open_double = open_single = False
    glue_next = False  # the previous token forbids a space after it
    for i, word in enumerate(words):
        prev = words[i - 1] if i > 0 else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        space = i > 0 and not glue_next
        glue_next = False
        if word in _NO_SPACE_BEFORE:
            space = False
            if word in _DIGIT_JOINERS and prev[-1:].isdigit() and nxt[:1].isdigit():
                glue_next = True
            elif (word == "." and prev.isalpha() and len(nxt) == 1 and nxt.isalpha()
                  and i + 2 < len(words) and words[i + 2] == "."):
                glue_next = True  # p.m., U.S., Ph.D.
        elif word in _NO_SPACE_AFTER:
            glue_next = True
        elif word == '"':
            if open_double:
                space = False
            else:
                glue_next = True
            open_double = not open_double
        elif word in _APOSTROPHES:
            after, before = _is_alnum_end(prev), _is_alnum_start(nxt)
            if after and before and nxt.lower() in _CONTRACTIONS:
                space, glue_next = False, True  # isn't, it's, we're
            elif open_single or (after and (not before or prev.endswith("s"))) or (
                    word == "’" and not before):
                space, open_single = False, False  # closing quote, plural possessive
            elif after and before and len(prev) <= 2:
                space, glue_next = False, True  # O'Brien, l'eau, P'aquí
            else:
                glue_next, open_single = True, True  # opening quote
        elif word in _WORD_JOINERS or word in _DIGIT_JOINERS:
            if _is_alnum_end(prev) and _is_alnum_start(nxt):
                space, glue_next = False, True
        if space:
            out.append(" ")
        out.append(word)
    return "".join(out)


class SubwordTokenizer(Tokenizer):
    """WordPiece tokenizer (tensorflow-text's `BertTokenizer`, case and punctuation kept).

    Args:
        vocabulary: list of str. Index 0 is the padding token "", then "[UNK]", "[start]",
            "[end]", then wordpieces (continuations start with "##").
        sequence_length: int. Output length; longer inputs are truncated, shorter padded with 0.
        language: "english" or "spanish" (both are tokenized the same way).

    `start_id` / `end_id` are the ids of "[start]" / "[end]" (2 and 3). Ids are int64. The
    interface (`encode`, `decode`, `save`, `load`, ...) is `Tokenizer`'s, in data/tokenizer.py.

    Example:
    >>> tok = SubwordTokenizer(["", "[UNK]", "[start]", "[end]", "¡", "H", "##ola", "!"],
    ...                        sequence_length=7, language="spanish")
    >>> tok.encode(["¡Hola!"], markers=True)
    array([[2, 4, 5, 6, 7, 3, 0]])
    >>> tok.tokens([2, 4, 5, 6, 7, 3])
    ['[start]', '¡', 'H', '##ola', '!', '[end]']
    >>> tok.decode([[2, 4, 5, 6, 7, 3, 0]])
    ['¡Hola!']
    """

    reserved_tokens = RESERVED_TOKENS

    def __init__(self, vocabulary, sequence_length, language):
        super().__init__(vocabulary, sequence_length, language)
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary), tf.range(self.vocab_size, dtype=tf.int64)),
            num_oov_buckets=1)
        # split_unknown_characters: an unseen character costs one [UNK], not the whole word.
        self._tokenizer = tf_text.BertTokenizer(
            table, token_out_type=tf.int64, unknown_token=UNK_TOKEN,
            split_unknown_characters=True, **_BERT_PARAMS)

    @classmethod
    def adapt(cls, texts, vocab_size, sequence_length, language):
        """Learn a WordPiece vocabulary of at most `vocab_size` entries from `texts`.

        Args:
            texts: list of str, the raw training sentences of one language (no markers).
            vocab_size: int. Maximum vocabulary size, padding and reserved tokens included.
            sequence_length: int. As in the constructor.
            language: "english" or "spanish".

        Every character of `texts` gets a token, and one with "##" unless it is punctuation
        (punctuation is always a word of its own), so in-domain text never maps to [UNK]. The
        result depends only on `texts` (in order) and `vocab_size`.

        Example:
        >>> tok = SubwordTokenizer.adapt(["I love AI.", "I love it."], vocab_size=60,
        ...                              sequence_length=8, language="english")
        >>> tok.vocabulary[:4]
        ['', '[UNK]', '[start]', '[end]']
        """
        check_arguments(sequence_length, language)
        if vocab_size <= len(RESERVED_TOKENS):
            raise ValueError(f"vocab_size={vocab_size} is too small for the "
                             f"{len(RESERVED_TOKENS)} reserved tokens {list(RESERVED_TOKENS)}")
        texts = as_list(texts)
        if not any(t.strip() for t in texts):
            raise ValueError(f"texts has no words to learn a vocabulary from ({len(texts)} texts)")

        # Every character of the words (as BERT splits them), also those of words the learner
        # skips (over 50 characters, or outside its 1,000 most frequent characters).
        dataset = tf.data.Dataset.from_tensor_slices(texts).batch(4096)
        basic = BasicTokenizer(**_BERT_PARAMS)
        chars = set()
        for batch in dataset:
            for word in np.unique(basic.tokenize(batch).flat_values.numpy()):
                chars.update(word.decode("utf-8"))
        chars = sorted(chars)
        # Punctuation is always split into a word of its own: it never needs a "##" form.
        split = basic.tokenize(tf.constant(["a" + c + "a" for c in chars])).row_lengths().numpy()
        punctuation = {SUFFIX + c for c, n in zip(chars, split) if n != 1}
        base = list(RESERVED_TOKENS) + chars + [SUFFIX + c for c, n in zip(chars, split) if n == 1]
        if len(base) > vocab_size:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: the {len(RESERVED_TOKENS)} reserved tokens "
                f"and the {len(chars)} characters of `texts` with their '##' forms need {len(base)}")

        # The learner counts a "##" form for punctuation too; those slots are given back below.
        learned = bert_vocab.bert_vocab_from_dataset(
            dataset, vocab_size=vocab_size + len(punctuation),
            reserved_tokens=list(RESERVED_TOKENS), bert_tokenizer_params=_BERT_PARAMS,
            learn_params=_LEARN_PARAMS)
        taken = set(base) | punctuation
        extra = [t for t in learned if t not in taken]
        return cls(base + extra[: vocab_size - len(base)], sequence_length, language)

    def _ragged_ids(self, texts):
        """Strings -> RaggedTensor (num_texts, None) of wordpiece ids, no markers, not truncated."""
        return self.ragged_ids(tf.constant(texts, dtype=tf.string))

    @property
    def module(self):
        """The `tf.Module` (tensorflow-text's `BertTokenizer`) that holds the vocabulary table.

        A SavedModel whose graph calls `ragged_ids` must track it (nmt/export.py does).
        """
        return self._tokenizer

    def ragged_ids(self, texts):
        """tf.string tensor (batch,) -> RaggedTensor (batch, None) of int64 wordpiece ids.

        No markers, not truncated: `encode` without the padding. TensorFlow and tensorflow-text
        ops only, so it also runs inside a `tf.function` or an exported SavedModel.

        Example:
        >>> tok = SubwordTokenizer(["", "[UNK]", "[start]", "[end]", "¡", "H", "##ola", "!"],
        ...                        sequence_length=4, language="spanish")
        >>> tok.ragged_ids(tf.constant(["¡Hola!", "Hola"])).to_list()
        [[4, 5, 6, 7], [5, 6]]
        """
        ids = self._tokenizer.tokenize(texts).merge_dims(-2, -1)
        # Unseen characters inside a word come back as the out-of-vocabulary bucket id.
        return tf.ragged.map_flat_values(
            lambda x: tf.where(x >= self.vocab_size, tf.constant(self.unk_id, tf.int64), x), ids)

    def encode(self, texts, markers=False, batch_size=8192):
        """Strings -> int64 array (num_texts, sequence_length), padded with 0 and truncated.

        Args:
            texts: list of str (raw sentences, no "[start]"/"[end]" in the text).
            markers: bool. Wrap each sentence as [start] ... [end] before truncating, so a long
                sentence keeps [start] and loses its tail (the [end] included).
            batch_size: int. Sentences tokenized per call.

        Example:
        >>> tok = SubwordTokenizer(["", "[UNK]", "[start]", "[end]", "¡", "H", "##ola", "!"],
        ...                        sequence_length=4, language="spanish")
        >>> tok.encode(["¡Hola!"], markers=True)  # [start] ¡ H ##ola, then "!" and [end] cut
        array([[2, 4, 5, 6]])
        """
        texts = as_list(texts)
        if not texts:
            return np.zeros((0, self.sequence_length), dtype="int64")
        chunks = []
        for i in range(0, len(texts), batch_size):
            ids = self._ragged_ids(texts[i : i + batch_size])
            if markers:
                n = ids.nrows()
                ids = tf.concat([tf.fill([n, 1], tf.constant(self.start_id, tf.int64)), ids,
                                 tf.fill([n, 1], tf.constant(self.end_id, tf.int64))], axis=1)
            chunks.append(ids.to_tensor(default_value=0, shape=[None, self.sequence_length]).numpy())
        return np.concatenate(chunks).astype("int64")

    def token_counts(self, texts):
        """Number of wordpieces of each text (before truncation, without markers)."""
        texts = as_list(texts)
        if not texts:
            return np.zeros((0,), dtype="int64")
        return self._ragged_ids(texts).row_lengths().numpy()

    def _join(self, tokens):
        """One row's wordpieces -> a sentence (for `decode`, which drops padding and markers).

        "##" pieces are glued to the piece before them and the words spaced with
        `detokenize_words`, so "¿Dónde está la estación?" comes back exactly, as do all but about
        1 in 5,000 corpus sentences that fit `sequence_length`. Known limits, since the tokens do
        not record spaces: an apostrophe after a word of one or two letters is read as in
        O'Brien ("pa' llevar" -> "pa'llevar"); a quote opened right after a word in -s reads as
        a possessive; ":" "," "." between two numbers join them ("In 1990, 2000" ->
        "1990,2000"); "$" and "%" always attach to the number; "-" and "/" between two words
        lose the spaces around them; spaces the corpus has before punctuation ("martillo ?")
        are not restored. The text is NFKC-normalised ("…" -> "...", "º" -> "o") and format
        characters such as zero-width spaces are dropped; characters never seen in training
        come back as "[UNK]".
        """
        words = []
        for token in tokens:
            if token.startswith(SUFFIX) and len(token) > len(SUFFIX) and words:
                words[-1] += token[len(SUFFIX):]
            else:
                words.append(token[len(SUFFIX):] if token.startswith(SUFFIX) else token)
        return detokenize_words(words)
