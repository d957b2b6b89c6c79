"""Keep only the real target positions before the output layer (training speed-up)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="companion")
class SelectTokens(keras.layers.Layer):
    """Gather the vectors at the positions where `positions` is true into one flat batch of tokens.

    During training the output layer (embed_dim x vocabulary, the largest matmul of the book's
    Transformer) and the softmax then run on real target tokens only, not on padding. The
    rows come out in row-major order of `positions`, the order in which
    `tf.boolean_mask(next_tokens, mask)` lists the targets (see `models/metrics.py`).

    Call arguments:
        inputs: (batch, length, dim) vectors.
        positions: (batch, length) bool (or 0/1 ints), true at real target positions.

    Returns:
        (tokens, dim) with tokens = number of true entries in `positions`; it carries no Keras
        mask.

    Example:
    >>> import numpy as np
    >>> x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    >>> SelectTokens()(x, np.array([[True, True, False], [True, False, False]])).shape
    TensorShape([3, 2])
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the mask of its input, returns none

    def call(self, inputs, positions):
        # (tokens, dim)
        return tf.boolean_mask(inputs, tf.cast(positions, "bool"))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, inputs_shape, positions_shape):
        return (None, inputs_shape[-1])


def float32_logits(logits):
    """The model's logits as float32 (a no-op layer in float32 precision).

    Under mixed precision the output layer computes in bfloat16/float16 (a third of the book
    Transformer's training matmuls) and its logits are cast here for the softmax and the loss.
    """
    return keras.layers.Activation("linear", dtype="float32", name="logits")(logits)


def build_training_model(model):
    """A training view of `model` whose output layer sees real target tokens only.

    `model` maps `{"english", "spanish"}` to (batch, tgt_len, vocab) logits and holds its layers
    in `model.parts` (as every builder of `models.registry` does): `parts.output_dropout`, then
    `parts.output` (the output layer), then `float32_logits`. The
    returned model shares every layer (and so every weight) with it, takes a third input
    `"loss_mask"` (batch, tgt_len) int64, 1 where the next token is real, and returns
    (tokens, vocab) logits, one row per real target token.
    Train it with `TokenCrossEntropy` / `TokenAccuracy`; save and decode with `model`.
    """
    parts = model.parts
    hidden = keras.Model(model.input, parts.output_dropout.output,
                         name=f"{model.name}_body")
    source = keras.Input(shape=(None,), dtype="int64", name="english")
    target = keras.Input(shape=(None,), dtype="int64", name="spanish")
    loss_mask = keras.Input(shape=(None,), dtype="int64", name="loss_mask")
    # (batch, tgt_len, dim) -> (tokens, dim) -> (tokens, vocab) float32 logits.
    y = hidden({"english": source, "spanish": target})
    logits = float32_logits(parts.output(SelectTokens(name="select_tokens")(y, loss_mask)))
    return keras.Model({"english": source, "spanish": target, "loss_mask": loss_mask}, logits,
                       name=f"{model.name}_training")
