"""Chapter scripts 01-06 run in quick mode, check their claims, and write their figures;
the sinusoidal encoding they use has the paper's values."""

import keras
import numpy as np
import pytest

from models.sinusoidal_encoding import SinusoidalEncoding, sinusoidal_encoding
from tests.conftest import (assert_config_round_trip, assert_saved_model_round_trip,
                            assert_sections_and_figures, run_chapter)

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


def test_sinusoidal_encoding_has_the_papers_values():
    pe = np.asarray(sinusoidal_encoding(length=3, depth=6))
    assert pe.shape == (3, 6)
    # Position 0: sin(0) = 0 in the even columns, cos(0) = 1 in the odd ones.
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1], atol=1e-7)
    # Column pair i has frequency 10000^(-2i/6): pair 0 is sin/cos(pos), pair 1 sin/cos(pos/10000^(1/3)).
    np.testing.assert_allclose(pe[2, :2], [np.sin(2.0), np.cos(2.0)], atol=1e-6)
    np.testing.assert_allclose(pe[1, 2:4], [np.sin(10000 ** (-1 / 3)), np.cos(10000 ** (-1 / 3))],
                               atol=1e-6)
    # start_index shifts the positions (one-token decoding).
    np.testing.assert_allclose(np.asarray(sinusoidal_encoding(1, 6, start_index=2))[0], pe[2], atol=1e-6)


def test_sinusoidal_layer_broadcasts_to_its_input_and_round_trips(tmp_path):
    x = np.zeros((2, 4, 8), "float32")
    out = np.asarray(SinusoidalEncoding()(x))
    assert out.shape == (2, 4, 8)
    np.testing.assert_allclose(out[1], np.asarray(sinusoidal_encoding(4, 8)), atol=1e-7)
    assert_config_round_trip(SinusoidalEncoding(max_wavelength=100.0), x)
    inputs = keras.Input((None, 8))
    model = keras.Model(inputs, inputs + SinusoidalEncoding(max_wavelength=100.0)(inputs))
    assert_saved_model_round_trip(model, np.ones((2, 5, 8), "float32"), tmp_path)


@pytest.mark.parametrize("make", [
    lambda: sinusoidal_encoding(length=-1, depth=4),
    lambda: sinusoidal_encoding(length=3, depth=0),
    lambda: sinusoidal_encoding(length=3, depth=4, max_wavelength=0.5),
    lambda: SinusoidalEncoding(max_wavelength=-10),
])
def test_sinusoidal_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()
