"""The Transformer translator: its builder, its parts and its incremental-decoding steps.

Example:
>>> model = build_transformer(source_vocab_size=50, target_vocab_size=60, sequence_length=6,
...                           embed_dim=8, dense_dim=16, num_heads=2)
>>> english = np.ones((2, 6), dtype="int64")
>>> spanish = np.ones((2, 6), dtype="int64")
>>> model({"english": english, "spanish": spanish}).shape
TensorShape([2, 6, 60])
>>> len(model.parts.encoders), type(model.parts.decoders[0]).__name__
(1, 'TransformerDecoder')
"""

import dataclasses

import keras
import numpy as np  # noqa: F401  (used by the examples)
from keras import ops

from models.positional_embedding import PositionalEmbedding
from models.token_selection import float32_logits
from models.transformer_decoder import TransformerDecoder
from models.transformer_encoder import TransformerEncoder


@dataclasses.dataclass
class TransformerParts:
    """The layers of a Transformer translator, held by the model as `model.parts`.

    `output_layer` is the Dense output layer, or None when the output layer is the target
    embedding used in reverse (tied embeddings). `encoder_norm` / `decoder_norm` are the final
    LayerNorms of pre-LN stacks (None for the book's post-LN blocks).
    """

    source_embedding: PositionalEmbedding
    target_embedding: PositionalEmbedding
    encoders: list
    decoders: list
    output_dropout: keras.layers.Dropout
    output_layer: keras.layers.Dense = None
    encoder_norm: keras.layers.LayerNormalization = None
    decoder_norm: keras.layers.LayerNormalization = None

    def output(self, vectors):
        """Last hidden vectors (..., embed_dim) -> logits (..., target vocabulary)."""
        if self.output_layer is None:
            return self.target_embedding(vectors, reverse=True)
        return self.output_layer(vectors)

    def groups(self):
        """The layers by part, for parameter counts: embeddings, encoder, decoder, output."""
        optional = lambda *layers: [layer for layer in layers if layer is not None]  # noqa: E731
        return {"embeddings": [self.source_embedding, self.target_embedding],
                "encoder": list(self.encoders) + optional(self.encoder_norm),
                "decoder": list(self.decoders) + optional(self.decoder_norm),
                "output": optional(self.output_layer)}


def build_transformer(source_vocab_size, target_vocab_size, sequence_length, embed_dim=256,
                      dense_dim=2048, num_heads=8, num_layers=1, dropout=0.5, block_dropout=0.0,
                      norm_first=False, tie_embeddings=False, positional=True, key_dim=None):
    """Encoder-decoder Transformer (the book's, with `num_layers` blocks each) returning logits.

    Args:
        source_vocab_size, target_vocab_size: int. English and Spanish vocabulary sizes.
        sequence_length: int. Positions the position embeddings learn (source and target).
        embed_dim: int. Token vector width.
        dense_dim: int. Feed-forward inner width.
        num_heads: int. Attention heads; `embed_dim` must be divisible by it.
        num_layers: int. Encoder blocks, and as many decoder blocks.
        dropout: float. Dropout before the output layer (the book's 0.5).
        block_dropout: float. Dropout on the embeddings and inside the blocks.
        norm_first: bool. Pre-LN blocks and a final LayerNorm after each stack (book: post-LN).
        tie_embeddings: bool. The output layer is the target embedding, transposed.
        positional: bool. Learned position embeddings (False: a bag of words, for lessons).
        key_dim: int or None. Width of each attention head's queries, keys and values. None or
            0: `embed_dim // num_heads`, the 3rd edition's blocks; `embed_dim`: the 2nd
            edition's. At the book's sizes the 2nd edition's model (with learned positions) has
            19,960,216 parameters, the 3rd edition's §15.3.4 model (without them) 14,428,824.

    Returns:
        A `keras.Model` with inputs `{"english": (batch, src_len), "spanish": (batch, tgt_len)}`
        int ids and output (batch, tgt_len, target_vocab_size) float32 logits for the next
        Spanish token; its layers are in `model.parts` (`TransformerParts`).
    """
    key_dim = key_dim or None  # 0 (the config's "not set") is embed_dim // num_heads too
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    source_mask = PositionalEmbedding.padding_mask(source)
    target_mask = PositionalEmbedding.padding_mask(target)
    # The layer names are those of saved runs' weights: keep them.
    parts = TransformerParts(
        source_embedding=PositionalEmbedding(sequence_length, source_vocab_size, embed_dim,
                                             use_position=positional, name="source_embedding"),
        target_embedding=PositionalEmbedding(sequence_length, target_vocab_size, embed_dim,
                                             use_position=positional, tied_output=tie_embeddings,
                                             name="target_embedding"),
        encoders=[TransformerEncoder(embed_dim, dense_dim, num_heads, dropout=block_dropout,
                                     norm_first=norm_first, key_dim=key_dim, name=f"encoder_{i}")
                  for i in range(num_layers)],
        decoders=[TransformerDecoder(embed_dim, dense_dim, num_heads, dropout=block_dropout,
                                     norm_first=norm_first, key_dim=key_dim, name=f"decoder_{i}")
                  for i in range(num_layers)],
        output_dropout=keras.layers.Dropout(dropout, name="output_dropout"),
        output_layer=None if tie_embeddings else keras.layers.Dense(target_vocab_size,
                                                                    name="output"),
        encoder_norm=keras.layers.LayerNormalization(name="encoder_norm") if norm_first else None,
        decoder_norm=keras.layers.LayerNormalization(name="decoder_norm") if norm_first else None,
    )

    # Encoder.  (batch, src_len, embed_dim)
    x = parts.source_embedding(source)
    x = keras.layers.Dropout(block_dropout, name="source_dropout")(x)
    for encoder in parts.encoders:
        x = encoder(x, padding_mask=source_mask)
    encoder_outputs = parts.encoder_norm(x) if norm_first else x

    # Decoder.  (batch, tgt_len, embed_dim)
    y = parts.target_embedding(target)
    y = keras.layers.Dropout(block_dropout, name="target_dropout")(y)
    for decoder in parts.decoders:
        y = decoder(y, encoder_outputs, decoder_padding_mask=target_mask,
                    encoder_padding_mask=source_mask)
    if norm_first:
        y = parts.decoder_norm(y)
    y = parts.output_dropout(y)
    # (batch, tgt_len, target_vocab) logits: the output matmul in the compute precision,
    # the logits cast to float32 (for the softmax and the loss).
    logits = float32_logits(parts.output(y))
    model = keras.Model({"english": source, "spanish": target}, logits, name="transformer")
    model.parts = parts
    return model


class TransformerSteps:
    """Encode once, then `next_fn(tokens, cache, index) -> (logits, cache)` one token at a time.

    The cache holds, per decoder block, the self-attention keys/values of the tokens decoded so
    far and the cross-attention keys/values of the encoder output (computed once). Only the new
    token goes through the decoder at each step.

    Args:
        model: a model from `build_transformer` (its `parts` are used).
        fixed_shapes: bool. Every cache tensor keeps one shape for the whole decoding (what
            XLA compiles): the self-attention caches have `max_length` slots and step `index`
            writes its key and value at slot `index`. Else (the default) they start empty and
            grow by one position a step, so a step copies and attends over the positions
            decoded so far only (faster in TensorFlow's graph: `benchmarks/ctranslate2_speed.py`).
            The tokens are the same either way.
    """

    def __init__(self, model, fixed_shapes=False):
        self.model = model
        self.parts = model.parts
        self.fixed_shapes = bool(fixed_shapes)
        identity = lambda x: x  # noqa: E731  (post-LN stacks have no final LayerNorm)
        self.encoder_norm = self.parts.encoder_norm or identity
        self.decoder_norm = self.parts.decoder_norm or identity

    def encode(self, source):
        """(batch, src_len) ids -> {"encoder_outputs", "source_mask"}."""
        source_mask = PositionalEmbedding.padding_mask(source)
        x = self.parts.source_embedding(source)
        for encoder in self.parts.encoders:
            x = encoder(x, padding_mask=source_mask)
        return {"encoder_outputs": self.encoder_norm(x), "source_mask": source_mask}

    def init_cache(self, state, max_length):
        """Empty self-attention caches (of `max_length` slots with `fixed_shapes`, else of none)
        and the cross-attention keys/values."""
        batch = ops.shape(state["encoder_outputs"])[0]
        cache = {"source_mask": state["source_mask"]}
        slots = max_length if self.fixed_shapes else 0
        for i, decoder in enumerate(self.parts.decoders):
            # (batch, 2, slots, num_heads, head_dim): keys and values of each position.
            cache[f"self_{i}"] = ops.zeros((batch, 2, slots, decoder.num_heads,
                                            decoder.head_dim), dtype=decoder.compute_dtype)
            cache[f"cross_{i}"] = decoder.compute_cross_attention_cache(state["encoder_outputs"])
        return cache

    def next_fn(self, tokens, cache, index):
        """Logits (batch, vocab) for the token after position `index` of `tokens`."""
        # (batch, 1): the token at `index`, embedded at its position.
        token = ops.slice(tokens, [0, index], [ops.shape(tokens)[0], 1])
        x = self.parts.target_embedding(token, start_index=index)
        cache = dict(cache)
        for i, decoder in enumerate(self.parts.decoders):
            x, cache[f"self_{i}"] = decoder(
                x, encoder_padding_mask=cache["source_mask"],
                self_attention_cache=cache[f"self_{i}"], cross_attention_cache=cache[f"cross_{i}"],
                cache_index=index, grow_cache=not self.fixed_shapes)
        # (batch, embed_dim) rows: a 2-D matrix product (see CachedMultiHeadAttention).
        rows = ops.reshape(self.decoder_norm(x), (-1, x.shape[-1]))
        return ops.cast(self.parts.output(rows), "float32"), cache

    def attention(self, source, target_inputs, all_layers=False):
        """Cross-attention weights of the last decoder block, (batch, heads, tgt_len, src_len);
        with `all_layers`, of every block: (batch, layers, heads, tgt_len, src_len)."""
        state = self.encode(source)
        target_mask = PositionalEmbedding.padding_mask(target_inputs)
        y = self.parts.target_embedding(target_inputs)
        every = []
        for decoder in self.parts.decoders:
            y, scores = decoder(y, state["encoder_outputs"], decoder_padding_mask=target_mask,
                                encoder_padding_mask=state["source_mask"],
                                return_attention_scores=True)
            every.append(scores)
        return ops.stack(every, axis=1) if all_layers else every[-1]
