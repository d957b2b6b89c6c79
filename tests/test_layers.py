"""Layers: shapes, masks, argument checks, config and .keras round trips, the cache."""

import keras
import numpy as np
import pytest

from models.cached_attention import CachedMultiHeadAttention
from models.luong_attention import LuongAttention
from models.positional_embedding import PositionalEmbedding
from models.transformer_decoder import TransformerDecoder
from models.transformer_encoder import TransformerEncoder
from tests.conftest import assert_config_round_trip, assert_saved_model_round_trip

BATCH, SRC, TGT, DIM, HEADS = 2, 5, 4, 8, 2


def _floats(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _source_mask():
    mask = np.ones((BATCH, SRC), bool)
    mask[0, 3:] = False  # first sentence: 3 real tokens, 2 padding
    return mask


def test_positional_embedding_shapes_mask_and_positions():
    layer = PositionalEmbedding(sequence_length=6, input_dim=10, output_dim=DIM)
    ids = np.array([[3, 4, 0, 0], [5, 5, 5, 0]])
    out = layer(ids)
    assert out.shape == (2, 4, DIM)
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    # The same token at two positions gets two different vectors.
    assert not np.allclose(out[1, 0], out[1, 1])
    # Embedding one token at position 2 equals position 2 of the full pass.
    np.testing.assert_allclose(layer(ids[:, 2:3], start_index=2)[:, 0], out[:, 2], atol=1e-6)


def test_positional_embedding_without_positions_is_a_token_embedding():
    layer = PositionalEmbedding(sequence_length=6, input_dim=10, output_dim=DIM, use_position=False)
    out = layer(np.array([[5, 5]]))
    np.testing.assert_allclose(out[0, 0], out[0, 1])
    assert layer.count_params() == 10 * DIM


@pytest.mark.parametrize("make", [
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=3),
    lambda: TransformerDecoder(embed_dim=8, dense_dim=0, num_heads=2),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, dropout=1.5),
    lambda: PositionalEmbedding(sequence_length=0, input_dim=10, output_dim=8),
    lambda: LuongAttention(units=0),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, norm_first="yes"),
])
def test_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()


def test_encoder_padding_does_not_change_real_outputs():
    layer = TransformerEncoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    x = _floats(BATCH, SRC, DIM)
    mask = _source_mask()
    changed = x.copy()
    changed[0, 3:] = _floats(2, DIM, seed=1)  # new values at the padded positions only
    out, out_changed = layer(x, padding_mask=mask), layer(changed, padding_mask=mask)
    np.testing.assert_allclose(out_changed[0, :3], out[0, :3], atol=1e-6)
    np.testing.assert_allclose(out_changed[1], out[1], atol=1e-6)


def test_decoder_ignores_encoder_padding():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    y, enc = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=2)
    changed = enc.copy()
    changed[0, 3:] += 10.0  # change only padded encoder positions
    out = layer(y, enc, encoder_padding_mask=_source_mask())
    np.testing.assert_allclose(layer(y, changed, encoder_padding_mask=_source_mask()), out, atol=1e-6)
    # Without the mask the padded positions do matter: the check above is not vacuous.
    assert not np.allclose(layer(y, changed), layer(y, enc), atol=1e-4)


def test_future_tokens_do_not_change_past_outputs():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    y, enc = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=2)
    out = layer(y, enc)
    for t in range(TGT - 1):
        changed = y.copy()
        changed[:, t + 1 :] = _floats(BATCH, TGT - t - 1, DIM, seed=10 + t)
        out_changed = layer(changed, enc)
        np.testing.assert_allclose(out_changed[:, : t + 1], out[:, : t + 1], atol=1e-6)
        assert not np.allclose(out_changed[:, t + 1 :], out[:, t + 1 :], atol=1e-4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_with_cache_equals_one_full_pass(norm_first):
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS, norm_first=norm_first)
    y, enc = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=2)
    mask = _source_mask()
    full = layer(y, enc, encoder_padding_mask=mask)
    cache = np.zeros((BATCH, 2, 6, HEADS, DIM // HEADS), "float32")  # more slots than needed
    cross = layer.compute_cross_attention_cache(enc)
    for t in range(TGT):
        step, cache = layer(y[:, t : t + 1], encoder_padding_mask=mask, self_attention_cache=cache,
                            cross_attention_cache=cross, cache_index=t)
        np.testing.assert_allclose(step[:, 0], full[:, t], atol=1e-5)


def test_pre_norm_blocks_keep_the_residual_path_unnormalised():
    # Pre-LN: outputs = inputs + updates, so a large input offset passes through unchanged.
    x = _floats(BATCH, SRC, DIM)
    encoder = TransformerEncoder(DIM, 16, HEADS, norm_first=True)
    post = TransformerEncoder(DIM, 16, HEADS)
    shifted, base = encoder(x + 100.0), encoder(x)
    # LayerNorm ignores a constant shift of all features, so the updates are the same.
    np.testing.assert_allclose(shifted - base, 100.0, atol=1e-3)
    # Post-LN outputs are normalised: each vector has mean 0 whatever its input.
    np.testing.assert_allclose(np.mean(post(x + 100.0), axis=-1), 0.0, atol=1e-4)


def test_pre_norm_decoder_future_tokens_do_not_change_past_outputs():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS, norm_first=True)
    y, enc = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=2)
    changed = y.copy()
    changed[:, -1] += 5.0
    np.testing.assert_allclose(layer(changed, enc)[:, :-1], layer(y, enc)[:, :-1], atol=1e-5)


def test_tied_embedding_in_reverse_scores_vectors_against_every_token_vector():
    layer = PositionalEmbedding(6, 10, DIM, tied_output=True)
    vectors = _floats(BATCH, TGT, DIM)
    layer(np.array([[1, 2]]))  # build
    layer.output_bias.assign(np.arange(10, dtype="float32"))
    table = layer.token_embeddings.embeddings.numpy()
    np.testing.assert_allclose(layer(vectors, reverse=True), vectors @ table.T + np.arange(10),
                               atol=1e-5)
    with pytest.raises(ValueError, match="tied_output"):
        PositionalEmbedding(6, 10, DIM)(vectors, reverse=True)


def test_cached_attention_matches_keras_multi_head_attention():
    q, v = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=1)
    ours = CachedMultiHeadAttention(num_heads=HEADS, key_dim=4)
    reference = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=4)
    ours(q, v), reference(q, v)
    reference.set_weights(ours.get_weights())
    mask = np.ones((BATCH, TGT, SRC), bool)
    mask[:, :, -1] = False
    np.testing.assert_allclose(ours(q, v, attention_mask=mask),
                               reference(q, v, attention_mask=mask), atol=1e-6)


def test_luong_attention_weights_ignore_padding_and_sum_to_one():
    layer = LuongAttention(units=DIM)
    context, weights = layer(_floats(BATCH, TGT, DIM), _floats(BATCH, SRC, 6), values_mask=_source_mask())
    assert context.shape == (BATCH, TGT, 6) and weights.shape == (BATCH, TGT, SRC)
    np.testing.assert_allclose(np.sum(weights, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(weights[0, :, 3:], 0.0, atol=1e-7)


def test_layer_config_round_trips():
    ids = np.array([[3, 4, 0], [5, 1, 2]])
    x, enc = _floats(BATCH, TGT, DIM), _floats(BATCH, SRC, DIM, seed=2)
    assert_config_round_trip(PositionalEmbedding(6, 10, DIM), ids)
    assert_config_round_trip(PositionalEmbedding(6, 10, DIM, tied_output=True), ids)
    assert_config_round_trip(TransformerEncoder(DIM, 16, HEADS, norm_first=True), enc)
    assert_config_round_trip(TransformerDecoder(DIM, 16, HEADS, norm_first=True), x, enc)
    assert_config_round_trip(TransformerEncoder(DIM, 16, HEADS, dropout=0.1), enc,
                             padding_mask=_source_mask())
    assert_config_round_trip(TransformerDecoder(DIM, 16, HEADS), x, enc,
                             encoder_padding_mask=_source_mask())
    assert_config_round_trip(CachedMultiHeadAttention(num_heads=HEADS, key_dim=4), x, enc)
    assert_config_round_trip(LuongAttention(DIM), x, enc)


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
