"""nmt/export.py: the exported SavedModel translates as `nmt translate` does (word and WordPiece,
greedy and beam, every model), in a process that imports only TensorFlow and tensorflow-text;
its in-graph tokenization and detokenization equal the tokenizers'; versions are written whole."""

import json
import os
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from data.subword import SubwordTokenizer, detokenize_words
from data.vectorize import WordTokenizer, add_markers
from nmt import export
from nmt.cli import main
from nmt.config import resolve_config
from nmt.export import _tokenize, detokenize, export_saved_model, export_versioned, space_words
from nmt.runs import RunError, write_file
from nmt.translator import Translator
from tests.conftest import nmt_here

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "saved_runs")

# Tokens that exercise every spacing rule of `detokenize_words`: quotes, apostrophes and
# contractions, digits and their joiners, abbreviations, brackets, "##" continuations.
TRICKY_TOKENS = [
    "", "[UNK]", "[start]", "[end]", '"', "'", "’", "s", "S", "t", "re", "ll", "m", "O", "Brien",
    "l", "eau", "students", "is", "n", "5", "30", "3", "14", ":", ".", ",", "/", "-", "p", "U",
    "well", "known", "¿", "?", "¡", "!", "(", ")", "«", "»", "...", "%", "$", "“", "”", "‘", "##s",
    "##a", "##30", "##", "##é", "la", "Ve", "ñ", "##ñ", "1990", "x"]


def load_export(path):
    return tf.saved_model.load(path)


def strings(tensor):
    return [s.decode("utf-8") for s in tensor.numpy()]


@pytest.mark.parametrize("tokenizer", ["word", "wordpiece"])
def test_export_round_trip_matches_translator(tmp_path, tiny_pairs, tokenizer):
    config = resolve_config("transformer", "tiny")
    english, spanish = [e for e, _ in tiny_pairs], [s for _, s in tiny_pairs]
    if tokenizer == "word":
        source = WordTokenizer.adapt(english, 100, 20, "english")
        target = WordTokenizer.adapt(add_markers(spanish), 100, 21, "spanish")
    else:
        source = SubwordTokenizer.adapt(english, 100, 20, "english")
        target = SubwordTokenizer.adapt(spanish, 100, 21, "spanish")
    keras.utils.set_random_seed(0)
    translator = Translator.create(config, source, target)
    # Blank, punctuation only (no words for the word tokenizer), sentences of several lengths.
    sentences = ["Where is the station?", "", "I love AI.", "?", "Go.", "  "]
    export_saved_model(translator, str(tmp_path / "exported"), num_beams=3, alpha=0.6)
    restored = load_export(str(tmp_path / "exported"))
    greedy = strings(restored.translate(tf.constant(sentences))["spanish"])
    beam = strings(restored.translate_beam(tf.constant(sentences))["spanish"])
    assert greedy == translator.translate(sentences)
    assert beam == translator.translate(sentences, decode="beam", num_beams=3, alpha=0.6)
    assert greedy[1] == greedy[5] == ""  # blank
    if tokenizer == "word":
        assert greedy[3] == ""  # no words ("?" is a token for WordPiece)
    signatures = restored.signatures
    assert set(signatures) == {"serving_default", "translate", "translate_beam"}
    served = signatures["serving_default"](english=tf.constant(sentences))
    assert list(served) == ["spanish"] and strings(served["spanish"]) == greedy
    assert strings(restored.translate(tf.constant([], tf.string))["spanish"]) == []


def test_detokenize_in_the_graph_equals_decode_on_random_tokens():
    # Random rows of tokens chosen to hit every rule, with [end], [start] and padding among them.
    tokenizer = SubwordTokenizer(TRICKY_TOKENS, sequence_length=12, language="spanish")
    ids = np.random.default_rng(0).integers(0, len(TRICKY_TOKENS), size=(4000, 12))
    ids[::7, 4:] = 0  # short rows padded
    assert strings(detokenize(tokenizer)(tf.constant(ids))) == tokenizer.decode(ids)


def test_space_words_equals_detokenize_words_on_its_examples():
    rows = [["¿", "Dónde", "está", "la", "estación", "?"], ["It", "'", "s", "5", ":", "30", "p",
            ".", "m", "."], ["O", "'", "Brien", "said", '"', "hi", '"', "."], ["the", "students",
            "'", "books"], ["'", "quoted", "'", "well", "-", "known"], ["In", "1990", ",", "2000"],
            ["(", "sí", ")", "...", "«", "no", "»", "$", "5", "%"], [], ["’", "s"]]
    vocabulary = sorted({w for row in rows for w in row})
    got = strings(space_words(tf.ragged.constant(rows, dtype=tf.string), vocabulary))
    assert got == [detokenize_words(row) for row in rows]


@pytest.mark.parametrize("run", ["transformer-word", "transformer-wordpiece"])
def test_graph_tokenize_and_detokenize_equal_the_tokenizers_on_the_corpus(run, corpus_path):
    from data.corpus import load_corpus

    pairs = load_corpus(corpus_path, verbose=False).pairs[::40]  # about 3,000 pairs
    translator = Translator.load(os.path.join(FIXTURES, run))
    english = [e for e, _ in pairs] + ["", "  ", "?", "Ｔｏｍ…", "I \u200bgo."]
    tokenize, _ = _tokenize(translator.source_tokenizer)
    np.testing.assert_array_equal(tokenize(tf.constant(english)).numpy(),
                                  translator.source_tokenizer.encode(english))
    target = translator.target_tokenizer
    ids = target.encode([s for _, s in pairs], markers=True)
    assert strings(detokenize(target)(tf.constant(ids))) == target.decode(ids)


def test_versions_are_numbered_and_written_whole(tmp_path, monkeypatch):
    def fake_export(translator, path, *args):
        os.makedirs(path)
        (open(os.path.join(path, "saved_model.pb"), "w")).write("fake")

    monkeypatch.setattr(export, "export_saved_model", fake_export)
    out = str(tmp_path / "exported")
    assert export_versioned(None, out) == os.path.join(out, "1")
    assert export_versioned(None, out) == os.path.join(out, "2")
    # A failure at the rename (a kill) leaves no version and no temporary folder.
    def fail(temporary, path):
        raise OSError("injected")

    monkeypatch.setattr(export, "_commit", fail)
    with pytest.raises(OSError):
        export_versioned(None, out)
    assert sorted(os.listdir(out)) == ["1", "2"]
    with pytest.raises(RunError, match="holds a SavedModel itself"):
        export_versioned(None, os.path.join(out, "1"))


# Loads each export with TensorFlow and tensorflow-text only and translates its sentences both
# ways; argv[1] is a JSON file of {name: [SavedModel folder, sentences]}; prints JSON.
FRESH_PROCESS = """
import json, sys, time
import tensorflow as tf, tensorflow_text
served = {}
for name, (version, sentences) in json.load(open(sys.argv[1], encoding="utf-8")).items():
    start = time.perf_counter()
    model = tf.saved_model.load(version)
    loaded = time.perf_counter()
    out = {way: [s.decode("utf-8") for s in getattr(model, way)(tf.constant(sentences))[
        "spanish"].numpy()] for way in ("translate", "translate_beam")}
    served[name] = dict(out, load_s=loaded - start, translate_s=time.perf_counter() - loaded)
project = sorted({"models", "data", "nmt", "tests"} & set(sys.modules))
print(json.dumps(dict(served=served, project=project)))
"""


def noisy_copy(name, folder, seed, scale):
    """The fixture run `name` with seeded normal noise (standard deviation `scale`) added to
    its weights.

    The fixture models are barely trained and give one output for every input ("eeee..."),
    which would compare nothing; with the noise, outputs differ from sentence to sentence."""
    shutil.copytree(os.path.join(FIXTURES, name), folder)
    translator = Translator.load(folder)
    rng = np.random.default_rng(seed)
    translator.model.set_weights([w + rng.normal(0, scale, w.shape).astype(w.dtype)
                                  for w in translator.model.get_weights()])
    write_file(os.path.join(folder, "model.keras"), translator.model.save)
    return translator


def held_out_sentences(run, translator, corpus_path, n=200):
    """The first `n` English sources of the run's test split."""
    from nmt.evaluation import held_out_pairs

    config = translator.config
    config.corpus = corpus_path
    pairs, _ = held_out_pairs(run, config, any_corpus=True, verbose=False)
    return list(dict.fromkeys(e for e, _ in pairs))[:n]


# The noise of each run: chosen so that over 100 of the 200 outputs differ.
SERVED_RUNS = [("transformer-word", 3, 1.0), ("transformer-wordpiece", 5, 0.5),
               ("rnn-wordpiece", 5, 0.5), ("gru-word", 5, 0.5)]


@pytest.fixture(scope="module")
def served(tmp_path_factory, corpus_path):
    """{name: (run, sentences, what the fresh process translated, export seconds, SavedModel
    bytes)} for each of SERVED_RUNS: a noisy copy of the saved run, exported by `nmt export` in
    process; all four SavedModels are then served by one fresh process that never imports this
    project (its start-up, TensorFlow's, paid once)."""
    tmp = tmp_path_factory.mktemp("served")
    runs, jobs = {}, {}
    for name, seed, scale in SERVED_RUNS:
        run = str(tmp / name)
        translator = noisy_copy(name, run, seed, scale)
        sentences = held_out_sentences(run, translator, corpus_path)
        out = str(tmp / f"{name}-exported")
        start = time.perf_counter()
        exported = nmt_here("export", "--run", run, "--out", out)
        assert exported.returncode == 0 and "version 1 written" in exported.stdout, exported
        version = os.path.join(out, "1")
        size = sum(os.path.getsize(os.path.join(root, f))
                   for root, _, files in os.walk(version) for f in files)
        runs[name] = (run, sentences, time.perf_counter() - start, size)
        jobs[name] = (version, sentences)
    (tmp / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp / "jobs.json")],
                           cwd=tmp, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    result = json.loads(fresh.stdout.splitlines()[-1])
    assert result["project"] == []
    return {name: (run, sentences, result["served"][name], export_s, size)
            for name, (run, sentences, export_s, size) in runs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name, _, _ in SERVED_RUNS])
def test_export_served_without_this_project_equals_nmt_translate(name, served, tmp_path,
                                                                 capsys):
    """`nmt export` and `nmt translate` run in process (their commands, not new processes);
    the SavedModel is served by a fresh process that never imports this project."""
    run, sentences, fresh, export_s, size = served[name]
    assert len(sentences) == 200
    inputs = tmp_path / "sentences.txt"
    inputs.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    matches = {}
    for name_, options in (("translate", ()), ("translate_beam", ("--decode", "beam"))):
        assert main(["translate", "--run", run, "--input", str(inputs), *options]) == 0
        expected = capsys.readouterr().out.split("\n")[:-1]
        assert len(expected) == 200
        matches[name_] = sum(a == b for a, b in zip(fresh[name_], expected))
        assert fresh[name_] == expected
    distinct = len(set(fresh["translate"]))
    print(f"\n{name}: greedy {matches['translate']}/200, beam {matches['translate_beam']}/200 "
          f"match; {distinct} distinct outputs; export {export_s:.1f} s; SavedModel "
          f"{size / 1e6:.2f} MB; fresh process: load {fresh['load_s']:.1f} s, translate 2 x 200 "
          f"{fresh['translate_s']:.1f} s")
    assert distinct > 100  # the comparison compares something
