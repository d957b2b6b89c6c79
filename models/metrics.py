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
