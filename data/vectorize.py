"""Word-level vectorization as in the book: `TextVectorization`, 15,000 words, length 20.

English is lowercased and stripped of punctuation (Keras' default standardization). Spanish is
lowercased and stripped of punctuation *including* `¿` but keeping the brackets of the
`[start]` and `[end]` markers; that function is registered so a saved `TextVectorization`
(for example inside a `.keras` model) restores.

Example:
>>> tok = WordTokenizer.adapt(["[start] hola mundo [end]"], vocab_size=10, sequence_length=4,
...                           standardize="spanish")
>>> tok.decode(tok.encode(["[start] hola [end]"]))
['hola']
"""

import os
import re
import string

import keras
import numpy as np
import tensorflow as tf

START_TOKEN = "[start]"
END_TOKEN = "[end]"
STANDARDIZE_CHOICES = ("english", "spanish")

# Characters removed from Spanish: ASCII punctuation except the brackets of [start]/[end], plus ¿ ¡.
_SPANISH_STRIP = "".join(c for c in string.punctuation + "¿¡" if c not in "[]")
_SPANISH_PATTERN = f"[{re.escape(_SPANISH_STRIP)}]"
_ENGLISH_PATTERN = f"[{re.escape(string.punctuation)}]"


@keras.saving.register_keras_serializable(package="companion")
def spanish_standardize(text):
    """Lowercase and strip punctuation (with `¿` and `¡`), keeping `[start]` / `[end]`."""
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), _SPANISH_PATTERN, "")


@keras.saving.register_keras_serializable(package="companion")
def english_standardize(text):
    """Lowercase (all of Unicode, not only ASCII) and strip ASCII punctuation, like Keras' default."""
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), _ENGLISH_PATTERN, "")


def normalize_like_book(texts, language):
    """Python-side book normalisation (used for BLEU against word-level outputs)."""
    pattern = _SPANISH_PATTERN if language == "spanish" else _ENGLISH_PATTERN
    return [" ".join(re.sub(pattern, "", text.lower()).split()) for text in texts]


class WordTokenizer:
    """Word-level tokenizer around `keras.layers.TextVectorization`.

    Args:
        vocabulary: list of str. The vocabulary, index 0 = padding "" and 1 = "[UNK]".
        sequence_length: int. Output length; longer inputs are truncated, shorter padded with 0.
        standardize: "english" or "spanish".

    Token 0 is padding. For Spanish, `start_id` / `end_id` are the ids of `[start]` / `[end]`.
    """

    def __init__(self, vocabulary, sequence_length, standardize):
        if standardize not in STANDARDIZE_CHOICES:
            raise ValueError(f"standardize={standardize!r} is not one of {STANDARDIZE_CHOICES}")
        if sequence_length < 1:
            raise ValueError(f"sequence_length={sequence_length} must be >= 1")
        self.vocabulary = list(vocabulary)
        self.sequence_length = sequence_length
        self.standardize = standardize
        self.layer = keras.layers.TextVectorization(
            output_mode="int",
            output_sequence_length=sequence_length,
            standardize=spanish_standardize if standardize == "spanish" else english_standardize,
            vocabulary=self.vocabulary[2:] if self.vocabulary[:2] == ["", "[UNK]"] else self.vocabulary,
        )
        self.index = {str(token): i for i, token in enumerate(self.layer.get_vocabulary())}
        self.start_id = self.index.get(START_TOKEN)
        self.end_id = self.index.get(END_TOKEN)
        self._lookup = np.array([str(t) for t in self.layer.get_vocabulary()], dtype=object)

    @classmethod
    def adapt(cls, texts, vocab_size, sequence_length, standardize):
        """Learn the vocabulary (`vocab_size` most frequent words) from `texts`."""
        layer = keras.layers.TextVectorization(
            max_tokens=vocab_size,
            output_mode="int",
            standardize=spanish_standardize if standardize == "spanish" else english_standardize,
        )
        layer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(4096))
        return cls([str(t) for t in layer.get_vocabulary()], sequence_length, standardize)

    @property
    def vocab_size(self):
        return len(self._lookup)

    def encode(self, texts, markers=False, batch_size=8192):
        """Strings -> int64 array (num_texts, sequence_length), padded with 0.

        `markers=True` wraps each text as `[start] text [end]` first (Spanish targets).
        """
        texts = add_markers(texts) if markers else list(texts)
        if not texts:
            return np.zeros((0, self.sequence_length), dtype="int64")
        chunks = [
            np.asarray(self.layer(tf.constant(texts[i : i + batch_size])))
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(chunks).astype("int64")

    def token_counts(self, texts):
        """Number of words each text has after standardization (before truncation)."""
        fn = spanish_standardize if self.standardize == "spanish" else english_standardize
        words = tf.strings.split(fn(tf.constant(list(texts))))
        return words.row_lengths().numpy()

    def decode(self, ids):
        """Int ids (batch, length) -> strings, dropping padding and the [start]/[end] markers."""
        out = []
        for row in np.asarray(ids):
            words = []
            for i in row:
                if i == self.end_id:
                    break
                if i == 0 or i == self.start_id:
                    continue
                words.append(self._lookup[i])
            out.append(" ".join(words))
        return out

    def tokens(self, ids):
        """Int ids -> list of token strings (no markers dropped), for attention plots."""
        return [str(self._lookup[i]) for i in ids]

    def save(self, path):
        """Write the vocabulary, one token per line (line 1 is the empty padding token)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self._lookup) + "\n")

    @classmethod
    def load(cls, path, sequence_length, standardize):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: vocabulary file missing")
        with open(path, encoding="utf-8") as f:
            vocabulary = f.read().split("\n")[:-1]
        return cls(vocabulary, sequence_length, standardize)


def add_markers(spanish_texts):
    """The book's target format: `[start] text [end]`."""
    return [f"{START_TOKEN} {text} {END_TOKEN}" for text in spanish_texts]
