"""The tokenizer kinds ("word", "wordpiece") and their classes: learn or load a pair.

This is the one place that maps a kind (`Config.tokenizer`, `--tokenizer`) to its class. A run
uses two tokenizers: the source (English, `sequence_length` ids) and the target (Spanish,
`sequence_length + 1` ids: [start] ... [end], split by the data pipeline into the decoder's input
and the next tokens).

Example:
>>> source, target = learn_tokenizers("wordpiece", ["I love AI."], ["Me encanta la IA."],
...                                   vocab_size=60, sequence_length=8)
>>> target
SubwordTokenizer(vocab_size=27, sequence_length=9, language='spanish')
>>> target.decode(target.encode(["Me encanta la IA."], markers=True))
['Me encanta la IA.']
"""

import os

from data.subword import SubwordTokenizer
from data.tokenizer import START_TOKEN, as_list
from data.vectorize import WordTokenizer, add_markers

# data.subword (tensorflow-text) is imported eagerly: it adds about 0.3 s to the 5-7 s that
# importing TensorFlow and Keras takes anyway.
TOKENIZERS = {"word": WordTokenizer, "wordpiece": SubwordTokenizer}
TOKENIZER_CHOICES = tuple(TOKENIZERS)


def tokenizer_class(kind):
    """The class of tokenizer `kind`; an unknown kind raises `ValueError` naming it.

    Example:
    >>> tokenizer_class("word")
    <class 'data.vectorize.WordTokenizer'>
    """
    if kind not in TOKENIZERS:
        raise ValueError(f"tokenizer={kind!r} is not one of {TOKENIZER_CHOICES}")
    return TOKENIZERS[kind]


def learn_tokenizers(kind, english, spanish, vocab_size, sequence_length, shared_vocab=False):
    """Learn the English (source) and Spanish (target) vocabularies from training sentences.

    Args:
        kind: str. One of `TOKENIZER_CHOICES`.
        english: list of str. The training sentences' English sides.
        spanish: list of str. Their Spanish sides (no markers).
        vocab_size: int. Maximum size of each vocabulary.
        sequence_length: int. English length; the Spanish one is `sequence_length + 1`.
        shared_vocab: bool. Learn one vocabulary of `vocab_size` tokens from both languages
            and use it on both sides ("wordpiece" only: the word tokenizer standardizes each
            language its own way and learns [start] / [end] from Spanish text).

    Returns:
        (source, target) tokenizers.

    Example:
    >>> source, target = learn_tokenizers("word", ["I love AI.", "Go."], ["Me encanta.", "Ve."],
    ...                                   vocab_size=20, sequence_length=4)
    >>> target.vocabulary, target.sequence_length
    (['', '[UNK]', '[start]', '[end]', 've', 'me', 'encanta'], 5)
    """
    cls = tokenizer_class(kind)
    english, spanish = as_list(english), as_list(spanish)
    # A class that does not reserve [start] / [end] (the word tokenizer) learns them as words
    # from the Spanish sentences wrapped in them.
    reserves_markers = START_TOKEN in cls.reserved_tokens
    if shared_vocab:
        if not reserves_markers:
            raise ValueError(f"shared_vocab=True needs tokenizer='wordpiece', "
                             f"received tokenizer={kind!r}")
        shared = cls.adapt(english + spanish, vocab_size, sequence_length, "english")
        return shared, cls(shared.vocabulary, sequence_length + 1, "spanish")
    if not reserves_markers:
        spanish = add_markers(spanish)
    return (cls.adapt(english, vocab_size, sequence_length, "english"),
            cls.adapt(spanish, vocab_size, sequence_length + 1, "spanish"))


def load_tokenizers(kind, english_path, spanish_path, sequence_length):
    """The (source, target) tokenizers from their saved vocabulary files.

    Args:
        kind: str. One of `TOKENIZER_CHOICES`.
        english_path, spanish_path: str. Files written by `Tokenizer.save`; a missing one
            raises `FileNotFoundError` naming it.
        sequence_length: int. English length; the Spanish one is `sequence_length + 1`.

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{language}_vocab.txt") for language in ("english", "spanish")]
    >>> for tokenizer, path in zip(learn_tokenizers("word", ["Go."], ["Ve."], 10, 4), paths):
    ...     tokenizer.save(path)
    >>> source, target = load_tokenizers("word", *paths, sequence_length=4)
    >>> target.tokens(target.encode(["Ve."], markers=True)[0])
    ['[start]', 've', '[end]', '', '']
    """
    cls = tokenizer_class(kind)
    return (cls.load(english_path, sequence_length, "english"),
            cls.load(spanish_path, sequence_length + 1, "spanish"))
