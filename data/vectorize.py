"""Word-level vectorization as in the book: `TextVectorization`, 15,000 words, length 20.

English is lowercased and stripped of punctuation (Keras' default standardization). Spanish is
lowercased and stripped of punctuation *including* `¿` but keeping the brackets of the
`[start]` and `[end]` markers; that function is registered so a saved `TextVectorization`
(for example inside a `.keras` model) restores.

The interface (`encode`, `decode`, `save`, `load`, ...) is `Tokenizer`'s, in data/tokenizer.py.

Example:
>>> tok = WordTokenizer.adapt(["[start] hola mundo [end]"], vocab_size=10, sequence_length=4,
...                           language="spanish")
>>> tok.decode(tok.encode(["[start] hola [end]"]))
['hola']
"""

import re
import string

import keras
import numpy as np
import tensorflow as tf

from data.tokenizer import (  # noqa: F401  (START_TOKEN, END_TOKEN: imported from here too)
    END_TOKEN, LANGUAGE_CHOICES, PAD_TOKEN, START_TOKEN, UNK_TOKEN, Tokenizer, as_list,
    check_arguments)

# Characters removed from Spanish: ASCII punctuation except the brackets of [start]/[end], plus ¿ ¡.
_SPANISH_STRIP = "".join(c for c in string.punctuation + "¿¡" if c not in "[]")
_SPANISH_PATTERN = f"[{re.escape(_SPANISH_STRIP)}]"
_ENGLISH_PATTERN = f"[{re.escape(string.punctuation)}]"


@keras.saving.register_keras_serializable(package="companion")
def spanish_standardize(text):
    """Lowercase and strip punctuation (with `¿` and `¡`), keeping `[start]` / `[end]`.

    Example:
    >>> spanish_standardize(tf.constant(["[start] ¿Dónde ESTÁ? [end]"])).numpy()[0].decode()
    '[start] dónde está [end]'
    """
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), _SPANISH_PATTERN, "")


@keras.saving.register_keras_serializable(package="companion")
def english_standardize(text):
    """Lowercase (all of Unicode, not only ASCII) and strip ASCII punctuation, like Keras' default.

    Example:
    >>> english_standardize(tf.constant(["I love AI."])).numpy()[0].decode()
    'i love ai'
    """
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), _ENGLISH_PATTERN, "")


STANDARDIZERS = {"english": english_standardize, "spanish": spanish_standardize}


def normalize_like_book(texts, language):
    """Python-side book normalisation (used for BLEU against word-level outputs).

    Example:
    >>> normalize_like_book(["¿Dónde  está, la ESTACIÓN?"], "spanish")
    ['dónde está la estación']
    """
    pattern = _SPANISH_PATTERN if language == "spanish" else _ENGLISH_PATTERN
    return [" ".join(re.sub(pattern, "", text.lower()).split()) for text in texts]


def add_markers(spanish_texts):
    """The book's target format: `[start] text [end]`.

    Example:
    >>> add_markers(["hola"])
    ['[start] hola [end]']
    """
    return [f"{START_TOKEN} {text} {END_TOKEN}" for text in as_list(spanish_texts)]


class WordTokenizer(Tokenizer):
    """Word-level tokenizer around `keras.layers.TextVectorization`.

    Args:
        vocabulary: list of str. Index 0 = padding "" and 1 = "[UNK]" (prepended when the list
            does not start with them, as `TextVectorization` does), then words.
        sequence_length: int. Output length; longer inputs are truncated, shorter padded with 0.
        language: "english" or "spanish" (how text is standardized: `STANDARDIZERS`).

    `start_id` / `end_id` are the ids of the words "[start]" / "[end]" when the vocabulary
    learned them (from Spanish text wrapped by `add_markers`), else None. `layer` is the
    `TextVectorization` layer (an export puts it into a model).

    Example:
    >>> tok = WordTokenizer(["", "[UNK]", "[start]", "[end]", "hola", "mundo"],
    ...                     sequence_length=6, language="spanish")
    >>> tok.encode(["¡Hola, mundo!"], markers=True)
    array([[2, 4, 5, 3, 0, 0]])
    >>> tok.tokens([2, 4, 1, 3])
    ['[start]', 'hola', '[UNK]', '[end]']
    >>> tok.decode([[2, 4, 5, 3, 4, 0]])
    ['hola mundo']
    """

    def __init__(self, vocabulary, sequence_length, language):
        vocabulary = [str(token) for token in as_list(vocabulary)]
        if vocabulary[:2] != [PAD_TOKEN, UNK_TOKEN]:
            vocabulary = [PAD_TOKEN, UNK_TOKEN] + vocabulary
        super().__init__(vocabulary, sequence_length, language)
        self.layer = keras.layers.TextVectorization(
            output_mode="int",
            output_sequence_length=sequence_length,
            standardize=STANDARDIZERS[language],
            vocabulary=self.vocabulary[2:],
        )

    @classmethod
    def adapt(cls, texts, vocab_size, sequence_length, language):
        """Learn the vocabulary (`vocab_size` most frequent words) from `texts`.

        Args:
            texts: list of str. For a Spanish target, wrap them with `add_markers` first so
                "[start]" and "[end]" are words of the vocabulary.
            vocab_size: int. Maximum vocabulary size, padding and "[UNK]" included.
            sequence_length: int. As in the constructor.
            language: "english" or "spanish".

        Example:
        >>> tok = WordTokenizer.adapt(["I love AI.", "I love it."], vocab_size=10,
        ...                           sequence_length=4, language="english")
        >>> tok.vocabulary
        ['', '[UNK]', 'love', 'i', 'it', 'ai']
        """
        check_arguments(sequence_length, language)
        layer = keras.layers.TextVectorization(
            max_tokens=vocab_size, output_mode="int", standardize=STANDARDIZERS[language])
        layer.adapt(tf.data.Dataset.from_tensor_slices(as_list(texts)).batch(4096))
        return cls(layer.get_vocabulary(), sequence_length, language)

    def encode(self, texts, markers=False, batch_size=8192):
        """Strings -> int64 array (num_texts, sequence_length), padded with 0 and truncated.

        Args:
            texts: list of str.
            markers: bool. Wrap each text as `[start] text [end]` first (Spanish targets); a
                long text loses its tail, the [end] included.
            batch_size: int. Texts vectorized per call.
        """
        texts = add_markers(texts) if markers else as_list(texts)
        if not texts:
            return np.zeros((0, self.sequence_length), dtype="int64")
        chunks = [
            np.asarray(self.layer(tf.constant(texts[i : i + batch_size])))
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(chunks).astype("int64")

    def token_counts(self, texts):
        """Number of words each text has after standardization (before truncation).

        Example:
        >>> tok = WordTokenizer(["", "[UNK]", "hola"], sequence_length=2, language="spanish")
        >>> tok.token_counts(["¡Hola, hola, hola!"])
        array([3])
        """
        texts = as_list(texts)
        if not texts:
            return np.zeros((0,), dtype="int64")
        words = tf.strings.split(STANDARDIZERS[self.language](tf.constant(texts)))
        return words.row_lengths().numpy()

    def _join(self, tokens):
        return " ".join(tokens)
