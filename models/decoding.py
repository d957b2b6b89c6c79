"""One decode loop for every model: `next_fn(tokens, cache, index) -> (logits, cache)`.

The loop starts from `[start]`, asks `next_fn` for the logits of the token after position
`index`, picks one (greedy, sampled, or the best continuations of each beam), writes it at
`index + 1`, and stops as soon as every sentence of the batch has produced `[end]` (or
`max_length` tokens). Sentences that have ended get padding (0). It runs inside
`tf.while_loop`, so wrapped in `tf.function` it compiles once. `next_fn` may return a cache
whose tensors have other sizes than those it got (a key/value cache that grows by a position
each step); their ranks stay.

Example:
>>> def next_fn(tokens, cache, index):            # always predicts token 3 (= [end])
...     return tf.one_hot(tf.fill([tf.shape(tokens)[0]], 3), 5), cache
>>> decode(next_fn, tf.constant([2, 2]), {}, max_length=4, end_id=3).numpy()
array([[2, 3, 0, 0, 0],
       [2, 3, 0, 0, 0]])
"""

import tensorflow as tf

STRATEGIES = ("greedy", "sample", "beam")


def _pick(logits, strategy, temperature, top_k, top_p, seed, index):
    """Choose the next token id per row of (batch, vocab) float32 logits."""
    if strategy == "greedy":
        return tf.argmax(logits, axis=-1, output_type=tf.int64)
    logits = logits / temperature
    hidden = tf.constant(-1e9, logits.dtype)
    if top_k:
        # Keep the k best logits, hide the rest.
        kth = tf.math.top_k(logits, k=top_k).values[:, -1:]
        logits = tf.where(logits < kth, hidden, logits)
    if top_p < 1.0:
        # Nucleus: keep the smallest set of best tokens whose probabilities reach top_p.
        ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
        before = tf.math.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
        kept = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1)  # >= 1 always
        threshold = tf.gather(ordered, kept - 1, batch_dims=1)[:, None]
        logits = tf.where(logits < threshold, hidden, logits)
    step_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    return tf.reshape(
        tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int64), [-1])


def decode(next_fn, start_ids, cache, max_length, end_id, strategy="greedy", temperature=1.0,
           top_k=0, top_p=1.0, seed=0, num_beams=4, alpha=0.6):
    """Decode a batch; return (batch, max_length + 1) int64 tokens starting with the start ids.

    Args:
        next_fn: callable `(tokens, cache, index) -> (logits (batch, vocab), cache)`.
        start_ids: (batch,) int ids of `[start]`.
        cache: nested structure of tensors (the model's incremental state); `next_fn` keeps
            their ranks and may change their sizes.
        max_length: int. Tokens to generate at most.
        end_id: int. Id of `[end]`.
        strategy: "greedy" (the most likely token), "sample" (drawn from the softmax) or
            "beam" (`beam_search`).
        temperature: float > 0. With "sample": logits are divided by it first.
        top_k: int. With "sample": draw among the k most likely tokens only (0 = all).
        top_p: float in (0, 1]. With "sample": draw among the fewest most likely tokens whose
            probabilities add up to top_p (nucleus sampling; 1 = all).
        seed: int. With "sample": the same seed draws the same tokens.
        num_beams: int. With "beam": hypotheses kept per sentence.
        alpha: float. With "beam": GNMT length penalty exponent (0 = none).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not one of {STRATEGIES}")
    if strategy == "sample" and not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p={top_p} must be in (0, 1]")
    if max_length < 1:
        raise ValueError(f"max_length={max_length} must be >= 1")
    if strategy == "beam":
        return beam_search(next_fn, start_ids, cache, max_length, end_id, num_beams, alpha)[0]
    start_ids = tf.cast(start_ids, tf.int64)
    batch = tf.shape(start_ids)[0]
    tokens = tf.concat(
        [start_ids[:, None], tf.zeros([batch, max_length], dtype=tf.int64)], axis=1)
    done = tf.zeros([batch], dtype=tf.bool)

    def keep_going(index, tokens, cache, done):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(done)))

    def step(index, tokens, cache, done):
        logits, cache = next_fn(tokens, cache, index)
        next_ids = _pick(tf.cast(logits, tf.float32), strategy, temperature, top_k, top_p, seed,
                         index)
        next_ids = tf.where(done, tf.zeros_like(next_ids), next_ids)
        tokens = _write_column(tokens, index + 1, next_ids)  # (batch, max_length + 1)
        done = tf.logical_or(done, tf.equal(next_ids, end_id))
        return index + 1, tokens, cache, done

    _, tokens, _, _ = tf.while_loop(
        keep_going, step, (tf.constant(0), tokens, cache, done), maximum_iterations=max_length,
        shape_invariants=(tf.TensorShape([]), tokens.shape, _any_sizes(cache), done.shape))
    return tokens


def _any_sizes(cache):
    """Shape invariants for `tf.while_loop` that let each cache tensor change its sizes (a
    growing key/value cache) but not its rank."""
    return tf.nest.map_structure(lambda t: tf.TensorShape([None] * t.shape.rank), cache)


def top_k_by_chunks(values, k, width=None, chunk=64):
    """`tf.math.top_k(values, k)` of (rows, width) values, the same values and indices (of
    equal values, the lower index first), with less work on wide rows.

    TensorFlow's CPU top-k over a whole row of beams x vocabulary was the largest op of a beam
    search step after the output layer (`benchmarks/decode_profile.py --decode beam` times
    both on a step's scores). Here each row is cut
    into chunks of `chunk` elements; the k chunks with the largest maxima (a cheap reduction)
    hold the k largest elements, ties included: an element outside them has k chunk maxima
    above it, or equal to it at lower indices. So top-k runs over those k chunks only. Rows
    are padded with -inf to a whole number of chunks (after every real element, so never
    chosen before one). With `width` (the static row length) None or under 4 * k chunks, it
    is `tf.math.top_k` itself.

    Example:
    >>> x = tf.constant([[1.0, 5.0] * 300 + [7.0]])
    >>> values, indices = top_k_by_chunks(x, 3, width=601)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([[7.0, 5.0, 5.0]], [[600, 1, 3]])
    """
    if width is None or width < 4 * k * chunk:
        return tf.math.top_k(values, k=k)
    rows = tf.shape(values)[0]
    chunks = -(-width // chunk)
    grid = tf.reshape(tf.pad(values, [[0, 0], [0, chunks * chunk - width]],
                             constant_values=float("-inf")), [rows, chunks, chunk])
    # The k chunks with the largest maxima, in index order: (rows, k).
    best = tf.sort(tf.math.top_k(tf.reduce_max(grid, axis=-1), k=k).indices, axis=-1)
    top_values, top = tf.math.top_k(
        tf.reshape(tf.gather(grid, best, batch_dims=1), [rows, k * chunk]), k=k)
    return top_values, tf.gather(best, top // chunk, batch_dims=1) * chunk + top % chunk


def length_penalty(length, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016); alpha 0 = none."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _write_column(tokens, index, values):
    """tokens[..., index] = values, for a (..., width) tensor inside the loop."""
    width = tf.shape(tokens)[-1]
    column = tf.one_hot(index, width, on_value=True, off_value=False)
    return tf.where(column, values[..., None], tokens)


def beam_search(next_fn, start_ids, cache, max_length, end_id, num_beams=4, alpha=0.6,
                return_all=False):
    """Beam search over the same `next_fn`; return (best tokens (batch, max_length + 1), scores).

    Each sentence keeps `num_beams` hypotheses. A hypothesis is ranked by its log-probability
    divided by the GNMT length penalty of its length (tokens generated, `[end]` included); a
    finished hypothesis keeps its score and is carried along (continued by padding at no cost).
    The cache is tiled to batch * num_beams rows and reordered with the surviving beams; a cache
    tensor that `next_fn` returns unchanged (the same tensor it got, such as the encoder's
    keys and values) is not reordered, since its rows are the same for every beam of a
    sentence. With one beam this is greedy decoding.

    With `return_all=True` it returns every hypothesis instead, best first: (tokens (batch,
    num_beams, max_length + 1), scores (batch, num_beams)); the first of each row is the best.
    A beam that never got a real token (a vocabulary smaller than `num_beams`) scores about -1e9.
    """
    if num_beams < 1:
        raise ValueError(f"num_beams={num_beams} must be >= 1")
    start_ids = tf.cast(start_ids, tf.int64)
    batch = tf.shape(start_ids)[0]
    k = num_beams
    flat = batch * k
    # (batch * k, ...): every row of the cache repeated k times.
    cache = tf.nest.map_structure(lambda t: tf.repeat(t, k, axis=0), cache)
    tokens = tf.concat([tf.repeat(start_ids, k)[:, None], tf.zeros([flat, max_length], tf.int64)],
                       axis=1)
    # Only the first beam is live at the start, so the k beams do not start as k copies.
    log_probs = tf.tile(tf.concat([[0.0], tf.fill([k - 1], -1e9)], axis=0)[None], [batch, 1])
    finished = tf.zeros([batch, k], tf.bool)
    lengths = tf.zeros([batch, k], tf.int32)

    def keep_going(index, tokens, cache, log_probs, finished, lengths):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(finished)))

    def step(index, tokens, cache, log_probs, finished, lengths):
        logits, new_cache = next_fn(tokens, cache, index)
        step_lp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        vocab = tf.shape(step_lp)[-1]
        step_lp = tf.reshape(step_lp, [batch, k, vocab])
        # A finished beam may only continue with padding (id 0), at no cost.
        pad_only = tf.concat([tf.zeros([1]), tf.fill([vocab - 1], -1e9)], axis=0)
        step_lp = tf.where(finished[:, :, None], pad_only[None, None, :], step_lp)
        candidates = log_probs[:, :, None] + step_lp  # (batch, k, vocab)
        new_lengths = tf.where(finished, lengths, tf.fill([batch, k], index + 1))
        scores = candidates / length_penalty(new_lengths, alpha)[:, :, None]
        width = None if scores.shape[-1] is None else k * scores.shape[-1]
        top_scores, top = top_k_by_chunks(tf.reshape(scores, [batch, k * vocab]), k, width)
        beam = top // vocab  # (batch, k) which beam each survivor extends
        token = tf.cast(top % vocab, tf.int64)
        rows = tf.reshape(beam + tf.range(batch)[:, None] * k, [-1])  # rows in the flat batch
        log_probs = tf.gather(tf.reshape(candidates, [batch, k * vocab]), top, batch_dims=1)
        was_finished = tf.gather(finished, beam, batch_dims=1)
        lengths = tf.gather(new_lengths, beam, batch_dims=1)
        tokens = _write_column(tf.gather(tokens, rows), index + 1, tf.reshape(token, [-1]))
        # What next_fn passed through is still tiled from one row per sentence: no reordering.
        cache = tf.nest.map_structure(lambda new, old: new if new is old else tf.gather(new, rows),
                                      new_cache, cache)
        finished = tf.logical_or(was_finished, tf.equal(token, end_id))
        return index + 1, tokens, cache, log_probs, finished, lengths

    _, tokens, _, log_probs, finished, lengths = tf.while_loop(
        keep_going, step, (tf.constant(0), tokens, cache, log_probs, finished, lengths),
        maximum_iterations=max_length,
        shape_invariants=(tf.TensorShape([]), tokens.shape, _any_sizes(cache), log_probs.shape,
                          finished.shape, lengths.shape))
    scores = log_probs / length_penalty(lengths, alpha)
    tokens = tf.reshape(tokens, [batch, k, max_length + 1])
    if return_all:
        # Stable: among equal scores the lower beam comes first, as argmax picks it.
        order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
        return tf.gather(tokens, order, batch_dims=1), tf.gather(scores, order, batch_dims=1)
    best = tf.argmax(scores, axis=1, output_type=tf.int32)
    return tf.gather(tokens, best, batch_dims=1), tf.gather(scores, best, batch_dims=1)
