"""Learning-rate schedules: constant (the book), warmup + inverse square root, warmup + cosine.

Example:
>>> schedule = WarmupInverseSqrt(peak=1e-3, warmup_steps=100)
>>> [round(float(schedule(step)), 6) for step in (0, 49, 99, 399)]
[1e-05, 0.0005, 0.001, 0.0005]
"""

import keras
from keras import ops



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


SCHEDULE_CHOICES = ("constant", "inverse_sqrt", "cosine")


def learning_rate(schedule, peak, warmup_steps=0, total_steps=None):
    """The learning rate (a float or a schedule) for `schedule`.

    Args:
        schedule: "constant" (the book: `peak` throughout), "inverse_sqrt" (`WarmupInverseSqrt`)
            or "cosine" (linear warmup, then cosine decay to 0 at `total_steps`).
        peak: float. The learning rate (the peak, with a warmup).
        warmup_steps: int. Steps of linear warmup.
        total_steps: int. The run's length in steps; needed by "cosine".

    Example:
    >>> learning_rate("constant", 1e-3)
    0.001
    >>> round(float(learning_rate("cosine", 1e-3, warmup_steps=10, total_steps=110)(10)), 6)
    0.001
    """
    if schedule == "constant":
        return peak
    if schedule == "inverse_sqrt":
        return WarmupInverseSqrt(peak, warmup_steps)
    if schedule == "cosine":
        if not total_steps:
            raise ValueError("schedule='cosine' needs the run's total number of steps")
        warmup = min(warmup_steps, total_steps - 1)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else peak, decay_steps=max(1, total_steps - warmup),
            warmup_target=peak if warmup else None, warmup_steps=warmup)
    raise ValueError(f"schedule={schedule!r} is not one of {SCHEDULE_CHOICES}")
