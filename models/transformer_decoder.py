"""The Transformer decoder block, with a key/value cache for incremental decoding."""

import keras
from keras import ops

from models.cached_attention import CachedMultiHeadAttention
from models.transformer_encoder import check_block_arguments, residual


def causal_mask(query_length, key_length, query_start=0):
    """(1, query_length, key_length) bool: query i (at position query_start + i) sees keys <= it.

    Example:
    >>> ops.convert_to_numpy(causal_mask(3, 3))[0]
    array([[ True, False, False],
           [ True,  True, False],
           [ True,  True,  True]])
    >>> ops.convert_to_numpy(causal_mask(1, 3, query_start=1))[0]  # one token, at position 1
    array([[ True,  True, False]])
    """
    rows = ops.arange(query_length)[:, None] + ops.cast(query_start, "int32")
    columns = ops.arange(key_length)[None, :]
    return ops.expand_dims(columns <= rows, 0)


@keras.saving.register_keras_serializable(package="companion")
class TransformerDecoder(keras.layers.Layer):
    """Transformer decoder block: causal self-attention, cross-attention, feed-forward.

    Each block has a residual connection and LayerNorm after it (post-LN, as in the book), or,
    with `norm_first=True`, a LayerNorm on its input (pre-LN; the model builder then adds one
    final LayerNorm after the stack).
    Self-attention is causal (position t sees positions <= t) and ignores target padding;
    cross-attention's queries come from the decoder, its keys and values from the encoder
    output, masked by the **source** padding mask.

    Args:
        embed_dim: int. Width of the token vectors.
        dense_dim: int. Width of the feed-forward inner layer.
        num_heads: int. Attention heads; with `key_dim=None`, `embed_dim` must be divisible by it.
        dropout: float. Dropout on each block's output before the residual (0 in the book).
        norm_first: bool. Pre-layer-norm instead of the book's post-layer-norm.
        key_dim: int or None. Width of each head's queries, keys and values, in both attention
            layers. None: `embed_dim // num_heads`, the 3rd edition's block (and the paper's);
            `embed_dim`: the 2nd edition's. The caches' last axis is this width (`head_dim`).

    Call arguments:
        inputs: (batch, tgt_len, embed_dim) target embeddings.
        encoder_outputs: (batch, src_len, embed_dim); may be None when `cross_attention_cache`
            is given.
        decoder_padding_mask: optional (batch, tgt_len) bool, True on real target tokens.
        encoder_padding_mask: optional (batch, src_len) bool, True on real source tokens.
        self_attention_cache: optional (batch, 2, max_len, num_heads, head_dim). With it, `inputs`
            are the tokens at positions `cache_index ...` and the cache is extended.
        cross_attention_cache: optional (batch, 2, src_len, num_heads, head_dim), from
            `compute_cross_attention_cache(encoder_outputs)`; computed once per sentence.
        cache_index: int or scalar tensor, position of `inputs[:, 0]` when decoding with cache.
        grow_cache: bool. The self-attention cache holds the keys and values of the positions
            before `inputs` only (its length is `cache_index`; it may start empty) and grows
            by `tgt_len`; `cache_index` is not needed. Else the cache has `max_len` slots and
            the new tokens' are written at `cache_index` (one shape throughout: what XLA
            compiles). See `CachedMultiHeadAttention`.
        return_attention_scores: bool. Also return the cross-attention scores
            (batch, num_heads, tgt_len, src_len).

    Returns:
        outputs (batch, tgt_len, embed_dim); with caches, `(outputs, self_attention_cache)`;
        with `return_attention_scores`, the scores are appended.

    Example:
    >>> import numpy as np
    >>> layer = TransformerDecoder(embed_dim=8, dense_dim=16, num_heads=2)
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 4, 8)).astype("float32")    # (batch, tgt_len, embed_dim)
    >>> enc = rng.normal(size=(2, 5, 8)).astype("float32")  # (batch, src_len, embed_dim)
    >>> tuple(layer(x, enc).shape)
    (2, 4, 8)

    Decoding one token at a time with both caches gives the full pass's outputs:

    >>> # (batch, 2, max_len, num_heads, head_dim): keys and values of 4 positions
    >>> self_cache = np.zeros((2, 2, 4, 2, layer.head_dim), "float32")
    >>> cross_cache = layer.compute_cross_attention_cache(enc)
    >>> steps = []
    >>> for t in range(4):
    ...     step, self_cache = layer(x[:, t : t + 1], self_attention_cache=self_cache,
    ...                              cross_attention_cache=cross_cache, cache_index=t)
    ...     steps.append(step)
    >>> bool(np.allclose(np.concatenate(steps, axis=1), layer(x, enc), atol=1e-5))
    True

    The same with a self-attention cache that starts empty and grows by a position a step:

    >>> grown, steps = np.zeros((2, 2, 0, 2, layer.head_dim), "float32"), []
    >>> for t in range(4):
    ...     step, grown = layer(x[:, t : t + 1], self_attention_cache=grown,
    ...                         cross_attention_cache=cross_cache, grow_cache=True)
    ...     steps.append(step)
    >>> tuple(grown.shape), bool(np.allclose(np.concatenate(steps, axis=1), layer(x, enc),
    ...                                       atol=1e-5))
    ((2, 2, 4, 2, 4), True)
    """

    def __init__(self, embed_dim, dense_dim, num_heads, dropout=0.0, norm_first=False,
                 key_dim=None, **kwargs):
        super().__init__(**kwargs)
        check_block_arguments(embed_dim, dense_dim, num_heads, dropout, norm_first, key_dim)
        self.embed_dim = int(embed_dim)
        self.dense_dim = int(dense_dim)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.norm_first = norm_first
        self.key_dim = None if key_dim is None else int(key_dim)
        self.self_attention = CachedMultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.head_dim, name="self_attention",
            dtype=self.dtype_policy)
        self.cross_attention = CachedMultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.head_dim, name="cross_attention",
            dtype=self.dtype_policy)
        self.dense_1 = keras.layers.Dense(self.dense_dim, activation="relu", name="dense_1",
                                          dtype=self.dtype_policy)
        self.dense_2 = keras.layers.Dense(self.embed_dim, name="dense_2", dtype=self.dtype_policy)
        self.layernorm_1 = keras.layers.LayerNormalization(name="layernorm_1", dtype=self.dtype_policy)
        self.layernorm_2 = keras.layers.LayerNormalization(name="layernorm_2", dtype=self.dtype_policy)
        self.layernorm_3 = keras.layers.LayerNormalization(name="layernorm_3", dtype=self.dtype_policy)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        # Keras masks pass through unchanged; attention uses the explicit masks given to call().
        self.supports_masking = True

    @property
    def head_dim(self):
        """Width of each head's queries, keys and values: `key_dim`, else embed_dim // num_heads."""
        return self.key_dim or self.embed_dim // self.num_heads

    def build(self, inputs_shape, encoder_outputs_shape=None):
        input_shape = inputs_shape
        encoder_outputs_shape = encoder_outputs_shape or input_shape
        self.self_attention.build(input_shape, input_shape)
        self.cross_attention.build(input_shape, encoder_outputs_shape)
        self.dense_1.build(input_shape)
        self.dense_2.build(tuple(input_shape[:-1]) + (self.dense_dim,))
        for norm in (self.layernorm_1, self.layernorm_2, self.layernorm_3):
            norm.build(input_shape)
        self.built = True

    def compute_cross_attention_cache(self, encoder_outputs):
        """Project the encoder output to cross-attention keys/values once per sentence."""
        return self.cross_attention.project_key_value(encoder_outputs)

    def call(
        self,
        inputs,
        encoder_outputs=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        cross_attention_cache=None,
        cache_index=None,
        return_attention_scores=False,
        training=None,
        grow_cache=False,
    ):
        tgt_len = ops.shape(inputs)[1]
        updated_cache = []
        scores = []

        def self_attention(x):
            if self_attention_cache is None:
                # (1, tgt_len, tgt_len) causal, and padded keys hidden: (batch, 1, tgt_len).
                self_mask = causal_mask(tgt_len, tgt_len)
                if decoder_padding_mask is not None:
                    self_mask = ops.logical_and(
                        self_mask, ops.expand_dims(ops.cast(decoder_padding_mask, "bool"), 1))
                return self.self_attention(x, x, attention_mask=self_mask, training=training)
            cached = ops.shape(self_attention_cache)[2]
            if not grow_cache:  # query i at cache_index + i sees the slots <= it
                self_mask = causal_mask(tgt_len, cached, query_start=cache_index)
            elif inputs.shape[1] != 1:  # the new tokens come after the cached positions
                self_mask = causal_mask(tgt_len, cached + tgt_len, query_start=cached)
            else:  # one new token sees every cached position and itself
                self_mask = None
            attended, cache = self.self_attention(
                x, x, attention_mask=self_mask, cache=self_attention_cache,
                cache_update_index=None if grow_cache else cache_index, grow_cache=grow_cache,
                training=training)
            updated_cache.append(cache)
            return attended

        cross_mask = None
        if encoder_padding_mask is not None:
            # (batch, 1, src_len): queries never look at source padding.
            cross_mask = ops.expand_dims(ops.cast(encoder_padding_mask, "bool"), 1)

        def cross_attention(x):
            if cross_attention_cache is None:
                if encoder_outputs is None:
                    raise ValueError("encoder_outputs=None needs a cross_attention_cache")
                crossed = self.cross_attention(x, encoder_outputs, attention_mask=cross_mask,
                                               return_attention_scores=return_attention_scores,
                                               training=training)
            else:
                crossed = self.cross_attention(x, None, attention_mask=cross_mask,
                                               cache=cross_attention_cache,
                                               return_attention_scores=return_attention_scores,
                                               training=training)
                crossed = crossed[:-1] if return_attention_scores else crossed[0]
            if return_attention_scores:
                crossed, weights = crossed
                scores.append(weights)
            return crossed

        def feed_forward(x):
            if x.shape[1] != 1:
                return self.dense_2(self.dense_1(x))
            # One position (a decoding step): (batch, embed_dim) rows, a 2-D matrix product
            # rather than oneDNN's slower batched one (see CachedMultiHeadAttention).
            rows = ops.reshape(x, (-1, x.shape[-1]))
            return ops.expand_dims(self.dense_2(self.dense_1(rows)), 1)

        # Self-attention block.
        x = residual(inputs, self_attention, self.layernorm_1, self.dropout_layer,
                     self.norm_first, training)
        # Cross-attention block.
        x = residual(x, cross_attention, self.layernorm_2, self.dropout_layer, self.norm_first,
                     training)
        # Feed-forward block.  (batch, tgt_len, embed_dim)
        outputs = residual(x, feed_forward, self.layernorm_3, self.dropout_layer, self.norm_first,
                           training)

        results = [outputs]
        if self_attention_cache is not None:
            results.append(updated_cache[0])
        if return_attention_scores:
            results.append(scores[0])
        return results[0] if len(results) == 1 else tuple(results)

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "dense_dim": self.dense_dim,
                       "num_heads": self.num_heads, "dropout": self.dropout,
                       "norm_first": self.norm_first, "key_dim": self.key_dim})
        return config
