"""One decode loop for every model: `next_fn(tokens, cache, index) -> (logits, cache)`.

The loop starts from `[start]`, asks `next_fn` for the logits of the token after position
`index`, picks one (greedy or sampled), writes it at `index + 1`, and stops as soon as every
sentence of the batch has produced `[end]` (or `max_length` tokens). Sentences that have ended
get padding (0). It runs inside `tf.while_loop`, so wrapped in `tf.function` it compiles once.

Example:
>>> def next_fn(tokens, cache, index):            # always predicts token 3 (= [end])
...     return tf.one_hot(tf.fill([tf.shape(tokens)[0]], 3), 5), cache
>>> decode(next_fn, tf.constant([2, 2]), {}, max_length=4, end_id=3).numpy()
array([[2, 3, 0, 0, 0],
       [2, 3, 0, 0, 0]])
"""

import tensorflow as tf

STRATEGIES = ("greedy", "sample")


def _pick(logits, strategy, temperature, top_k, seed, index):
    """Choose the next token id per row of (batch, vocab) float32 logits."""
    if strategy == "greedy":
        return tf.argmax(logits, axis=-1, output_type=tf.int64)
    logits = logits / temperature
    if top_k:
        # Keep the k best logits, hide the rest.
        kth = tf.math.top_k(logits, k=top_k).values[:, -1:]
        logits = tf.where(logits < kth, tf.constant(-1e9, logits.dtype), logits)
    step_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    return tf.reshape(
        tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int64), [-1])


def decode(next_fn, start_ids, cache, max_length, end_id, strategy="greedy", temperature=1.0,
           top_k=0, seed=0):
    """Decode a batch; return (batch, max_length + 1) int64 tokens starting with the start ids.

    Args:
        next_fn: callable `(tokens, cache, index) -> (logits (batch, vocab), cache)`.
        start_ids: (batch,) int ids of `[start]`.
        cache: nested structure of tensors with fixed shapes (the model's incremental state).
        max_length: int. Tokens to generate at most.
        end_id: int. Id of `[end]`.
        strategy: "greedy" or "sample" (temperature / top-k sampling, reproducible from `seed`).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not one of {STRATEGIES}")
    if strategy == "sample" and not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    if max_length < 1:
        raise ValueError(f"max_length={max_length} must be >= 1")
    start_ids = tf.cast(start_ids, tf.int64)
    batch = tf.shape(start_ids)[0]
    tokens = tf.concat(
        [start_ids[:, None], tf.zeros([batch, max_length], dtype=tf.int64)], axis=1)
    done = tf.zeros([batch], dtype=tf.bool)

    def keep_going(index, tokens, cache, done):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(done)))

    def step(index, tokens, cache, done):
        logits, cache = next_fn(tokens, cache, index)
        next_ids = _pick(tf.cast(logits, tf.float32), strategy, temperature, top_k, seed, index)
        next_ids = tf.where(done, tf.zeros_like(next_ids), next_ids)
        # Write column index + 1.  (batch, max_length + 1)
        column = tf.one_hot(index + 1, max_length + 1, on_value=True, off_value=False)
        tokens = tf.where(column[None, :], next_ids[:, None], tokens)
        done = tf.logical_or(done, tf.equal(next_ids, end_id))
        return index + 1, tokens, cache, done

    _, tokens, _, _ = tf.while_loop(
        keep_going, step, (tf.constant(0), tokens, cache, done), maximum_iterations=max_length)
    return tokens
