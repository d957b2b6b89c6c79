"""benchmarks/train_speed.py: a worker trains through `model.fit` on the batches it counts,
warmup first, until the tokens asked for (in process, on a small synthetic corpus)."""

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
