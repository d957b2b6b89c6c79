"""Where a training step's time goes: TensorFlow profiler op times, grouped by op type.

Trains a model preset with this project's training path (token selection, fused loss and
optimizer, the config's precision) on one realistic synthetic batch (64 sentences, source and
target lengths drawn from 4-8 and 5-10 tokens, like the corpus), then profiles `--steps` steps
and prints the self time per step of each op type and of the largest ops. Matmul ops are
`_MklMatMul`, `_MklBatchMatMulV2`, `_MklNativeFusedMatMul` and `_MklEinsum` (oneDNN).

Run:
    python benchmarks/profile_step.py [--model transformer --preset book] [--precision float32]
The last line printed is one JSON object: {"ms_per_step", "matmul_share", "by_type": {...}}.
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nmt.config import MODEL_CHOICES, PRESET_CHOICES  # noqa: E402  (after the path insert)

MATMUL_OPS = {"_MklMatMul", "_MklBatchMatMulV2", "_MklNativeFusedMatMul", "_MklEinsum", "MatMul",
              "BatchMatMulV2", "Einsum", "_MklFusedBatchMatMulV2"}


def op_table(xplane_path):
    """Rows of the profiler's framework_op_stats table (one dict per op)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    data, ok = plugin.xspace_to_tools_data([xplane_path], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"could not read the profile {xplane_path}")
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    columns = [c["id"] for c in table["cols"]]
    return [dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]]))
            for row in table["rows"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="transformer", choices=MODEL_CHOICES)
    parser.add_argument("--preset", default="book", choices=PRESET_CHOICES)
    parser.add_argument("--precision", default=None,
                        help="float32 | mixed_bfloat16 | auto (default: the preset's)")
    parser.add_argument("--steps", type=int, default=10, help="profiled steps")
    parser.add_argument("--vocab", type=int, default=15000, help="vocabulary size per language")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from nmt.config import resolve_config
    from models.token_selection import build_training_model
    from nmt.hardware import build_precision, resolve_precision
    from nmt.training import compile_model
    from nmt.translator import build_model

    config = resolve_config(args.model, args.preset, precision=args.precision)  # None: preset's
    config.precision = resolve_precision(config.precision)
    keras.utils.set_random_seed(0)
    with build_precision(config.precision):
        model = build_training_model(build_model(config, args.vocab, args.vocab))
    compile_model(model, config)

    rng = np.random.default_rng(0)
    batch = 64
    source = rng.integers(1, args.vocab, (batch, 8))
    target = rng.integers(1, args.vocab, (batch, 11))
    for row, (s, t) in enumerate(zip(rng.integers(4, 9, batch), rng.integers(6, 12, batch))):
        source[row, s:] = 0
        target[row, t:] = 0
    inputs = {"english": source, "spanish": target[:, :-1],
              "loss_mask": (target[:, 1:] != 0).astype("int64")}
    next_tokens = target[:, 1:]
    for _ in range(5):  # tracing and warm-up
        model.train_on_batch(inputs, next_tokens)
    started = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(inputs, next_tokens)
    ms_per_step = 1000 * (time.perf_counter() - started) / args.steps

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            model.train_on_batch(inputs, next_tokens)
        tf.profiler.experimental.stop()
        rows = op_table(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0])

    by_type = collections.Counter()
    for row in rows:
        if row["type"] != "IDLE":
            by_type[row["type"]] += (row["total_self_time"] or 0) / args.steps / 1000
    busy = sum(by_type.values())
    matmul = sum(ms for kind, ms in by_type.items() if kind in MATMUL_OPS)
    print(f"{args.model} {args.preset}, {config.precision}: {ms_per_step:.1f} ms per step "
          f"(wall); {busy:.1f} ms of op time per step (summed over threads)")
    print(f"matmul ops: {matmul:.1f} ms ({100 * matmul / busy:.1f}% of op time)")
    print(f"\n{'op type':40s} {'ms/step':>8s} {'share':>6s}")
    for kind, ms in by_type.most_common(15):
        print(f"{kind:40s} {ms:8.2f} {100 * ms / busy:5.1f}%")
    print(f"\n{'largest ops':90s} {'ms/step':>8s}")
    rows = sorted((r for r in rows if r["type"] != "IDLE"),
                  key=lambda r: -(r["total_self_time"] or 0))
    for row in rows[:12]:
        print(f"{row['operation'][-90:]:90s} {row['total_self_time'] / args.steps / 1000:8.2f}")
    print(json.dumps({"ms_per_step": round(ms_per_step, 1), "op_ms_per_step": round(busy, 1),
                      "matmul_share": round(matmul / busy, 3),
                      "by_type": {k: round(v, 2) for k, v in by_type.most_common()}}))


if __name__ == "__main__":
    main()
