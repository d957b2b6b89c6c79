"""chapters/07-10: the lesson scripts that build and train the translators run in quick mode,
check their own claims, and write their figures; each opens as a notebook in the lesson format.

Each run test runs `python chapters/NN_name.py --quick --out TMP` in a new process from the
checkout; the lessons that train read the real corpus through $SPA_ENG_PATH (skipped when it is
not found).
"""

import os

import jupytext
import pytest

from tests.conftest import ROOT, assert_sections_and_figures, run_chapter

LESSONS = ("07_encoder_block", "08_rnn_seq2seq", "09_transformer_translator",
           "10_logits_to_words")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_opens_as_a_notebook_with_header_book_sections_and_closing_cells(name):
    notebook = jupytext.read(os.path.join(ROOT, "chapters", f"{name}.py"))
    kinds = [cell.cell_type for cell in notebook.cells]
    header, last = notebook.cells[0].source, notebook.cells[-1].source
    assert kinds[0] == "markdown" and "code" in kinds
    assert header.startswith(f"# {name[:2]} · ")
    for part in ("**What you learn:**", "**Book:**", "2nd ed. §", "3rd ed. §", "**Run:**"):
        assert part in header, f"{name}: header lacks {part!r}"
    assert kinds[-1] == "markdown" and "## What you learned" in last and "## Exercises" in last


@pytest.mark.slow
def test_encoder_block_step_by_step_equals_the_layer(tmp_path):
    stdout = run_chapter("07_encoder_block", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The block and its sublayers", "Step 1: queries, keys and values for every head",
         "Step 4: residual connection and layer normalization",
         "Step 5: the position-wise feed-forward network", "Step by step equals the layer"],
        ["07_encoder_attention.png"])
    assert "key_dim = embed_dim // num_heads = 8 (3rd edition)" in stdout  # quick: 32 // 4
    assert "step-by-step output equals encoder(x)" in stdout
    assert "padding content never reaches real tokens" in stdout
    # The figure shows untrained weights; what it shows by design is the masked padding.
    assert "the figure's padding columns (key positions >= 4) are exactly 0" in stdout


@pytest.mark.slow
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
    # Quick mode: a random sample across the corpus (not its shortest first pairs), and no
    # ranking of two models trained for seconds.
    assert "a seeded random sample of 3,000 pairs" in stdout
    assert "the training pairs include sentences longer than 4 words" in stdout
    assert "verdict: too little training to compare" in stdout


@pytest.mark.slow
def test_transformer_lesson_cached_decode_equals_full_recompute(tmp_path, corpus_path):
    stdout = run_chapter("09_transformer_translator", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The model", "Teacher forcing: the decoder reads the target shifted right", "Training",
         "Masked validation accuracy", "Translating",
         "The cached decode equals the full recompute"],
        ["09_learning_curves.png"])
    assert "the cached decode gives the same tokens as the full recompute" in stdout
    assert "masked_accuracy(val)" in stdout
    assert "a seeded random sample of 3,000 pairs" in stdout
    assert "the decoder input is the target shifted right by one token" in stdout
    assert "the last real target is [end]" in stdout
    assert "the loss weight is 1 on real target tokens and 0 on padding" in stdout
    assert "validation loss: " in stdout and "  verdict: " in stdout  # computed, not written


@pytest.mark.slow
def test_logits_lesson_temperature_raises_entropy(tmp_path, corpus_path):
    stdout = run_chapter("10_logits_to_words", tmp_path, corpus_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The output layer: one score per Spanish word", "Softmax: scores to probabilities",
         "Temperature: sharper or flatter", "Sampling translations"],
        ["10_temperature.png"])
    assert "entropy increases with the temperature" in stdout
    assert "sampling from the top 1 word only is greedy decoding" in stdout
    assert "2 epoch(s) of 150 steps" in stdout  # how much training the figure's model had
