"""Learning-rate schedules: constant (the book), warmup + inverse square root, warmup + cosine.

Example:
>>> schedule = WarmupInverseSqrt(peak=1e-3, warmup_steps=100)
>>> [round(float(schedule(step)), 6) for step in (0, 49, 99, 399)]
[1e-05, 0.0005, 0.001, 0.0005]
"""

import keras
from keras import ops

from nmt.config import LR_SCHEDULE_CHOICES


@keras.saving.register_keras_serializable(package="companion")
class WarmupInverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak` over `warmup_steps`, then peak * sqrt(warmup_steps / step)
    ("Attention is all you need", section 5.3, with the peak given directly).

    Args:
        peak: float. Learning rate at the end of the warmup.
        warmup_steps: int >= 1. Steps of linear warmup (step counts from 1).
    """

    def __init__(self, peak, warmup_steps):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps={warmup_steps} must be >= 1")
        if peak <= 0:
            raise ValueError(f"peak={peak} must be > 0")
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup = ops.cast(self.warmup_steps, "float32")
        return self.peak * ops.minimum(step / warmup, ops.sqrt(warmup / step))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def learning_rate(config, total_steps=None):
    """The learning rate (float or schedule) for `config`; cosine decays to 0 at `total_steps`."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "inverse_sqrt":
        return WarmupInverseSqrt(config.learning_rate, config.warmup_steps)
    if config.lr_schedule == "cosine":
        if not total_steps:
            raise ValueError("lr_schedule='cosine' needs the run's total number of steps")
        warmup = min(config.warmup_steps, total_steps - 1)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else config.learning_rate, decay_steps=max(1, total_steps - warmup),
            warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)
    raise ValueError(f"lr_schedule={config.lr_schedule!r} is not one of {LR_SCHEDULE_CHOICES}")
