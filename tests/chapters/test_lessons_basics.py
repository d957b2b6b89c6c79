"""chapters/01-06: the lesson scripts run in quick mode, check their claims, and write their
figures."""

import pytest

from tests.conftest import assert_sections_and_figures, run_chapter


@pytest.mark.slow
def test_tokens_and_embeddings_lesson_checks_parameter_formula(tmp_path):
    stdout = run_chapter("01_tokens_and_embeddings", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["From words to ids", "The embedding layer", "The embed_dim trade-off, measured"],
        ["01_embedding_vectors.png", "01_embed_dim_tradeoff.png"])
    assert "parameter count equals the formula" in stdout


@pytest.mark.slow
def test_self_attention_lesson_matches_multi_head_attention(tmp_path):
    stdout = run_chapter("02_self_attention", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["The book's first version: no projections", "Self-attention, step by step",
         "The same thing as MultiHeadAttention with one head", "Summary"],
        ["02_self_attention_weights.png"])
    assert stdout.count("teaching layer == MultiHeadAttention") == 2


@pytest.mark.slow
def test_scaling_lesson_shows_unscaled_softmax_saturates(tmp_path):
    stdout = run_chapter("03_scaling", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Dot products grow with d_k", "The softmax saturates without scaling",
         "The gradient vanishes without scaling"],
        ["03_scaling.png"])


@pytest.mark.slow
def test_multi_head_lesson_by_hand_matches_keras(tmp_path):
    stdout = run_chapter("04_multi_head_attention", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Cutting Q, K and V into heads", "The same thing as keras.layers.MultiHeadAttention",
         "Summary"],
        ["04_multi_head_attention_maps.png"])
    assert "by hand == MultiHeadAttention(num_heads=2, key_dim=4)" in stdout


@pytest.mark.slow
def test_masks_lesson_proves_future_and_padding_do_not_leak(tmp_path):
    stdout = run_chapter("05_masks", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Token ids and the padding mask", "The causal (look-ahead) mask", "Three kinds of attention",
         "The future cannot change the past", "Padding never changes a real output", "Summary"],
        ["05_masks.png", "05_attention_kinds.png"])


@pytest.mark.slow
def test_positional_lesson_shows_attention_is_order_blind(tmp_path):
    stdout = run_chapter("06_positional_information", tmp_path)
    assert_sections_and_figures(
        stdout, tmp_path,
        ["Self-attention is permutation-equivariant", '"dog bites man" and "man bites dog"',
         "Adding positions breaks the symmetry", "The two encodings"],
        ["06_learned_positional_embedding.png", "06_sinusoidal_encoding.png"])
