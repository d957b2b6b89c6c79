"""data/subword.py: the WordPiece tokenizer (round trips, no [UNK] in domain, markers,
save/load)."""

import os

import numpy as np
import pytest

from data.subword import RESERVED_TOKENS, SubwordTokenizer, detokenize_words, normalize
# The sentences the tokenizers learn from; the first ones are the round-trip examples.
from tests.conftest import ROUND_TRIP_ENGLISH, ROUND_TRIP_SPANISH
from tests.conftest import WORDPIECE_ENGLISH as ENGLISH
from tests.conftest import WORDPIECE_SPANISH as SPANISH

SEQUENCE_LENGTH = 24


@pytest.fixture(scope="module")
def english():
    return SubwordTokenizer.adapt(ENGLISH, vocab_size=300, sequence_length=SEQUENCE_LENGTH,
                                  language="english")


@pytest.fixture(scope="module")
def spanish():
    return SubwordTokenizer.adapt(SPANISH, vocab_size=300, sequence_length=SEQUENCE_LENGTH,
                                  language="spanish")


def test_decode_restores_case_and_punctuation(english, spanish):
    for tok, sentences in ((english, ROUND_TRIP_ENGLISH), (spanish, ROUND_TRIP_SPANISH)):
        decoded = tok.decode(tok.encode(sentences, markers=True))
        assert decoded == normalize(sentences)
    # Written out once, for the sentence the translator is meant to produce.
    assert spanish.decode(spanish.encode(["¿Dónde está la estación?"]))[0] == (
        "¿Dónde está la estación?")


def test_round_trip_holds_for_every_training_sentence(english, spanish):
    assert english.decode(english.encode(ENGLISH, markers=True)) == normalize(ENGLISH)
    assert spanish.decode(spanish.encode(SPANISH, markers=True)) == normalize(SPANISH)


def test_text_is_normalised_with_nfkc(english):
    # Full-width letters and the one-character ellipsis are NFKC-folded before tokenizing.
    assert normalize(["Ｔｏｍ…"]) == ["Tom..."]
    assert english.decode(english.encode(["Ｔｏｍ is here…"])) == ["Tom is here..."]


def test_unseen_words_are_encoded_without_unk(english, spanish):
    # None of these words is in the corpus as a whole; all their characters are.
    for tok, text in ((english, "AI Mad Tommy"), (spanish, "Estaciones Madrileños ¡Tomás!")):
        ids = tok.encode([text])
        assert tok.unk_id not in ids
        assert tok.decode(ids) == [text]
    assert english.tokens(english.encode(["AI"])[0][:2]) == ["A", "##I"]


def test_unseen_character_becomes_one_unk_not_the_whole_word(spanish):
    pieces = spanish.tokens(spanish.encode(["Tom☃"])[0][:3])
    assert pieces == ["Tom", "[UNK]", ""]


def test_vocabulary_holds_every_training_character(spanish):
    vocabulary = set(spanish.vocabulary)
    for char in set("".join(SPANISH)) - {" "}:
        assert char in vocabulary
    # Letters can continue a word; punctuation is always a word of its own.
    for char in "¿¡.?":
        assert char in vocabulary and "##" + char not in vocabulary
    for char in "áéíóúñ":
        assert "##" + char in vocabulary


def test_encode_pads_with_zeros_and_wraps_markers(spanish):
    ids = spanish.encode(["¡Cuidado!"], markers=True)
    assert ids.shape == (1, SEQUENCE_LENGTH) and ids.dtype == np.int64
    n = spanish.token_counts(["¡Cuidado!"])[0]
    assert ids[0, 0] == spanish.start_id
    assert ids[0, n + 1] == spanish.end_id
    assert (ids[0, n + 2:] == 0).all() and (ids[0, : n + 2] != 0).all()


def test_encode_without_markers_has_no_start_or_end(spanish):
    ids = spanish.encode(["¡Cuidado!"])
    assert spanish.start_id not in ids and spanish.end_id not in ids
    assert (ids[0] != 0).sum() == spanish.token_counts(["¡Cuidado!"])[0]


def test_long_sentence_keeps_start_and_loses_its_tail():
    tok = SubwordTokenizer.adapt(SPANISH, vocab_size=300, sequence_length=5, language="spanish")
    text = "¿Dónde está la estación? Tom está aquí."
    full = SubwordTokenizer(tok.vocabulary, 40, "spanish").encode([text], markers=True)[0]
    ids = tok.encode([text], markers=True)[0]
    # [start] and the first 4 pieces survive; the tail and [end] are cut.
    assert ids.tolist() == full[:5].tolist()
    assert ids[0] == tok.start_id and tok.end_id not in ids
    # An [end] that fits exactly is kept.
    exact = tok.encode(["Ve."], markers=True)[0]
    assert tok.token_counts(["Ve."])[0] + 2 <= 5 and tok.end_id in exact


def test_token_counts_exclude_markers_and_ignore_truncation(spanish):
    counts = spanish.token_counts(["¡Cuidado!", "¿Dónde está la estación?" * 10])
    assert counts.dtype.kind == "i"
    with_markers = (spanish.encode(["¡Cuidado!"], markers=True) != 0).sum()
    assert counts[0] == with_markers - 2
    assert counts[1] > SEQUENCE_LENGTH  # counted before truncation


def test_decode_stops_at_end_and_skips_padding_and_start(spanish):
    ids = spanish.encode(["¡Cuidado!", "Ve."], markers=True)
    # Anything after [end] (as a model may generate) is ignored.
    ids[0, -1] = ids[1, 1]
    assert spanish.decode(ids) == ["¡Cuidado!", "Ve."]
    assert spanish.tokens(ids[1, :1]) == ["[start]"]


def test_batches_give_the_same_ids_as_one_call(spanish):
    assert (spanish.encode(SPANISH, batch_size=3) == spanish.encode(SPANISH)).all()
    assert spanish.encode([]).shape == (0, SEQUENCE_LENGTH)


def test_adapt_is_deterministic(spanish):
    again = SubwordTokenizer.adapt(SPANISH, vocab_size=300, sequence_length=SEQUENCE_LENGTH,
                                   language="spanish")
    assert again.vocabulary == spanish.vocabulary
    assert (again.encode(SPANISH) == spanish.encode(SPANISH)).all()


def test_vocabulary_starts_with_reserved_tokens_and_respects_vocab_size(spanish):
    assert spanish.vocabulary[:4] == ["", "[UNK]", "[start]", "[end]"]
    assert (spanish.start_id, spanish.end_id) == (2, 3)
    assert spanish.vocab_size == len(spanish.vocabulary) <= 300
    # Reserved tokens and characters take about 100 slots here; a small budget still holds them.
    small = SubwordTokenizer.adapt(SPANISH, vocab_size=120, sequence_length=SEQUENCE_LENGTH,
                                   language="spanish")
    assert small.vocab_size == 120  # the learner offers more; the rarest are cut
    assert small.decode(small.encode(SPANISH, markers=True)) == normalize(SPANISH)
    assert small.unk_id not in small.encode(SPANISH)


def test_save_then_load_gives_identical_ids(english, tmp_path):
    path = os.path.join(tmp_path, "english_vocab.txt")
    english.save(path)
    with open(path, encoding="utf-8") as f:
        assert f.readline() == "\n"  # line 1: the empty padding token
    loaded = SubwordTokenizer.load(path, SEQUENCE_LENGTH, "english")
    assert loaded.vocabulary == english.vocabulary
    assert (loaded.encode(ENGLISH, markers=True) == english.encode(ENGLISH, markers=True)).all()


def test_load_missing_file_names_the_path(tmp_path):
    path = os.path.join(tmp_path, "missing.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        SubwordTokenizer.load(path, SEQUENCE_LENGTH, "spanish")


@pytest.mark.parametrize("kwargs, message", [
    (dict(language="french"), "'french'"),
    (dict(sequence_length=0), "sequence_length=0"),
    (dict(vocab_size=4), "vocab_size=4"),  # no room beyond the 4 reserved tokens
    (dict(vocab_size=20), "vocab_size=20"),  # no room for the characters
    (dict(texts="Hola."), "'Hola.'"),  # a single string, not a list
])
def test_adapt_rejects_bad_arguments_naming_the_value(kwargs, message):
    args = dict(texts=SPANISH, vocab_size=300, sequence_length=8, language="spanish")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SubwordTokenizer.adapt(**args)


def test_constructor_rejects_bad_arguments_naming_the_value(spanish):
    with pytest.raises(ValueError, match="'klingon'"):
        SubwordTokenizer(spanish.vocabulary, 8, "klingon")
    with pytest.raises(ValueError, match="sequence_length=-1"):
        SubwordTokenizer(spanish.vocabulary, -1, "spanish")
    with pytest.raises(ValueError, match="PAD"):
        SubwordTokenizer(["[PAD]", "[UNK]", "[start]", "[end]", "a"], 8, "spanish")
    with pytest.raises(ValueError, match="'a'"):
        SubwordTokenizer(list(RESERVED_TOKENS) + ["a", "a"], 8, "spanish")


@pytest.mark.parametrize("words, text", [
    (["Tom", "isn", "'", "t", "here", "."], "Tom isn't here."),
    (["The", "students", "'", "books", "."], "The students' books."),
    (["'", "Hi", ",", "'", "he", "said", "."], "'Hi,' he said."),
    (["They", "are", "called", "'", "pandas", "'", "."], "They are called 'pandas'."),
    (["He", "'", "s", "O", "'", "Brien", "."], "He's O'Brien."),
    (["my", "grandparents", "'", "."], "my grandparents'."),
    (["I", "said", '"', "no", '"', "."], 'I said "no".'),
    (["It", "'", "s", "5", ":", "30", "p", ".", "m", "."], "It's 5:30 p.m."),
    (["Cuesta", "3", ",", "5", "€", "o", "$", "4", "(", "50", "%", ")", "."],
     "Cuesta 3,5 € o $4 (50%)."),
    (["Dijo", "«", "no", "»", ".", ".", ".", "¿", "Y", "tú", "?"], "Dijo «no»... ¿Y tú?"),
    (["a", "well", "-", "known", "U", ".", "S", ".", "city"], "a well-known U.S. city"),
])
def test_detokenize_words_spaces_punctuation_like_written_text(words, text):
    assert detokenize_words(words) == text
