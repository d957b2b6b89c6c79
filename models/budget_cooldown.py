"""A learning rate that ends with the run's time budget: any rate, decayed to 0 over the last
part of the steps the budget is planned to allow.

Example:
>>> schedule = BudgetCooldown(1e-3, planned_steps=100, cooldown=0.2)
>>> [round(float(schedule(step)), 6) for step in (0, 80, 90, 100)]
[0.001, 0.001, 0.0005, 0.0]
>>> schedule.plan(200)  # the run turned out faster: the cooldown moves later
>>> round(float(schedule(99)), 6)
0.001
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="companion")
class BudgetCooldown(keras.optimizers.schedules.LearningRateSchedule):
    """`base`'s learning rate, times a factor that is 1 until the last `cooldown` fraction of
    `planned_steps`, then falls linearly to 0 at step `planned_steps` (and stays there).

    The planned length is a variable, not a constant of the traced training step: a callback
    that measures the run's speed moves it with `plan(steps)` while training goes on
    (`nmt.callbacks.TimeBudget`), and the compiled step reads the new value at its next call.
    A run that stops when its time is up thus ends with its learning rate near 0 whatever the
    machine's speed, which a schedule fixed in steps cannot do.

    Args:
        base: float or `LearningRateSchedule`. The rate before the cooldown (a warmup and decay
            of its own stay as they are).
        planned_steps: int >= 1. The optimizer step at which the rate reaches 0, until `plan`.
        cooldown: float in (0, 1]. The fraction of `planned_steps` over which it decays (1: from
            the first step).

    Call arguments:
        step: the optimizer's iteration count (0 for the first step).
    """

    def __init__(self, base, planned_steps, cooldown):
        if not 0 < cooldown <= 1:
            raise ValueError(f"cooldown={cooldown} must be in (0, 1]")
        if planned_steps < 1:
            raise ValueError(f"planned_steps={planned_steps} must be >= 1")
        if not isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
            if base <= 0:
                raise ValueError(f"base={base} must be > 0")
            base = float(base)
        self.base = base
        self.cooldown = float(cooldown)
        self._planned = keras.Variable(float(planned_steps), dtype="float32", trainable=False,
                                       name="planned_steps")

    @property
    def planned_steps(self):
        """The step at which the rate reaches 0 (an int)."""
        return int(round(float(ops.convert_to_numpy(self._planned))))

    def plan(self, steps):
        """Move the end of the cooldown to optimizer step `steps` (>= 1)."""
        self._planned.assign(float(max(1, int(steps))))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = self.base(step) if callable(self.base) else self.base
        length = ops.maximum(self._planned * self.cooldown, 1.0)
        factor = ops.clip((self._planned - step) / length, 0.0, 1.0)
        return ops.cast(rate, "float32") * factor

    def get_config(self):
        base = self.base
        if not isinstance(base, float):
            base = keras.saving.serialize_keras_object(base)
        return {"base": base, "planned_steps": self.planned_steps, "cooldown": self.cooldown}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["base"], dict):
            config["base"] = keras.saving.deserialize_keras_object(config["base"])
        return cls(**config)
