"""The Transformer translator: builder and its incremental-decoding functions."""

import keras
from keras import ops

from models.positional_embedding import PositionalEmbedding
from models.token_selection import float32_logits, output_projection
from models.transformer_decoder import TransformerDecoder
from models.transformer_encoder import TransformerEncoder


def build_transformer(config, source_vocab_size=None, target_vocab_size=None):
    """Encoder-decoder Transformer (the book's, with `num_layers` blocks each) returning logits.

    Inputs `{"english": (batch, src_len), "spanish": (batch, tgt_len)}` int ids, output
    (batch, tgt_len, target_vocab) float32 logits for the next Spanish token.

    `config.norm_first` builds pre-LN blocks and a final LayerNorm after each stack
    ("encoder_norm", "decoder_norm"); `config.tie_embeddings` makes the target embedding the
    output layer too (its transpose), instead of a separate Dense layer named "output".
    """
    source_vocab_size = source_vocab_size or config.vocab_size
    target_vocab_size = target_vocab_size or config.vocab_size
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    source_mask = PositionalEmbedding.padding_mask(source)
    target_mask = PositionalEmbedding.padding_mask(target)

    # Encoder.  (batch, src_len, embed_dim)
    x = PositionalEmbedding(config.sequence_length, source_vocab_size, config.embed_dim,
                            use_position=config.positional, name="source_embedding")(source)
    x = keras.layers.Dropout(config.block_dropout, name="source_dropout")(x)
    for i in range(config.num_layers):
        x = TransformerEncoder(config.embed_dim, config.dense_dim, config.num_heads,
                               dropout=config.block_dropout, norm_first=config.norm_first,
                               name=f"encoder_{i}")(x, padding_mask=source_mask)
    if config.norm_first:
        x = keras.layers.LayerNormalization(name="encoder_norm")(x)
    encoder_outputs = x

    # Decoder.  (batch, tgt_len, embed_dim)
    target_embedding = PositionalEmbedding(
        config.sequence_length, target_vocab_size, config.embed_dim, use_position=config.positional,
        tied_output=config.tie_embeddings, name="target_embedding")
    y = target_embedding(target)
    y = keras.layers.Dropout(config.block_dropout, name="target_dropout")(y)
    for i in range(config.num_layers):
        y = TransformerDecoder(config.embed_dim, config.dense_dim, config.num_heads,
                               dropout=config.block_dropout, norm_first=config.norm_first,
                               name=f"decoder_{i}")(
                                   y, encoder_outputs, decoder_padding_mask=target_mask,
                                   encoder_padding_mask=source_mask)
    if config.norm_first:
        y = keras.layers.LayerNormalization(name="decoder_norm")(y)
    y = keras.layers.Dropout(config.dropout, name="output_dropout")(y)
    # (batch, tgt_len, target_vocab) logits: the output matmul in the compute precision,
    # the logits cast to float32 (for the softmax and the loss).
    if config.tie_embeddings:
        logits = target_embedding(y, reverse=True)
    else:
        logits = keras.layers.Dense(target_vocab_size, name="output")(y)
    logits = float32_logits(logits)
    return keras.Model({"english": source, "spanish": target}, logits, name="transformer")


class TransformerSteps:
    """Encode once, then `next_fn(tokens, cache, index) -> (logits, cache)` one token at a time.

    The cache holds, per decoder block, the self-attention keys/values of the tokens decoded so
    far (written at `index`) and the cross-attention keys/values of the encoder output
    (computed once). Only the new token goes through the decoder at each step.
    """

    def __init__(self, model):
        self.model = model
        self.num_layers = sum(1 for layer in model.layers if isinstance(layer, TransformerDecoder))
        self.source_embedding = model.get_layer("source_embedding")
        self.target_embedding = model.get_layer("target_embedding")
        self.encoders = [model.get_layer(f"encoder_{i}") for i in range(self.num_layers)]
        self.decoders = [model.get_layer(f"decoder_{i}") for i in range(self.num_layers)]
        # Final LayerNorms of pre-LN stacks (identity for the book's post-LN blocks).
        names = {layer.name for layer in model.layers}
        identity = lambda x: x  # noqa: E731
        self.encoder_norm = model.get_layer("encoder_norm") if "encoder_norm" in names else identity
        self.decoder_norm = model.get_layer("decoder_norm") if "decoder_norm" in names else identity
        self.output_layer = output_projection(model)

    def encode(self, source):
        """(batch, src_len) ids -> {"encoder_outputs", "source_mask"}."""
        source_mask = PositionalEmbedding.padding_mask(source)
        x = self.source_embedding(source)
        for encoder in self.encoders:
            x = encoder(x, padding_mask=source_mask)
        return {"encoder_outputs": self.encoder_norm(x), "source_mask": source_mask}

    def init_cache(self, state, max_length):
        """Empty self-attention caches of `max_length` slots and the cross-attention keys/values."""
        batch = ops.shape(state["encoder_outputs"])[0]
        cache = {"source_mask": state["source_mask"]}
        for i, decoder in enumerate(self.decoders):
            heads = decoder.num_heads
            key_dim = decoder.embed_dim // heads
            cache[f"self_{i}"] = ops.zeros((batch, 2, max_length, heads, key_dim),
                                           dtype=decoder.compute_dtype)
            cache[f"cross_{i}"] = decoder.compute_cross_attention_cache(state["encoder_outputs"])
        return cache

    def next_fn(self, tokens, cache, index):
        """Logits (batch, vocab) for the token after position `index` of `tokens`."""
        # (batch, 1): the token at `index`, embedded at its position.
        token = ops.slice(tokens, [0, index], [ops.shape(tokens)[0], 1])
        x = self.target_embedding(token, start_index=index)
        cache = dict(cache)
        for i, decoder in enumerate(self.decoders):
            x, cache[f"self_{i}"] = decoder(
                x, encoder_padding_mask=cache["source_mask"],
                self_attention_cache=cache[f"self_{i}"], cross_attention_cache=cache[f"cross_{i}"],
                cache_index=index)
        return ops.cast(self.output_layer(self.decoder_norm(x))[:, 0, :], "float32"), cache

    def attention(self, source, target_inputs):
        """Cross-attention weights of the last decoder block, (batch, heads, tgt_len, src_len)."""
        state = self.encode(source)
        target_mask = PositionalEmbedding.padding_mask(target_inputs)
        y = self.target_embedding(target_inputs)
        scores = None
        for decoder in self.decoders:
            y, scores = decoder(y, state["encoder_outputs"], decoder_padding_mask=target_mask,
                                encoder_padding_mask=state["source_mask"],
                                return_attention_scores=True)
        return scores
