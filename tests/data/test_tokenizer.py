"""Both tokenizers (data/vectorize.py, data/subword.py) behave as `Tokenizer` (data/tokenizer.py)
documents; `data/tokenizers.py` learns and loads them as the translator did before."""

import json
import os

import numpy as np
import pytest

from data.subword import SubwordTokenizer, normalize
from data.tokenizer import LANGUAGE_CHOICES, RESERVED_TOKENS, Tokenizer
from data.tokenizers import (TOKENIZER_CHOICES, TOKENIZERS, learn_tokenizers, load_tokenizers,
                             tokenizer_class)
from data.vectorize import WordTokenizer, add_markers, normalize_like_book

SAVED_RUNS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "saved_runs")
RUNS = sorted(name for name in os.listdir(SAVED_RUNS)
              if os.path.isdir(os.path.join(SAVED_RUNS, name)))

ENGLISH = ["I love AI.", "Where is the station?", "Tom is here.", "Go.", "Is it far?"]
SPANISH = ["Me encanta la IA.", "¿Dónde está la estación?", "Tom está aquí.", "Ve.",
           "¿Está lejos?"]
SEQUENCE_LENGTH = 10
VOCAB_SIZE = 200  # room for every word, and for every character with its "##" form


@pytest.fixture(scope="module", params=TOKENIZER_CHOICES)
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def tokenizers(kind):
    """(English, Spanish) tokenizers of `kind` learned on the tiny corpus."""
    return learn_tokenizers(kind, ENGLISH, SPANISH, VOCAB_SIZE, SEQUENCE_LENGTH)


def _tiny(cls, sequence_length=6):
    """A hand-written Spanish vocabulary both classes accept: ids 2, 3 = [start], [end]."""
    return cls(list(RESERVED_TOKENS) + ["hola", "mundo"], sequence_length, "spanish")


def _as_written(kind, texts, language):
    """What decoding gives back: the book's normalisation (words), or the NFKC text (pieces)."""
    return normalize_like_book(texts, language) if kind == "word" else normalize(texts)


@pytest.mark.parametrize("kind_name", TOKENIZER_CHOICES)
def test_every_registered_tokenizer_is_a_tokenizer(kind_name):
    assert issubclass(TOKENIZERS[kind_name], Tokenizer)
    assert tokenizer_class(kind_name) is TOKENIZERS[kind_name]
    assert TOKENIZER_CHOICES == ("word", "wordpiece")


def test_an_unknown_kind_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="'bpe'"):
        tokenizer_class("bpe")


def test_encode_then_decode_gives_the_sentences_back(kind, tokenizers):
    english, spanish = tokenizers
    for tok, texts in ((english, ENGLISH), (spanish, SPANISH)):
        ids = tok.encode(texts, markers=tok is spanish)
        assert ids.dtype == np.int64 and ids.shape == (len(texts), tok.sequence_length)
        assert tok.decode(ids) == _as_written(kind, texts, tok.language)


def test_markers_wrap_the_sentence_and_token_counts_leave_them_out(tokenizers):
    spanish = tokenizers[1]
    ids = spanish.encode(["Ve."], markers=True)[0]
    n = spanish.token_counts(["Ve."])[0]
    # [start], the n tokens of "Ve.", [end], then padding.
    assert ids[0] == spanish.start_id and ids[n + 1] == spanish.end_id and not ids[n + 2:].any()


def test_save_then_load_gives_identical_ids(kind, tokenizers, tmp_path):
    for tok, texts in zip(tokenizers, (ENGLISH, SPANISH)):
        path = tmp_path / f"{tok.language}_vocab.txt"
        tok.save(path)
        with open(path, encoding="utf-8") as f:
            assert f.readline() == "\n"  # line 1: the empty padding token
        loaded = type(tok).load(path, tok.sequence_length, tok.language)
        assert loaded.vocabulary == tok.vocabulary
        assert (loaded.start_id, loaded.end_id) == (tok.start_id, tok.end_id)
        np.testing.assert_array_equal(loaded.encode(texts, markers=True),
                                      tok.encode(texts, markers=True))


@pytest.mark.parametrize("call", ["encode", "token_counts", "adapt", "constructor"])
def test_a_single_string_where_a_list_is_expected_raises_value_error(kind, call):
    cls = tokenizer_class(kind)
    tok = _tiny(cls)
    calls = {"encode": lambda: tok.encode("hola"),
             "token_counts": lambda: tok.token_counts("hola"),
             "adapt": lambda: cls.adapt("hola", VOCAB_SIZE, SEQUENCE_LENGTH, "spanish"),
             "constructor": lambda: cls("hola", SEQUENCE_LENGTH, "spanish")}
    with pytest.raises(ValueError, match="single string 'hola'"):
        calls[call]()


@pytest.mark.parametrize("cls", [WordTokenizer, SubwordTokenizer])
def test_decode_stops_at_end_and_skips_padding_and_start(cls):
    tok = _tiny(cls)
    # [start] hola <pad> mundo [end] hola: the last "hola" comes after [end].
    assert tok.decode([[2, 4, 0, 5, 3, 4]]) == ["hola mundo"]
    assert tok.decode(np.array([[4, 3, 5, 5, 5, 5], [0, 0, 0, 0, 0, 0]])) == ["hola", ""]
    # tokens() keeps everything; an id past the vocabulary reads as [UNK].
    assert tok.tokens([2, 4, 0, 3, 99]) == ["[start]", "hola", "", "[end]", "[UNK]"]
    assert tok.decode([[4, 99]]) == ["hola [UNK]"]


@pytest.mark.parametrize("cls", [WordTokenizer, SubwordTokenizer])
def test_constructor_takes_language_as_third_argument_and_rejects_bad_values(cls):
    vocabulary = list(RESERVED_TOKENS) + ["hola"]
    for language in LANGUAGE_CHOICES:
        assert cls(vocabulary, 4, language).language == language
    with pytest.raises(ValueError, match="'klingon'"):
        cls(vocabulary, 4, "klingon")
    with pytest.raises(ValueError, match="sequence_length=0"):
        cls(vocabulary, 0, "spanish")
    with pytest.raises(ValueError, match="'hola'"):
        cls(vocabulary + ["hola"], 4, "spanish")  # a token twice


@pytest.mark.parametrize("cls", [WordTokenizer, SubwordTokenizer])
def test_load_of_a_missing_file_raises_file_not_found_naming_the_path(cls, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_vocab.txt"):
        cls.load(str(tmp_path / "missing_vocab.txt"), 4, "spanish")


@pytest.mark.parametrize("run", RUNS)
def test_saved_run_vocabularies_load_and_resave_byte_identically(run, tmp_path):
    folder = os.path.join(SAVED_RUNS, run)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    paths = [os.path.join(folder, f"{language}_vocab.txt") for language in LANGUAGE_CHOICES]
    source, target = load_tokenizers(config["tokenizer"], *paths, config["sequence_length"])
    assert type(source) is TOKENIZERS[config["tokenizer"]]
    assert (source.sequence_length, target.sequence_length) == (12, 13)
    for tok, path in zip((source, target), paths):
        tok.save(tmp_path / "again.txt")
        with open(path, "rb") as original, open(tmp_path / "again.txt", "rb") as again:
            assert again.read() == original.read()
    # Ids and texts as the tokenizers gave them before they shared a base class (ac88e9d).
    ids = source.encode(["Tom ran."])[0, :5].tolist()
    if config["tokenizer"] == "word":
        assert (ids, source.decode([ids])) == ([6, 1, 0, 0, 0], ["tom [UNK]"])
        assert (source.start_id, source.end_id) == (None, None)  # English has no markers
    else:
        assert (ids, source.decode([ids])) == ([135, 63, 146, 9, 0], ["Tom ran."])
        assert (source.start_id, source.end_id) == (2, 3)
    assert (target.start_id, target.end_id) == (2, 3)


def _make_tokenizers_before_the_registry(kind, english, spanish, vocab_size, sequence_length,
                                         shared_vocab):
    """`make_tokenizers` as nmt/translator.py wrote it at ac88e9d (the expected result)."""
    if kind == "wordpiece":
        if shared_vocab:
            shared = SubwordTokenizer.adapt(english + spanish, vocab_size, sequence_length,
                                            "english")
            return shared, SubwordTokenizer(shared.vocabulary, sequence_length + 1, "spanish")
        return (SubwordTokenizer.adapt(english, vocab_size, sequence_length, "english"),
                SubwordTokenizer.adapt(spanish, vocab_size, sequence_length + 1, "spanish"))
    return (WordTokenizer.adapt(english, vocab_size, sequence_length, "english"),
            WordTokenizer.adapt(add_markers(spanish), vocab_size, sequence_length + 1, "spanish"))


@pytest.mark.parametrize("kind_name, shared_vocab",
                         [("word", False), ("wordpiece", False), ("wordpiece", True)])
def test_learn_tokenizers_learns_what_make_tokenizers_learned(kind_name, shared_vocab):
    args = (kind_name, ENGLISH, SPANISH, VOCAB_SIZE, SEQUENCE_LENGTH)
    learned = learn_tokenizers(*args, shared_vocab=shared_vocab)
    expected = _make_tokenizers_before_the_registry(*args, shared_vocab)
    for got, want, language in zip(learned, expected, LANGUAGE_CHOICES):
        assert type(got) is type(want) is TOKENIZERS[kind_name]
        assert got.vocabulary == want.vocabulary
        assert (got.sequence_length, got.language) == (want.sequence_length, language)
    assert learned[1].sequence_length == SEQUENCE_LENGTH + 1
    assert learned[1].start_id is not None  # the target vocabulary holds [start] and [end]
    if shared_vocab:
        assert learned[0].vocabulary == learned[1].vocabulary


def test_shared_vocabulary_needs_wordpiece():
    with pytest.raises(ValueError, match="shared_vocab=True needs tokenizer='wordpiece'"):
        learn_tokenizers("word", ENGLISH, SPANISH, VOCAB_SIZE, SEQUENCE_LENGTH, shared_vocab=True)
