"""chapters/07-14: the lesson scripts run in quick mode, check their own claims, and write their
figures.

Each test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the checkout;
the lessons that train (08-10, 12) read the real corpus through $SPA_ENG_PATH and are skipped
when it is not found.
"""

import pytest

from tests.conftest import assert_sections_and_figures, run_chapter

pytestmark = pytest.mark.slow


def test_encoder_block_step_by_step_equals_the_layer(tmp_path):
    stdout = run_chapter("07_encoder_block", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The block and its sublayers", "Step 1: queries, keys and values for every head",
         "Step 4: residual connection and layer normalization",
         "Step 5: the position-wise feed-forward network", "Step by step equals the layer"],
        ["07_encoder_attention.png"])
    assert "step-by-step output equals encoder(x)" in stdout
    assert "padding content never reaches real tokens" in stdout


def test_rnn_lesson_shows_one_vector_versus_attention_over_all_states(tmp_path, corpus_path):
    stdout = run_chapter("08_rnn_seq2seq", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The data slice", "The GRU encoder-decoder: one vector for the whole sentence",
         "Adding attention: every decoder step looks at every encoder state", "Translations",
         "Where the decoder looks"],
        ["08_rnn_attention.png"])
    assert "(batch, src_len, units)" in stdout
    assert "padded source positions get exactly zero attention" in stdout


def test_transformer_lesson_cached_decode_equals_full_recompute(tmp_path, corpus_path):
    stdout = run_chapter("09_transformer_translator", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The model", "Training", "Masked validation accuracy", "Translating",
         "The cached decode equals the full recompute"],
        ["09_learning_curves.png"])
    assert "the cached decode gives the same tokens as the full recompute" in stdout
    assert "masked_accuracy(val)" in stdout


def test_logits_lesson_temperature_raises_entropy(tmp_path, corpus_path):
    stdout = run_chapter("10_logits_to_words", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The output layer: one score per Spanish word", "Softmax: scores to probabilities",
         "Temperature: sharper or flatter", "Sampling translations"],
        ["10_temperature.png"])
    assert "entropy increases with the temperature" in stdout
    assert "sampling from the top 1 word only is greedy decoding" in stdout


def test_parameter_lesson_reproduces_the_books_exact_counts(tmp_path):
    stdout = run_chapter("11_counting_parameters", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The formulas", "The formulas equal Keras' counts", "Against the paper's Table 3",
         "The book's models, exactly"],
        ["11_parameter_breakdown.png"])
    assert "34,869,912" in stdout and "14,428,824" in stdout
    assert "encoder layer 3,152,384" in stdout  # the paper's base model, d=512, d_ff=2048


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


def test_training_recipe_lesson_checks_each_element_of_cpu_best(tmp_path):
    stdout = run_chapter("14_training_recipe", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Subwords: no [UNK], case and punctuation kept",
         "Label smoothing: the best prediction is no longer a one-hot", "Warmup and decay",
         "Tied embeddings", "Pre-LN against post-LN", "Averaging the last checkpoints",
         "The recipe together"],
        ["14_lr_schedules.png"])
    assert "decode restores case, accents and ¿ ? exactly" in stdout
    assert "costs more than a less confident one" in stdout
    assert "at 4x the warmup the rate is half the peak" in stdout
    assert "the difference is exactly embed_dim x vocabulary = 64,000" in stdout  # tiny: 32 x 2,000
    assert "pre-LN: the residual stream grows with depth" in stdout
    assert "lower than the last epoch's" in stdout
    assert "nmt train --preset cpu-best" in stdout and "BLEU" not in stdout
