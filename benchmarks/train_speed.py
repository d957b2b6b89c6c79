"""Training speed: the book's pipeline vs this project's, same models, same data, one run.

For each model preset, train N steps on the real corpus with
  book:    fixed padding to 20, batch 64, softmax output layer + cross-entropy on probabilities,
           float32, no XLA (the book's setup; padding carries zero weight so losses compare);
  default: this project's defaults (length-bucketed batches padded per batch, logits +
           from_logits loss, the config's precision and XLA setting);
and optionally the variants bf16 (default + mixed_bfloat16) and xla (default + XLA, batches
padded to bucket boundaries). Each measurement runs in its own process (clean peak memory).

Printed per model and variant: real target tokens per second (padding not counted), the
speed-up over the book pipeline, achieved GFLOP/s of the training step (analytic count of the
matmul work actually done, padding included; backward = 2 x forward), the fp32 and bf16 matmul
peak measured in the same run, peak resident memory, and the masked validation accuracy after
the timed steps (same initial weights, same number of steps).

Run:
    python benchmarks/train_speed.py [--steps N] [--models book_transformer,small_rnn]
The last line printed is one JSON object keyed by model preset.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = {  # name: (model, preset)
    "book_transformer": ("transformer", "book"),
    "small_transformer": ("transformer", "small"),
    "small_rnn": ("rnn", "small"),
    "book_gru": ("gru", "book"),
}
VARIANTS = ("book", "default", "bf16", "xla")


def matmul_peak(dtype, n=2048, repeats=10):
    """GFLOP/s of an n x n matmul in `dtype` (best of `repeats`)."""
    import tensorflow as tf

    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        f(a).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def forward_flops(config, batch, src_len, tgt_len):
    """Matmul FLOPs of one forward pass (2 per multiply-add) at these padded shapes."""
    b, s, t, v = batch, src_len, tgt_len, config.vocab_size
    if config.model == "transformer":
        d, f, n = config.embed_dim, config.dense_dim, config.num_layers

        def attention(q_len, kv_len):
            projections = 2 * b * (q_len * d * d * 2 + kv_len * d * d * 2)  # q, out; k, v
            return projections + 2 * 2 * b * q_len * kv_len * d  # scores and weighted sum

        encoder = attention(s, s) + 2 * 2 * b * s * d * f
        decoder = attention(t, t) + attention(t, s) + 2 * 2 * b * t * d * f
        return n * (encoder + decoder) + 2 * b * t * d * v
    u, e = config.rnn_units, config.embed_dim
    gru_step = 2 * 3 * (e * u + u * u)  # per sequence per time step
    flops = b * (2 * s + t) * gru_step  # bidirectional encoder + decoder
    if config.model == "rnn":
        flops += 2 * b * s * u * u + 2 * 2 * b * t * s * u + 2 * b * t * 2 * u * u
    return flops + 2 * b * t * u * v


def prepare(data_dir, vocab_size=15000, sequence_length=20):
    """Split, vocabularies and vectorized ids, once, shared by every worker."""
    import numpy as np

    from models.config import resolve_config
    from models.training import prepare_splits, vectorize_pairs
    from models.translator import make_tokenizers

    config = resolve_config("transformer", "book", vocab_size=vocab_size,
                            sequence_length=sequence_length)
    splits = prepare_splits(config)
    english, spanish = make_tokenizers(config, splits.train)
    holder = types.SimpleNamespace(source_tokenizer=english, target_tokenizer=spanish)
    train_src, train_tgt = vectorize_pairs(holder, splits.train)
    val_src, val_tgt = vectorize_pairs(holder, splits.val[:2000])
    np.savez(os.path.join(data_dir, "ids.npz"), train_src=train_src, train_tgt=train_tgt,
             val_src=val_src, val_tgt=val_tgt,
             vocab=np.array([english.vocab_size, spanish.vocab_size]))


def worker(data_dir, name, variant, steps, warmup):
    """Train `steps` timed steps (after `warmup`) of one model and variant; print JSON."""
    import keras
    import numpy as np

    from data.pipeline import make_dataset
    from models.config import resolve_config
    from models.metrics import MaskedAccuracy
    from models.training import compile_model
    from models.translator import build_model

    ids = np.load(os.path.join(data_dir, "ids.npz"))
    src_vocab, tgt_vocab = (int(x) for x in ids["vocab"])
    model_name, preset = MODELS[name]
    overrides = {}
    if variant == "book":
        overrides = dict(batching="fixed", batch_size=64, precision="float32", jit_compile="off")
    elif variant == "default":
        overrides = dict(batching="bucket")
    elif variant == "bf16":
        overrides = dict(batching="bucket", precision="mixed_bfloat16")
    elif variant == "xla":
        overrides = dict(batching="bucket", jit_compile="on")
    config = resolve_config(model_name, preset, **overrides)
    keras.utils.set_random_seed(1337)
    keras.config.set_dtype_policy(config.precision)
    model = build_model(config, src_vocab, tgt_vocab)
    keras.config.set_dtype_policy("float32")
    if variant == "book":
        # The book's output layer: softmax probabilities, loss on probabilities.
        probabilities = keras.layers.Activation("softmax", dtype="float32")(model.output)
        model = keras.Model(model.input, probabilities)
        model.compile(optimizer=keras.optimizers.RMSprop(), jit_compile=False,
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          reduction="mean_with_sample_weight"),
                      weighted_metrics=[MaskedAccuracy(name="accuracy")])
    else:
        compile_model(model, config)
    xla = variant == "xla"
    ds = make_dataset(ids["train_src"], ids["train_tgt"], config.batch_size,
                      batching=config.batching, shuffle=True, seed=1337,
                      pad_to_bucket_boundary=xla)
    batches = list(ds.repeat().take(warmup + steps).as_numpy_iterator())
    for inputs, targets, weights in batches[:warmup]:
        model.train_on_batch(inputs, targets, sample_weight=weights)
    tokens = flops = 0.0
    started = time.perf_counter()
    for inputs, targets, weights in batches[warmup:]:
        model.train_on_batch(inputs, targets, sample_weight=weights)
        tokens += float(weights.sum())
        b, s = inputs["english"].shape
        flops += 3 * forward_flops(config, b, s, inputs["spanish"].shape[1])
    seconds = time.perf_counter() - started
    val = make_dataset(ids["val_src"], ids["val_tgt"], 64, batching=config.batching,
                       shuffle=False, pad_to_bucket_boundary=xla)
    accuracy = model.evaluate(val, verbose=0, return_dict=True)["accuracy"]
    print(json.dumps({
        "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / steps,
        "gflops_per_s": flops / seconds / 1e9,
        "tokens": tokens,
        "val_accuracy": float(accuracy),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batching": config.batching,
        "precision": config.precision,
        "jit_compile": variant == "xla",
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps first (tracing)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"from {list(MODELS)}")
    parser.add_argument("--variants", default="book,default,bf16",
                        help=f"from {list(VARIANTS)} (book and default always run)")
    parser.add_argument("--worker", nargs=3, metavar=("DATA", "MODEL", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.worker[2], args.steps, args.warmup)
        return

    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    variants = ["book", "default"] + [v for v in args.variants.split(",")
                                      if v in VARIANTS and v not in ("book", "default")]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    import tensorflow as tf

    peaks = {"fp32": matmul_peak(tf.float32), "bf16": matmul_peak(tf.bfloat16)}
    print(f"matmul peak (2048x2048): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s")
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        prepare(data_dir)
        for name in names:
            results[name] = {}
            for variant in variants:
                command = [sys.executable, os.path.abspath(__file__), "--steps", str(args.steps),
                           "--warmup", str(args.warmup), "--worker", data_dir, name, variant]
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"worker {name}/{variant} failed")
                results[name][variant] = json.loads(done.stdout.strip().splitlines()[-1])
                r = results[name][variant]
                print(f"{name:18s} {variant:8s} {r['tokens_per_s']:8.0f} tok/s "
                      f"{r['seconds_per_step']:6.3f} s/step {r['gflops_per_s']:6.1f} GFLOP/s "
                      f"val acc {r['val_accuracy']:.4f} peak {r['peak_memory_mb']:.0f} MB",
                      flush=True)

    summary = {}
    print(f"\n{'model':18s} {'variant':8s} {'tokens/s':>9s} {'vs book':>8s} {'GFLOP/s':>8s} "
          f"{'% peak':>7s} {'val acc':>8s} {'peak MB':>8s}")
    for name, by_variant in results.items():
        book = by_variant["book"]["tokens_per_s"]
        for variant, r in by_variant.items():
            peak = peaks["bf16" if r["precision"] == "mixed_bfloat16" else "fp32"]
            r["speedup"] = r["tokens_per_s"] / book
            r["percent_of_matmul_peak"] = 100 * r["gflops_per_s"] / peak
            print(f"{name:18s} {variant:8s} {r['tokens_per_s']:9.0f} {r['speedup']:7.2f}x "
                  f"{r['gflops_per_s']:8.1f} {r['percent_of_matmul_peak']:6.1f}% "
                  f"{r['val_accuracy']:8.4f} {r['peak_memory_mb']:8.0f}")
        default = by_variant["default"]
        summary[name] = {
            "book_style_tokens_per_s": round(book, 1),
            "default_tokens_per_s": round(default["tokens_per_s"], 1),
            "speedup": round(default["speedup"], 2),
            "step_gflops_per_s": round(default["gflops_per_s"], 1),
            "matmul_peak_gflops_per_s": round(peaks["fp32"], 1),
            "bf16_matmul_peak_gflops_per_s": round(peaks["bf16"], 1),
            "book_style_val_accuracy": round(by_variant["book"]["val_accuracy"], 4),
            "default_val_accuracy": round(default["val_accuracy"], 4),
            "peak_memory_mb": round(default["peak_memory_mb"]),
            "variants": {v: {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items()}
                         for v, r in by_variant.items()},
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
