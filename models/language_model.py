"""A decoder-only (GPT-style) Transformer language model, with incremental decoding."""

import keras
from keras import ops

from models.cached_attention import CachedMultiHeadAttention
from models.positional_embedding import PositionalEmbedding
from models.transformer_decoder import causal_mask
from models.transformer_encoder import check_block_arguments, residual


class _CausalBlock(keras.layers.Layer):
    """Pre-LN block: causal self-attention then feed-forward, each `x + f(norm(x))`.

    The decoder block of `models/transformer_decoder.py` without its cross-attention (a
    language model has no encoder). Built only by `LanguageModel`, which serializes it
    through its own config.
    """

    def __init__(self, embed_dim, dense_dim, num_heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
        self.self_attention = CachedMultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim // num_heads, name="self_attention",
            dtype=self.dtype_policy)
        self.dense_1 = keras.layers.Dense(dense_dim, activation="gelu", name="dense_1",
                                          dtype=self.dtype_policy)
        self.dense_2 = keras.layers.Dense(embed_dim, name="dense_2", dtype=self.dtype_policy)
        self.layernorm_1 = keras.layers.LayerNormalization(name="layernorm_1",
                                                           dtype=self.dtype_policy)
        self.layernorm_2 = keras.layers.LayerNormalization(name="layernorm_2",
                                                           dtype=self.dtype_policy)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.supports_masking = True

    def build(self, input_shape):
        self.self_attention.build(input_shape, input_shape)
        self.dense_1.build(input_shape)
        self.dense_2.build(tuple(input_shape[:-1]) + (self.dense_dim,))
        self.layernorm_1.build(input_shape)
        self.layernorm_2.build(input_shape)
        self.built = True

    def call(self, inputs, cache=None, cache_index=None, training=None):
        length = ops.shape(inputs)[1]
        updated = []

        def self_attention(x):
            if cache is None:
                # (1, length, length): position t sees positions <= t only.
                return self.self_attention(x, x, attention_mask=causal_mask(length, length),
                                           training=training)
            mask = causal_mask(length, ops.shape(cache)[2], query_start=cache_index)
            attended, new_cache = self.self_attention(
                x, x, attention_mask=mask, cache=cache, cache_update_index=cache_index,
                training=training)
            updated.append(new_cache)
            return attended

        def feed_forward(x):
            return self.dense_2(self.dense_1(x))

        # Self-attention block.  (batch, length, embed_dim)
        x = residual(inputs, self_attention, self.layernorm_1, self.dropout_layer, True, training)
        # Feed-forward block.  (batch, length, embed_dim)
        x = residual(x, feed_forward, self.layernorm_2, self.dropout_layer, True, training)
        return x if cache is None else (x, updated[0])


@keras.saving.register_keras_serializable(package="companion")
class LanguageModel(keras.Model):
    """Decoder-only Transformer language model: the logits of the next token at every position.

    Token + learned position embedding (`PositionalEmbedding`), `num_layers` pre-LN blocks of
    causal self-attention (`CachedMultiHeadAttention`) and a GELU feed-forward (as GPT-2; the
    translator's blocks are post-LN with ReLU), a final LayerNorm, and
    the unembedding that turns each last hidden state into one logit per vocabulary entry:
    `hidden @ token_embeddings^T + bias` when `tie_embeddings` (as GPT-2), else a Dense layer.
    There is no padding mask: sequences are padded at the end (id 0), and under the causal
    mask a real token only sees earlier tokens, which are real too; padded positions are left
    out of the loss by a sample weight.

    Args:
        vocab_size: int. Vocabulary size (id 0 = padding).
        sequence_length: int. Longest sequence (positions the position embedding learns).
        embed_dim: int. Width of the token vectors.
        dense_dim: int. Width of the feed-forward inner layer.
        num_heads: int. Attention heads; `embed_dim` must be divisible by it.
        num_layers: int. Number of blocks.
        dropout: float. Dropout on the embeddings and on each block's updates.
        tie_embeddings: bool. The unembedding is the token embedding, transposed (plus a bias).

    Call arguments:
        inputs: (batch, length) int token ids, length <= sequence_length.
        training: bool. Dropout on or off.

    Returns:
        (batch, length, vocab_size) float32 logits; position t scores token t + 1.

    `next_fn(tokens, cache, index)` and `init_cache(batch_size, max_length)` plug the model
    into `models.decoding.decode`: each step runs only the new token through the blocks.

    Example:
    >>> import numpy as np
    >>> model = LanguageModel(vocab_size=20, sequence_length=6, embed_dim=8, dense_dim=16,
    ...                       num_heads=2, num_layers=2)
    >>> ids = np.array([[2, 5, 7, 9], [2, 4, 0, 0]])
    >>> tuple(model(ids).shape)                     # (batch, length, vocab_size)
    (2, 4, 20)
    >>> tuple(model.hidden_states(ids).shape)       # (batch, length, embed_dim)
    (2, 4, 8)

    Decoding one token at a time with the cache gives the full pass's logits:

    >>> cache = model.init_cache(batch_size=2, max_length=4)
    >>> steps = []
    >>> for t in range(4):
    ...     logits, cache = model.next_fn(ids, cache, t)
    ...     steps.append(logits)
    >>> bool(np.allclose(np.stack(steps, axis=1), model(ids), atol=1e-5))
    True
    """

    def __init__(self, vocab_size, sequence_length, embed_dim=256, dense_dim=1024, num_heads=4,
                 num_layers=2, dropout=0.0, tie_embeddings=True, **kwargs):
        super().__init__(**kwargs)
        if int(num_layers) < 1:
            raise ValueError(f"num_layers={num_layers} must be a positive integer")
        check_block_arguments(embed_dim, dense_dim, num_heads, dropout)
        self.vocab_size = int(vocab_size)
        self.sequence_length = int(sequence_length)
        self.embed_dim = int(embed_dim)
        self.dense_dim = int(dense_dim)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.tie_embeddings = bool(tie_embeddings)
        self.embedding = PositionalEmbedding(self.sequence_length, self.vocab_size,
                                             self.embed_dim, tied_output=self.tie_embeddings,
                                             name="embedding")
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        self.blocks = [_CausalBlock(self.embed_dim, self.dense_dim, self.num_heads,
                                    dropout=self.dropout, name=f"block_{i}")
                       for i in range(self.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(name="final_norm")
        self.output_layer = (None if self.tie_embeddings
                             else keras.layers.Dense(self.vocab_size, name="output"))

    def build(self, input_shape=None):
        # Sub-layers already built by a call of `hidden_states` or `next_fn` are kept.
        vectors = (None, None, self.embed_dim)
        layers = [(self.embedding, (None, None)), (self.final_norm, vectors)]
        layers += [(block, vectors) for block in self.blocks]
        if self.output_layer is not None:
            layers.append((self.output_layer, vectors))
        for layer, shape in layers:
            if not layer.built:
                layer.build(shape)
        self.built = True

    def hidden_states(self, inputs, training=None):
        """(batch, length) ids -> (batch, length, embed_dim) last hidden states (final norm)."""
        x = self.embedding_dropout(self.embedding(inputs), training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self.final_norm(x)

    def unembed(self, hidden):
        """(..., embed_dim) hidden states -> (..., vocab_size) float32 logits."""
        if self.tie_embeddings:
            logits = self.embedding(hidden, reverse=True)
        else:
            logits = self.output_layer(hidden)
        return ops.cast(logits, "float32")

    def call(self, inputs, training=None):
        return self.unembed(self.hidden_states(inputs, training=training))

    def init_cache(self, batch_size, max_length):
        """Empty key/value caches of `max_length` positions, one per block."""
        key_dim = self.embed_dim // self.num_heads
        return {f"block_{i}": ops.zeros((batch_size, 2, max_length, self.num_heads, key_dim),
                                        dtype=self.compute_dtype)
                for i in range(self.num_layers)}

    def next_fn(self, tokens, cache, index):
        """Logits (batch, vocab_size) for the token after position `index` of `tokens`."""
        # (batch, 1): the token at `index`, embedded at its position.
        token = ops.slice(tokens, [0, index], [ops.shape(tokens)[0], 1])
        x = self.embedding(token, start_index=index)
        cache = dict(cache)
        for i, block in enumerate(self.blocks):
            x, cache[f"block_{i}"] = block(x, cache=cache[f"block_{i}"], cache_index=index)
        return self.unembed(self.final_norm(x))[:, 0, :], cache

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size, "sequence_length": self.sequence_length,
            "embed_dim": self.embed_dim, "dense_dim": self.dense_dim,
            "num_heads": self.num_heads, "num_layers": self.num_layers,
            "dropout": self.dropout, "tie_embeddings": self.tie_embeddings,
        })
        return config
