"""Luong ("general", multiplicative) attention for the RNN translator."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="companion")
class LuongAttention(keras.layers.Layer):
    """Luong et al. (2015) "general" attention: `score(h_t, h_s) = h_t · (W_a h_s)`.

    The decoder state at each target step (the query) scores every encoder state (the
    values); a softmax over the real (unpadded) source positions gives the attention weights,
    and the context vector is the weighted sum of encoder states.

    Args:
        units: int. Width of the decoder state (the projected keys have this width).

    Call arguments:
        query: (batch, tgt_len, units) decoder states.
        values: (batch, src_len, value_dim) encoder states.
        values_mask: optional (batch, src_len) bool, True on real source tokens.
        keys: optional (batch, src_len, units), `project_keys(values)` computed once when decoding.

    Returns:
        `(context, weights)`: (batch, tgt_len, value_dim) and (batch, tgt_len, src_len).

    Example:
    >>> import numpy as np
    >>> layer = LuongAttention(units=8)
    >>> query, values = np.ones((2, 4, 8), "float32"), np.ones((2, 5, 6), "float32")
    >>> values_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    >>> context, weights = layer(query, values, values_mask=values_mask)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 4, 6), (2, 4, 5))

    Equal scores share the weight among the real source tokens; padding gets none:

    >>> keras.ops.convert_to_numpy(weights[0, 0]).round(3)
    array([0.333, 0.333, 0.333, 0.   , 0.   ], dtype=float32)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units={units} must be a positive integer")
        self.units = int(units)
        self.key_projection = keras.layers.Dense(self.units, use_bias=False, name="key_projection",
                                                 dtype=self.dtype_policy)

    def build(self, query_shape, values_shape=None):
        self.key_projection.build(values_shape if values_shape is not None else query_shape)
        self.built = True

    def project_keys(self, values):
        """(batch, src_len, value_dim) -> (batch, src_len, units)."""
        return self.key_projection(values)

    def call(self, query, values, values_mask=None, keys=None):
        if keys is None:
            keys = self.project_keys(values)
        # (batch, tgt_len, src_len)
        # Scores and softmax in float32 (a finite -1e9 for hidden positions in any precision).
        scores = ops.cast(ops.einsum("btd,bsd->bts", query, keys), "float32")
        if values_mask is not None:
            hidden = ops.logical_not(ops.expand_dims(ops.cast(values_mask, "bool"), 1))
            scores = ops.where(hidden, -1e9, scores)
        weights = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        # (batch, tgt_len, value_dim)
        context = ops.einsum("bts,bsd->btd", weights, ops.cast(values, weights.dtype))
        return context, weights

    def compute_output_spec(self, query, values, values_mask=None, keys=None):
        batch, tgt_len = query.shape[0], query.shape[1]
        return (
            keras.KerasTensor((batch, tgt_len, values.shape[-1]), dtype=self.compute_dtype),
            keras.KerasTensor((batch, tgt_len, values.shape[1]), dtype=self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
