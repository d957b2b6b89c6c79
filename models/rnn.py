"""RNN translators: the book's GRU encoder-decoder and a GRU with Luong attention.

Example:
>>> model = build_rnn_attention(source_vocab_size=50, target_vocab_size=60, embed_dim=8,
...                             rnn_units=16)
>>> ids = np.ones((2, 5), dtype="int64")
>>> model({"english": ids, "spanish": ids}).shape
TensorShape([2, 5, 60])
>>> model.parts.attention.name, build_gru(50, 60, embed_dim=8, rnn_units=16).parts.attention
('attention', None)
"""

import dataclasses

import keras
import numpy as np  # noqa: F401  (used by the examples)
from keras import ops

from models.luong_attention import LuongAttention
from models.token_selection import float32_logits


@dataclasses.dataclass
class RNNParts:
    """The layers of an RNN translator, held by the model as `model.parts`.

    `attention` and `attentional_state` are None for the book's attention-free GRU.
    """

    source_embedding: keras.layers.Embedding
    target_embedding: keras.layers.Embedding
    encoder: keras.layers.Bidirectional
    decoder_gru: keras.layers.GRU
    output_dropout: keras.layers.Dropout
    output_layer: keras.layers.Dense
    attention: LuongAttention = None
    attentional_state: keras.layers.Dense = None

    def output(self, vectors):
        """Last hidden vectors -> logits (..., target vocabulary)."""
        return self.output_layer(vectors)

    def groups(self):
        """The layers by part, for parameter counts: embeddings, encoder, decoder, output."""
        decoder = [self.decoder_gru] + [layer for layer in (self.attention, self.attentional_state)
                                        if layer is not None]
        return {"embeddings": [self.source_embedding, self.target_embedding],
                "encoder": [self.encoder], "decoder": decoder, "output": [self.output_layer]}


def build_gru(source_vocab_size, target_vocab_size, embed_dim=256, rnn_units=1024, dropout=0.5):
    """The book's GRU seq2seq: bidirectional GRU encoder summed into one vector, GRU decoder.

    The decoder sees only that one vector (its initial state) about the source: no attention.
    Book sizes: embed 256, units 1024, 34,869,912 parameters at vocabulary 15,000.

    Args:
        source_vocab_size, target_vocab_size: int. English and Spanish vocabulary sizes.
        embed_dim: int. Token vector width.
        rnn_units: int. GRU width (encoder per direction, decoder).
        dropout: float. Dropout before the output layer.

    Returns:
        A `keras.Model` ({"english", "spanish"} ids -> (batch, tgt_len, target_vocab_size)
        float32 logits) with its layers in `model.parts` (`RNNParts`).
    """
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    parts = RNNParts(
        source_embedding=keras.layers.Embedding(source_vocab_size, embed_dim, mask_zero=True,
                                                name="source_embedding"),
        target_embedding=keras.layers.Embedding(target_vocab_size, embed_dim, mask_zero=True,
                                                name="target_embedding"),
        encoder=keras.layers.Bidirectional(keras.layers.GRU(rnn_units), merge_mode="sum",
                                           name="encoder"),
        decoder_gru=keras.layers.GRU(rnn_units, return_sequences=True, name="decoder_gru"),
        output_dropout=keras.layers.Dropout(dropout, name="output_dropout"),
        output_layer=keras.layers.Dense(target_vocab_size, name="output"))
    # (batch, units): forward and backward final states, summed.
    encoded = parts.encoder(parts.source_embedding(source))
    # (batch, tgt_len, units)
    y = parts.decoder_gru(parts.target_embedding(target), initial_state=encoded)
    logits = float32_logits(parts.output(parts.output_dropout(y)))
    model = keras.Model({"english": source, "spanish": target}, logits, name="gru")
    model.parts = parts
    return model


def build_rnn_attention(source_vocab_size, target_vocab_size, embed_dim=256, rnn_units=1024,
                        dropout=0.5):
    """GRU encoder-decoder with Luong ("general") attention over all encoder states.

    Encoder: bidirectional GRU returning every state (directions summed). Decoder: GRU started
    from the encoder's final states; after each step its state attends over all encoder states
    (Luong et al. 2015, multiplicative score, no input feeding, so training runs the decoder
    GRU over the whole target at once). Output layer over [decoder state; context]:
    `tanh(W_c [h_t; c_t])`, dropout, then the vocabulary logits.

    Args:
        source_vocab_size, target_vocab_size: int. English and Spanish vocabulary sizes.
        embed_dim: int. Token vector width.
        rnn_units: int. GRU width (encoder per direction, decoder, attention).
        dropout: float. Dropout before the output layer.

    Returns:
        A `keras.Model` as `build_gru`'s, with `model.parts.attention` set.
    """
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    parts = RNNParts(
        source_embedding=keras.layers.Embedding(source_vocab_size, embed_dim,
                                                name="source_embedding"),
        target_embedding=keras.layers.Embedding(target_vocab_size, embed_dim,
                                                name="target_embedding"),
        encoder=keras.layers.Bidirectional(
            keras.layers.GRU(rnn_units, return_sequences=True, return_state=True),
            merge_mode="sum", name="encoder"),
        decoder_gru=keras.layers.GRU(rnn_units, return_sequences=True, name="decoder_gru"),
        output_dropout=keras.layers.Dropout(dropout, name="output_dropout"),
        output_layer=keras.layers.Dense(target_vocab_size, name="output"),
        attention=LuongAttention(rnn_units, name="attention"),
        attentional_state=keras.layers.Dense(rnn_units, activation="tanh",
                                             name="attentional_state"))
    source_mask = ops.not_equal(source, 0)
    # (batch, src_len, units) and the two final states (batch, units).
    encoder_outputs, forward_state, backward_state = parts.encoder(
        parts.source_embedding(source), mask=source_mask)
    initial_state = keras.layers.Add(name="initial_state")([forward_state, backward_state])
    # (batch, tgt_len, units)
    decoder_states = parts.decoder_gru(parts.target_embedding(target), initial_state=initial_state)
    context, _ = parts.attention(decoder_states, encoder_outputs, values_mask=source_mask)
    y = keras.layers.Concatenate(name="state_and_context")([decoder_states, context])
    y = parts.output_dropout(parts.attentional_state(y))
    logits = float32_logits(parts.output(y))
    model = keras.Model({"english": source, "spanish": target}, logits, name="rnn_attention")
    model.parts = parts
    return model


class RNNSteps:
    """Incremental decoding for both RNN translators: the cache carries the GRU state.

    `next_fn(tokens, cache, index) -> (logits, cache)` runs one GRU step on the token at `index`;
    with attention, the encoder states and their projected keys are in the cache (computed once).

    Args:
        model: a model from `build_gru` or `build_rnn_attention` (its `parts` are used).
        fixed_shapes: bool. As `TransformerSteps`' (what XLA compiles); the GRU's cache keeps
            its shapes either way.
    """

    def __init__(self, model, fixed_shapes=False):
        self.model = model
        self.fixed_shapes = bool(fixed_shapes)
        self.parts = model.parts
        self.attentive = self.parts.attention is not None

    def encode(self, source):
        source_mask = ops.not_equal(source, 0)
        x = self.parts.source_embedding(source)
        if not self.attentive:
            return {"state": self.parts.encoder(x, mask=source_mask)}
        outputs, forward_state, backward_state = self.parts.encoder(x, mask=source_mask)
        return {"state": forward_state + backward_state, "encoder_outputs": outputs,
                "source_mask": source_mask}

    def init_cache(self, state, max_length):
        cache = {"state": state["state"]}
        if self.attentive:
            cache["encoder_outputs"] = state["encoder_outputs"]
            cache["source_mask"] = state["source_mask"]
            cache["keys"] = self.parts.attention.project_keys(state["encoder_outputs"])
        return cache

    def _output(self, decoder_states, cache):
        if not self.attentive:
            return ops.cast(self.parts.output(decoder_states), "float32"), None
        context, weights = self.parts.attention(decoder_states, cache["encoder_outputs"],
                                                values_mask=cache["source_mask"],
                                                keys=cache.get("keys"))
        y = self.parts.attentional_state(ops.concatenate([decoder_states, context], axis=-1))
        return ops.cast(self.parts.output(y), "float32"), weights

    def next_fn(self, tokens, cache, index):
        token = ops.slice(tokens, [0, index], [ops.shape(tokens)[0], 1])
        # (batch, 1, units): one GRU step from the carried state; a GRU's output is its state.
        states = self.parts.decoder_gru(self.parts.target_embedding(token),
                                        initial_state=cache["state"])
        cache = dict(cache)
        cache["state"] = states[:, -1, :]
        logits, _ = self._output(states, cache)
        return logits[:, 0, :], cache

    def attention(self, source, target_inputs, all_layers=False):
        """Attention weights (batch, 1, tgt_len, src_len), one head; with `all_layers`
        (batch, 1, 1, tgt_len, src_len), one layer; None for the attention-free GRU."""
        if not self.attentive:
            return None
        state = self.encode(source)
        states = self.parts.decoder_gru(self.parts.target_embedding(target_inputs),
                                        initial_state=state["state"])
        _, weights = self._output(states, self.init_cache(state, 0))
        return weights[:, None, None] if all_layers else weights[:, None]
