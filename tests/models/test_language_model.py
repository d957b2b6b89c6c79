"""models/language_model.py: the decoder-only language model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.decoding import decode
from models.language_model import LanguageModel
from tests.conftest import assert_saved_model_round_trip

VOCAB, LENGTH = 20, 6


def tiny_language_model(**overrides):
    keras.utils.set_random_seed(0)
    settings = dict(vocab_size=VOCAB, sequence_length=LENGTH, embed_dim=8, dense_dim=16,
                    num_heads=2, num_layers=2)
    return LanguageModel(**{**settings, **overrides})


def tiny_ids():
    # Two sequences, the second padded at the end.
    return np.array([[2, 5, 7, 9, 11], [2, 4, 6, 0, 0]], dtype="int64")


def test_logits_have_one_row_per_position_and_one_column_per_token():
    assert tuple(tiny_language_model()(tiny_ids()).shape) == (2, 5, VOCAB)


def test_changing_a_later_token_does_not_change_earlier_logits():
    model = tiny_language_model()
    ids = tiny_ids()
    changed = ids.copy()
    changed[:, 3] = 13  # position 3 changes: logits at 0..2 must not
    before, after = np.asarray(model(ids)), np.asarray(model(changed))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    assert np.abs(after[:, 3:] - before[:, 3:]).max() > 1e-4  # and the later ones do change


def test_tied_unembedding_is_the_hidden_state_times_the_transposed_token_embedding():
    model = tiny_language_model(tie_embeddings=True)
    ids = tiny_ids()
    hidden = np.asarray(model.hidden_states(ids))
    table = np.asarray(model.embedding.token_embeddings.embeddings)  # (vocab, embed_dim)
    bias = np.asarray(model.embedding.output_bias)
    np.testing.assert_allclose(np.asarray(model(ids)), hidden @ table.T + bias, atol=1e-5)
    assert model.output_layer is None


def test_untied_model_has_an_output_matrix_of_embed_dim_by_vocab_more():
    tied = tiny_language_model(tie_embeddings=True)
    untied = tiny_language_model(tie_embeddings=False)
    tied(tiny_ids()), untied(tiny_ids())
    # Dense(vocab) adds an (8, 20) kernel and a bias of 20; the tied layer has its own bias of 20.
    assert untied.count_params() - tied.count_params() == 8 * VOCAB


def test_decoding_one_token_at_a_time_with_the_cache_equals_the_full_pass():
    model = tiny_language_model()
    ids = tiny_ids()
    cache = model.init_cache(batch_size=2, max_length=LENGTH)
    steps = []
    for t in range(ids.shape[1]):
        logits, cache = model.next_fn(ids, cache, t)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(steps, axis=1), np.asarray(model(ids)), atol=1e-5)


def test_greedy_decode_with_next_fn_matches_argmax_of_the_full_pass():
    model = tiny_language_model()
    tokens = decode(model.next_fn, tf.constant([2, 2]), model.init_cache(2, LENGTH),
                    max_length=LENGTH - 1, end_id=3).numpy()
    # Each generated token is the argmax of the full pass over the tokens before it (no [end]
    # stop is assumed: compare up to the first 3 or padding only).
    logits = np.asarray(model(tokens[:, :-1]))
    for row in range(2):
        for t in range(LENGTH - 1):
            if tokens[row, t] in (0, 3):
                break
            assert tokens[row, t + 1] == int(np.argmax(logits[row, t]))


def test_config_holds_every_constructor_argument_and_round_trips():
    model = tiny_language_model(dropout=0.1, tie_embeddings=False)
    model(tiny_ids())
    config = model.get_config()
    for name in ("vocab_size", "sequence_length", "embed_dim", "dense_dim", "num_heads",
                 "num_layers", "dropout", "tie_embeddings"):
        assert name in config
    clone = LanguageModel.from_config(config)
    clone(tiny_ids())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone(tiny_ids())), np.asarray(model(tiny_ids())),
                               atol=1e-6)


def test_saved_model_gives_the_same_logits(tmp_path):
    model = tiny_language_model()
    model(tiny_ids())
    assert_saved_model_round_trip(model, tiny_ids(), tmp_path)


@pytest.mark.parametrize("overrides, message", [
    (dict(embed_dim=9), "not divisible by num_heads"),
    (dict(num_layers=0), "num_layers=0"),
])
def test_bad_sizes_raise_one_line_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_language_model(**overrides)
