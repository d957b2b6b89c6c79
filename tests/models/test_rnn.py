"""models/rnn.py: the GRU and GRU-with-attention builders (the book's parameter count), their
cached steps, padding, and .keras round trips."""

import numpy as np
import pytest
import tensorflow as tf

from nmt.config import resolve_config
from nmt.translator import Translator, build_model
from tests.conftest import assert_saved_model_round_trip, tiny_batch, tiny_model


def test_book_gru_has_the_books_parameter_count():
    assert build_model(resolve_config("gru", "book")).count_params() == 34_869_912


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_extra_source_padding_does_not_change_outputs(name):
    _, model = tiny_model(name)
    source, target = tiny_batch()
    padded = np.concatenate([source, np.zeros((3, 5), source.dtype)], axis=1)
    np.testing.assert_allclose(model({"english": padded, "spanish": target}),
                               model({"english": source, "spanish": target}), atol=1e-5)


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_cached_steps_equal_one_full_pass(name):
    config, model = tiny_model(name, num_layers=2)
    translator_steps = Translator(config, model, None, None).steps
    source, target = tiny_batch()
    full = model({"english": source, "spanish": target})
    cache = translator_steps.init_cache(translator_steps.encode(tf.constant(source)), 6)
    for t in range(6):
        logits, cache = translator_steps.next_fn(tf.constant(target), cache, t)
        np.testing.assert_allclose(logits, full[:, t], atol=1e-4)


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_models_survive_keras_save_and_load(name, tmp_path):
    _, model = tiny_model(name)
    source, target = tiny_batch()
    assert_saved_model_round_trip(model, {"english": source, "spanish": target}, tmp_path)
