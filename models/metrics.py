"""Token-level metrics that count real target tokens exactly, whatever the batch shapes.

Keras' built-in metrics average each batch over its (padded) length before combining batches,
which weights short-sentence batches up when batches are padded per batch. These sum
`correct * weight` and `weight` over all batches, so the result is exactly
(correct real tokens) / (real tokens) and (summed cross-entropy) / (real tokens).

Example:
>>> metric = MaskedAccuracy()
>>> metric.update_state([[1, 2, 0]], [[[0, 9, 0], [0, 0, 9], [9, 0, 0]]], [[1, 1, 0]])
>>> float(metric.result())
1.0
"""

import keras
import tensorflow as tf
from keras import ops


class _TokenSum(keras.metrics.Metric):
    """Sum of a per-token value times the sample weight, divided by the sum of weights."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def per_token(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = ops.cast(self.per_token(y_true, ops.cast(y_pred, "float32")), "float32")
        weights = ops.ones_like(values) if sample_weight is None else ops.cast(sample_weight, "float32")
        self.total.assign_add(ops.sum(values * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="companion")
class MaskedAccuracy(_TokenSum):
    """Next-token accuracy over real tokens (sample weight 1), exact across batch shapes.

    Args:
        name: str. Metric name (default "accuracy").
    """

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_token(self, y_true, y_pred):
        predicted = ops.argmax(y_pred, axis=-1)
        return ops.equal(ops.cast(predicted, "int64"), ops.cast(y_true, "int64"))


@keras.saving.register_keras_serializable(package="companion")
class MaskedCrossEntropy(_TokenSum):
    """Cross-entropy (from logits) averaged over real tokens, exact across batch shapes.

    Args:
        name: str. Metric name (default "token_loss").
    """

    def __init__(self, name="token_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_token(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)


def _real_targets(y_true):
    """(batch, len) next-token ids, 0 = padding -> (tokens,) int64 ids of the real ones, in the
    row-major order `SelectTokens` uses."""
    y_true = ops.cast(y_true, "int64")
    return tf.boolean_mask(y_true, tf.not_equal(y_true, 0))


def token_cross_entropy(labels, logits, label_smoothing=0.0):
    """Per-token cross-entropy of (tokens, vocab) float32 logits against (tokens,) int ids.

    With `label_smoothing` = e the target is (1 - e) on the label plus e / vocab everywhere,
    so the loss is (1 - e) * (lse - logit[label]) + e * (lse - mean(logits)), lse being the
    log-sum-exp of the row. Same values and gradients as
    `tf.nn.sparse_softmax_cross_entropy_with_logits` (e = 0), with less work over the
    (tokens, vocab) logits: the exponentials are computed once and the gradient
    (softmax - target) is written in two passes. `benchmarks/step_parts.py` times both (numbers
    in benchmarks/README.md).
    """
    labels = tf.cast(labels, "int64")
    vocab = tf.cast(tf.shape(logits)[-1], "float32")
    smoothing = float(label_smoothing)

    @tf.custom_gradient
    def cross_entropy(logits):
        # (tokens, 1) row maxima, (tokens, vocab) shifted exponentials, (tokens,) their sums.
        top = tf.reduce_max(logits, axis=-1, keepdims=True)
        exp = tf.exp(logits - top)
        total = tf.reduce_sum(exp, axis=-1)
        log_sum_exp = tf.math.log(total) + top[:, 0]
        loss = log_sum_exp - tf.gather(logits, labels, batch_dims=1)
        if smoothing:
            uniform = log_sum_exp - tf.reduce_mean(logits, axis=-1)
            loss = (1.0 - smoothing) * loss + smoothing * uniform

        def grad(upstream):
            # d loss / d logits = upstream * (softmax - target distribution).
            gradient = exp * (upstream / total)[:, None]
            if smoothing:
                gradient = gradient - (upstream * smoothing / vocab)[:, None]
            rows = tf.range(tf.shape(labels, out_type=tf.int64)[0])
            return tf.tensor_scatter_nd_sub(gradient, tf.stack([rows, labels], axis=1),
                                            upstream * (1.0 - smoothing))

        return loss, grad

    return cross_entropy(tf.cast(logits, "float32"))


@keras.saving.register_keras_serializable(package="companion")
class TokenCrossEntropy(keras.losses.Loss):
    """Cross-entropy per real target token, for logits computed on real tokens only.

    `y_true` is (batch, len) next-token ids with 0 on padding; `y_pred` is (tokens, vocab)
    logits, one row per non-zero entry of `y_true` in row-major order (what
    `build_training_model` returns). The batch loss is the mean over its real tokens; the
    logits are cast to float32 first (they may be bfloat16 under mixed precision).

    Args:
        label_smoothing: float in [0, 1). Mix this much of a uniform distribution over the
            vocabulary into each target (0 = plain cross-entropy).
        name: str.

    Example:
    >>> import numpy as np
    >>> y_true = np.array([[1, 2, 0], [2, 0, 0]])  # 3 real tokens, 0 = padding
    >>> logits = np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 9.0], [9.0, 0.0, 0.0]], "float32")
    >>> round(float(TokenCrossEntropy()(y_true, logits)), 4)  # 3rd token wrong: (0 + 0 + 9) / 3
    3.0002
    """

    def __init__(self, label_smoothing=0.0, name="token_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing} must be in [0, 1)")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        # (tokens,) losses from (tokens,) ids and (tokens, vocab) logits.
        return token_cross_entropy(_real_targets(y_true), y_pred, self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing)
        return config


@keras.saving.register_keras_serializable(package="companion")
class TokenAccuracy(_TokenSum):
    """Next-token accuracy for logits computed on real tokens only (see `TokenCrossEntropy`),
    exact across batches: correct real tokens / real tokens.

    A token is correct when its label is the row's argmax (the first maximum, as greedy decoding
    picks; TensorFlow's argmax, not Keras', which also rewrites -0.0 at every element).

    Args:
        name: str. Metric name (default "accuracy").
    """

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_token(self, y_true, y_pred):
        return tf.equal(tf.math.argmax(y_pred, axis=-1), _real_targets(y_true))

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("TokenAccuracy counts real tokens itself; got a sample_weight")
        super().update_state(y_true, y_pred)
