"""The Transformer encoder block (the book's `TransformerEncoder`)."""

import numbers

import keras
from keras import ops

from models.cached_attention import CachedMultiHeadAttention


def check_block_arguments(embed_dim, dense_dim, num_heads, dropout, norm_first=False,
                          key_dim=None):
    """Shared argument checks of the encoder and decoder blocks."""
    for name, value in (("embed_dim", embed_dim), ("dense_dim", dense_dim), ("num_heads", num_heads)):
        if int(value) < 1:
            raise ValueError(f"{name}={value} must be a positive integer")
    if key_dim is not None and (isinstance(key_dim, bool)
                                or not isinstance(key_dim, numbers.Integral) or key_dim < 1):
        raise ValueError(f"key_dim={key_dim!r} must be a positive integer, or None for "
                         "embed_dim // num_heads")
    if key_dim is None and embed_dim % num_heads:
        raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout} must be in [0, 1)")
    if not isinstance(norm_first, bool):
        raise ValueError(f"norm_first={norm_first!r} must be True or False")


def residual(x, sublayer, norm, dropout, norm_first, training=None):
    """One residual sub-block: post-LN `norm(x + f(x))` or pre-LN `x + f(norm(x))`.

    `sublayer` maps the (normalised, with pre-LN) input to the update; `dropout` is applied to
    the update before it is added.
    """
    if norm_first:
        return x + dropout(sublayer(norm(x)), training=training)
    return norm(x + dropout(sublayer(x), training=training))


@keras.saving.register_keras_serializable(package="companion")
class TransformerEncoder(keras.layers.Layer):
    """Transformer encoder block: self-attention, feed-forward, each with residual + LayerNorm.

    Post-layer-norm as in the book and the paper (`norm_first=False`), or pre-layer-norm
    (`norm_first=True`: each sub-block normalises its input and the residual path stays
    un-normalised; a stack of them then needs one final LayerNorm, which the model builder
    adds).

    Args:
        embed_dim: int. Width of the token vectors.
        dense_dim: int. Width of the feed-forward inner layer.
        num_heads: int. Attention heads; with `key_dim=None`, `embed_dim` must be divisible by it.
        dropout: float. Dropout on each block's output before the residual (0 in the book).
        norm_first: bool. Pre-layer-norm instead of the book's post-layer-norm.
        key_dim: int or None. Width of each head's queries, keys and values. None:
            `embed_dim // num_heads`, the 3rd edition's block (and the paper's); `embed_dim`:
            the 2nd edition's, whose Q/K/V projections are `num_heads` times wider.

    Call arguments:
        inputs: (batch, src_len, embed_dim) source embeddings.
        padding_mask: optional (batch, src_len) bool, True on real tokens. Padded positions are
            never attended to, so they cannot change the outputs at real positions.

    Example:
    >>> import numpy as np
    >>> layer = TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2)
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    >>> padding_mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    >>> tuple(layer(x, padding_mask=padding_mask).shape)
    (2, 4, 8)

    The 2nd edition's block: each head as wide as the token vectors.

    >>> TransformerEncoder(embed_dim=8, dense_dim=16, num_heads=2, key_dim=8).head_dim
    8
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
        self.attention = CachedMultiHeadAttention(
            num_heads=self.num_heads, key_dim=self.head_dim, name="self_attention",
            dtype=self.dtype_policy,
        )
        self.dense_1 = keras.layers.Dense(self.dense_dim, activation="relu", name="dense_1",
                                          dtype=self.dtype_policy)
        self.dense_2 = keras.layers.Dense(self.embed_dim, name="dense_2", dtype=self.dtype_policy)
        self.layernorm_1 = keras.layers.LayerNormalization(name="layernorm_1", dtype=self.dtype_policy)
        self.layernorm_2 = keras.layers.LayerNormalization(name="layernorm_2", dtype=self.dtype_policy)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        # Keras masks pass through unchanged; attention uses the explicit masks given to call().
        self.supports_masking = True

    @property
    def head_dim(self):
        """Width of each head's queries, keys and values: `key_dim`, else embed_dim // num_heads."""
        return self.key_dim or self.embed_dim // self.num_heads

    def build(self, input_shape):
        self.attention.build(input_shape, input_shape)
        self.dense_1.build(input_shape)
        self.dense_2.build(tuple(input_shape[:-1]) + (self.dense_dim,))
        self.layernorm_1.build(input_shape)
        self.layernorm_2.build(input_shape)
        self.built = True

    def call(self, inputs, padding_mask=None, return_attention_scores=False, training=None):
        attention_mask = None
        if padding_mask is not None:
            # (batch, 1, src_len): every query may look at the real source tokens only.
            attention_mask = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
        scores = []

        def self_attention(x):
            attended = self.attention(x, x, attention_mask=attention_mask,
                                      return_attention_scores=return_attention_scores,
                                      training=training)
            if return_attention_scores:
                attended, weights = attended
                scores.append(weights)
            return attended

        # Self-attention block.
        x = residual(inputs, self_attention, self.layernorm_1, self.dropout_layer, self.norm_first,
                     training)
        # Feed-forward block.  (batch, src_len, embed_dim)
        outputs = residual(x, lambda h: self.dense_2(self.dense_1(h)), self.layernorm_2,
                           self.dropout_layer, self.norm_first, training)
        return (outputs, scores[0]) if return_attention_scores else outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "dense_dim": self.dense_dim,
                       "num_heads": self.num_heads, "dropout": self.dropout,
                       "norm_first": self.norm_first, "key_dim": self.key_dim})
        return config
