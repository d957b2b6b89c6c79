"""Multi-head attention that can reuse and extend a key/value cache."""

import keras
from keras import ops


def without_keras_mask(tensor):
    """`tensor` as a new tensor object with no Keras mask attached (None stays None).

    Keras keeps a mask as an attribute of the tensor object, and a layer that does not support
    masking (the `EinsumDense` projections below) warns when it is given a masked tensor. Keras 3
    has no public function to detach a mask; `ops.copy` (`tf.identity`, which shares the
    buffer) returns a new tensor without one, in eager mode, in `tf.function` and on symbolic
    `KerasTensor`s. Unlike `MultiHeadAttention`, which clears the mask in place, this leaves the
    caller's tensor as it was.
    """
    return None if tensor is None else ops.copy(tensor)


@keras.saving.register_keras_serializable(package="companion")
class CachedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` with a key/value cache for incremental decoding.

    Same constructor, weights and parameter count as `MultiHeadAttention` (so the book's
    numbers hold and weights can be copied between the two). Masks are given explicitly with
    `attention_mask`; Keras masks attached to the inputs are not read.

    Args:
        num_heads: int. Attention heads.
        key_dim: int. Width of each head's queries and keys (and values, unless `value_dim`).
        **kwargs: the other arguments of `keras.layers.MultiHeadAttention`.

    Call arguments:
        query: (batch, tgt_len, dim).
        value: (batch, src_len, dim); `key` defaults to it.
        attention_mask: bool, broadcastable to (batch, tgt_len, src_len); True = may attend.
        cache: None, or (batch, 2, cache_len, num_heads, key_dim) projected keys and values.
        cache_update_index: None to use `cache` as it is (cross-attention over a fixed
            encoder output), or an int / scalar tensor: project `key`/`value` (the new
            tokens) and write them into the cache at that position (self-attention).
        grow_cache: bool. Self-attention with a cache that holds the keys and values of the
            earlier positions only: the new tokens' are appended to it (the returned cache is
            longer by their number) and `cache_update_index` must be None. A cache of one
            shape (above) is what XLA compiles; a growing one copies and attends over the
            positions decoded so far only, which is faster in TensorFlow's graph.
        return_attention_scores: bool. Also return (batch, num_heads, tgt_len, src_len).

    Returns:
        `output`, then the attention scores if asked, then the updated cache if one was given.

    Example:
    >>> import numpy as np
    >>> mha = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    >>> tuple(mha(x, x).shape)
    (2, 4, 8)

    Self-attention one token at a time: the token at position 0 writes its key and value into
    an empty cache with room for 4 positions and, masked causally, attends to itself only.

    >>> cache = np.zeros((2, 2, 4, 2, 4), "float32")  # (batch, 2, max_len, num_heads, key_dim)
    >>> causal = np.arange(4)[None, None, :] <= 0     # position 0 sees position 0
    >>> out, cache = mha(x[:, :1], x[:, :1], attention_mask=causal, cache=cache,
    ...                  cache_update_index=0)
    >>> tuple(out.shape), tuple(cache.shape)
    ((2, 1, 8), (2, 2, 4, 2, 4))

    The same with a growing cache: it starts empty and holds the positions decoded so far.

    >>> grown = np.zeros((2, 2, 0, 2, 4), "float32")
    >>> same, grown = mha(x[:, :1], x[:, :1], cache=grown, grow_cache=True)
    >>> tuple(grown.shape), bool(np.allclose(same, out, atol=1e-6))
    ((2, 2, 1, 2, 4), True)
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
        grow_cache=False,
    ):
        # Masks come only from `attention_mask`: detach any Keras masks from the inputs.
        query, value, key = (without_keras_mask(t) for t in (query, value, key))
        if key is None:
            key = value
        if grow_cache and (cache is None or cache_update_index is not None):
            raise ValueError("grow_cache=True appends to a cache: it needs `cache` and no "
                             f"cache_update_index (received {cache_update_index!r})")
        if cache is not None and query.shape[1] == 1 and not return_attention_scores \
                and not (training and self._dropout) and self._value_dim == self._key_dim \
                and self._output_shape is None:
            return self._attend_one_position(query, key, value, attention_mask, cache,
                                             cache_update_index, grow_cache)
        # (batch, tgt_len, num_heads, key_dim)
        query = self._query_dense(query)
        if cache is None:
            key = self._key_dense(key)
            value = self._value_dense(value)
        elif grow_cache:
            # Append the new tokens' keys and values after the cached positions.
            key = ops.concatenate([cache[:, 0], self._key_dense(key)], axis=1)
            value = ops.concatenate([cache[:, 1], self._value_dense(value)], axis=1)
            cache = ops.stack([key, value], axis=1)
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

    def _attend_one_position(self, query, key, value, attention_mask, cache, cache_update_index,
                             grow_cache):
        """`call` for one query position over a cache (a decoding step): the same attention,
        written with 2-D matrix products, products and sums, and the softmax spelled out.

        Under TensorFlow's oneDNN graph rewrites the einsum, batched-matmul and softmax kernels
        that `call` uses are several times slower than the plain ones at these shapes (one token for each sentence
        of a batch), and a decoding step is mostly such small ops (docs/ctranslate2.md,
        `benchmarks/ctranslate2_speed.py`). The result equals `call`'s up to float rounding.
        """
        # Shapes with -1 for the batch: no shape ops at run time (a step is mostly small ops).
        heads, width = self._num_heads, self._key_dim
        query = _rows_through(self._query_dense, ops.reshape(query, (-1, query.shape[-1])))
        if cache_update_index is not None or grow_cache:
            # The new token's key and value, appended to a growing cache or written into a
            # cache of one shape at `cache_update_index`.
            new = ops.stack(
                [_rows_through(self._key_dense, ops.reshape(key, (-1, key.shape[-1]))),
                 _rows_through(self._value_dense, ops.reshape(value, (-1, value.shape[-1])))],
                axis=1)
            new = ops.reshape(new, (-1, 2, 1, heads, width))
            cache = (ops.concatenate([cache, new], axis=2) if grow_cache else
                     ops.slice_update(cache, [0, 0, cache_update_index, 0, 0], new))
        keys, values = cache[:, 0], cache[:, 1]  # (batch, cache_len, heads, width)
        # Scores (batch, cache_len, heads): the query's dot product with each cached key.
        query = ops.reshape(query, (-1, 1, heads, width))
        scores = ops.cast(ops.sum(query * keys, axis=-1), "float32")
        scores = scores * ops.cast(self._inverse_sqrt_key_dim, "float32")
        if attention_mask is not None:  # broadcastable to (batch, 1, cache_len)
            allowed = ops.cast(attention_mask, "bool")[:, 0, :, None]  # (batch, cache_len, 1)
            scores = ops.where(allowed, scores, -0.7 * 3.38953e38)  # Keras' large negative
        scores = ops.exp(scores - ops.max(scores, axis=1, keepdims=True))
        weights = ops.cast(scores / ops.sum(scores, axis=1, keepdims=True), values.dtype)
        attended = ops.sum(weights[..., None] * values, axis=1)  # (batch, heads, width)
        output = _rows_through(self._output_dense, ops.reshape(attended, (-1, heads * width)))
        output = ops.reshape(output, (-1, 1, output.shape[-1]))
        return output, cache

    def project_key_value(self, value, key=None):
        """(batch, src_len, dim) -> cache (batch, 2, src_len, num_heads, key_dim)."""
        key = value if key is None else key
        value, key = without_keras_mask(value), without_keras_mask(key)
        return ops.stack([self._key_dense(key), self._value_dense(value)], axis=1)


def _rows_through(dense, rows):
    """An `EinsumDense` projection of (rows, features) as one 2-D matrix product: its kernel
    flattened to (features, outputs), its bias to (outputs,); returns (rows, outputs)."""
    kernel = ops.reshape(ops.cast(dense.kernel, rows.dtype), (rows.shape[-1], -1))
    output = ops.matmul(rows, kernel)
    if dense.bias is not None:
        output = output + ops.reshape(ops.cast(dense.bias, output.dtype), (-1,))
    return output
