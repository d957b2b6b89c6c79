"""Multi-head attention that can reuse and extend a key/value cache."""

import keras
from keras import ops

# The same private helper keras.layers.MultiHeadAttention uses to drop Keras masks it has
# already accounted for (this subclass relies on its private sublayers too).
from keras.src.backend.common.masking import set_keras_mask


@keras.saving.register_keras_serializable(package="companion")
class CachedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` with a key/value cache for incremental decoding.

    Same constructor, weights and parameter count as `MultiHeadAttention` (so the book's
    numbers hold and weights can be copied between the two). Masks are given explicitly with
    `attention_mask`; Keras masks attached to the inputs are not read.

    Call arguments:
        query: (batch, tgt_len, dim).
        value: (batch, src_len, dim); `key` defaults to it.
        attention_mask: bool, broadcastable to (batch, tgt_len, src_len); True = may attend.
        cache: None, or (batch, 2, cache_len, num_heads, key_dim) projected keys and values.
        cache_update_index: None to use `cache` as it is (cross-attention over a fixed
            encoder output), or an int / scalar tensor: project `key`/`value` (the new
            tokens) and write them into the cache at that position (self-attention).
        return_attention_scores: bool. Also return (batch, num_heads, tgt_len, src_len).

    Returns:
        `output`, then the attention scores if asked, then the updated cache if one was given.

    Example:
    >>> mha = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.zeros((1, 3, 8), "float32")
    >>> tuple(mha(x, x).shape)
    (1, 3, 8)
    """

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        for tensor in (query, value, key):
            if tensor is not None:
                set_keras_mask(tensor, None)
        if key is None:
            key = value
        # (batch, tgt_len, num_heads, key_dim)
        query = self._query_dense(query)
        if cache is None:
            key = self._key_dense(key)
            value = self._value_dense(value)
        elif cache_update_index is None:
            key, value = cache[:, 0], cache[:, 1]
        else:
            # Write the new tokens' keys and values at `cache_update_index`.
            start = [0, cache_update_index, 0, 0]
            key = ops.slice_update(cache[:, 0], start, self._key_dense(key))
            value = ops.slice_update(cache[:, 1], start, self._value_dense(value))
            cache = ops.stack([key, value], axis=1)
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
        output, scores = self._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores
        )
        # (batch, tgt_len, dim)
        output = self._output_dense(output)
        results = [output]
        if return_attention_scores:
            results.append(scores)
        if cache is not None:
            results.append(cache)
        return results[0] if len(results) == 1 else tuple(results)

    def project_key_value(self, value, key=None):
        """(batch, src_len, dim) -> cache (batch, 2, src_len, num_heads, key_dim)."""
        key = value if key is None else key
        for tensor in (value, key):
            set_keras_mask(tensor, None)
        return ops.stack([self._key_dense(key), self._value_dense(value)], axis=1)
