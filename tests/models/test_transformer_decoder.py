"""models/transformer_decoder.py: the decoder block (causal and encoder-padding masks, pre-LN,
the self- and cross-attention caches, arguments, config round trip)."""

import numpy as np
import pytest

from models.transformer_decoder import TransformerDecoder
from tests.conftest import (BATCH, DIM, HEADS, SRC, TGT, assert_config_round_trip, random_floats,
                            source_mask)


@pytest.mark.parametrize("make", [
    lambda: TransformerDecoder(embed_dim=8, dense_dim=0, num_heads=2),
    lambda: TransformerDecoder(embed_dim=8, dense_dim=16, num_heads=2, key_dim=-8),
    lambda: TransformerDecoder(embed_dim=8, dense_dim=16, num_heads=3),
])
def test_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()


def test_decoder_ignores_encoder_padding():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    y, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    changed = enc.copy()
    changed[0, 3:] += 10.0  # change only padded encoder positions
    out = layer(y, enc, encoder_padding_mask=source_mask())
    np.testing.assert_allclose(layer(y, changed, encoder_padding_mask=source_mask()), out, atol=1e-6)
    # Without the mask the padded positions do matter: the check above is not vacuous.
    assert not np.allclose(layer(y, changed), layer(y, enc), atol=1e-4)


def test_future_tokens_do_not_change_past_outputs():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    y, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    out = layer(y, enc)
    for t in range(TGT - 1):
        changed = y.copy()
        changed[:, t + 1 :] = random_floats(BATCH, TGT - t - 1, DIM, seed=10 + t)
        out_changed = layer(changed, enc)
        np.testing.assert_allclose(out_changed[:, : t + 1], out[:, : t + 1], atol=1e-6)
        assert not np.allclose(out_changed[:, t + 1 :], out[:, t + 1 :], atol=1e-4)


@pytest.mark.parametrize("norm_first, key_dim", [(False, None), (True, None), (False, DIM)])
def test_decoder_with_cache_equals_one_full_pass(norm_first, key_dim):
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS, norm_first=norm_first,
                               key_dim=key_dim)
    y, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    mask = source_mask()
    full = layer(y, enc, encoder_padding_mask=mask)
    # key_dim None: each head DIM // HEADS wide (3rd edition); DIM: the 2nd edition's.
    assert layer.head_dim == (key_dim or DIM // HEADS)
    cache = np.zeros((BATCH, 2, 6, HEADS, layer.head_dim), "float32")  # more slots than needed
    cross = layer.compute_cross_attention_cache(enc)
    for t in range(TGT):
        step, cache = layer(y[:, t : t + 1], encoder_padding_mask=mask, self_attention_cache=cache,
                            cross_attention_cache=cross, cache_index=t)
        np.testing.assert_allclose(step[:, 0], full[:, t], atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_a_growing_cache_takes_several_new_tokens_at_once(norm_first):
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS, norm_first=norm_first)
    y, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    mask = source_mask()
    full = layer(y, enc, encoder_padding_mask=mask)
    cross = layer.compute_cross_attention_cache(enc)
    cache = np.zeros((BATCH, 2, 0, HEADS, layer.head_dim), "float32")
    # The first two tokens at once (causal among themselves), then one at a time.
    first, cache = layer(y[:, :2], encoder_padding_mask=mask, self_attention_cache=cache,
                         cross_attention_cache=cross, grow_cache=True)
    np.testing.assert_allclose(first, full[:, :2], atol=1e-5)
    for t in range(2, TGT):
        step, cache = layer(y[:, t : t + 1], encoder_padding_mask=mask,
                            self_attention_cache=cache, cross_attention_cache=cross,
                            grow_cache=True)
        np.testing.assert_allclose(step[:, 0], full[:, t], atol=1e-5)
    assert cache.shape[2] == TGT


def test_pre_norm_decoder_future_tokens_do_not_change_past_outputs():
    layer = TransformerDecoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS, norm_first=True)
    y, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    changed = y.copy()
    changed[:, -1] += 5.0
    np.testing.assert_allclose(layer(changed, enc)[:, :-1], layer(y, enc)[:, :-1], atol=1e-5)


def test_layer_config_round_trips():
    x, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    assert_config_round_trip(TransformerDecoder(DIM, 16, HEADS, norm_first=True), x, enc)
    assert_config_round_trip(TransformerDecoder(DIM, 16, HEADS), x, enc,
                             encoder_padding_mask=source_mask())
    assert_config_round_trip(TransformerDecoder(DIM, 16, HEADS, key_dim=DIM), x, enc)


def test_a_config_saved_without_key_dim_still_loads_as_the_3rd_edition_block():
    config = TransformerDecoder(DIM, 16, HEADS).get_config()
    del config["key_dim"]  # as saved before the argument existed
    layer = TransformerDecoder.from_config(config)
    assert layer.key_dim is None and layer.head_dim == DIM // HEADS


def test_key_dim_widens_both_attention_layers():
    layer = TransformerDecoder(DIM, 16, HEADS, key_dim=DIM)
    layer(random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2))
    for attention in (layer.self_attention, layer.cross_attention):
        # The query kernel is (embed_dim, num_heads, key_dim).
        assert tuple(attention.query_dense.kernel.shape) == (DIM, HEADS, DIM)
