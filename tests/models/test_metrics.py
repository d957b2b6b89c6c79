"""models/metrics.py: the fused token cross-entropy and accuracy equal TensorFlow's and the
masked ones, and count ties as greedy decoding does."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.metrics import MaskedAccuracy, TokenAccuracy, TokenCrossEntropy, token_cross_entropy


def test_token_cross_entropy_matches_tensorflows_values_and_gradients():
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(6, 11)) * 3, tf.float32)
    labels = tf.constant(rng.integers(0, 11, size=6))
    for smoothing in (0.0, 0.1):
        # TensorFlow's own op on the smoothed one-hot target is the reference.
        target = tf.one_hot(labels, 11) * (1 - smoothing) + smoothing / 11
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(logits)
            ours = token_cross_entropy(labels, logits, smoothing)
            reference = tf.nn.softmax_cross_entropy_with_logits(target, logits)
            weights = tf.range(1.0, 7.0)  # a non-uniform upstream gradient
            ours_sum, reference_sum = tf.reduce_sum(ours * weights), tf.reduce_sum(
                reference * weights)
        np.testing.assert_allclose(ours, reference, rtol=1e-5)
        np.testing.assert_allclose(tape.gradient(ours_sum, logits),
                                   tape.gradient(reference_sum, logits), atol=1e-6)


def test_token_loss_and_accuracy_equal_the_masked_ones_on_full_logits():
    rng = np.random.default_rng(1)
    next_tokens = np.array([[5, 6, 0, 0], [7, 8, 9, 0]])
    full = rng.normal(size=(2, 4, 12)).astype("float32")
    full[0, 1, 6] = 9.0  # make one prediction right
    mask = next_tokens != 0
    weights = mask.astype("float32")
    selected = full[mask]  # (5, 12): real tokens, row-major
    expected_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")(next_tokens, full, weights)
    np.testing.assert_allclose(TokenCrossEntropy()(next_tokens, selected), expected_loss,
                               rtol=1e-6)
    ours, reference = TokenAccuracy(), MaskedAccuracy()
    ours.update_state(next_tokens, selected)
    reference.update_state(next_tokens, full, weights)
    assert float(ours.result()) == pytest.approx(float(reference.result()))
    assert float(ours.result()) >= 1 / 5  # the planted correct token counts


def test_bad_label_smoothing_raises_with_the_value():
    with pytest.raises(ValueError, match="label_smoothing=1.0"):
        TokenCrossEntropy(label_smoothing=1.0)


def test_token_accuracy_counts_a_tie_as_greedy_decoding_does():
    # Label 2 ties with index 0 for the maximum: argmax (and greedy decoding) picks 0.
    metric = TokenAccuracy()
    metric.update_state(np.array([[2, 1]]), np.array([[5.0, 1.0, 5.0], [0.0, 3.0, 1.0]]))
    assert float(metric.result()) == pytest.approx(0.5)
