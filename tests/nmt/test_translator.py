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
    assert translator.translate(sentences, decode="beam", num_beams=3) == expected["beam"]
    assert translator.translate(sentences, decode="sample", temperature=0.8, seed=5) == \
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


# The Python API: the keywords of `nmt translate`'s flags, one rule for options a decoding ignores.


@pytest.fixture(scope="module")
def fixture_translator():
    return Translator.load(os.path.join(FIXTURES, "transformer-wordpiece"))


def test_translate_a_string_gives_a_string_and_a_list_a_list(fixture_translator):
    sentences = EXPECTED["sentences"]
    expected = EXPECTED["runs"]["transformer-wordpiece"]["greedy"]
    assert fixture_translator.translate(sentences[0]) == expected[0]  # not one per character
    assert fixture_translator.translate(sentences) == expected
    assert fixture_translator.translate(tuple(sentences[:2])) == expected[:2]
    text, ids = fixture_translator.translate(sentences[1], return_ids=True)
    assert text == expected[1] and ids[0] == fixture_translator.target_tokenizer.start_id


def test_an_unknown_keyword_is_refused_naming_it(fixture_translator):
    with pytest.raises(TypeError, match="'beams'"):
        fixture_translator.translate("Go.", beams=4)
    with pytest.raises(TypeError, match="item 1 is int"):
        fixture_translator.translate(["Go.", 3])


def test_an_option_the_decoding_would_ignore_implies_it_or_is_refused(fixture_translator):
    sentences = EXPECTED["sentences"]
    # num_beams alone means beam search; temperature alone means sampling.
    assert fixture_translator.translate(sentences, num_beams=3) == \
        EXPECTED["runs"]["transformer-wordpiece"]["beam"]
    assert fixture_translator.translate(sentences, temperature=0.8, seed=5) == \
        EXPECTED["runs"]["transformer-wordpiece"]["sample"]
    with pytest.raises(ConfigError, match=r"num_beams=4 \(--num-beams\) is for --decode beam, "
                       "not --decode greedy"):
        fixture_translator.translate("Go.", decode="greedy", num_beams=4)
    with pytest.raises(ConfigError, match=r"top_k=5 \(--top-k\) is for --decode sample, not "
                       "--decode beam"):
        fixture_translator.translate("Go.", decode="beam", top_k=5)
    with pytest.raises(ConfigError, match="one of sampling: use one decoding"):
        fixture_translator.translate("Go.", alpha=0.2, top_p=0.9)
    # The former name of `decode` still works (code outside this file may use it).
    assert fixture_translator.translate("Go.", strategy="beam", num_beams=3) == \
        fixture_translator.translate("Go.", decode="beam", num_beams=3)


def test_nbest_gives_scored_hypotheses_best_first(fixture_translator):
    hypotheses = fixture_translator.translate("Where is the train station?", nbest=3)
    assert 1 <= len(hypotheses) <= 3
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True) and all(isinstance(s, float) for s in scores)
    # The first is beam search's translation with as many beams (nbest implies beam).
    assert hypotheses[0].translation == fixture_translator.translate(
        "Where is the train station?", decode="beam", num_beams=3)
    assert [len(h) for h in fixture_translator.translate(["Go.", ""], nbest=2)][1] == 0
    # Without num_beams, nbest raises the beams to nbest; with fewer beams it is refused.
    assert len(fixture_translator.translate("Go.", nbest=6)) <= 6
    with pytest.raises(ConfigError, match=r"nbest=5 \(--nbest\) is more than num_beams=3"):
        fixture_translator.translate("Go.", nbest=5, num_beams=3)


def test_a_greedy_score_is_the_sum_of_the_log_probabilities_of_its_tokens(fixture_translator):
    from nmt.config import Decoding

    sentences = ["I love AI.", "Where is the train station?"]
    greedy = fixture_translator.hypotheses(sentences, Decoding(), scores=True)
    # One beam without a length penalty is greedy decoding, and its score is that sum.
    beam = fixture_translator.hypotheses(
        sentences, Decoding(decode="beam", num_beams=1, alpha=0.0), scores=True)
    for (g,), (b,) in zip(greedy, beam):
        assert g.translation == b.translation
        np.testing.assert_allclose(g.score, b.score, rtol=1e-4)
        assert g.score < 0


def test_max_length_beyond_the_positions_a_transformer_learned_is_refused(fixture_translator):
    assert len(fixture_translator.translate("Where is the train station?", max_length=12)) > 0
    with pytest.raises(ConfigError, match=r"max_length=13 \(--max-length\) is longer than the "
                       "12 positions this model learned"):
        fixture_translator.translate("Go.", max_length=13)
    rnn = Translator.load(os.path.join(FIXTURES, "gru-word"))  # no learned positions: any length
    _, ids = rnn.translate("Where is the train station?", max_length=20, return_ids=True)
    assert len(ids) == 21


@pytest.mark.slow
def test_a_saved_model_loads_with_plain_keras_after_importing_nmt_translator():
    import subprocess
    import sys

    from tests.conftest import ROOT

    run = os.path.join(FIXTURES, "transformer-wordpiece")
    script = (
        "import sys, numpy as np, keras\n"
        "import nmt.translator  # registers the project's layers, metrics and optimizers\n"
        f"model = keras.saving.load_model({os.path.join(run, 'model.keras')!r})\n"
        "expected = nmt.translator.Translator.load(sys.argv[1]).model\n"
        "inputs = {'english': np.array([[5, 6, 7, 0]]), 'spanish': np.array([[2, 8, 9]])}\n"
        "np.testing.assert_allclose(model(inputs), expected(inputs), atol=1e-5)\n"
        "print('loaded', type(model).__name__)\n")
    result = subprocess.run([sys.executable, "-c", script, run], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("loaded")
