"""benchmarks/step_parts.py: the documented command times every part it names (in process)."""

import importlib.util
import json
import os
import sys

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "step_parts", os.path.join(ROOT, "benchmarks", "step_parts.py"))
step_parts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(step_parts)


@pytest.mark.slow  # builds two Transformers and compiles XLA kernels: about 5 s
def test_step_parts_times_each_update_and_loss_of_the_demo_transformer(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["step_parts.py", "--preset", "small", "--repeats", "1"])
    step_parts.main()
    out = capsys.readouterr().out
    assert "optimizer update, 3,548,992 weights" in out
    times = json.loads(out.strip().splitlines()[-1])
    assert sorted(times) == sorted([
        "rmsprop_update_keras_ms", "rmsprop_update_xla_ms", "adam_update_keras_ms",
        "adam_update_xla_ms", "adam_update_kernel_ms", "cross_entropy_tensorflow_ms",
        "cross_entropy_ours_ms", "argmax_keras_ms", "argmax_tensorflow_ms"])
    assert all(ms > 0 for ms in times.values())
