"""RNN translators: the book's GRU encoder-decoder and a GRU with Luong attention."""

import keras
from keras import ops

from models.luong_attention import LuongAttention
from models.token_selection import float32_logits


def build_gru(config, source_vocab_size=None, target_vocab_size=None):
    """The book's GRU seq2seq: bidirectional GRU encoder summed into one vector, GRU decoder.

    The decoder sees only that one vector (its initial state) about the source: no attention.
    Book sizes: embed 256, units 1024, 34,869,912 parameters at vocabulary 15,000.
    """
    source_vocab_size = source_vocab_size or config.vocab_size
    target_vocab_size = target_vocab_size or config.vocab_size
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    x = keras.layers.Embedding(source_vocab_size, config.embed_dim, mask_zero=True,
                               name="source_embedding")(source)
    # (batch, units): forward and backward final states, summed.
    encoded = keras.layers.Bidirectional(keras.layers.GRU(config.rnn_units), merge_mode="sum",
                                         name="encoder")(x)
    y = keras.layers.Embedding(target_vocab_size, config.embed_dim, mask_zero=True,
                               name="target_embedding")(target)
    # (batch, tgt_len, units)
    y = keras.layers.GRU(config.rnn_units, return_sequences=True, name="decoder_gru")(
        y, initial_state=encoded)
    y = keras.layers.Dropout(config.dropout, name="output_dropout")(y)
    logits = float32_logits(keras.layers.Dense(target_vocab_size, name="output")(y))
    return keras.Model({"english": source, "spanish": target}, logits, name="gru")


def build_rnn_attention(config, source_vocab_size=None, target_vocab_size=None):
    """GRU encoder-decoder with Luong ("general") attention over all encoder states.

    Encoder: bidirectional GRU returning every state (directions summed). Decoder: GRU started
    from the encoder's final states; after each step its state attends over all encoder states
    (Luong et al. 2015, multiplicative score, no input feeding, so training runs the decoder
    GRU over the whole target at once). Output layer over [decoder state; context]:
    `tanh(W_c [h_t; c_t])`, dropout, then the vocabulary logits.
    """
    source_vocab_size = source_vocab_size or config.vocab_size
    target_vocab_size = target_vocab_size or config.vocab_size
    units = config.rnn_units
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    source_mask = ops.not_equal(source, 0)
    x = keras.layers.Embedding(source_vocab_size, config.embed_dim, name="source_embedding")(source)
    # (batch, src_len, units) and the two final states (batch, units).
    encoder_outputs, forward_state, backward_state = keras.layers.Bidirectional(
        keras.layers.GRU(units, return_sequences=True, return_state=True), merge_mode="sum",
        name="encoder")(x, mask=source_mask)
    initial_state = keras.layers.Add(name="initial_state")([forward_state, backward_state])
    y = keras.layers.Embedding(target_vocab_size, config.embed_dim, name="target_embedding")(target)
    # (batch, tgt_len, units)
    decoder_states = keras.layers.GRU(units, return_sequences=True, name="decoder_gru")(
        y, initial_state=initial_state)
    context, _ = LuongAttention(units, name="attention")(decoder_states, encoder_outputs,
                                                         values_mask=source_mask)
    y = keras.layers.Concatenate(name="state_and_context")([decoder_states, context])
    y = keras.layers.Dense(units, activation="tanh", name="attentional_state")(y)
    y = keras.layers.Dropout(config.dropout, name="output_dropout")(y)
    logits = float32_logits(keras.layers.Dense(target_vocab_size, name="output")(y))
    return keras.Model({"english": source, "spanish": target}, logits, name="rnn_attention")


class RNNSteps:
    """Incremental decoding for both RNN translators: the cache carries the GRU state.

    `next_fn(tokens, cache, index) -> (logits, cache)` runs one GRU step on the token at `index`;
    with attention, the encoder states and their projected keys are in the cache (computed once).
    """

    def __init__(self, model):
        self.model = model
        self.attentive = any(layer.name == "attention" for layer in model.layers)
        self.source_embedding = model.get_layer("source_embedding")
        self.target_embedding = model.get_layer("target_embedding")
        self.encoder = model.get_layer("encoder")
        self.decoder_gru = model.get_layer("decoder_gru")
        self.output_layer = model.get_layer("output")
        if self.attentive:
            self.attention_layer = model.get_layer("attention")
            self.attentional_state = model.get_layer("attentional_state")

    def encode(self, source):
        source_mask = ops.not_equal(source, 0)
        x = self.source_embedding(source)
        if not self.attentive:
            return {"state": self.encoder(x, mask=source_mask)}
        outputs, forward_state, backward_state = self.encoder(x, mask=source_mask)
        return {"state": forward_state + backward_state, "encoder_outputs": outputs,
                "source_mask": source_mask}

    def init_cache(self, state, max_length):
        cache = {"state": state["state"]}
        if self.attentive:
            cache["encoder_outputs"] = state["encoder_outputs"]
            cache["source_mask"] = state["source_mask"]
            cache["keys"] = self.attention_layer.project_keys(state["encoder_outputs"])
        return cache

    def _output(self, decoder_states, cache):
        if not self.attentive:
            return ops.cast(self.output_layer(decoder_states), "float32"), None
        context, weights = self.attention_layer(decoder_states, cache["encoder_outputs"],
                                                values_mask=cache["source_mask"],
                                                keys=cache.get("keys"))
        y = self.attentional_state(ops.concatenate([decoder_states, context], axis=-1))
        return ops.cast(self.output_layer(y), "float32"), weights

    def next_fn(self, tokens, cache, index):
        token = ops.slice(tokens, [0, index], [ops.shape(tokens)[0], 1])
        # (batch, 1, units): one GRU step from the carried state; a GRU's output is its state.
        states = self.decoder_gru(self.target_embedding(token), initial_state=cache["state"])
        cache = dict(cache)
        cache["state"] = states[:, -1, :]
        logits, _ = self._output(states, cache)
        return logits[:, 0, :], cache

    def attention(self, source, target_inputs):
        """Attention weights (batch, 1, tgt_len, src_len); None for the attention-free GRU."""
        if not self.attentive:
            return None
        state = self.encode(source)
        states = self.decoder_gru(self.target_embedding(target_inputs), initial_state=state["state"])
        _, weights = self._output(states, self.init_cache(state, 0))
        return weights[:, None]
