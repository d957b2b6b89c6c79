"""nmt/ctranslate2.py: a Transformer run exported to CTranslate2 translates as our TF decoder does
(float32 greedy and beam 4: the same sentences, ids and scores), for word and WordPiece, tied and
untied, pre-LN and post-LN, learned positions or none, and the 2nd edition's wide heads; RNN and
GRU runs are refused in one line with nothing written; writes are whole or absent; the command
line, jsonl, n-best, sampling, int8 and `nmt serve` work on an export.

The saved runs (tests/fixtures/saved_runs) are barely trained and the in-process variants are
untrained (seeded): the translations are compared with the TF decoder's, not judged.

Beam search is compared on the best hypothesis: CTranslate2 sets each finished hypothesis aside
and keeps searching with `num_beams` live ones, ours keeps a finished one in the beam, so the
lower entries of an n-best list may differ (docs/ctranslate2.md); the best one is the same here,
and its GNMT score is computed by the same formula.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from nmt import ctranslate2 as ct2
from nmt.cli import main
from nmt.config import Decoding, resolve_config
from nmt.runs import RunError
from nmt.serve import Explorer
from nmt.translator import Translator, make_tokenizers
from tests.conftest import ROOT, WORDPIECE_ENGLISH, WORDPIECE_SPANISH

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "saved_runs")
SENTENCES = ["Where is the station?", "", "I love AI.", "?", "Go.", "Tom likes coffee.",
             "She is reading a book in the garden.", "Is this your book?", "Call me, please."]
GREEDY = Decoding()
BEAM = Decoding(decode="beam", num_beams=4)
# In-process variants: each option of the matrix both ways across the saved runs and these
# (tokenizer, tie_embeddings, norm_first, positional, num_layers, key_dim).
VARIANTS = {
    "word-tied-postln-nopos": dict(tokenizer="word", tie_embeddings=True, positional=False),
    "wordpiece-untied-preln-nopos": dict(tokenizer="wordpiece", norm_first=True,
                                         positional=False, num_layers=2),
    "wordpiece-wide-heads": dict(tokenizer="wordpiece", key_dim=32),  # 2nd edition: key_dim = embed_dim
}


def tiny_variant(tokenizer="word", **settings):
    """An untrained (seeded) tiny Transformer translator with vocabularies of the WordPiece test
    corpus."""
    config = resolve_config("transformer", "tiny", tokenizer=tokenizer, vocab_size=120,
                            sequence_length=12, **settings)
    pairs = list(zip(WORDPIECE_ENGLISH, WORDPIECE_SPANISH))
    keras.utils.set_random_seed(0)
    return Translator.create(config, *make_tokenizers(config, pairs))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{name: (TF translator, CTranslate2 translator, export folder)}: the two saved Transformer
    runs and the in-process variants, exported in float32; and the saved WordPiece run in int8."""
    folder = tmp_path_factory.mktemp("ct2")
    translators = {name: Translator.load(os.path.join(FIXTURES, name))
                   for name in ("transformer-word", "transformer-wordpiece")}
    translators.update({name: tiny_variant(**settings) for name, settings in VARIANTS.items()})
    found = {}
    for name, translator in translators.items():
        path = ct2.export_ctranslate2(translator, str(folder / name))
        found[name] = (translator, ct2.load_translator(path), path)
    path = ct2.export_ctranslate2(translators["transformer-wordpiece"], str(folder / "int8"),
                                  quantization="int8")
    found["int8"] = (translators["transformer-wordpiece"], ct2.load_translator(path), path)
    return found


def assert_same_hypotheses(expected, found, keep=None):
    """The same translations and ids, and scores within float32 rounding, per sentence."""
    assert len(expected) == len(found)
    for ours, theirs in zip(expected, found):
        ours, theirs = ours[:keep], theirs[:keep]
        assert [h.translation for h in theirs] == [h.translation for h in ours]
        for a, b in zip(ours, theirs):
            assert (a.ids is None) == (b.ids is None)
            if a.ids is not None:
                np.testing.assert_array_equal(b.ids, a.ids)
            if a.score is None:
                assert b.score is None
            elif not generated_padding(a):
                assert b.score == pytest.approx(a.score, abs=1e-4)


def generated_padding(hypothesis):
    """True when a greedy or sampled hypothesis generated id 0 (padding) before its end: then
    the TF score (`Translator.token_log_probs`, a teacher-forced pass that reads id 0 as padding)
    leaves that token's log-probability out and CTranslate2's sum counts it. Only an untrained
    model generates padding (here the wide-heads variant)."""
    ids = list(hypothesis.ids[1:])
    return 0 in ids[: ids.index(3) if 3 in ids else None]


@pytest.mark.parametrize("name", ["transformer-word", "transformer-wordpiece", *VARIANTS])
def test_float32_greedy_and_beam_equal_the_tf_decoder(exported, name):
    translator, exported_translator, _ = exported[name]
    for decoding in (GREEDY, BEAM):
        assert_same_hypotheses(translator.hypotheses(SENTENCES, decoding, scores=True),
                               exported_translator.hypotheses(SENTENCES, decoding, scores=True))


def test_beam_search_scores_are_gnmt_normalised_as_ours(exported):
    translator, exported_translator, _ = exported["transformer-word"]
    for alpha in (0.0, 1.0):
        decoding = Decoding(decode="beam", num_beams=3, alpha=alpha, nbest=1)
        assert_same_hypotheses(translator.hypotheses(SENTENCES, decoding),
                               exported_translator.hypotheses(SENTENCES, decoding))


def test_nbest_lists_are_sorted_and_start_with_our_best(exported):
    translator, exported_translator, _ = exported["transformer-wordpiece"]
    decoding = Decoding(decode="beam", num_beams=4, nbest=3)
    ours = translator.hypotheses(SENTENCES, decoding)
    theirs = exported_translator.hypotheses(SENTENCES, decoding)
    for a, b in zip(ours, theirs):
        assert len(b) == len(a)  # 3, or 0 for a blank input
        scores = [h.score for h in b]
        assert scores == sorted(scores, reverse=True)
    assert_same_hypotheses(ours, theirs, keep=1)


def test_max_length_caps_the_output_tokens(exported):
    translator, exported_translator, _ = exported["transformer-word"]
    for decoding in (Decoding(max_length=3), Decoding(decode="beam", max_length=3)):
        found = exported_translator.hypotheses(SENTENCES, decoding)
        assert_same_hypotheses(translator.hypotheses(SENTENCES, decoding), found)
        assert all(h[0].ids is None or len(h[0].ids) == 4 for h in found)


def test_sampling_repeats_with_its_seed_and_top_k_1_is_greedy(exported):
    _, exported_translator, _ = exported["transformer-wordpiece"]
    sample = dict(decode="sample", temperature=0.8, top_k=10, top_p=0.9)
    first = exported_translator.translate(SENTENCES, seed=3, **sample)
    assert exported_translator.translate(SENTENCES, seed=3, **sample) == first
    assert exported_translator.translate(SENTENCES, decode="sample", top_k=1) == \
        exported_translator.translate(SENTENCES)


def test_an_export_holds_the_model_the_tokenizers_and_its_mark(exported):
    _, exported_translator, path = exported["transformer-wordpiece"]
    names = set(os.listdir(path))
    assert {"model.bin", "config.json", ct2.MARKER_FILE, ct2.RUN_SUBFOLDER} <= names
    assert sorted(os.listdir(os.path.join(path, ct2.RUN_SUBFOLDER))) == \
        ["config.json", "english_vocab.txt", "spanish_vocab.txt"]
    mark = json.load(open(os.path.join(path, ct2.MARKER_FILE), encoding="utf-8"))
    assert mark["format"] == "ctranslate2" and mark["quantization"] == "float32"
    assert mark["ctranslate2"] == ct2.VERSION
    assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp-" in n]
    with pytest.raises(RunError, match="a CTranslate2 export, not a run folder; load it with "
                                       "nmt.ctranslate2.load_translator"):
        Translator.load(path)


def test_the_quantizations_are_ctranslate2s():
    from ctranslate2.specs.model_spec import ACCEPTED_MODEL_TYPES

    assert set(ct2.QUANTIZATIONS) == set(ACCEPTED_MODEL_TYPES)


def test_an_int8_export_loads_and_translates(exported):
    translator, exported_translator, path = exported["int8"]
    assert exported_translator.quantization == "int8"
    assert os.path.getsize(os.path.join(path, "model.bin")) < \
        os.path.getsize(os.path.join(exported["transformer-wordpiece"][2], "model.bin"))
    outputs = exported_translator.translate(SENTENCES)
    assert len(outputs) == len(SENTENCES) and outputs[1] == ""
    assert all(outputs[i] for i in range(len(SENTENCES)) if i != 1)
    # Beam search with scores, as the float32 export (the numbers differ by int8 rounding).
    found = exported_translator.hypotheses(SENTENCES, Decoding(decode="beam", nbest=2))
    assert [len(h) for h in found] == [0 if i == 1 else 2 for i in range(len(SENTENCES))]


@pytest.mark.parametrize("name", ["gru-word", "rnn-wordpiece"])
def test_rnn_runs_are_refused_in_one_line_before_anything_is_written(tmp_path, capsys, name):
    out = tmp_path / "exported"
    code = main(["export", "--run", os.path.join(FIXTURES, name), "--format", "ctranslate2",
                 "--out", str(out)])
    model = name.partition("-")[0]
    assert code == 2
    assert capsys.readouterr().err == (
        f"nmt export: error: --format ctranslate2 cannot export this run: it is a {model} run, "
        "and CTranslate2 exports Transformer runs only (it has no GRU encoder-decoder); use "
        "--format savedmodel\n")
    assert os.listdir(tmp_path) == []


def test_an_option_ctranslate2_cannot_set_is_refused_before_anything_is_written(tmp_path):
    translator = tiny_variant()
    translator.model.parts.decoders[0].layernorm_3.epsilon = 1e-5
    with pytest.raises(RunError, match="^--format ctranslate2 cannot export this run: its "
                       "LayerNorms use different epsilons \\(1e-05, 0.001\\); CTranslate2 has one "
                       "layer_norm_epsilon for the whole model$"):
        ct2.export_ctranslate2(translator, str(tmp_path / "exported"))
    assert os.listdir(tmp_path) == []


def test_an_export_is_whole_or_absent(tmp_path, monkeypatch):
    translator = tiny_variant()

    def fail(temporary, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ct2, "_commit", fail)
    with pytest.raises(RunError, match="cannot be written \\(No space left on device\\)"):
        ct2.export_ctranslate2(translator, str(tmp_path / "exported"))
    assert os.listdir(tmp_path) == []  # neither the export nor its temporary folder


def test_an_export_never_writes_over_a_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="exists and is not empty; give a new folder"):
        ct2.export_ctranslate2(tiny_variant(), str(tmp_path / "taken"))
    assert os.listdir(tmp_path / "taken") == ["notes.txt"]


def test_cli_exports_and_translates_as_the_run_does(tmp_path, capsys):
    run = os.path.join(FIXTURES, "transformer-wordpiece")
    out = str(tmp_path / "wp-ct2")
    assert main(["export", "--run", run, "--format", "ctranslate2", "--out", out]) == 0
    assert f"CTranslate2 model (float32) written to {out}" in capsys.readouterr().out
    for flags in ([], ["--decode", "beam", "--num-beams", "4", "--alpha", "0.6"],
                  ["--max-length", "5"]):
        assert main(["translate", "--run", run, *flags, *SENTENCES]) == 0
        expected = capsys.readouterr().out
        assert main(["translate", "--run", out, *flags, *SENTENCES]) == 0
        assert capsys.readouterr().out == expected


def test_cli_jsonl_and_nbest_come_from_ctranslate2(exported, capsys):
    run = os.path.join(FIXTURES, "transformer-word")
    out = exported["transformer-word"][2]
    outputs = {}
    for folder in (run, out):
        assert main(["translate", "--run", folder, "--format", "jsonl", "--nbest", "2",
                     *SENTENCES]) == 0
        outputs[folder] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [entry["source"] for entry in outputs[out]] == SENTENCES
    for ours, theirs in zip(outputs[run], outputs[out]):
        assert theirs["translation"] == ours["translation"]
        assert len(theirs["nbest"]) == len(ours["nbest"])
        if ours["score"] is not None:
            assert theirs["score"] == pytest.approx(ours["score"], abs=2e-4)
    assert main(["translate", "--run", out, "--nbest", "2", "Go."]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[2:] == ["", ""] and "\t" in lines[0]


def test_cli_refuses_what_an_export_cannot_do_in_one_line(exported, tmp_path, capsys):
    out = exported["transformer-word"][2]
    assert main(["translate", "--run", out, "--plot-attention", str(tmp_path / "p"), "Go."]) == 2
    assert capsys.readouterr().err == (
        f"nmt translate: error: --plot-attention: {out}: {ct2.ATTENTION_NOTE}\n")
    assert main(["evaluate", "--run", out]) == 2
    assert capsys.readouterr().err.startswith(
        f"nmt evaluate: error: --run {out}: a CTranslate2 export; evaluate the run folder")
    assert main(["translate", "--run", out, "--jit-compile", "Go."]) == 2
    assert capsys.readouterr().err == (
        f"nmt translate: error: --jit-compile: {out} is a CTranslate2 export, which decodes "
        "with its own engine\n")
    run = os.path.join(FIXTURES, "transformer-word")
    assert main(["export", "--run", run, "--format", "ctranslate2", "--num-beams", "3",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--num-beams is for --format savedmodel" in capsys.readouterr().err
    assert main(["export", "--run", run, "--quantization", "int8", "--out",
                 str(tmp_path / "y")]) == 2
    assert "--quantization int8 is for --format ctranslate2" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_serve_translates_an_export_and_says_it_has_no_attention(exported):
    run = os.path.join(FIXTURES, "transformer-word")
    explorer = Explorer.load([run, exported["transformer-word"][2]])
    info = explorer.info()["runs"]
    assert info[1]["attention"] is None and info[1]["model"] == "transformer, CTranslate2 float32"
    answer = explorer.translate({"text": SENTENCES[0], "decode": "beam", "num_beams": 3})
    ours, theirs = answer["runs"]
    assert theirs["translation"] == ours["translation"]
    assert theirs["target_ids"] == ours["target_ids"]
    assert theirs["nbest"][0] == ours["nbest"][0]
    assert theirs["attention"] is None and theirs["attention_note"] == ct2.ATTENTION_NOTE
    # The next-token distribution, from CTranslate2's logits, is the Keras model's.
    for position in range(len(ours["target_ids"]) - 1):
        request = {"text": SENTENCES[0], "target_ids": ours["target_ids"], "position": position,
                   "temperature": 0.7}
        mine, exported_answer = (explorer.next_token({**request, "run": i}) for i in (0, 1))
        assert exported_answer["chosen"] == mine["chosen"]
        assert exported_answer["top"][0]["id"] == mine["top"][0]["id"]
        for a, b in zip(mine["top"], exported_answer["top"]):
            assert b["probability"] == pytest.approx(a["probability"], abs=1e-5)


def test_nmt_help_does_not_import_ctranslate2():
    code = "import sys, nmt.cli; nmt.cli.build_parser(); print('ctranslate2' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.stdout.strip() == "False", result.stderr[-2000:]
