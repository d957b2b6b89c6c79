"""CachedMultiHeadAttention ignores Keras masks on its inputs (masks come from `attention_mask`)."""

import warnings

import keras
import numpy as np
import tensorflow as tf

from models.cached_attention import CachedMultiHeadAttention

BATCH, LEN, DIM, HEADS = 2, 4, 8, 2
IDS = np.array([[3, 4, 0, 0], [5, 6, 7, 0]])  # 0 = padding


def _masked_embedding():
    """An embedding whose outputs carry a Keras mask (`IDS != 0`)."""
    return keras.layers.Embedding(10, DIM, mask_zero=True)


def _mask_warnings(function):
    """Run `function()`; return (its result, the "mask attached" warnings Keras gave, as text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function()
    return result, [str(w.message) for w in caught if "mask attached" in str(w.message)]


def test_projections_never_see_a_keras_mask_eager_traced_or_symbolic():
    # A layer that does not support masking (the query/key/value EinsumDense projections) warns
    # when it is handed a masked tensor, so no warning means the masks were detached first.
    embedding = _masked_embedding()
    attention = CachedMultiHeadAttention(num_heads=HEADS, key_dim=DIM // HEADS)
    x = embedding(IDS)

    _, eager = _mask_warnings(lambda: attention(x, x))
    _, cache = _mask_warnings(lambda: attention.project_key_value(x))
    traced = tf.function(lambda ids: attention(embedding(ids), embedding(ids)))
    _, in_function = _mask_warnings(lambda: traced(tf.constant(IDS)))

    def functional():
        inputs = keras.Input((None,), dtype="int32")
        h = embedding(inputs)
        return keras.Model(inputs, attention(h, h))(IDS)

    _, symbolic = _mask_warnings(functional)
    assert (eager, cache, in_function, symbolic) == ([], [], [], [])


def test_keras_mask_does_not_change_outputs_and_matches_multi_head_attention():
    embedding = _masked_embedding()
    masked = embedding(IDS)
    plain = np.asarray(masked)  # same values, no Keras mask
    attention_mask = np.broadcast_to((IDS != 0)[:, None, :], (BATCH, LEN, LEN))
    ours = CachedMultiHeadAttention(num_heads=HEADS, key_dim=DIM // HEADS)
    got = ours(masked, masked, attention_mask=attention_mask)
    np.testing.assert_allclose(got, ours(plain, plain, attention_mask=attention_mask), atol=1e-6)
    # Keras' layer with the same weights, given the same explicit mask and no Keras masks.
    reference = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=DIM // HEADS)
    reference(plain, plain)
    reference.set_weights(ours.get_weights())
    np.testing.assert_allclose(got, reference(plain, plain, attention_mask=attention_mask),
                               atol=1e-6)


def test_callers_tensor_keeps_its_keras_mask():
    # Masked average pooling reads the Keras mask: it gives the same result after the attention
    # call only if the caller's tensor still carries its mask.
    x = _masked_embedding()(IDS)
    pooling = keras.layers.GlobalAveragePooling1D()
    before = np.asarray(pooling(x))
    CachedMultiHeadAttention(num_heads=HEADS, key_dim=DIM // HEADS)(x, x)
    np.testing.assert_allclose(pooling(x), before, atol=1e-6)
    # Not vacuous: without its mask the padding is averaged in.
    assert not np.allclose(pooling(np.asarray(x)), before, atol=1e-6)
