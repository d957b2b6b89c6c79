"""Where a decoding step's time goes: TensorFlow profiler op times of our decoder on a run.

Translates the first `--sources` test sources of a run with `Translator.hypotheses` (what
`nmt translate` calls), greedy or beam 4, `--batch` sentences at a time, once untimed (tracing),
then once under `tf.profiler`. Printed: sentences/s of the profiled pass, the op time per
decoding step by op type and of the largest ops (self time summed over threads), and how many
graph ops one step runs (the decode loop's body, constants and identities left out). For beam
search it then times TensorFlow's `tf.math.top_k` against `models.decoding.top_k_by_chunks`
on a step's (batch, beams x vocabulary) scores. `--fixed-shapes` decodes with the caches of one
shape that XLA compiles (`TransformerSteps(model, fixed_shapes=True)`) instead of the growing
ones.

Run:
    python benchmarks/decode_profile.py --run runs/ct2-small [--decode beam] [--batch 32]
The last line printed is one JSON object.
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from benchmarks.profile_step import op_table  # noqa: E402
from data.corpus import group_references  # noqa: E402
from models.decoding import top_k_by_chunks  # noqa: E402
from models.registry import MODELS  # noqa: E402
from nmt.config import Decoding  # noqa: E402
from nmt.training import prepare_splits  # noqa: E402
from nmt.translator import Translator  # noqa: E402

# The op each decoding runs once a step: its count is the number of steps.
STEP_OPS = {"greedy": "ArgMax", "beam": "LogSoftmax"}
NOT_COUNTED = {"Const", "Identity", "NoOp"}


def body_ops(translator, max_length, options):
    """Graph ops in the decode loop's body (constants and identities left out)."""
    function = translator._decode_function(max_length, options).get_concrete_function()
    bodies = [f for f in function.graph.as_graph_def().library.function
              if "body" in f.signature.name]
    return max(sum(node.op not in NOT_COUNTED for node in body.node_def) for body in bodies)


def top_k_microseconds(function, rows, width, k, repeats=100):
    """Microseconds per call of `function(values) -> (values, indices)` on (rows, width)
    random floats, in a `tf.while_loop` (a decoding step's setting), an add's cost included."""
    values = tf.random.stateless_normal([rows, width], seed=[0, 1])

    @tf.function
    def run(values):
        def body(i, total):
            found = function(values + tf.cast(i, tf.float32))[1]
            return i + 1, total + tf.reduce_sum(tf.cast(found, tf.float32))
        return tf.while_loop(lambda i, _: i < repeats, body, (0, 0.0))[1]

    run(values)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        run(values)
        best = min(best, (time.perf_counter() - started) / repeats)
    return 1e6 * best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=os.path.join(ROOT, "runs", "ct2-small"),
                        help="a Transformer run folder")
    parser.add_argument("--decode", choices=sorted(STEP_OPS), default="greedy")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--fixed-shapes", action="store_true",
                        help="the caches of one shape that XLA compiles")
    args = parser.parse_args(argv)

    translator = Translator.load(args.run)
    if args.fixed_shapes:
        translator.steps = MODELS[translator.config.model].steps(translator.model,
                                                                 fixed_shapes=True)
    sources = list(group_references(prepare_splits(translator.config, verbose=False).test))
    sources = sources[: args.sources]
    beams = 4 if args.decode == "beam" else 1
    decoding = Decoding(decode=args.decode, batch_size=args.batch,
                        **({"num_beams": beams} if args.decode == "beam" else {}))
    translator.hypotheses(sources[: args.batch], decoding)  # traced once
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        translator.hypotheses(sources, decoding)
        seconds = time.perf_counter() - started
        tf.profiler.experimental.stop()
        rows = [row for row in op_table(glob.glob(os.path.join(
            logdir, "**", "*.xplane.pb"), recursive=True)[0]) if row["type"] != "IDLE"]

    steps = int(sum(row["occurrences"] or 0 for row in rows
                    if row["type"] == STEP_OPS[args.decode] and "while" in row["operation"]))
    by_type = collections.Counter()
    for row in rows:
        by_type[row["type"]] += (row["total_self_time"] or 0) / 1000 / steps  # ms a step
    busy = sum(by_type.values())
    options = {"strategy": args.decode, **({"num_beams": beams, "alpha": 0.6}
                                          if args.decode == "beam" else {})}
    ops = body_ops(translator, translator.config.sequence_length, options)
    print(f"run: {args.run}; {args.decode}, batch {args.batch}, {len(sources):,} test sources, "
          f"{'fixed-shape' if args.fixed_shapes else 'growing'} caches: "
          f"{len(sources) / seconds:,.1f} sentences/s under the profiler, {steps:,} decoding "
          f"steps, {1000 * busy:,.0f} us of op time a step, {ops} graph ops a step")
    print(f"\n{'op type':32s} {'us/step':>8s} {'share':>6s}")
    for kind, ms in by_type.most_common(12):
        print(f"{kind:32s} {1000 * ms:8.1f} {100 * ms / busy:5.1f}%")
    print(f"\n{'largest ops':80s} {'us/step':>8s}")
    for row in sorted(rows, key=lambda r: -(r["total_self_time"] or 0))[:12]:
        print(f"{row['operation'][-80:]:80s} {row['total_self_time'] / steps:8.1f}")
    top_k = {}
    if args.decode == "beam":
        width = beams * translator.target_tokenizer.vocab_size
        top_k = {"tf.math.top_k": top_k_microseconds(
                     lambda v: tf.math.top_k(v, beams), args.batch, width, beams),
                 "top_k_by_chunks": top_k_microseconds(
                     lambda v: top_k_by_chunks(v, beams, width), args.batch, width, beams)}
        print(f"\ntop-{beams} of ({args.batch}, {width:,}) scores, a step's: "
              + ", ".join(f"{name} {us:,.1f} us" for name, us in top_k.items()))
    print(json.dumps({"run": args.run, "decode": args.decode, "batch": args.batch,
                      "fixed_shapes": args.fixed_shapes, "sources": len(sources),
                      "steps": steps, "ops_per_step": ops,
                      "us_per_step": round(1000 * busy, 1),
                      "by_type_us_per_step": {k: round(1000 * v, 1)
                                              for k, v in by_type.most_common()},
                      "top_k_us": {k: round(v, 1) for k, v in top_k.items()}}))


if __name__ == "__main__":
    main()
