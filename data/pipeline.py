"""tf.data pipelines: `({"english", "spanish"}, next_tokens, sample_weights)` batches.

`sample_weights` is 1.0 on real target tokens and 0.0 on padding, so the loss and the accuracy
count real tokens only (the book's 2nd-edition code counts padding too).

Three batching modes:
- "fixed": the book's batches, every sequence padded to the full length (20).
- "trim": the book's random batches, each padded only to its own longest sentence.
- "bucket": sentences of similar length are batched together and each batch is padded only to
  its own longest sentence (most of the corpus is 5-10 words long, so most padding disappears).

Example:
>>> src = np.array([[5, 6, 0], [7, 0, 0]]); tgt = np.array([[2, 8, 3, 0], [2, 9, 3, 0]])
>>> ds = make_dataset(src, tgt, batch_size=2, batching="fixed", shuffle=False)
>>> inputs, targets, weights = next(iter(ds))
>>> inputs["spanish"].shape, targets.shape
(TensorShape([2, 3]), TensorShape([2, 3]))
"""

import numpy as np
import tensorflow as tf

BATCHING_CHOICES = ("fixed", "trim", "bucket")
DEFAULT_BUCKET_BOUNDARIES = (6, 8, 10, 12, 15)


def _split_target(source, target):
    """Target `[start] w1 .. wn [end]` -> decoder input (without last) and next tokens (without first)."""
    decoder_inputs = target[:, :-1]
    next_tokens = target[:, 1:]
    weights = tf.cast(tf.not_equal(next_tokens, 0), tf.float32)
    return {"english": source, "spanish": decoder_inputs}, next_tokens, weights


def _split_target_with_loss_mask(source, target):
    """As `_split_target`, with the real-token mask as a model input instead of sample weights
    (for `models.token_selection.build_training_model`)."""
    next_tokens = target[:, 1:]
    # int64 0/1 rather than bool: tf.distribute averages a first batch across replicas.
    inputs = {"english": source, "spanish": target[:, :-1],
              "loss_mask": tf.cast(tf.not_equal(next_tokens, 0), target.dtype)}
    return inputs, next_tokens


def _trimmer(round_to=None):
    """A map function dropping the columns that are padding in every row of the batch.

    With `round_to` (sorted lengths), each side is kept up to the next of those lengths
    instead, so only a few distinct shapes occur (what XLA, which compiles per shape, needs).
    """
    def round_up(length, full):
        if not round_to:
            return length
        stops = tf.constant(sorted(set(round_to)), tf.int32)
        larger = tf.boolean_mask(stops, stops >= length)
        return tf.minimum(tf.cond(tf.size(larger) > 0, lambda: larger[0], lambda: full), full)

    def trim(source, target):
        src_len = tf.reduce_max(tf.reduce_sum(tf.cast(source != 0, tf.int32), axis=1))
        tgt_len = tf.reduce_max(tf.reduce_sum(tf.cast(target != 0, tf.int32), axis=1))
        src_len = round_up(tf.maximum(src_len, 1), tf.shape(source)[1])
        # The target keeps one extra column: it is split into input and next tokens.
        tgt_len = round_up(tf.maximum(tgt_len - 1, 1), tf.shape(target)[1] - 1) + 1
        return source[:, :src_len], target[:, :tgt_len]

    return trim


def _bucket_batch_sizes(batch_size, bucket_boundaries, max_tokens, full_length):
    """Sentences per batch in each bucket: `batch_size`, or the `max_tokens` budget divided by
    the bucket's longest length (lengths < boundary i go to bucket i; the last bucket's longest
    is the full sequence length)."""
    if not max_tokens:
        return [batch_size] * (len(bucket_boundaries) + 1)
    longest = [b - 1 for b in bucket_boundaries] + [max(full_length, bucket_boundaries[-1])]
    return [max(1, max_tokens // length) for length in longest]


def make_dataset(
    source_ids,
    target_ids,
    batch_size,
    batching="bucket",
    shuffle=True,
    seed=None,
    bucket_boundaries=DEFAULT_BUCKET_BOUNDARIES,
    drop_remainder=False,
    pad_to_bucket_boundary=False,
    loss_mask=False,
    max_tokens=0,
):
    """Build the training / evaluation dataset from vectorized ids.

    Args:
        source_ids: int array (n, src_len), 0-padded English ids.
        target_ids: int array (n, tgt_len + 1), 0-padded `[start] ... [end]` Spanish ids.
        batch_size: int. Sentences per batch (the global batch under a distribution strategy).
        batching: "fixed" (pad to full length, like the book), "trim" (the book's random
            batches, padded per batch) or "bucket" (batches of similar lengths, padded per batch).
        shuffle: bool. Reshuffle every epoch (the cache comes before the shuffle, so it does).
        seed: int or None. Shuffle seed.
        bucket_boundaries: token lengths separating the buckets in "bucket" mode.
        drop_remainder: bool. Drop the last incomplete batch (keeps shapes static).
        pad_to_bucket_boundary: bool. In "bucket" mode, pad each side to the next bucket
            boundary rather than to the batch's longest sentence (few shapes, for XLA).
        max_tokens: int. In "bucket" mode, batch by a token budget instead of `batch_size`:
            each bucket's batches hold max_tokens // (its longest length) sentences, so every
            batch has about the same number of tokens (fairseq's --max-tokens). 0 = off.
        loss_mask: bool. Yield `({"english", "spanish", "loss_mask"}, next_tokens)` (the real-token
            mask as an input, for a model that computes logits on real tokens only) instead of
            `({"english", "spanish"}, next_tokens, sample_weights)`.
    """
    if batching not in BATCHING_CHOICES:
        raise ValueError(f"batching={batching!r} is not one of {BATCHING_CHOICES}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    if max_tokens < 0 or (max_tokens and batching != "bucket"):
        raise ValueError(f"max_tokens={max_tokens} needs batching='bucket' and must be >= 0")
    source_ids = np.asarray(source_ids, dtype="int64")
    target_ids = np.asarray(target_ids, dtype="int64")
    if len(source_ids) != len(target_ids):
        raise ValueError(
            f"source_ids has {len(source_ids)} rows but target_ids has {len(target_ids)}"
        )
    ds = tf.data.Dataset.from_tensor_slices((source_ids, target_ids)).cache()
    if shuffle:
        ds = ds.shuffle(len(source_ids), seed=seed, reshuffle_each_iteration=True)
    round_to = list(bucket_boundaries) if pad_to_bucket_boundary else None
    if batching == "fixed":
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    elif batching == "trim":
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(_trimmer(round_to), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        def length(source, target):
            return tf.maximum(
                tf.reduce_sum(tf.cast(source != 0, tf.int32)),
                tf.reduce_sum(tf.cast(target != 0, tf.int32)) - 1,
            )

        ds = ds.bucket_by_sequence_length(
            length,
            bucket_boundaries=list(bucket_boundaries),
            bucket_batch_sizes=_bucket_batch_sizes(batch_size, bucket_boundaries, max_tokens,
                                                   source_ids.shape[1]),
            drop_remainder=drop_remainder,
        )
        ds = ds.map(_trimmer(round_to), num_parallel_calls=tf.data.AUTOTUNE)
    split = _split_target_with_loss_mask if loss_mask else _split_target
    ds = ds.map(split, num_parallel_calls=tf.data.AUTOTUNE)
    # No autotuning thread: dropping an iterator of an autotuned pipeline could wait seconds for
    # that thread (Keras drops the validation iterator before every validation, and the
    # training iterator at every epoch's end). `nmt train --preset small --max-pairs 40000
    # --budget-minutes 1.5` on 2026-12-07's 2-core VM: two of its four later epochs took 19.0
    # and 19.1 s, 3.6 and 5.2 s of it in Keras' reset of the validation iterator (the others
    # 14.5-14.9 s); without the thread, 14.3-15.0 s each. The AUTOTUNE values above then mean
    # one parallel call per core and a default prefetch buffer.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def count_batches(source_ids, target_ids, batch_size, batching="bucket",
                  bucket_boundaries=DEFAULT_BUCKET_BOUNDARIES, drop_remainder=False,
                  max_tokens=0):
    """How many batches one epoch of `make_dataset` with these arguments yields (without
    materialising them): with "bucket", each bucket's sentences in batches of that bucket's
    size, the last one partial.

    Example:
    >>> source = [[5, 6, 0], [5, 0, 0], [5, 6, 7], [5, 6, 0]]
    >>> target = [[2, 8, 3, 0], [2, 3, 0, 0], [2, 8, 9, 3], [2, 8, 9, 3]]
    >>> count_batches(source, target, 2, batching="trim")
    2
    >>> count_batches(source, target, 2, bucket_boundaries=(2, 3))  # lengths 2, 1, 3, 3
    3
    """
    source_ids = np.asarray(source_ids)
    target_ids = np.asarray(target_ids)
    rounding = (lambda n, size: n // size) if drop_remainder else (lambda n, size: -(-n // size))
    if batching != "bucket":
        return rounding(len(source_ids), batch_size)
    # make_dataset's length: the longer of the source and the target's next tokens.
    lengths = np.maximum(np.sum(source_ids != 0, axis=1), np.sum(target_ids != 0, axis=1) - 1)
    buckets = np.searchsorted(np.asarray(bucket_boundaries), lengths, side="right")
    sizes = _bucket_batch_sizes(batch_size, bucket_boundaries, max_tokens, source_ids.shape[1])
    counts = np.bincount(buckets, minlength=len(sizes))
    return int(sum(rounding(int(n), size) for n, size in zip(counts, sizes)))


def count_target_tokens(target_ids):
    """Real next-token targets in a target array (what `sample_weights` sums to).

    Example:
    >>> count_target_tokens([[2, 8, 3, 0], [2, 9, 9, 3]])  # [start] is never a target
    5
    """
    return int(np.sum(np.asarray(target_ids)[:, 1:] != 0))
