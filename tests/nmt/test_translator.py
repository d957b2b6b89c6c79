"""nmt/translator.py: a run folder saved before the move to the layered layout (commit ba0ccf9)
loads and translates identically, for every kind of run; a saved Translator translates as before
it was saved; the tokenizers are learned from the config (a shared WordPiece vocabulary)."""

import json
import os

import numpy as np
import pytest

from data.vectorize import WordTokenizer, add_markers
from nmt.config import ConfigError, resolve_config
from nmt.runs import RunError
from nmt.translator import Translator, make_tokenizers
from tests.conftest import MODEL_NAMES, WORDPIECE_ENGLISH, WORDPIECE_SPANISH

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "saved_runs")
EXPECTED = json.load(open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED["runs"]))
def test_a_run_saved_before_the_layered_layout_translates_identically(name):
    expected = EXPECTED["runs"][name]
    sentences = EXPECTED["sentences"]
    translator = Translator.load(os.path.join(FIXTURES, name))
    greedy, ids = translator.translate(sentences, return_ids=True)
    assert greedy == expected["greedy"]
    assert [None if row is None else [int(x) for x in row] for row in ids] == \
        expected["greedy_ids"]
    assert translator.translate(sentences, strategy="beam", num_beams=3) == expected["beam"]
    assert translator.translate(sentences, strategy="sample", temperature=0.8, seed=5) == \
        expected["sample"]
    source = translator.source_tokenizer.encode(sentences[:2])
    target = translator.target_tokenizer.encode(
        ["Me encanta la IA.", "¿Dónde está la estación?"], markers=True)[:, :-1]
    logits = np.asarray(translator.model({"english": source, "spanish": target}))
    np.testing.assert_allclose(logits[:, :3, :6], expected["logits_slice"], atol=1e-5)
    attention = translator.attention(sentences[1], ids[1])
    if expected["attention_shape"] is None:
        assert attention is None
    else:
        assert list(np.asarray(attention[0]).shape) == expected["attention_shape"]


def test_loaded_models_hold_their_parts():
    translator = Translator.load(os.path.join(FIXTURES, "transformer-wordpiece"))
    parts = translator.model.parts
    assert parts.output_layer is None  # tied: the target embedding is the output layer
    assert len(parts.encoders) == len(parts.decoders) == 2
    assert parts.encoder_norm is not None  # pre-LN


def test_weights_that_do_not_match_the_config_are_a_run_error(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(os.path.join(FIXTURES, "gru-word"), run)
    config = json.loads((run / "config.json").read_text())
    config["rnn_units"] = config["rnn_units"] * 2
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match="does not match config.json"):
        Translator.load(str(run))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_translator_save_load_translates_the_same(name, tmp_path, tiny_pairs):
    config = resolve_config(name, "tiny")
    english = WordTokenizer.adapt([e for e, _ in tiny_pairs], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers([s for _, s in tiny_pairs]), 100, 21, "spanish")
    translator = Translator.create(config, english, spanish)
    sentences = ["Where is the station?", "", "I love AI."]
    before = translator.translate(sentences)
    translator.save(tmp_path / "run")
    after = Translator.load(str(tmp_path / "run")).translate(sentences)
    assert after == before and after[1] == "" and len(after) == 3


def test_shared_vocabulary_is_one_list_learned_from_both_languages():
    pairs = [(e, s) for e, s in zip(WORDPIECE_ENGLISH, WORDPIECE_SPANISH)]
    config = resolve_config("transformer", "tiny", tokenizer="wordpiece", vocab_size=300,
                            shared_vocab=True)
    english, spanish = make_tokenizers(config, pairs)
    assert english.vocabulary == spanish.vocabulary
    assert (english.language, spanish.language) == ("english", "spanish")
    assert spanish.sequence_length == english.sequence_length + 1
    unk = english.vocabulary.index("[UNK]")
    for tokenizer, texts in ((english, [e for e, _ in pairs]), (spanish, [s for _, s in pairs])):
        assert unk not in np.asarray(tokenizer.encode(texts))
    with pytest.raises(ConfigError, match="shared_vocab=True needs tokenizer='wordpiece'"):
        resolve_config("transformer", "tiny", shared_vocab=True)


@pytest.mark.parametrize("damage, message", [
    ("swap_vocabularies", "spanish_vocab.txt: has no \\[start\\] and \\[end\\] tokens"),
    ("unknown_model", "config.json: not a valid run config \\(model='foo'"),
    ("truncated_model", "model.keras: damaged or not a Keras model file"),
])
def test_a_damaged_run_folder_is_a_run_error_naming_the_file(tmp_path, damage, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(os.path.join(FIXTURES, "transformer-word"), run)
    if damage == "swap_vocabularies":
        shutil.copy(run / "english_vocab.txt", run / "spanish_vocab.txt")
    elif damage == "unknown_model":
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps(dict(config, model="foo")))
    else:
        data = (run / "model.keras").read_bytes()
        (run / "model.keras").write_bytes(data[:1000])
    with pytest.raises(RunError, match=message):
        Translator.load(str(run))
