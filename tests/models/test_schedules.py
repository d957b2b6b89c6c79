"""models/schedules.py: the learning-rate schedules (inverse square root, cosine, constant)."""

import numpy as np
import pytest

from models.schedules import WarmupInverseSqrt, learning_rate
from nmt.config import resolve_config


def test_inverse_sqrt_warms_up_linearly_then_decays_as_one_over_sqrt_step():
    schedule = WarmupInverseSqrt(peak=1e-3, warmup_steps=100)
    values = [float(schedule(step)) for step in (0, 49, 99, 399, 9999)]
    # Steps count from 1: 1/100, 50/100, 100/100 of the peak, then sqrt(100 / 400) = 1/2, 1/10.
    np.testing.assert_allclose(values, [1e-5, 5e-4, 1e-3, 5e-4, 1e-4], rtol=1e-5)
    clone = WarmupInverseSqrt.from_config(schedule.get_config())
    assert float(clone(399)) == pytest.approx(values[3])
    with pytest.raises(ValueError, match="warmup_steps=0"):
        WarmupInverseSqrt(1e-3, 0)


def test_cosine_schedule_peaks_after_warmup_and_ends_at_zero():
    config = resolve_config("transformer", "tiny", lr_schedule="cosine", warmup_steps=10,
                            learning_rate=2e-3)
    schedule = learning_rate(config.lr_schedule, config.learning_rate, config.warmup_steps,
                             total_steps=110)
    assert float(schedule(0)) < 1e-3
    assert float(schedule(10)) == pytest.approx(2e-3, rel=1e-4)
    assert float(schedule(60)) == pytest.approx(1e-3, rel=1e-3)  # half-way down the cosine
    assert float(schedule(110)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="total number of steps"):
        learning_rate(config.lr_schedule, config.learning_rate, config.warmup_steps)


def test_constant_schedule_is_the_plain_learning_rate():
    assert learning_rate("constant", 5e-4) == 5e-4
