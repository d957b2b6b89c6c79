"""benchmarks/step_parts.py: the documented command runs and times every part it names."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # a new process
def test_step_parts_times_each_update_and_loss_of_the_demo_transformer():
    done = subprocess.run([sys.executable, "benchmarks/step_parts.py", "--preset", "small",
                           "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "optimizer update, 3,548,992 weights" in done.stdout
    times = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(times) == sorted([
        "rmsprop_update_keras_ms", "rmsprop_update_xla_ms", "adam_update_keras_ms",
        "adam_update_xla_ms", "adam_update_kernel_ms", "cross_entropy_tensorflow_ms",
        "cross_entropy_ours_ms", "argmax_keras_ms", "argmax_tensorflow_ms"])
    assert all(ms > 0 for ms in times.values())
