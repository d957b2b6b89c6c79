"""End to end on a slice of the real corpus: `nmt train` in new processes (the runs the module
shares, kill -9, two logical devices), piped input, and a SavedModel served by a process that
never imports this project; the commands that read those runs (translate, evaluate, export,
compare) run `nmt.cli.main` in this process (`nmt_here`)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, nmt_here, run_nmt

pytestmark = pytest.mark.slow

TINY = ("--preset", "tiny", "--max-pairs", "4000", "--epochs", "2", "--steps-per-epoch", "20",
        "--quiet")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, corpus_path):
    """A tiny Transformer trained for a few steps by `nmt train`."""
    out = str(tmp_path_factory.mktemp("runs") / "tiny")
    result = run_nmt("train", "--out", out, "--corpus", corpus_path, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = int(result.stdout.split("parameters: ")[1].split(" ")[0].replace(",", ""))
    from nmt.translator import Translator

    assert printed == Translator.load(out).model.count_params()
    return out


@pytest.fixture(scope="module")
def tiny_rnn_run(tmp_path_factory, corpus_path):
    """A tiny GRU-with-attention translator trained for a few steps by `nmt train`."""
    out = str(tmp_path_factory.mktemp("runs") / "tiny-rnn")
    result = run_nmt("train", "--model", "rnn", "--out", out, "--corpus", corpus_path, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_train_writes_a_self_contained_run_folder(tiny_run):
    for name in ("model.keras", "config.json", "english_vocab.txt", "spanish_vocab.txt",
                 "history.csv", "train_state.json"):
        assert os.path.isfile(os.path.join(tiny_run, name)), name
    assert os.path.isdir(os.path.join(tiny_run, "logs"))
    with open(os.path.join(tiny_run, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"val_accuracy", "val_loss"} <= set(rows[0])
    state = json.load(open(os.path.join(tiny_run, "train_state.json")))
    assert state["completed"] and state["parameters"]["total"] > 0


def test_translate_file_keeps_one_output_line_per_input_line(tiny_run, tmp_path):
    long_line = " ".join(["word"] * 30)
    lines = ["I love AI.", "", "Where is the station?", long_line, "", "Go."]
    path = tmp_path / "input.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = nmt_here("translate", "--run", tiny_run, "--input", str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = result.stdout.split("\n")
    assert outputs[-1] == "" and len(outputs) - 1 == len(lines)
    assert outputs[1] == "" and outputs[4] == ""
    assert "input line 4 is longer than 20 words" in result.stderr
    # stdin (a pipe into a new process) gives the same translations.
    piped = run_nmt("translate", "--run", tiny_run, input_text="\n".join(lines) + "\n")
    assert piped.stdout == result.stdout


def test_missing_or_incomplete_run_is_a_one_line_error(tmp_path):
    result = nmt_here("translate", "--run", str(tmp_path / "nothing"), "Hello.")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("nmt translate: error: ")
    assert "Traceback" not in result.stderr
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    result = nmt_here("translate", "--run", str(tmp_path / "partial"), "Hello.")
    assert result.returncode == 2 and "missing" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_writes_accuracy_bleu_and_chrf(tiny_run, corpus_path):
    result = nmt_here("evaluate", "--run", tiny_run, "--corpus", corpus_path, "--limit", "100")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.load(open(os.path.join(tiny_run, "eval_test.json")))
    assert report["sources"] == 100 and report["references"] >= 100
    assert 0.0 <= report["masked_accuracy"] <= 1.0
    assert {"bleu", "chrf", "bleu_as_is", "chrf_as_is", "decode_sentences_per_s"} <= set(report)
    # A word-level model writes no capitals or punctuation: as written, references match less
    # (or equally, for a tiny model whose outputs match nothing).
    assert report["chrf_as_is"] <= report["chrf"]


def test_exported_saved_model_serves_without_this_project(tiny_run, tmp_path):
    exported = str(tmp_path / "exported")
    result = nmt_here("export", "--run", tiny_run, "--out", exported)
    assert result.returncode == 0, result.stderr[-3000:]
    script = (
        "import sys, tensorflow as tf\n"
        f"m = tf.saved_model.load({os.path.join(exported, '1')!r})  # TF Serving's layout\n"
        "out = m.translate(tf.constant(['Where is the station?', '', 'Go.']))['spanish'].numpy()\n"
        "assert not {'models', 'data', 'nmt'} & set(sys.modules), sorted(sys.modules)\n"
        "print('\\n'.join(s.decode() for s in out))\n")
    served = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert served.returncode == 0, served.stderr[-3000:]
    direct = nmt_here("translate", "--run", tiny_run, "Where is the station?", "", "Go.")
    assert served.stdout == direct.stdout


@pytest.mark.parametrize("model", ["transformer", "rnn"])
def test_translate_plots_one_attention_heatmap_per_sentence(model, tmp_path, tiny_run,
                                                            tiny_rnn_run):
    run = tiny_run if model == "transformer" else tiny_rnn_run
    plots = tmp_path / "plots"
    result = nmt_here("translate", "--run", run, "--plot-attention", str(plots),
                     "Where is the station?", "", "I love AI.")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(plots)) == ["attention_001.png", "attention_003.png"]
    assert (plots / "attention_001.png").read_bytes()[:4] == b"\x89PNG"


def test_training_resumes_after_sigkill_from_last_completed_epoch(tmp_path, corpus_path):
    out = str(tmp_path / "resumed")
    args = [sys.executable, "-m", "nmt", "train", "--out", out, "--corpus", corpus_path,
            "--preset", "tiny", "--max-pairs", "4000", "--epochs", "4",
            "--steps-per-epoch", "60", "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    history = os.path.join(out, "history.csv")
    deadline = time.time() + 240
    # Kill as soon as one epoch is recorded (the CSV has a header and one row).
    while time.time() < deadline and process.poll() is None:
        if os.path.isfile(history) and len(open(history).read().strip().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not os.path.exists(os.path.join(out, "model.keras"))
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.startswith("resuming")
    with open(history) as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    # Epoch 0 (and perhaps 1) before the kill, then the rest: nothing started over.
    assert epochs == [0, 1, 2, 3]  # each epoch exactly once
    assert "Epoch 1/4" not in result.stdout
    # A finished run is not silently retrained.
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already trained" in again.stderr


def test_mirrored_training_on_two_logical_cpus_matches_one_device(tmp_path, corpus_path):
    common = ("--preset", "tiny", "--max-pairs", "3000", "--epochs", "1", "--steps-per-epoch",
              "4", "--batch-size", "32", "--batching", "fixed", "--dropout", "0", "--quiet",
              "--corpus", corpus_path)
    single = nmt_here("train", "--out", str(tmp_path / "single"), *common)  # one device, here
    assert single.returncode == 0, single.stderr[-3000:]
    mirrored = run_nmt("train", "--out", str(tmp_path / "mirrored"), "--strategy", "mirrored",
                       "--cpu-devices", "2", *common)
    assert mirrored.returncode == 0, mirrored.stderr[-3000:]
    assert "MirroredStrategy: 2 replicas, 16 sentences each" in mirrored.stdout

    def history(name):
        with open(tmp_path / name / "history.csv") as f:
            return next(csv.DictReader(f))

    # Same seed, same global batches: the losses agree up to how the replicas split the tokens.
    for key in ("loss", "val_loss"):
        a, b = float(history("single")[key]), float(history("mirrored")[key])
        assert abs(a - b) <= 0.01 * a, (key, a, b)
    # The mirrored run saved a model that loads and translates without the strategy.
    result = nmt_here("translate", "--run", str(tmp_path / "mirrored"), "Go.")
    assert result.returncode == 0 and result.stdout.count("\n") == 1


def test_cached_greedy_equals_full_recompute_on_real_sentences(tiny_run):
    import numpy as np

    from nmt.translator import Translator
    from tests.conftest import greedy_by_full_recompute

    translator = Translator.load(tiny_run)
    sentences = ["Where is the station?", "I love you.", "Tom is reading a book in the garden.",
                 "We will go to the beach tomorrow if it does not rain.", "Go."]
    source = translator.source_tokenizer.encode(sentences)
    target = translator.target_tokenizer
    expected = greedy_by_full_recompute(translator.model, source, target.start_id, target.end_id,
                                         translator.config.sequence_length)
    got = translator.translate_ids(source)
    np.testing.assert_array_equal(got[:, : expected.shape[1]], expected)


def test_compare_report_has_every_section_and_matches_evaluate(tiny_run, tiny_rnn_run, tmp_path,
                                                               corpus_path):
    out = tmp_path / "report"
    result = nmt_here("compare", "--runs", tiny_rnn_run, tiny_run, "--out", str(out),
                     "--corpus", corpus_path, "--limit", "150")
    assert result.returncode == 0, result.stderr[-3000:]
    markdown = (out / "report.md").read_text()
    for section in ("## Summary", "## Parameters", "## Training", "## Learning curves",
                    "## Test scores", "## BLEU by source length", "## Speed", "## Translations",
                    "## Cross-attention"):
        assert section in markdown, section
    for figure in ("learning_curves.png", "bleu_by_length.png", "attention_tiny.png",
                   "attention_tiny-rnn.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG", figure
        assert f"]({figure})" in markdown
    report = json.load(open(out / "report.json"))
    assert len(report["sentences"]) == 20
    for name, run in (("tiny", tiny_run), ("tiny-rnn", tiny_rnn_run)):
        entry = report["runs"][name]
        assert len(entry["translations"]) == 20
        parts = entry["parameters"]
        assert parts["total"] == sum(parts[k] for k in ("embeddings", "encoder", "decoder", "output"))
        evaluated = nmt_here("evaluate", "--run", run, "--corpus", corpus_path, "--limit", "150",
                            "--json", str(tmp_path / f"{name}.json"))
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        direct = json.load(open(tmp_path / f"{name}.json"))
        for key in ("masked_accuracy", "bleu", "chrf"):
            assert entry["greedy"][key] == direct[key], (name, key)
