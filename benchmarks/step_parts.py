"""Three parts of a training step, this project's way vs Keras / TensorFlow's, side by side.

1. The optimizer update of the book Transformer's 14.4M weights (`--preset small`: the demo's
   3.5M): Keras' own RMSprop / Adam update vs the same update compiled into one XLA kernel, and
   for Adam TensorFlow's fused Adam kernel (what `models/optimizers.py` uses for Adam).
2. Cross-entropy forward + backward on 450 tokens x 15,000 words (8,000 with `--preset small`):
   TensorFlow's `sparse_softmax_cross_entropy_with_logits` vs `models.metrics.token_cross_entropy`.
3. Next-token accuracy on the same logits: Keras' `ops.argmax` (which also rewrites -0.0 at
   every element) vs TensorFlow's `tf.math.argmax` (what `TokenAccuracy` uses).

Run:
    python benchmarks/step_parts.py [--repeats 20] [--preset small]
The last line printed is one JSON object of milliseconds (best of the repeats).
"""

import argparse
import json
import os
import sys
import time
import types

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def best_ms(function, repeats):
    """Best wall time of `function()` in milliseconds, after two warm-up calls."""
    function()
    function()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--preset", default="book", choices=["book", "small"],
                        help="the Transformer whose weights the optimizers update")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from nmt.config import resolve_config
    from models.metrics import token_cross_entropy
    from models.optimizers import _FusedUpdate, make_optimizer
    from nmt.translator import build_model

    results = {}
    vocab = 15000 if args.preset == "book" else 8000
    model = build_model(resolve_config("transformer", args.preset), vocab, vocab)
    variables = model.trainable_variables
    grads = [tf.ones_like(v) * 1e-3 for v in variables]
    for name, kind in (("rmsprop", "keras"), ("rmsprop", "xla"), ("adam", "keras"),
                       ("adam", "xla"), ("adam", "kernel")):
        optimizer = make_optimizer(name, 1e-3, fused=kind != "keras")
        if kind == "xla" and name == "adam":  # Adam's update_step in XLA (train_speed's xla_adam)
            optimizer._fused_apply = types.MethodType(_FusedUpdate._fused_apply, optimizer)
        optimizer.build(variables)
        step = tf.function(lambda: optimizer.apply(grads, variables))
        results[f"{name}_update_{kind}_ms"] = best_ms(step, args.repeats)
    print(f"optimizer update, {model.count_params():,} weights: "
          + ", ".join(f"{k} {v:.1f}" for k, v in results.items()))

    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(450, vocab)).astype("float32") * 3)
    labels = tf.constant(rng.integers(0, vocab, 450))

    def loss_step(loss_fn):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(labels, logits))
            return tape.gradient(loss, logits)
        return step

    results["cross_entropy_tensorflow_ms"] = best_ms(
        loss_step(tf.nn.sparse_softmax_cross_entropy_with_logits), args.repeats)
    results["cross_entropy_ours_ms"] = best_ms(loss_step(token_cross_entropy), args.repeats)
    print(f"cross-entropy forward + backward, 450 x {vocab:,}: TensorFlow "
          f"{results['cross_entropy_tensorflow_ms']:.1f} ms, ours "
          f"{results['cross_entropy_ours_ms']:.1f} ms")

    values = tf.convert_to_tensor(logits)
    keras_argmax = tf.function(lambda: keras.ops.argmax(values, axis=-1))
    tf_argmax = tf.function(lambda: tf.math.argmax(values, axis=-1))
    results["argmax_keras_ms"] = best_ms(keras_argmax, args.repeats)
    results["argmax_tensorflow_ms"] = best_ms(tf_argmax, args.repeats)
    print(f"argmax, 450 x {vocab:,}: Keras {results['argmax_keras_ms']:.1f} ms, TensorFlow "
          f"{results['argmax_tensorflow_ms']:.1f} ms")
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))


if __name__ == "__main__":
    main()
