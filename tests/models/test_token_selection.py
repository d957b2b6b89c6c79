"""models/token_selection.py: the training view runs the output layer on real tokens only, with
the full model's logits and weights, and its logits are float32 under bfloat16."""

import keras
import numpy as np
import pytest

from models.token_selection import SelectTokens, build_training_model
from nmt.config import resolve_config
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
