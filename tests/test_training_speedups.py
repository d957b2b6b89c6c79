"""The training speed-ups change speed, not results: output layer on real tokens only, the
fused cross-entropy and accuracy, the XLA-fused optimizer update, bfloat16 logits cast back."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from data.pipeline import make_dataset
from nmt.config import resolve_config
from models.metrics import (MaskedAccuracy, TokenAccuracy, TokenCrossEntropy,
                            token_cross_entropy)
from models.optimizers import OPTIMIZERS, make_optimizer
from models.token_selection import SelectTokens, build_training_model
from nmt.translator import build_model
from tests.conftest import assert_config_round_trip, assert_saved_model_round_trip

VOCAB = 40


def _batch(seed=0):
    """A tiny padded batch: source ids, decoder inputs, next tokens (0 = padding)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(1, VOCAB, size=(3, 5))
    source[0, 3:] = 0
    target = rng.integers(4, VOCAB, size=(3, 7))
    target[:, 0] = 2
    target[0, 4:] = 0
    target[1, 6:] = 0
    return source, target[:, :-1], target[:, 1:]


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


def test_select_tokens_keeps_real_positions_in_row_major_order():
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    positions = np.array([[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(SelectTokens()(x, positions), [[0, 1], [4, 5], [8, 9]])
    assert_config_round_trip(SelectTokens(), x, positions)


@pytest.mark.parametrize("name", ("transformer", "rnn", "gru"))
def test_training_view_gives_the_full_models_logits_at_real_tokens(name, tmp_path):
    model = build_model(resolve_config(name, "tiny", vocab_size=VOCAB))
    training = build_training_model(model)
    source, decoder_inputs, next_tokens = _batch()
    mask = next_tokens != 0
    full = model({"english": source, "spanish": decoder_inputs})
    selected = training({"english": source, "spanish": decoder_inputs,
                         "loss_mask": mask.astype("int64")})
    assert selected.shape == (mask.sum(), VOCAB)
    np.testing.assert_allclose(selected, np.asarray(full)[mask], atol=1e-5)
    # Same weights, not copies: training the view trains the saved model.
    assert {id(v) for v in training.trainable_variables} == \
        {id(v) for v in model.trainable_variables}
    assert_saved_model_round_trip(
        training, {"english": source, "spanish": decoder_inputs,
                   "loss_mask": mask.astype("int64")}, tmp_path)


def test_loss_mask_dataset_gives_the_mask_as_an_input_and_no_weights():
    source = np.array([[5, 6, 0], [7, 0, 0]])
    target = np.array([[2, 8, 3, 0], [2, 9, 9, 3]])
    inputs, next_tokens = next(iter(make_dataset(source, target, 2, batching="fixed",
                                                 shuffle=False, loss_mask=True)))
    np.testing.assert_array_equal(inputs["loss_mask"], np.asarray(next_tokens) != 0)
    np.testing.assert_array_equal(next_tokens, [[8, 3, 0], [9, 9, 3]])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_optimizer_update_equals_keras_update_on_the_dense_gradient(name):
    # Two steps on an embedding (sparse gradient, a repeated id) and a dense weight: the fused
    # update equals Keras' own update given the same gradients made dense. (Given the sparse
    # pieces, Keras squares a repeated row's pieces one by one in Adam/RMSprop's second
    # moment: the sum of squares, not the square of the row's gradient.)
    def run(fused):
        keras.utils.set_random_seed(0)
        embedding = keras.layers.Embedding(10, 4)
        dense = keras.layers.Dense(3)
        ids = np.array([[1, 2, 2, 7]])
        optimizer = make_optimizer(name, 0.01, fused=fused)
        for _ in range(2):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(dense(embedding(ids)) ** 2)
            variables = embedding.trainable_variables + dense.trainable_variables
            grads = tape.gradient(loss, variables)
            assert isinstance(grads[0], tf.IndexedSlices)
            optimizer.apply(grads if fused else [tf.convert_to_tensor(g) for g in grads],
                            variables)
        return [v.numpy() for v in variables]

    for fused, plain in zip(run(True), run(False)):
        np.testing.assert_allclose(fused, plain, atol=1e-6)


def test_fused_optimizer_config_round_trips():
    optimizer = make_optimizer("adamw", 0.5, weight_decay=0.01)
    clone = optimizer.__class__.from_config(optimizer.get_config())
    assert clone.fused and clone.get_config() == optimizer.get_config()
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        make_optimizer("sgd", 0.1)


def test_bfloat16_model_returns_float32_logits():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(resolve_config("transformer", "tiny", vocab_size=VOCAB))
    finally:
        keras.config.set_dtype_policy("float32")
    source, decoder_inputs, next_tokens = _batch()
    assert model.parts.output_layer.compute_dtype == "bfloat16"
    assert model({"english": source, "spanish": decoder_inputs}).dtype == "float32"
    training = build_training_model(model)
    logits = training({"english": source, "spanish": decoder_inputs,
                       "loss_mask": (next_tokens != 0).astype("int64")})
    assert logits.dtype == "float32"


def test_token_accuracy_counts_a_tie_as_greedy_decoding_does():
    # Label 2 ties with index 0 for the maximum: argmax (and greedy decoding) picks 0.
    metric = TokenAccuracy()
    metric.update_state(np.array([[2, 1]]), np.array([[5.0, 1.0, 5.0], [0.0, 3.0, 1.0]]))
    assert float(metric.result()) == pytest.approx(0.5)
