"""Multi-worker training on this machine: one process on both cores against two single-core
workers (`--strategy multiworker`, two processes on 127.0.0.1), and what N machines would gain.

Measured, side by side in one run:
  one:  `nmt train` in one process using every core (TensorFlow's own threads);
  two:  two `nmt train --strategy multiworker` workers of one cluster, each pinned to one core
        (taskset, one TensorFlow thread), the same global batch;
  both: real target tokens per second of training (the second epoch: the first traces), and
        the time of one all-reduce of the model's gradient (every trainable float32 weight) between
        the two workers, timed alone in a two-process cluster on the same cores.

Then an estimate for N machines from the measured numbers: each machine computes a step of the
same per-machine batch in the one-process step time `t`, and a ring all-reduce of G gradient
bytes costs 2 (N - 1) / N * G / bandwidth, not overlapped with compute (an upper bound on the
cost: Keras all-reduces after the backward pass). Speed-up = N t / (t + all-reduce time), the
global batch N times larger (scale the learning rate: docs/multiworker.md).

Run:
    python benchmarks/multiworker.py [--preset small] [--steps 30] [--batch-size 64]
        [--max-pairs 20000] [--quick]
The last line printed is one JSON object.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
from nmt.hardware import local_addresses, tf_config  # noqa: E402  (the checkout's)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BANDWIDTHS_GBIT = (1, 10, 25, 100)
MACHINES = (2, 4, 8, 16)

# Run in each worker of the all-reduce timing: PARAMETERS REPEATS.
ALLREDUCE_WORKER = """
import sys, time
import numpy as np
import tensorflow as tf
parameters, repeats = int(sys.argv[1]), int(sys.argv[2])
strategy = tf.distribute.MultiWorkerMirroredStrategy()
gradient = tf.constant(np.random.default_rng(0).standard_normal(parameters, dtype="float32"))

@tf.function
def all_reduce():
    return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("SUM", gradient))

all_reduce()  # trace, connect
start = time.perf_counter()
for _ in range(repeats):
    out = all_reduce()
float(strategy.experimental_local_results(out)[0][0])  # wait for the last one
print("ALLREDUCE", (time.perf_counter() - start) / repeats)
"""


def cluster_env(addresses, index, pinned):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=tf_config(addresses, index))
    if pinned:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
                   OMP_NUM_THREADS="1")
    return env


def pin(index):
    """`taskset -c CORE` for worker `index` where taskset exists."""
    cores = os.sched_getaffinity(0)
    if len(cores) < 2 or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", str(sorted(cores)[index % len(cores)])]


def run_all(commands, envs):
    processes = [subprocess.Popen(c, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for c, e in zip(commands, envs)]
    results = [(p.wait(timeout=1800), p.stdout.read(), p.stderr.read()) for p in processes]
    for code, out, err in results:
        if code != 0:
            sys.exit(f"a benchmark process failed (exit {code}):\n{out[-2000:]}\n{err[-3000:]}")
    return results


def tokens_per_second(run):
    """Real target tokens per second of the run's last epoch (and its step time)."""
    with open(os.path.join(run, "history.csv")) as f:
        last = f.read().strip().splitlines()
    header, row = last[0].split(","), last[-1].split(",")
    values = dict(zip(header, row))
    with open(os.path.join(run, "train_state.json")) as f:
        state = json.load(f)
    steps = float(values["epoch_steps"])
    seconds = float(values["epoch_seconds"])
    return (state["target_tokens_per_batch"] * steps / seconds, seconds / steps,
            state["parameters"]["total"])


def train_flags(args, out):
    return [sys.executable, "-m", "nmt", "train", "--preset", args.preset, "--max-pairs",
            str(args.max_pairs), "--epochs", "2", "--steps-per-epoch", str(args.steps),
            "--batch-size", str(args.batch_size), "--batching", "fixed", "--quiet",
            "--out", out, *(["--corpus", args.corpus] if args.corpus else [])]


def estimated_speedup(machines, step_seconds, gradient_bytes, gbit_per_s):
    """Steps of `machines` machines per one machine's step: each computes a step in
    `step_seconds`, then a ring all-reduce sends 2 (N - 1) / N of the gradient's bytes over a
    link of `gbit_per_s` (no overlap with compute, latency not counted).

    >>> estimated_speedup(1, 0.1, 8e6, 10)
    1.0
    >>> round(estimated_speedup(2, 0.1, 12.5e6, 1), 2)  # 0.1 s of all-reduce: half the gain
    1.0
    """
    reduce_seconds = 2 * (machines - 1) / machines * gradient_bytes / (gbit_per_s * 1e9 / 8)
    return machines * step_seconds / (step_seconds + reduce_seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (second epoch)")
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--max-pairs", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=20, help="all-reduces timed")
    parser.add_argument("--corpus", default="")
    parser.add_argument("--quick", action="store_true", help="tiny preset, 3 steps (tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.preset, args.steps, args.batch_size, args.max_pairs, args.repeats = \
            "tiny", 3, 32, 3000, 3
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"CPU: {cpu}, {os.cpu_count()} logical cores; preset {args.preset}, global batch "
          f"{args.batch_size}, {args.steps} timed steps")
    # The runs and the workers' own folders ($TMPDIR), removed afterwards.
    with tempfile.TemporaryDirectory(prefix="nmt-multiworker-bench-") as work:
        one = os.path.join(work, "one")
        run_all([train_flags(args, one)], [dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")])
        one_tps, one_step, parameters = tokens_per_second(one)

        two = os.path.join(work, "two")
        addresses = local_addresses(2)
        run_all([pin(i) + train_flags(args, two) + ["--strategy", "multiworker"]
                 for i in range(2)],
                [dict(cluster_env(addresses, i, pinned=True), TMPDIR=work) for i in range(2)])
        two_tps, two_step, _ = tokens_per_second(two)

        addresses = local_addresses(2)
        results = run_all(
            [pin(i) + [sys.executable, "-c", ALLREDUCE_WORKER, str(parameters),
                       str(args.repeats)] for i in range(2)],
            [cluster_env(addresses, i, pinned=True) for i in range(2)])
        allreduce = max(float(line.split()[1]) for _, out, _ in results
                        for line in out.splitlines() if line.startswith("ALLREDUCE"))

    gradient_bytes = 4 * parameters
    print("\n| run | target tokens/s | step time | all-reduce per step |")
    print("|---|---|---|---|")
    print(f"| one process, both cores | {one_tps:,.0f} | {one_step * 1000:.0f} ms | none |")
    print(f"| two workers, one core each | {two_tps:,.0f} | {two_step * 1000:.0f} ms | "
          f"{allreduce * 1000:.1f} ms ({gradient_bytes / 1e6:.1f} MB of float32 gradient, "
          "loopback) |")
    print(f"\ntwo single-core workers / one two-core process: {two_tps / one_tps:.2f}x")

    print(f"\nEstimate for N machines like this one (step {one_step * 1000:.0f} ms each, "
          f"{gradient_bytes / 1e6:.1f} MB gradient, ring all-reduce, no overlap):")
    print("| bandwidth | " + " | ".join(f"N={n}" for n in MACHINES) + " |")
    print("|---|" + "---|" * len(MACHINES))
    estimate = {}
    for gbit in BANDWIDTHS_GBIT:
        row = []
        for n in MACHINES:
            speedup = estimated_speedup(n, one_step, gradient_bytes, gbit)
            estimate[f"{gbit}Gbit_N{n}"] = round(speedup, 2)
            row.append(f"{speedup:.1f}x")
        print(f"| {gbit} Gbit/s | " + " | ".join(row) + " |")
    print(json.dumps({"cpu": cpu, "preset": args.preset, "parameters": parameters,
                      "one_tokens_per_s": round(one_tps), "two_tokens_per_s": round(two_tps),
                      "one_step_s": round(one_step, 4), "two_step_s": round(two_step, 4),
                      "allreduce_s": round(allreduce, 5), "speedup_estimate": estimate}))


if __name__ == "__main__":
    main()
