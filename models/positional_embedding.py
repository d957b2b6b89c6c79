"""The book's learned positional embedding: token embedding + position embedding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="companion")
class PositionalEmbedding(keras.layers.Layer):
    """Token embedding plus a learned embedding of each position (the book's layer).

    Token id 0 is padding: the layer's mask (`compute_mask`) is `inputs != 0`, and
    `padding_mask(inputs)` returns the same boolean tensor for explicit use.

    Args:
        sequence_length: int. Longest sequence (number of learned positions).
        input_dim: int. Vocabulary size.
        output_dim: int. Width of the token vectors (`embed_dim`).
        use_position: bool. Add the position embedding (False gives a plain token embedding,
            which is how the book's parameter count of 14,428,824 is stated).
        tied_output: bool. The layer also serves as the output layer (tied input/output
            embeddings): `layer(vectors, reverse=True)` returns the logits
            `vectors @ token_embeddings^T + output_bias`, one per vocabulary entry.

    Call arguments:
        inputs: (batch, length) int token ids, length <= sequence_length - start_index.
        start_index: int or scalar tensor. Position of the first token (used when decoding
            one token at a time: the token at step `i` gets position `i`).
        reverse: bool. With `tied_output`: `inputs` are (..., output_dim) vectors and the
            result is (..., input_dim) logits.

    Example:
    >>> import numpy as np
    >>> layer = PositionalEmbedding(sequence_length=4, input_dim=10, output_dim=8)
    >>> ids = np.array([[3, 4, 0, 0], [5, 6, 7, 0]])
    >>> tuple(layer(ids).shape)
    (2, 4, 8)
    >>> keras.ops.convert_to_numpy(layer.padding_mask(ids))
    array([[ True,  True, False, False],
           [ True,  True,  True, False]])

    With `tied_output=True` the same token vectors score vectors against the vocabulary:

    >>> tied = PositionalEmbedding(sequence_length=4, input_dim=10, output_dim=8,
    ...                            tied_output=True)
    >>> tuple(tied(tied(ids), reverse=True).shape)  # (batch, length, input_dim) logits
    (2, 4, 10)
    """

    def __init__(self, sequence_length, input_dim, output_dim, use_position=True,
                 tied_output=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("sequence_length", sequence_length), ("input_dim", input_dim),
                            ("output_dim", output_dim)):
            if int(value) < 1:
                raise ValueError(f"{name}={value} must be a positive integer")
        self.sequence_length = int(sequence_length)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.use_position = bool(use_position)
        self.tied_output = bool(tied_output)
        self.token_embeddings = keras.layers.Embedding(
            self.input_dim, self.output_dim, name="token_embedding", dtype=self.dtype_policy
        )
        self.position_embeddings = None
        if self.use_position:
            self.position_embeddings = keras.layers.Embedding(
                self.sequence_length, self.output_dim, name="position_embedding",
                dtype=self.dtype_policy,
            )
        self.supports_masking = True

    def build(self, input_shape=None):
        self.token_embeddings.build((None, None))
        if self.position_embeddings is not None:
            self.position_embeddings.build((None,))
        if self.tied_output:
            self.output_bias = self.add_weight(shape=(self.input_dim,), initializer="zeros",
                                               name="output_bias")
        self.built = True

    def call(self, inputs, start_index=0, reverse=False):
        if reverse:
            if not self.tied_output:
                raise ValueError("reverse=True needs a layer built with tied_output=True")
            # (..., output_dim) @ (output_dim, input_dim) -> (..., input_dim) logits.
            embeddings = ops.cast(self.token_embeddings.embeddings, self.compute_dtype)
            logits = ops.matmul(inputs, ops.transpose(embeddings))
            return logits + ops.cast(self.output_bias, self.compute_dtype)
        # (batch, length, output_dim)
        embedded = self.token_embeddings(inputs)
        if self.position_embeddings is None:
            return embedded
        length = ops.shape(inputs)[-1]
        positions = ops.arange(length) + ops.cast(start_index, "int32")
        return embedded + self.position_embeddings(positions)[None, :, :]

    def compute_mask(self, inputs, mask=None):
        if keras.backend.is_float_dtype(inputs.dtype):  # reverse=True: vectors in, mask passes
            return mask
        return self.padding_mask(inputs)

    @staticmethod
    def padding_mask(inputs):
        """(batch, length) bool: True on real tokens, False on padding (id 0)."""
        return ops.not_equal(inputs, 0)

    def compute_output_spec(self, inputs, start_index=0, reverse=False):
        # (batch, length) ids -> (batch, length, output_dim) vectors; reverse=True:
        # (..., output_dim) vectors -> (..., input_dim) logits.
        if reverse:
            shape, dtype = tuple(inputs.shape[:-1]) + (self.input_dim,), self.compute_dtype
        else:
            shape, dtype = tuple(inputs.shape) + (self.output_dim,), self.compute_dtype
        return keras.KerasTensor(shape, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({
            "sequence_length": self.sequence_length,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "use_position": self.use_position,
            "tied_output": self.tied_output,
        })
        return config
