"""chapters/01-06: the lesson scripts run in quick mode, check their claims, and write their
figures; each is a percent-format lesson ending with what it taught and exercises."""

import os

import jupytext
import pytest

from tests.conftest import ROOT, assert_sections_and_figures, run_chapter

BASICS = ["01_tokens_and_embeddings", "02_self_attention", "03_scaling",
          "04_multi_head_attention", "05_masks", "06_positional_information"]


@pytest.mark.parametrize("name", BASICS)
def test_basics_lesson_ends_with_what_you_learned_and_exercises(name):
    notebook = jupytext.read(os.path.join(ROOT, "chapters", f"{name}.py"))
    kinds = [cell.cell_type for cell in notebook.cells]
    # The title cell, the imports, then prose and code in turn.
    assert kinds[0] == "markdown" and kinds[1] == "code"
    assert all(a != b for a, b in zip(kinds, kinds[1:])), f"{name}: two cells of a kind in a row: {kinds}"
    assert kinds.count("markdown") >= 4
    last = notebook.cells[-1]
    assert last.cell_type == "markdown"
    assert "## What you learned" in last.source and "## Exercises" in last.source
    exercises = last.source.split("## Exercises")[1]
    assert 2 <= sum(line[:3] in ("1. ", "2. ", "3. ") for line in exercises.splitlines()) <= 3
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            assert "\\" not in cell.source, f"{name}: a backslash in a markdown cell"


@pytest.mark.slow
def test_tokens_and_embeddings_lesson_checks_parameter_formula(tmp_path):
    stdout = run_chapter("01_tokens_and_embeddings", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["From words to ids", "The embedding layer", "The embed_dim trade-off, measured"],
        ["01_embedding_vectors.png", "01_embed_dim_tradeoff.png"])
    assert "parameter count equals the formula" in stdout
    assert "[check] untrained: every entry is a random draw in [-0.05, 0.05]" in stdout


@pytest.mark.slow
def test_self_attention_lesson_matches_multi_head_attention(tmp_path):
    stdout = run_chapter("02_self_attention", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The book's first version: no projections", "Self-attention, step by step",
         "The same thing as MultiHeadAttention with one head", "Summary"],
        ["02_self_attention_weights.png"])
    assert stdout.count("teaching layer == MultiHeadAttention") == 2
    assert "[check] without projections each one-hot token attends most to itself" in stdout


@pytest.mark.slow
def test_scaling_lesson_shows_unscaled_softmax_saturates(tmp_path):
    stdout = run_chapter("03_scaling", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Dot products grow with d_k", "The softmax saturates without scaling",
         "The gradient vanishes without scaling"],
        ["03_scaling.png"])
    assert "[check] unscaled, d_k=1024: mean max weight" in stdout


@pytest.mark.slow
def test_multi_head_lesson_by_hand_matches_keras_in_both_editions(tmp_path):
    stdout = run_chapter("04_multi_head_attention", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Cutting Q, K and V into heads", "The same thing as keras.layers.MultiHeadAttention",
         "Summary"],
        ["04_multi_head_attention_maps.png"])
    assert "by hand == MultiHeadAttention(num_heads=2, key_dim=4)" in stdout  # 2nd ed.
    assert "3rd ed. key_dim = 4 // 2 = 2: by hand == MultiHeadAttention(num_heads=2, key_dim=2)" in stdout


@pytest.mark.slow
def test_masks_lesson_proves_future_and_padding_do_not_leak(tmp_path):
    stdout = run_chapter("05_masks", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Token ids and the padding mask", "Decoder input and target: shifted by one token",
         "The causal (look-ahead) mask", "Three kinds of attention", "Cross-attention by hand",
         "The future cannot change the past", "One masked pass equals decoding prefix by prefix",
         "Padding never changes a real output", "Summary"],
        ["05_masks.png", "05_attention_kinds.png"])
    assert "[check] target token t == decoder input token t + 1 at every position" in stdout
    assert "[check] teacher forcing: one masked pass == running the decoder prefix by prefix" in stdout
    assert "[check] without the causal mask, the full pass differs from the prefix runs" in stdout
    assert "[check] cross-attention weights are (heads, target_len, source_len) = (2, 3, 5)" in stdout
    assert "[check] cross-attention by hand == keras.layers.MultiHeadAttention" in stdout
    assert "[check] cross-attention by hand == the decoder's cross_attention sublayer" in stdout


@pytest.mark.slow
def test_positional_lesson_shows_attention_is_order_blind(tmp_path):
    stdout = run_chapter("06_positional_information", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Self-attention is permutation-equivariant", '"dog bites man" and "man bites dog"',
         "Adding positions breaks the symmetry", "The two encodings",
         "What an untrained table knows about nearness"],
        ["06_learned_positional_embedding.png", "06_sinusoidal_encoding.png"])
    assert "[check] untrained learned table: neighbouring positions are unrelated" in stdout
