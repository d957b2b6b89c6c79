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
