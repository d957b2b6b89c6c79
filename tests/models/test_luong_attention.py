"""models/luong_attention.py: the RNN's attention (padding gets no weight, weights sum to one,
arguments, config round trip)."""

import numpy as np
import pytest

from models.luong_attention import LuongAttention
from tests.conftest import (BATCH, DIM, SRC, TGT, assert_config_round_trip, random_floats,
                            source_mask)


@pytest.mark.parametrize("make", [
    lambda: LuongAttention(units=0),
])
def test_bad_arguments_raise_value_error_with_the_value(make):
    with pytest.raises(ValueError, match=r"=\S+"):
        make()


def test_luong_attention_weights_ignore_padding_and_sum_to_one():
    layer = LuongAttention(units=DIM)
    context, weights = layer(random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, 6),
                             values_mask=source_mask())
    assert context.shape == (BATCH, TGT, 6) and weights.shape == (BATCH, TGT, SRC)
    np.testing.assert_allclose(np.sum(weights, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(weights[0, :, 3:], 0.0, atol=1e-7)


def test_layer_config_round_trips():
    x, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    assert_config_round_trip(LuongAttention(DIM), x, enc)
