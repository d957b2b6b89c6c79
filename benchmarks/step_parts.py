"""Three parts of a training step, this project's way vs Keras / TensorFlow's, side by side.

1. The optimizer update of the book Transformer's 14.4M weights: Keras' own RMSprop / Adam
   update vs the same update compiled into one XLA kernel (`models/optimizers.py`).
2. Cross-entropy forward + backward on 450 tokens x 15,000 words: TensorFlow's
   `sparse_softmax_cross_entropy_with_logits` vs `models.metrics.token_cross_entropy`.
3. Next-token accuracy on the same logits: Keras' `ops.argmax` (which also rewrites -0.0 at
   every element) vs TensorFlow's `tf.math.argmax` (what `TokenAccuracy` uses).

Run:
    python benchmarks/step_parts.py [--repeats 20]
The last line printed is one JSON object of milliseconds (best of the repeats).
"""

import argparse
import json
import os
import sys
import time

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
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from nmt.config import resolve_config
    from models.metrics import token_cross_entropy
    from models.optimizers import make_optimizer
    from nmt.translator import build_model

    results = {}
    model = build_model(resolve_config("transformer", "book"), 15000, 15000)
    variables = model.trainable_variables
    grads = [tf.ones_like(v) * 1e-3 for v in variables]
    for name in ("rmsprop", "adam"):
        for fused in (False, True):
            optimizer = make_optimizer(name, 1e-3, fused=fused)
            optimizer.build(variables)
            step = tf.function(lambda: optimizer.apply(grads, variables))
            key = f"{name}_update_{'fused' if fused else 'keras'}_ms"
            results[key] = best_ms(step, args.repeats)
    print(f"optimizer update, {model.count_params():,} weights: "
          + ", ".join(f"{k} {v:.1f}" for k, v in results.items()))

    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(450, 15000)).astype("float32") * 3)
    labels = tf.constant(rng.integers(0, 15000, 450))

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
    print(f"cross-entropy forward + backward, 450 x 15,000: TensorFlow "
          f"{results['cross_entropy_tensorflow_ms']:.1f} ms, ours "
          f"{results['cross_entropy_ours_ms']:.1f} ms")

    values = tf.convert_to_tensor(logits)
    keras_argmax = tf.function(lambda: keras.ops.argmax(values, axis=-1))
    tf_argmax = tf.function(lambda: tf.math.argmax(values, axis=-1))
    results["argmax_keras_ms"] = best_ms(keras_argmax, args.repeats)
    results["argmax_tensorflow_ms"] = best_ms(tf_argmax, args.repeats)
    print(f"argmax, 450 x 15,000: Keras {results['argmax_keras_ms']:.1f} ms, TensorFlow "
          f"{results['argmax_tensorflow_ms']:.1f} ms")
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))


if __name__ == "__main__":
    main()
