"""benchmarks/train_speed.py: a worker trains through `model.fit` on the batches it counts,
warmup first, until the tokens asked for (in process, on a small synthetic corpus); the
`xla_adam` variant swaps the optimizer's update."""

import importlib.util
import json
import os

import numpy as np
import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "train_speed", os.path.join(ROOT, "benchmarks", "train_speed.py"))
train_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_speed)


def _write_ids(folder, name="demo_transformer"):
    """Random 0-padded ids in the file the workers of model `name` read; their real tokens."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, rows in (("train", 96), ("val", 32)):
        source, target = rng.integers(4, 40, (rows, 8)), rng.integers(4, 40, (rows, 9))
        for row, (s, t) in enumerate(zip(rng.integers(2, 9, rows), rng.integers(3, 10, rows))):
            source[row, s:], target[row, t:] = 0, 0
        arrays[f"{split}_src"], arrays[f"{split}_tgt"] = source, target
    np.savez(train_speed.data_file(str(folder), name), vocab=np.array([40, 40]), **arrays)


def _run(folder, capsys, variant, steps=3, warmup=2, tokens=0):
    train_speed.worker(str(folder), "demo_transformer", variant, steps, warmup, tokens)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_a_worker_times_the_steps_after_its_warmup_and_stops_at_the_tokens_asked(
        tmp_path, capsys):
    _write_ids(tmp_path)
    by_steps = _run(tmp_path, capsys, "spe1", steps=3, warmup=2)
    assert by_steps["steps"] == 5 and by_steps["tokens_per_s"] > 0
    # At equal data: as many steps as it takes to see the tokens (here those 5 steps saw).
    one = _run(tmp_path, capsys, "spe1", tokens=by_steps["tokens_seen"])
    several = _run(tmp_path, capsys, "default", tokens=by_steps["tokens_seen"])  # 16 a call
    assert one["steps"] == several["steps"] == 5
    assert one["tokens_seen"] == several["tokens_seen"] == by_steps["tokens_seen"]
    # The same math, however many steps a call: the same validation accuracy.
    assert one["val_accuracy"] == several["val_accuracy"]


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_the_xla_adam_variant_trains_the_same_steps_with_the_xla_update(tmp_path, capsys,
                                                                         monkeypatch):
    from models.optimizers import _FusedUpdate

    xla_calls = []
    xla_apply = _FusedUpdate._fused_apply
    monkeypatch.setattr(_FusedUpdate, "_fused_apply",
                        lambda self, *args: xla_calls.append(1) or xla_apply(self, *args))
    _write_ids(tmp_path)
    kernel = _run(tmp_path, capsys, "spe1", steps=3, warmup=2)
    assert not xla_calls  # Adam's own kernel: the default
    xla = _run(tmp_path, capsys, "spe1+xla_adam", steps=3, warmup=2)
    assert xla_calls  # traced into the training step
    assert xla["steps"] == kernel["steps"] == 5
    # The same arithmetic (float rounding apart): the same validation accuracy.
    assert xla["val_accuracy"] == pytest.approx(kernel["val_accuracy"], abs=0.02)
