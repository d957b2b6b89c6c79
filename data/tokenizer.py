"""`Tokenizer`: the interface both tokenizers implement, and the code they share.

Two tokenizers turn sentences into the model's int ids and back: `WordTokenizer`
(data/vectorize.py, the book's words via `keras.layers.TextVectorization`) and
`SubwordTokenizer` (data/subword.py, WordPiece via tensorflow-text). Both are built, saved and
loaded the same way, use the same reserved tokens and decode with the same loop; only learning a
vocabulary, text -> ids, and joining a row's tokens into a sentence differ.
`data/tokenizers.py` maps a tokenizer kind ("word", "wordpiece") to its class.

Id 0 is padding (the empty token "") and id 1 is "[UNK]". "[start]" and "[end]" wrap a Spanish
target sentence: WordPiece reserves them as ids 2 and 3; the word tokenizer learns them as words
from marked text (`add_markers`), so an English word vocabulary has neither.

Example:
>>> from data.vectorize import WordTokenizer
>>> tok = WordTokenizer(["", "[UNK]", "[start]", "[end]", "hola"], sequence_length=5,
...                     language="spanish")
>>> isinstance(tok, Tokenizer)
True
>>> tok.decode([[2, 4, 1, 3, 4]])  # stops at [end]; [start] dropped, [UNK] kept
['hola [UNK]']
"""

import abc
import os

import numpy as np

PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
START_TOKEN = "[start]"
END_TOKEN = "[end]"
RESERVED_TOKENS = (PAD_TOKEN, UNK_TOKEN, START_TOKEN, END_TOKEN)
LANGUAGE_CHOICES = ("english", "spanish")


def as_list(texts):
    """`texts` as a list of str; a single string (a common slip) raises `ValueError`.

    Without the check, a string passed where a list is expected is read as a list of its
    characters.

    Args:
        texts: iterable of str.

    Example:
    >>> as_list(("Hola.", "Adiós."))
    ['Hola.', 'Adiós.']
    >>> as_list("Hola.")
    Traceback (most recent call last):
    ...
    ValueError: texts must be a list of strings, received the single string 'Hola.'
    """
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"texts must be a list of strings, received the single string {texts!r}")
    return list(texts)


def check_arguments(sequence_length, language):
    """Raise `ValueError` naming the value if `sequence_length` or `language` is not valid.

    Example:
    >>> check_arguments(20, "spanish")
    >>> check_arguments(20, "french")
    Traceback (most recent call last):
    ...
    ValueError: language='french' is not one of ('english', 'spanish')
    """
    if language not in LANGUAGE_CHOICES:
        raise ValueError(f"language={language!r} is not one of {LANGUAGE_CHOICES}")
    if sequence_length < 1:
        raise ValueError(f"sequence_length={sequence_length} must be >= 1")


class Tokenizer(abc.ABC):
    """Sentences <-> int ids with a fixed vocabulary and a fixed output length.

    A subclass implements `adapt` (learn a vocabulary), `encode`, `token_counts` and `_join`
    (a row's token strings -> one sentence); everything else is written here once.

    Args:
        vocabulary: list of str. Token `i` has id `i`; it must start with the class's
            `reserved_tokens` (always "" for padding, then "[UNK]") and hold no token twice.
        sequence_length: int. `encode`'s output length; longer inputs are truncated, shorter
            ones padded with 0.
        language: "english" or "spanish".

    Attributes:
        vocabulary, sequence_length, language: as given (the vocabulary as a list of str).
        unk_id: int. The id of "[UNK]" (1).
        start_id, end_id: int or None. The ids of "[start]" and "[end]"; None when the
            vocabulary does not hold them (an English word vocabulary).

    Example:
    >>> from data.subword import SubwordTokenizer
    >>> from data.vectorize import WordTokenizer
    >>> word = WordTokenizer(["", "[UNK]", "[start]", "[end]", "hola"], 4, "spanish")
    >>> piece = SubwordTokenizer(["", "[UNK]", "[start]", "[end]", "hola"], 4, "spanish")
    >>> [tok.decode(tok.encode(["hola"], markers=True)) for tok in (word, piece)]
    [['hola'], ['hola']]
    """

    # The tokens every vocabulary of the class starts with, in this order.
    reserved_tokens = (PAD_TOKEN, UNK_TOKEN)

    def __init__(self, vocabulary, sequence_length, language):
        check_arguments(sequence_length, language)
        vocabulary = [str(token) for token in as_list(vocabulary)]
        reserved = list(self.reserved_tokens)
        if vocabulary[: len(reserved)] != reserved:
            raise ValueError(f"vocabulary must start with {reserved}, "
                             f"received {vocabulary[:len(reserved)]}")
        if len(set(vocabulary)) != len(vocabulary):
            seen, duplicates = set(), []
            for token in vocabulary:
                if token in seen:
                    duplicates.append(token)
                seen.add(token)
            raise ValueError(f"vocabulary has duplicate tokens: {duplicates[:5]}")
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.language = language
        index = {token: i for i, token in enumerate(vocabulary)}
        self.unk_id = index[UNK_TOKEN]
        self.start_id = index.get(START_TOKEN)
        self.end_id = index.get(END_TOKEN)

    def __repr__(self):
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, "
                f"sequence_length={self.sequence_length}, language={self.language!r})")

    @property
    def vocab_size(self):
        """Number of tokens, padding and reserved tokens included (the model's output size)."""
        return len(self.vocabulary)

    # What each tokenizer implements.

    @classmethod
    @abc.abstractmethod
    def adapt(cls, texts, vocab_size, sequence_length, language):
        """Learn a vocabulary of at most `vocab_size` tokens from `texts` (list of str)."""

    @abc.abstractmethod
    def encode(self, texts, markers=False, batch_size=8192):
        """list of str -> int64 array (len(texts), sequence_length), padded with 0, truncated.

        Args:
            texts: list of str.
            markers: bool. Wrap each text as [start] ... [end] first (Spanish targets).
            batch_size: int. Texts tokenized per call.
        """

    @abc.abstractmethod
    def token_counts(self, texts):
        """int64 array: the number of tokens of each text, without markers or truncation."""

    @abc.abstractmethod
    def _join(self, tokens):
        """One row's token strings (no padding or markers) -> the sentence they spell."""

    # Shared: ids -> text.

    def _token(self, i):
        return self.vocabulary[i] if 0 <= i < len(self.vocabulary) else UNK_TOKEN

    def decode(self, ids):
        """Int ids (batch, length) -> list of sentences.

        Each row is read up to its first [end]; padding and [start] are dropped; an id outside
        the vocabulary reads as "[UNK]".

        Args:
            ids: int array-like (batch, length).
        """
        out = []
        for row in np.asarray(ids):
            tokens = []
            for i in row:
                i = int(i)
                if i == self.end_id:
                    break
                if i == 0 or i == self.start_id:
                    continue
                tokens.append(self._token(i))
            out.append(self._join(tokens))
        return out

    def tokens(self, ids):
        """Int ids (one row) -> list of token strings, markers and padding kept (for plots)."""
        return [self._token(int(i)) for i in ids]

    # Shared: the vocabulary file.

    def save(self, path):
        """Write the vocabulary, one token per line (line 1 is the empty padding token), UTF-8.

        Args:
            path: str. The file to write.
        """
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(self.vocabulary) + "\n")

    @classmethod
    def load(cls, path, sequence_length, language):
        """Read a vocabulary written by `save`; a missing file raises `FileNotFoundError`.

        Args:
            path: str. The vocabulary file.
            sequence_length: int. As in the constructor.
            language: "english" or "spanish".
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: vocabulary file missing")
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        # Only "\n" ends a line (as `save` writes); a "\r" before it (a file saved on Windows)
        # is dropped, since no token ends in one.
        lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
        return cls([line.removesuffix("\r") for line in lines], sequence_length, language)
