"""Training speed: the book's pipeline vs this project's, same models, same data, side by side.

For each model preset, train N steps on the real corpus with
  book:    fixed padding to 20, batch 64, softmax output layer + cross-entropy on probabilities,
           Keras' RMSprop/Adam update, float32, no XLA (the book's setup; padding carries zero
           weight so losses compare);
  default: this project's defaults for that preset (random batches padded to their longest
           sentence, or for demo_transformer the `small` preset's batches of similar lengths,
           576 padded tokens each; output layer and softmax on real target tokens only, fused
           cross-entropy, fused optimizer update, 16 steps a call, the config's
           precision: bfloat16 on CPUs that have it);
and the variants asked for (see VARIANTS; "a+b" combines two, e.g. "bucket+fp32"). Each
measurement runs in its own process (clean peak memory).

By default every variant trains on as many real target tokens as the book-style run saw
(`--steps` timed steps for the book, then as many steps as that takes), from the same initial
weights, so the validation accuracies printed compare at equal data. Each trains as `nmt train`
does, with `model.fit` on the dataset (`steps_per_execution` steps a call into TensorFlow;
the book's Keras default, one); the warmup steps are a first, untimed call. `--repeats N`
measures every variant N times, round-robin, and keeps each one's fastest run (on a machine
whose speed comes and goes), with the median of its runs beside it; `--baseline` names the
variant the ratio columns divide by. Variant `xla_adam` updates Adam's weights in one XLA
kernel, as the demo did before TensorFlow's fused Adam kernel replaced it.

Printed per model and variant: real target tokens per second (padding not counted), the
speed-up over the book pipeline, achieved GFLOP/s of the training step (analytic count of the
matmul work actually done, padding included; backward = 2 x forward), the fp32 and bf16 matmul
peak measured in the same run, peak resident memory, and the masked validation accuracy
(2,000 validation pairs) after training.

Run:
    python benchmarks/train_speed.py [--steps N] [--models book_transformer,small_rnn]
        [--variants fp32,bucket] [--seed S] [--repeats N] [--baseline VARIANT] [--isa avx2]
The last line printed is one JSON object keyed by model preset.
"""

import argparse
import json
import os
import resource
import statistics
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
    "small_transformer": ("transformer", "book-small"),
    "small_rnn": ("rnn", "book-small"),
    "book_gru": ("gru", "book"),
    # `make demo`'s model: WordPiece (8,000 per language, 24 pieces), label smoothing, float32.
    "demo_transformer": ("transformer", "small"),
}
# Variant: config overrides on top of this project's defaults ("book" replaces them).
VARIANTS = {
    "book": {},
    "default": {},
    "bf16": dict(precision="mixed_bfloat16"),
    "fp32": dict(precision="float32"),
    "unfused": dict(fused_optimizer=False),  # Keras' own optimizer update
    "all_positions": dict(select_tokens=False),  # output layer on padding too
    "fixed": dict(batching="fixed", max_tokens=0),  # the book's batches (padded to 20)
    "trim": dict(batching="trim", max_tokens=0),  # the book's random batches, padded per batch
    "bucket": dict(batching="bucket", max_tokens=0),  # 64 sentences of similar lengths
    # Batches of similar lengths holding about as many real target tokens as the book's.
    "tokens": dict(batching="bucket", max_tokens=576),
    "tokens768": dict(batching="bucket", max_tokens=768),
    "tokens640": dict(batching="bucket", max_tokens=640),
    "tokens896": dict(batching="bucket", max_tokens=896),
    # Learning rates for larger batches (about 1e-3 x sqrt(max_tokens / 576)), e.g.
    # "tokens768+lr115".
    "lr107": dict(learning_rate=1.07e-3),
    "lr115": dict(learning_rate=1.15e-3),
    "lr125": dict(learning_rate=1.25e-3),
    "xla": dict(jit_compile="on"),
    # One training step a call into TensorFlow (`nmt train`'s default is 16; a run before
    # steps_per_execution existed made one).
    "spe1": dict(steps_per_execution=1),
    "spe64": dict(steps_per_execution=64),
    "batch128": dict(batch_size=128),  # twice the sentences per step, the same learning rate
}
# Variants of the process's threads rather than of the config: (inter-op, intra-op) thread pool
# sizes, 0 = TensorFlow's choice (both = the number of cores).
THREADS = {"inter1": (1, 0), "intra1": (0, 1), "inter1_intra1": (1, 1)}
# Variants of the code rather than of the config: "xla_adam" updates Adam's weights in one XLA
# kernel, as the demo did until 2026-12-07 (now TensorFlow's own fused Adam kernel).
CODE = ("xla_adam",)


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


def forward_flops(config, batch, src_len, tgt_len, output_tokens=None):
    """Matmul FLOPs of one forward pass (2 per multiply-add) at these padded shapes; the output
    layer runs on `output_tokens` rows (default: every position, batch x tgt_len)."""
    b, s, t, v = batch, src_len, tgt_len, config.vocab_size
    rows = b * t if output_tokens is None else output_tokens
    if config.model == "transformer":
        d, f, n = config.embed_dim, config.dense_dim, config.num_layers

        def attention(q_len, kv_len):
            projections = 2 * b * (q_len * d * d * 2 + kv_len * d * d * 2)  # q, out; k, v
            return projections + 2 * 2 * b * q_len * kv_len * d  # scores and weighted sum

        encoder = attention(s, s) + 2 * 2 * b * s * d * f
        decoder = attention(t, t) + attention(t, s) + 2 * 2 * b * t * d * f
        return n * (encoder + decoder) + 2 * rows * d * v
    u, e = config.rnn_units, config.embed_dim
    gru_step = 2 * 3 * (e * u + u * u)  # per sequence per time step
    flops = b * (2 * s + t) * gru_step  # bidirectional encoder + decoder
    if config.model == "rnn":
        flops += 2 * b * s * u * u + 2 * 2 * b * t * s * u + 2 * b * t * 2 * u * u
    return flops + 2 * rows * u * v


def data_config(name):
    """The tokenizer settings model `name` trains on: the demo's own (WordPiece), else the
    book's words (15,000, 20 tokens), which every other preset here shares."""
    from nmt.config import resolve_config

    if name == "demo_transformer":
        return resolve_config(*MODELS[name])
    return resolve_config("transformer", "book", vocab_size=15000, sequence_length=20)


def data_file(data_dir, name):
    config = data_config(name)
    return os.path.join(data_dir, f"ids-{config.tokenizer}-{config.vocab_size}-"
                                  f"{config.sequence_length}.npz")


def prepare(data_dir, name):
    """Split, vocabularies and vectorized ids for model `name`, once per kind of data, shared
    by every worker."""
    import numpy as np

    from nmt.training import prepare_splits
    from nmt.translator import make_tokenizers

    path = data_file(data_dir, name)
    if os.path.exists(path):
        return
    config = data_config(name)
    splits = prepare_splits(config)
    english, spanish = make_tokenizers(config, splits.train)
    def vectorize(pairs):
        return (english.encode([e for e, _ in pairs]),
                spanish.encode([s for _, s in pairs], markers=True))

    train_src, train_tgt = vectorize(splits.train)
    val_src, val_tgt = vectorize(splits.val[:2000])
    np.savez(path, train_src=train_src, train_tgt=train_tgt,
             val_src=val_src, val_tgt=val_tgt,
             vocab=np.array([english.vocab_size, spanish.vocab_size]))


def worker(data_dir, name, variant, steps, warmup, target_tokens, seed=1337):
    """Train one model and variant, time `steps` steps after `warmup`; print JSON.

    With `target_tokens` > 0 (the real target tokens the book-style run saw), training goes on
    until as many tokens were seen (however many steps that takes: fewer with a larger batch), so
    validation accuracies compare at equal data; else for `steps` steps.
    """
    import tensorflow as tf

    parts = variant.split("+")  # e.g. "trim+bf16": both sets of overrides
    for part in parts:  # thread pools are set before TensorFlow runs its first op
        if part in THREADS:
            inter, intra = THREADS[part]
            tf.config.threading.set_inter_op_parallelism_threads(inter)
            tf.config.threading.set_intra_op_parallelism_threads(intra)
    import keras
    import numpy as np

    from data.pipeline import make_dataset
    from nmt.config import resolve_config
    from models.metrics import MaskedAccuracy
    from models.token_selection import build_training_model
    from nmt.hardware import build_precision, resolve_precision
    from nmt.training import compile_model
    from nmt.translator import build_model

    ids = np.load(data_file(data_dir, name))
    src_vocab, tgt_vocab = (int(x) for x in ids["vocab"])
    model_name, preset = MODELS[name]
    overrides = dict(batch_size=64)
    if variant == "book":
        # (label smoothing needs the token selection the book does not have: none for the demo)
        overrides = dict(batching="fixed", max_tokens=0, batch_size=64, precision="float32",
                         jit_compile="off", select_tokens=False, fused_optimizer=False,
                         label_smoothing=0.0)
    for part in parts:
        overrides.update(VARIANTS.get(part, {}))
    config = resolve_config(model_name, preset, **overrides)
    config.precision = resolve_precision(config.precision)  # float32 for `auto` with --isa avx2
    keras.utils.set_random_seed(seed)
    with build_precision(config.precision):
        model = build_model(config, src_vocab, tgt_vocab)
        if variant != "book" and config.select_tokens:
            model = build_training_model(model)  # under the policy, as train() builds it
    if variant == "book":
        # The book's output layer: softmax probabilities, loss on probabilities, and Keras' own
        # optimizer (the preset's: RMSprop for `book`, Adam for `book-small`, same learning rate).
        probabilities = keras.layers.Activation("softmax", dtype="float32")(model.output)
        model = keras.Model(model.input, probabilities)
        optimizer = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[
            config.optimizer](learning_rate=config.learning_rate)
        model.compile(optimizer=optimizer, jit_compile=False,
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          reduction="mean_with_sample_weight"),
                      weighted_metrics=[MaskedAccuracy(name="accuracy")])
    else:
        compile_model(model, config)
        if "xla_adam" in parts:  # this optimizer's update: Adam's update_step in XLA
            from models.optimizers import _FusedUpdate
            model.optimizer._fused_apply = types.MethodType(_FusedUpdate._fused_apply,
                                                            model.optimizer)
    xla = config.jit_compile == "on"

    def batches(source, target, shuffle):
        return make_dataset(source, target, config.batch_size, batching=config.batching,
                            shuffle=shuffle, seed=seed, pad_to_bucket_boundary=xla,
                            loss_mask=config.select_tokens, max_tokens=config.max_tokens)

    # The batches the run trains on, in order (each new dataset yields the same order): `warmup`
    # untimed ones (tracing), then at equal data (target_tokens) until as many tokens were seen,
    # however few steps that takes (a larger batch takes fewer); otherwise `steps` more.
    seen = timed = batch_index = 0
    tokens = flops = 0.0
    for batch in batches(ids["train_src"], ids["train_tgt"], True).repeat().as_numpy_iterator():
        if batch_index >= warmup and ((seen >= target_tokens) if target_tokens
                                      else (timed >= steps)):
            break
        inputs, targets = batch[0], batch[1]
        n = int((targets != 0).sum())
        seen += n
        if batch_index >= warmup:
            tokens += n
            timed += 1
            b, s = inputs["english"].shape
            flops += 3 * forward_flops(config, b, s, inputs["spanish"].shape[1],
                                       output_tokens=n if config.select_tokens else None)
        batch_index += 1
    # Trained as `nmt train` trains: `model.fit` on the dataset (steps_per_execution steps a
    # call), the warmup in a first call, the timed steps in a second.
    train = lambda: batches(ids["train_src"], ids["train_tgt"], True).repeat()  # noqa: E731
    if warmup:
        model.fit(train().take(warmup), epochs=1, verbose=0, shuffle=False)
    started = time.perf_counter()
    model.fit(train().skip(warmup).take(timed), epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started
    correct = total = 0.0
    for batch in batches(ids["val_src"], ids["val_tgt"], shuffle=False).as_numpy_iterator():
        inputs, targets = batch[0], batch[1]
        weights = batch[2] if len(batch) == 3 else None
        n = int((targets != 0).sum())
        predicted = np.argmax(model.predict_on_batch(inputs), axis=-1)
        if weights is None:  # logits of the real tokens only, in row-major order
            correct += float(np.sum(predicted == targets[targets != 0]))
        else:
            correct += float(np.sum((predicted == targets) * weights))
        total += n
    print(json.dumps({
        "tokens_per_s": tokens / seconds,
        "seconds_per_step": seconds / timed,
        "steps": timed + warmup,
        "gflops_per_s": flops / seconds / 1e9,
        "tokens_seen": seen,
        "val_accuracy": correct / total,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batching": config.batching,
        "precision": config.precision,
        "jit_compile": xla,
        "select_tokens": config.select_tokens,
        "fused_optimizer": config.fused_optimizer,
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps first (tracing)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"from {list(MODELS)}")
    parser.add_argument("--variants", default="book,default,bf16",
                        help=f"from {list(VARIANTS)} (book and default always run)")
    parser.add_argument("--equal-tokens", action=argparse.BooleanOptionalAction, default=True,
                        help="train each variant on as many real target tokens as the book-style "
                             "run saw (so validation accuracies compare at equal data)")
    parser.add_argument("--seed", type=int, default=1337,
                        help="initial weights, shuffling and dropout (the same for every variant)")
    parser.add_argument("--isa", choices=["avx2", "avx512_core", "avx512_core_bf16"],
                        help="limit oneDNN (TensorFlow's matmul and convolution kernels) and XLA "
                             "to this instruction set in every process of the run "
                             "(ONEDNN_MAX_CPU_ISA, --xla_cpu_max_isa): avx2 measures how an "
                             "AVX2-only CPU's kernels run, on this one (TensorFlow's own Eigen "
                             "kernels are built without AVX2 in this wheel)")
    parser.add_argument("--baseline", default="default",
                        help="the variant the 'vs' column divides by (one of those run)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure every variant this many times, round-robin, and report "
                             "each one's fastest run (and every run's tokens/s)")
    parser.add_argument("--worker", nargs=4, metavar=("DATA", "MODEL", "VARIANT", "TOKENS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker[:3], args.steps, args.warmup, int(args.worker[3]), args.seed)
        return

    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    asked = [v for v in args.variants.split(",") if v]
    variants = ["book", "default"] + [v for v in asked if v not in ("book", "default")]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.baseline not in variants:
        parser.error(f"--baseline {args.baseline}: not among the variants run {variants}")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: must be >= 1")
    known = list(VARIANTS) + list(THREADS) + list(CODE)
    if any(part not in known for v in asked for part in v.split("+")):
        parser.error(f"unknown variants in {asked}; choose from {known}")
    if args.isa:  # oneDNN's kernels (TensorFlow's matmuls) and XLA's code limited to this set
        os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa.upper()
        xla_isa = {"avx2": "AVX2", "avx512_core": "AVX512", "avx512_core_bf16": "AVX512_BF16"}
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_cpu_max_isa={xla_isa[args.isa]}").strip()
    import tensorflow as tf

    from nmt.hardware import cpu_description

    print("CPU: " + cpu_description() + (
        f"; oneDNN and XLA limited to {args.isa.upper()} (ONEDNN_MAX_CPU_ISA, "
        "XLA_FLAGS=--xla_cpu_max_isa)" if args.isa else ""))

    # oneDNN has no bfloat16 matmul below AVX512_CORE_BF16 (it aborts): no bf16 peak there, and
    # the workers' precision `auto` picks float32, as it does on a CPU without bfloat16.
    bf16 = args.isa in (None, "avx512_core_bf16")
    peaks = {"fp32": matmul_peak(tf.float32),
             "bf16": matmul_peak(tf.bfloat16) if bf16 else None}
    print(f"matmul peak (2048x2048): fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 "
          + (f"{peaks['bf16']:.0f} GFLOP/s" if bf16 else f"none (--isa {args.isa})"))
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        for name in names:
            prepare(data_dir, name)
            results[name] = {}
            runs = {variant: [] for variant in variants}
            # Round-robin: every variant once per round; each reports its fastest run (a slow
            # spell of the machine only slows a run down: on 2026-12-07's 2-core VM some runs
            # of every variant were 20-35% slower than the others, whatever they trained).
            for round_ in range(args.repeats):
                for variant in variants:
                    target = runs["book"][0]["tokens_seen"] \
                        if args.equal_tokens and variant != "book" else 0
                    command = [sys.executable, os.path.abspath(__file__), "--steps",
                               str(args.steps), "--warmup", str(args.warmup), "--seed",
                               str(args.seed), "--worker", data_dir, name, variant, str(target)]
                    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                    if done.returncode != 0:
                        print(done.stderr[-3000:], file=sys.stderr)
                        raise SystemExit(f"worker {name}/{variant} failed")
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    runs[variant].append(r)
                    print(f"{name:18s} {variant:13s} {r['tokens_per_s']:8.0f} tok/s "
                          f"{r['seconds_per_step']:6.3f} s/step {r['gflops_per_s']:6.1f} GFLOP/s "
                          f"{r['steps']} steps, {r['tokens_seen']:,} tokens, "
                          f"val acc {r['val_accuracy']:.4f} peak {r['peak_memory_mb']:.0f} MB"
                          + (f" (round {round_ + 1})" if args.repeats > 1 else ""), flush=True)
            for variant, measured in runs.items():
                fastest = dict(max(measured, key=lambda r: r["tokens_per_s"]))
                fastest["tokens_per_s_runs"] = [r["tokens_per_s"] for r in measured]
                fastest["tokens_per_s_median"] = statistics.median(fastest["tokens_per_s_runs"])
                results[name][variant] = fastest

    summary = {}
    base = args.baseline
    print(f"\n{'model':18s} {'variant':13s} {'tokens/s':>9s} {'vs book':>8s} "
          f"{'vs ' + base:>11s} {'GFLOP/s':>8s} {'% peak':>7s} {'val acc':>8s} {'peak MB':>8s}"
          + (f" {'median':>7s} {'vs ' + base:>11s}   tokens/s of each run"
             if args.repeats > 1 else ""))
    for name, by_variant in results.items():
        book = by_variant["book"]["tokens_per_s"]
        for variant, r in by_variant.items():
            peak = peaks["bf16" if r["precision"] == "mixed_bfloat16" else "fp32"]
            r["speedup"] = r["tokens_per_s"] / book
            r["vs_default"] = r["tokens_per_s"] / by_variant["default"]["tokens_per_s"]
            r["vs_baseline"] = r["tokens_per_s"] / by_variant[base]["tokens_per_s"]
            r["percent_of_matmul_peak"] = 100 * r["gflops_per_s"] / peak
            r["median_vs_baseline"] = (r["tokens_per_s_median"]
                                       / by_variant[base]["tokens_per_s_median"])
            print(f"{name:18s} {variant:13s} {r['tokens_per_s']:9.0f} {r['speedup']:7.2f}x "
                  f"{r['vs_baseline']:10.2f}x {r['gflops_per_s']:8.1f} "
                  f"{r['percent_of_matmul_peak']:6.1f}% {r['val_accuracy']:8.4f} "
                  f"{r['peak_memory_mb']:8.0f}"
                  + (f" {r['tokens_per_s_median']:7.0f} {r['median_vs_baseline']:10.2f}x   "
                     + " ".join(f"{x:.0f}" for x in r["tokens_per_s_runs"])
                     if args.repeats > 1 else ""))
        default = by_variant["default"]
        summary[name] = {
            "book_style_tokens_per_s": round(book, 1),
            "default_tokens_per_s": round(default["tokens_per_s"], 1),
            "speedup": round(default["speedup"], 2),
            "step_gflops_per_s": round(default["gflops_per_s"], 1),
            "matmul_peak_gflops_per_s": round(
                peaks["bf16" if default["precision"] == "mixed_bfloat16" else "fp32"], 1),
            "fp32_matmul_peak_gflops_per_s": round(peaks["fp32"], 1),
            "bf16_matmul_peak_gflops_per_s": peaks["bf16"] and round(peaks["bf16"], 1),
            "book_style_val_accuracy": round(by_variant["book"]["val_accuracy"], 4),
            "default_val_accuracy": round(default["val_accuracy"], 4),
            "peak_memory_mb": round(default["peak_memory_mb"]),
            "variants": {v: {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items()}
                         for v, r in by_variant.items()},
        }
    print(json.dumps({"cpu": cpu_description(), "onednn_max_cpu_isa": args.isa, **summary}))


if __name__ == "__main__":
    main()
