"""chapters/07-10: the lesson scripts that build and train the translators run in quick mode,
check their own claims, and write their figures.

Each test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the checkout;
the lessons that train read the real corpus through $SPA_ENG_PATH (skipped when it is not found).
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
