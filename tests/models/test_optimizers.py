"""models/optimizers.py: the fused optimizer update (TensorFlow's Adam kernel for Adam and
AdamW, XLA for RMSprop and AMSGrad) equals Keras' own; the optimizers round-trip through their
config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import OPTIMIZERS, make_optimizer


@pytest.mark.parametrize("name, options", [(name, {}) for name in sorted(OPTIMIZERS)]
                         + [("adam", {"amsgrad": True}), ("adamw", {"beta_1": 0.8})])
def test_fused_optimizer_update_equals_keras_update_on_the_dense_gradient(name, options):
    # Three steps on an embedding (sparse gradient, a repeated id) and a dense weight: the fused
    # update equals Keras' own update given the same gradients made dense. (Given the sparse
    # pieces, Keras squares a repeated row's pieces one by one in Adam/RMSprop's second
    # moment: the sum of squares, not the square of the row's gradient.)
    def run(fused):
        keras.utils.set_random_seed(0)
        embedding = keras.layers.Embedding(10, 4)
        dense = keras.layers.Dense(3)
        ids = np.array([[1, 2, 2, 7]])
        optimizer = make_optimizer(name, 0.01, fused=fused, **options)
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(dense(embedding(ids)) ** 2)
            variables = embedding.trainable_variables + dense.trainable_variables
            grads = tape.gradient(loss, variables)
            assert isinstance(grads[0], tf.IndexedSlices)
            optimizer.apply(grads if fused else [tf.convert_to_tensor(g) for g in grads],
                            variables)
        return [v.numpy() for v in variables]

    for fused, plain in zip(run(True), run(False)):
        np.testing.assert_allclose(fused, plain, atol=1e-6)


def test_fused_optimizer_config_round_trips():
    optimizer = make_optimizer("adamw", 0.5, weight_decay=0.01)
    clone = optimizer.__class__.from_config(optimizer.get_config())
    assert clone.fused and clone.get_config() == optimizer.get_config()
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        make_optimizer("sgd", 0.1)
