"""models/transformer.py: the Transformer builder (the book's parameter count, tied embeddings,
pre-LN), its cached steps, padding, and .keras round trips of the model and of its layers."""

import keras
import numpy as np
import pytest

from models.luong_attention import LuongAttention
from models.positional_embedding import PositionalEmbedding
from models.transformer_decoder import TransformerDecoder
from models.transformer_encoder import TransformerEncoder
from nmt.config import resolve_config
from nmt.translator import build_model
from tests.conftest import (DIM, HEADS, MODEL_VARIANTS, TINY_VOCAB, assert_saved_model_round_trip,
                            check_cached_steps_equal_one_full_pass,
                            check_extra_source_padding_does_not_change_outputs,
                            check_model_survives_keras_save_and_load, tiny_batch, tiny_model)


def test_book_transformer_without_positions_has_the_books_parameter_count():
    # The 3rd edition's §15.3.4 model: key_dim = embed_dim // num_heads, no position embeddings.
    model = build_model(resolve_config("transformer", "book", positional=False))
    assert model.count_params() == 14_428_824


def test_second_edition_preset_has_the_second_editions_parameter_count():
    # The 2nd edition's §11.5.3 model: key_dim = embed_dim, learned positions (2 x 20 x 256).
    config = resolve_config("transformer", "book-2nd")
    assert config.key_dim == config.embed_dim == 256
    model = build_model(config)
    assert model.count_params() == 19_960_216
    assert {block.head_dim for block in model.parts.encoders + model.parts.decoders} == {256}


def test_cached_steps_equal_one_full_pass_with_heads_as_wide_as_the_embeddings():
    import tensorflow as tf

    from models.transformer import TransformerSteps

    config, model = tiny_model("transformer", key_dim=32, num_layers=2)
    assert config.embed_dim == 32 and model.parts.decoders[0].head_dim == 32
    steps = TransformerSteps(model)
    source, target = tiny_batch()
    full = model({"english": source, "spanish": target})
    cache = steps.init_cache(steps.encode(tf.constant(source)), 6)
    assert cache["self_0"].shape[-1] == 32  # the caches are key_dim wide
    for t in range(6):
        logits, cache = steps.next_fn(tf.constant(target), cache, t)
        np.testing.assert_allclose(logits, full[:, t], atol=1e-4)


def test_model_with_key_dim_survives_keras_save_and_load(tmp_path):
    _, model = tiny_model("transformer", key_dim=32)
    source, target = tiny_batch()
    assert_saved_model_round_trip(model, {"english": source, "spanish": target}, tmp_path)


def test_tied_embeddings_replace_the_output_layer_by_the_target_embedding():
    config, model = tiny_model("transformer")
    _, tied = tiny_model("transformer", tie_embeddings=True)
    names = {layer.name for layer in tied.layers}
    assert "output" not in names
    # The Dense output layer's kernel is gone; its bias stays, as the embedding's output_bias.
    assert model.count_params() - tied.count_params() == config.embed_dim * TINY_VOCAB
    source, target = tiny_batch()
    logits = tied({"english": source, "spanish": target})
    assert logits.shape == (3, 6, TINY_VOCAB) and logits.dtype == "float32"


def test_pre_norm_model_normalises_each_stack_once_at_the_end():
    _, model = tiny_model("transformer", norm_first=True, num_layers=2)
    names = [layer.name for layer in model.layers]
    assert "encoder_norm" in names and "decoder_norm" in names
    blocks = [layer for layer in model.layers
              if isinstance(layer, (TransformerEncoder, TransformerDecoder))]
    assert len(blocks) == 4 and all(block.norm_first for block in blocks)


@pytest.mark.parametrize("name", ("transformer",) + tuple(MODEL_VARIANTS))
def test_extra_source_padding_does_not_change_outputs(name):
    check_extra_source_padding_does_not_change_outputs(name)


@pytest.mark.parametrize("name", ("transformer",) + tuple(MODEL_VARIANTS))
def test_cached_steps_equal_one_full_pass(name):
    check_cached_steps_equal_one_full_pass(name)


@pytest.mark.parametrize("name", ("transformer",) + tuple(MODEL_VARIANTS))
def test_models_survive_keras_save_and_load(name, tmp_path):
    check_model_survives_keras_save_and_load(name, tmp_path)


def test_layers_survive_keras_save_and_load(tmp_path):
    source = keras.Input((None,), dtype="int64")
    target = keras.Input((None,), dtype="int64")
    mask = PositionalEmbedding.padding_mask(source)
    x = PositionalEmbedding(6, 10, DIM)(source)
    x = TransformerEncoder(DIM, 16, HEADS)(x, padding_mask=mask)
    y = PositionalEmbedding(6, 10, DIM, use_position=False)(target)
    y = TransformerDecoder(DIM, 16, HEADS)(y, x, encoder_padding_mask=mask)
    context, _ = LuongAttention(DIM)(y, x, values_mask=mask)
    model = keras.Model([source, target], context)
    inputs = [np.array([[3, 4, 0], [5, 1, 2]]), np.array([[1, 2], [3, 0]])]
    assert_saved_model_round_trip(model, inputs, tmp_path)
