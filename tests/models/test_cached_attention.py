"""models/cached_attention.py: CachedMultiHeadAttention computes what Keras' MultiHeadAttention
computes, and round-trips through its config. (Its handling of Keras masks:
test_cached_attention_masks.py.)"""

import keras
import numpy as np
import pytest

from models.cached_attention import CachedMultiHeadAttention
from tests.conftest import BATCH, DIM, HEADS, SRC, TGT, assert_config_round_trip, random_floats


def test_cached_attention_matches_keras_multi_head_attention():
    q, v = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=1)
    ours = CachedMultiHeadAttention(num_heads=HEADS, key_dim=4)
    reference = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=4)
    ours(q, v), reference(q, v)
    reference.set_weights(ours.get_weights())
    mask = np.ones((BATCH, TGT, SRC), bool)
    mask[:, :, -1] = False
    np.testing.assert_allclose(ours(q, v, attention_mask=mask),
                               reference(q, v, attention_mask=mask), atol=1e-6)


def test_layer_config_round_trips():
    x, enc = random_floats(BATCH, TGT, DIM), random_floats(BATCH, SRC, DIM, seed=2)
    assert_config_round_trip(CachedMultiHeadAttention(num_heads=HEADS, key_dim=4), x, enc)


def test_a_growing_cache_refuses_a_cache_update_index_naming_it():
    mha = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    x = np.ones((2, 1, 8), "float32")
    with pytest.raises(ValueError, match="cache_update_index"):
        mha(x, x, cache=np.zeros((2, 2, 0, 2, 4), "float32"), cache_update_index=0,
            grow_cache=True)
