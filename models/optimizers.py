"""Optimizers whose weight update runs as fused kernels.

Keras applies an optimizer as a chain of separate element-wise ops per weight (for RMSprop:
square, scale, add, assign, sqrt, divide, ...), each a full pass over memory, so on a CPU the
update is a large fixed cost of every step. Compiling the whole update with XLA fuses it into
one pass per weight, with the same arithmetic. Only the update is compiled: XLA compiles the
rest of the step once per batch shape, which costs more than it saves on a CPU. Adam and AdamW
use TensorFlow's own fused Adam kernel instead, which was faster still (the same arithmetic).
`benchmarks/step_parts.py` times Keras' update against the fused ones; the numbers are in
benchmarks/README.md.

Sparse (embedding) gradients are made dense first, which is what Keras' own update does with
them (every row's moving averages decay at every step).

Example:
>>> import numpy as np
>>> optimizer = make_optimizer("adam", 1e-3)
>>> type(optimizer).__name__
'FusedAdam'
>>> weights = keras.Variable(np.ones(3, "float32"))
>>> optimizer.apply([np.array([0.5, -2.0, 0.0], "float32")], [weights])
>>> keras.ops.convert_to_numpy(weights)  # Adam's first step: lr * sign(gradient)
array([0.999, 1.001, 1.   ], dtype=float32)
"""

import keras
import tensorflow as tf


class _FusedUpdate:
    """Mixin: run `update_step` for all weights inside one `tf.function(jit_compile=True)`.

    Falls back to Keras' own update under a multi-replica strategy (whose per-replica updates
    go through `strategy.extended.update`) and when `fused=False`.
    """

    def __init__(self, *args, fused=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused = bool(fused)
        self._fused_update = None

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self.fused or tf.distribute.get_strategy().num_replicas_in_sync > 1:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> the dense update
        if isinstance(learning_rate, keras.Variable):
            learning_rate = learning_rate.value
        learning_rate = tf.convert_to_tensor(learning_rate)
        self._fused_apply(grads, variables, learning_rate)

    def _fused_apply(self, grads, variables, learning_rate):
        """Apply `update_step` to every (tf.Variable) weight in one XLA kernel."""
        if self._fused_update is None:
            def update(grads, learning_rate):
                for grad, variable in zip(grads, variables):
                    self.update_step(grad, variable, learning_rate)
            self._fused_update = tf.function(update, jit_compile=True)
        self._fused_update(grads, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["fused"] = self.fused
        return config


class _AdamKernel(_FusedUpdate):
    """Mixin for Adam and AdamW: the fused update is TensorFlow's own Adam kernel
    (`ResourceApplyAdam`, one pass over each weight and its two moments), the arithmetic of
    Keras' `Adam.update_step` (AdamW's decay is applied before it, by Keras). On 2 AVX2 cores it
    took 2.5-2.6 ms for the demo Transformer's 3.5M weights against 3.1-3.7 ms in XLA's kernel
    (`benchmarks/step_parts.py --preset small`, three runs). AMSGrad keeps the XLA update."""

    def _fused_apply(self, grads, variables, learning_rate):
        if self.amsgrad:
            return super()._fused_apply(grads, variables, learning_rate)
        scalars = {}  # the kernel's scalar arguments, once per weight dtype
        for grad, variable in zip(grads, variables):
            dtype = variable.dtype
            if dtype not in scalars:
                step = tf.cast(self.iterations + 1, dtype)
                beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
                scalars[dtype] = dict(
                    beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                    lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                    epsilon=tf.cast(self.epsilon, dtype))
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle, grad=tf.cast(grad, dtype),
                **scalars[dtype])


@keras.saving.register_keras_serializable(package="companion")
class FusedAdam(_AdamKernel, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with the update in TensorFlow's fused Adam kernel (`fused=True`)."""


@keras.saving.register_keras_serializable(package="companion")
class FusedAdamW(_AdamKernel, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with the update in TensorFlow's fused Adam kernel
    (`fused=True`)."""


@keras.saving.register_keras_serializable(package="companion")
class FusedRMSprop(_FusedUpdate, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` with the update compiled into one fused kernel (`fused=True`)."""


OPTIMIZERS = {"adam": FusedAdam, "adamw": FusedAdamW, "rmsprop": FusedRMSprop}


def make_optimizer(name, learning_rate, fused=True, **kwargs):
    """The optimizer `name` ("adam", "adamw", "rmsprop") at `learning_rate` (a float or a
    `keras.optimizers.schedules.LearningRateSchedule`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r} is not one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate=learning_rate, fused=fused, **kwargs)
