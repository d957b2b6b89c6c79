"""The paper's fixed sinusoidal positional encoding (Vaswani et al., 2017, section 3.5)."""

import numbers

import keras
from keras import ops


def _check_arguments(length, depth, max_wavelength):
    # Sizes are checked when they are Python ints (inside a traced function they may be tensors).
    if isinstance(length, numbers.Integral) and length < 0:
        raise ValueError(f"length={length} must be a non-negative integer")
    if isinstance(depth, numbers.Integral) and depth < 1:
        raise ValueError(f"depth={depth} must be a positive integer")
    if not float(max_wavelength) > 1.0:
        raise ValueError(f"max_wavelength={max_wavelength} must be > 1")


def sinusoidal_encoding(length, depth, max_wavelength=10000.0, start_index=0, dtype="float32"):
    """(length, depth) sinusoidal encoding: sines in even columns, cosines in odd columns.

    `PE[pos, 2i] = sin(pos / max_wavelength ** (2i / depth))` and
    `PE[pos, 2i + 1] = cos(pos / max_wavelength ** (2i / depth))`. Column pair `(2i, 2i + 1)`
    is a point turning on a circle at its own frequency, so `PE[pos + k]` is a fixed rotation
    of `PE[pos]` for every `pos`. Nothing is learned.

    Args:
        length: int. Number of positions.
        depth: int. Width of each encoding vector (`embed_dim`); an odd depth ends with a sine.
        max_wavelength: float. Frequencies run from 1 down to 1 / max_wavelength (10,000 in
            the paper), so wavelengths run from 2 pi to about 2 pi x max_wavelength.
        start_index: int or scalar tensor. Position of the first row (for one-token decoding).
        dtype: str. Output dtype.

    Example:
    >>> pe = sinusoidal_encoding(length=3, depth=4)
    >>> tuple(pe.shape)
    (3, 4)
    >>> [float(v) for v in pe[0]]  # position 0: sin 0 = 0, cos 0 = 1
    [0.0, 1.0, 0.0, 1.0]
    """
    _check_arguments(length, depth, max_wavelength)
    # (length, 1) positions and (depth,) frequencies; both columns of a pair share a frequency.
    positions = ops.cast(ops.arange(length) + ops.cast(start_index, "int32"), "float32")[:, None]
    pair = ops.cast(ops.arange(depth) // 2, "float32")
    frequencies = ops.power(float(max_wavelength), -2.0 * pair / float(depth))
    # (length, depth)
    angles = positions * frequencies[None, :]
    is_cosine = ops.cast(ops.arange(depth) % 2, "bool")[None, :]
    return ops.cast(ops.where(is_cosine, ops.cos(angles), ops.sin(angles)), dtype)


@keras.saving.register_keras_serializable(package="companion")
class SinusoidalEncoding(keras.layers.Layer):
    """Returns the sinusoidal encoding for its inputs' positions, to add to token embeddings.

    Like keras-hub's `SinePositionEncoding`: the layer has no weights; `call` returns the
    encoding broadcast to the input shape, and the model adds it:
    `x = token_embedding(ids); x = x + SinusoidalEncoding()(x)`.

    Args:
        max_wavelength: float. Longest wavelength (10,000 in the paper).

    Call arguments:
        inputs: (batch, length, depth) embeddings (only the shape is read).
        start_index: int or scalar tensor. Position of `inputs[:, 0]`.

    Example:
    >>> import numpy as np
    >>> embeddings = np.zeros((2, 4, 8), "float32")
    >>> encoding = SinusoidalEncoding()(embeddings)
    >>> tuple(encoding.shape)
    (2, 4, 8)
    >>> x = embeddings + encoding  # what the model does
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        _check_arguments(0, 1, max_wavelength)
        self.max_wavelength = float(max_wavelength)
        self.built = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        # (length, depth), broadcast to (batch, length, depth)
        encoding = sinusoidal_encoding(shape[-2], shape[-1], self.max_wavelength,
                                       start_index=start_index, dtype=self.compute_dtype)
        return ops.broadcast_to(encoding, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
