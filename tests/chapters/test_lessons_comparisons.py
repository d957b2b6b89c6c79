"""chapters/12 and 13: the comparisons of RNNs and the Transformer, in quick mode; their
conclusions are computed from their numbers.

Each test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the checkout;
the lessons that train read the real corpus through $SPA_ENG_PATH (skipped when it is not found).
"""

import pytest

from tests.conftest import assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow


def test_why_transformers_lesson_buckets_partition_the_test_set(tmp_path, corpus_path):
    stdout = run_chapter("12_why_transformers", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The same data for both", "Parallel training: time per step and per epoch",
         "Long-range dependencies: scores by source length"],
        ["12_step_time.png", "12_length_buckets.png"])
    assert "the buckets partition the" in stdout
    for bucket in ("1-5", "6-10", "11-15", "16+"):
        assert f"\n{bucket} " in stdout
    assert "faster per step at" in stdout and "better:" in stdout


def test_compare_lesson_writes_the_report_for_three_models(tmp_path, corpus_path):
    stdout = run_chapter("13_rnn_vs_transformer", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path / "13_compare",
        ["Training the three models the same way", "The report", "Size and speed", "Scores",
         "Longer sentences"],
        ["learning_curves.png", "bleu_by_length.png", "attention_rnn.png",
         "attention_transformer.png"])
    assert "the length buckets partition the test sources" in stdout
