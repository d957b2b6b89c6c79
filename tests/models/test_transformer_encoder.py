"""models/transformer_encoder.py: the encoder block (padding, pre-LN residuals, arguments,
config round trip)."""

import numpy as np
import pytest

from models.transformer_encoder import TransformerEncoder
from tests.conftest import (BATCH, DIM, HEADS, SRC, assert_config_round_trip, random_floats,
                            source_mask)


@pytest.mark.parametrize("make", [
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=3),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, dropout=1.5),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, norm_first="yes"),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, key_dim=0),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, key_dim=2.5),
    lambda: TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, key_dim=True),
])
def test_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()


def test_encoder_padding_does_not_change_real_outputs():
    layer = TransformerEncoder(embed_dim=DIM, dense_dim=16, num_heads=HEADS)
    x = random_floats(BATCH, SRC, DIM)
    mask = source_mask()
    changed = x.copy()
    changed[0, 3:] = random_floats(2, DIM, seed=1)  # new values at the padded positions only
    out, out_changed = layer(x, padding_mask=mask), layer(changed, padding_mask=mask)
    np.testing.assert_allclose(out_changed[0, :3], out[0, :3], atol=1e-6)
    np.testing.assert_allclose(out_changed[1], out[1], atol=1e-6)


def test_pre_norm_blocks_keep_the_residual_path_unnormalised():
    # Pre-LN: outputs = inputs + updates, so a large input offset passes through unchanged.
    x = random_floats(BATCH, SRC, DIM)
    encoder = TransformerEncoder(DIM, 16, HEADS, norm_first=True)
    post = TransformerEncoder(DIM, 16, HEADS)
    shifted, base = encoder(x + 100.0), encoder(x)
    # LayerNorm ignores a constant shift of all features, so the updates are the same.
    np.testing.assert_allclose(shifted - base, 100.0, atol=1e-3)
    # Post-LN outputs are normalised: each vector has mean 0 whatever its input.
    np.testing.assert_allclose(np.mean(post(x + 100.0), axis=-1), 0.0, atol=1e-4)


def test_layer_config_round_trips():
    enc = random_floats(BATCH, SRC, DIM, seed=2)
    assert_config_round_trip(TransformerEncoder(DIM, 16, HEADS, norm_first=True), enc)
    assert_config_round_trip(TransformerEncoder(DIM, 16, HEADS, dropout=0.1), enc,
                             padding_mask=source_mask())
    assert_config_round_trip(TransformerEncoder(DIM, 16, HEADS, key_dim=DIM), enc,
                             padding_mask=source_mask())


def test_key_dim_sets_the_width_of_each_head_and_the_attention_parameters():
    d, h, dense = DIM, HEADS, 16
    third = TransformerEncoder(d, dense, h)  # 3rd edition: key_dim = d // h
    second = TransformerEncoder(d, dense, h, key_dim=d)  # 2nd edition: key_dim = d
    for layer in (third, second):
        layer.build((None, None, d))
    assert (third.head_dim, second.head_dim) == (d // h, d)
    # Q, K, V: d x (h * key_dim) + h * key_dim each; output: (h * key_dim) x d + d.
    for layer, key_dim in ((third, d // h), (second, d)):
        width = h * key_dim
        assert layer.attention.count_params() == 3 * (d * width + width) + width * d + d
    # The rest of the block does not depend on key_dim.
    assert second.count_params() - second.attention.count_params() == \
        third.count_params() - third.attention.count_params()


def test_an_explicit_key_dim_does_not_need_embed_dim_divisible_by_num_heads():
    layer = TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=3, key_dim=8)
    assert tuple(layer(random_floats(BATCH, SRC, 8)).shape) == (BATCH, SRC, 8)


def test_a_config_saved_without_key_dim_still_loads_as_the_3rd_edition_block():
    config = TransformerEncoder(DIM, 16, HEADS).get_config()
    assert config["key_dim"] is None
    del config["key_dim"]  # as saved before the argument existed
    assert TransformerEncoder.from_config(config).head_dim == DIM // HEADS
