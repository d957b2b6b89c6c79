"""chapters/16: words in context and word vectors, in quick mode (a tiny Transformer trained
for seconds) and on the saved tiny runs of tests/fixtures/saved_runs (`--run`).

Each test runs `python chapters/16_context_and_word_vectors.py --quick --out TMP [...]` in a new
process from the checkout; the lesson reads the real corpus through $SPA_ENG_PATH (skipped when
it is not found).
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow

LESSON = "16_context_and_word_vectors"
FIXTURES = os.path.join("tests", "fixtures", "saved_runs")
CONTEXT_SECTIONS = ["A trained translator", "Finding a word in a sentence",
                    "The input embedding has no context",
                    "The encoder output depends on the sentence"]
VECTOR_SECTIONS = ["Word vectors: nearest neighbours", "Word vectors: analogies"]


def run_lesson_on(run, out, corpus_path):
    """Run the lesson in quick mode with `--run RUN`; return the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", SPA_ENG_PATH=corpus_path)
    return subprocess.run(
        [sys.executable, f"chapters/{LESSON}.py", "--quick", "--out", str(out), "--run", run],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_context_lesson_trains_then_compares_encoder_outputs_and_analogies(tmp_path,
                                                                          corpus_path):
    stdout = run_chapter(LESSON, tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path, CONTEXT_SECTIONS + VECTOR_SECTIONS,
        ["16_context_heatmap.png", "16_context_pca.png", "16_embedding_pca.png"])
    assert "seconds of training" in stdout
    assert "the input embedding of a word is identical in every sentence (cosine 1)" in stdout
    assert "the encoder gives the same word a different vector in every sentence" in stdout
    assert "untrained: same sense" in stdout
    # The book's word vocabulary keeps these frequent words whole: analogies get asked and
    # scored against the random tables.
    assert "random embeddings (5 seeds)" in stdout and "top-5" in stdout


def test_context_lesson_averages_the_pieces_of_a_split_word(tmp_path, corpus_path):
    # A 153-piece WordPiece vocabulary (pre-LN, 2 blocks): "left" is l ##e ##f ##t; no analogy
    # has its four words as single tokens, so none is asked.
    result = run_lesson_on(os.path.join(FIXTURES, "transformer-wordpiece"), tmp_path,
                           corpus_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "CHECK FAILED" not in result.stdout
    assert_sections_and_figures(result.stdout, tmp_path, CONTEXT_SECTIONS + VECTOR_SECTIONS,
                                ["16_context_heatmap.png", "16_context_pca.png"])
    assert "'left' = ['l', '##e', '##f', '##t']" in result.stdout
    assert "(cut at 12 tokens); left out" in result.stdout
    assert "no analogy has all four words in this vocabulary" in result.stdout


def test_context_lesson_reads_the_gru_states_of_an_attention_rnn(tmp_path, corpus_path):
    result = run_lesson_on(os.path.join(FIXTURES, "rnn-wordpiece"), tmp_path, corpus_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "encoder outputs here: the bidirectional GRU's states" in result.stdout
    assert "the encoder gives the same word a different vector in every sentence" in result.stdout


def test_context_lesson_rejects_a_gru_without_attention_in_one_line(tmp_path, corpus_path):
    # The book's GRU keeps only its final state: there is no output per position to compare.
    result = run_lesson_on(os.path.join(FIXTURES, "gru-word"), tmp_path, corpus_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "'gru' run" in result.stderr and "Traceback" not in result.stderr


def test_context_lesson_reports_a_missing_run_folder_in_one_line(tmp_path, corpus_path):
    result = run_lesson_on(str(tmp_path / "no-such-run"), tmp_path, corpus_path)
    assert result.returncode == 2
    assert "run folder not found" in result.stderr and "Traceback" not in result.stderr
