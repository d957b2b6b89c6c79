"""models/budget_cooldown.py: a learning rate decayed to 0 at a planned step that can move while
the traced training step runs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.budget_cooldown import BudgetCooldown
from models.schedules import WarmupInverseSqrt


def test_the_rate_is_the_base_until_the_cooldown_then_falls_linearly_to_zero_and_stays():
    schedule = BudgetCooldown(2e-3, planned_steps=100, cooldown=0.25)
    values = [float(schedule(step)) for step in (0, 75, 80, 95, 100, 150)]
    # The cooldown is the last 25 steps: (100 - step) / 25 of the base from step 75 on.
    np.testing.assert_allclose(values, [2e-3, 2e-3, 1.6e-3, 4e-4, 0.0, 0.0], rtol=1e-5)


def test_a_schedule_keeps_its_own_shape_and_is_scaled_by_the_cooldown():
    base = WarmupInverseSqrt(peak=1e-3, warmup_steps=10)
    schedule = BudgetCooldown(base, planned_steps=100, cooldown=0.5)
    assert float(schedule(4)) == pytest.approx(float(base(4)))  # the warmup is untouched
    assert float(schedule(75)) == pytest.approx(float(base(75)) * 0.5, rel=1e-5)


def test_a_new_plan_reaches_the_traced_step_without_tracing_it_again():
    schedule = BudgetCooldown(1e-3, planned_steps=100, cooldown=0.2)
    rate = tf.function(lambda step: schedule(step))
    assert float(rate(tf.constant(90))) == pytest.approx(5e-4)
    schedule.plan(200)  # the run is faster than planned: the cooldown moves later
    assert schedule.planned_steps == 200
    assert float(rate(tf.constant(90))) == pytest.approx(1e-3)
    assert rate.experimental_get_tracing_count() == 1


def test_an_optimizer_steps_with_the_planned_rate():
    schedule = BudgetCooldown(1e-2, planned_steps=2, cooldown=1.0)
    weight = keras.Variable(np.ones(1, "float32"))
    optimizer = keras.optimizers.SGD(schedule)
    moved = []
    for _ in range(3):  # rates 1e-2, 5e-3, then 0 at step 2
        before = float(weight.numpy()[0])
        optimizer.apply_gradients([(np.ones(1, "float32"), weight)])
        moved.append(before - float(weight.numpy()[0]))
    np.testing.assert_allclose(moved, [1e-2, 5e-3, 0.0], atol=1e-7)


def test_config_round_trip_keeps_the_plan_and_the_base_schedule():
    schedule = BudgetCooldown(WarmupInverseSqrt(1e-3, 10), planned_steps=50, cooldown=0.3)
    schedule.plan(80)
    clone = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert clone.get_config() == schedule.get_config()
    assert clone.planned_steps == 80 and isinstance(clone.base, WarmupInverseSqrt)
    assert float(clone(70)) == pytest.approx(float(schedule(70)))


@pytest.mark.parametrize("arguments, message", [
    (dict(base=1e-3, planned_steps=10, cooldown=0.0), "cooldown=0.0"),
    (dict(base=1e-3, planned_steps=10, cooldown=1.5), "cooldown=1.5"),
    (dict(base=1e-3, planned_steps=0, cooldown=0.2), "planned_steps=0"),
    (dict(base=0.0, planned_steps=10, cooldown=0.2), "base=0.0"),
])
def test_bad_arguments_are_refused_with_the_value(arguments, message):
    with pytest.raises(ValueError, match=message):
        BudgetCooldown(**arguments)
