"""data/pipeline.py: the tf.data pipeline (padding weights, shifted targets, bucketing, trimming,
token budgets, a new shuffle every epoch, the loss-mask input)."""

import numpy as np
import tensorflow as tf

from data.pipeline import make_dataset


def _ids(n, src_lens, tgt_lens, width=20):
    source = np.zeros((n, width), "int64")
    target = np.zeros((n, width + 1), "int64")
    for i, (s, t) in enumerate(zip(src_lens, tgt_lens)):
        source[i, :s] = 5
        target[i, : t + 2] = 7
        target[i, 0], target[i, t + 1] = 2, 3  # [start] ... [end]
    return source, target


def test_batches_weight_padding_zero_and_shift_targets():
    source, target = _ids(4, [3, 5, 2, 4], [2, 6, 1, 3])
    inputs, next_tokens, weights = next(iter(make_dataset(source, target, 4, batching="fixed",
                                                          shuffle=False)))
    assert inputs["english"].shape == (4, 20) and inputs["spanish"].shape == (4, 20)
    np.testing.assert_array_equal(inputs["spanish"][:, 1:], next_tokens[:, :-1])
    np.testing.assert_array_equal(weights, (next_tokens.numpy() != 0).astype("float32"))
    # Real target tokens = words + [end]: 3 + 7 + 2 + 4.
    assert float(tf.reduce_sum(weights)) == 16


def test_bucketed_batches_are_padded_to_their_longest_sentence_only():
    rng = np.random.default_rng(0)
    lens = rng.integers(1, 15, size=200)
    source, target = _ids(200, lens, lens)
    total_real = 0
    for inputs, next_tokens, weights in make_dataset(source, target, 16, batching="bucket",
                                                     shuffle=True, seed=1):
        src_len = int(np.max(np.sum(inputs["english"].numpy() != 0, axis=1)))
        assert inputs["english"].shape[1] == src_len
        assert next_tokens.shape[1] == int(np.max(np.sum(next_tokens.numpy() != 0, axis=1)))
        total_real += float(tf.reduce_sum(weights))
    assert total_real == float(np.sum(lens + 1))  # nothing dropped


def test_shuffle_gives_a_new_order_every_epoch():
    source, target = _ids(64, [3] * 64, [3] * 64)
    source[:, 0] = np.arange(1, 65)  # tag each example
    ds = make_dataset(source, target, 64, batching="fixed", shuffle=True, seed=0)
    first, second = ([int(x) for x in next(iter(ds))[0]["english"][:, 0]] for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(1, 65))
    assert first != second


def test_trimmed_batches_keep_the_books_random_order_and_drop_only_padding():
    rng = np.random.default_rng(0)
    lens = rng.integers(1, 15, size=100)
    source, target = _ids(100, lens, lens)
    fixed = make_dataset(source, target, 16, batching="fixed", shuffle=True, seed=3)
    trimmed = make_dataset(source, target, 16, batching="trim", shuffle=True, seed=3)
    for (f_in, f_next, _), (t_in, t_next, _) in zip(fixed, trimmed):
        width = t_next.shape[1]
        assert width == int(np.max(np.sum(t_next.numpy() != 0, axis=1)))
        np.testing.assert_array_equal(t_next, f_next[:, :width])  # same sentences, same order
        assert not np.any(f_next[:, width:])  # what was cut was padding
        np.testing.assert_array_equal(t_in["english"],
                                      f_in["english"][:, :t_in["english"].shape[1]])


def test_token_budget_puts_more_short_sentences_in_a_batch():
    lens = np.array([3] * 60 + [13] * 60)
    source, target = _ids(120, lens, lens)
    sizes = {}
    for inputs, next_tokens, _ in make_dataset(source, target, 8, batching="bucket",
                                               max_tokens=56, shuffle=False):
        length = inputs["english"].shape[1]
        sizes.setdefault(length, set()).add(inputs["english"].shape[0])
    # Bucket boundaries (6, 8, 10, 12, 15): length 3 -> longest 5 -> 56 // 5 = 11 sentences;
    # length 13 -> longest 14 -> 4 sentences (the last batch of a bucket may be smaller).
    assert max(sizes[3]) == 11 and max(sizes[13]) == 4
    with np.testing.assert_raises(ValueError):
        make_dataset(source, target, 8, batching="fixed", max_tokens=56)


def test_loss_mask_dataset_gives_the_mask_as_an_input_and_no_weights():
    source = np.array([[5, 6, 0], [7, 0, 0]])
    target = np.array([[2, 8, 3, 0], [2, 9, 9, 3]])
    inputs, next_tokens = next(iter(make_dataset(source, target, 2, batching="fixed",
                                                 shuffle=False, loss_mask=True)))
    np.testing.assert_array_equal(inputs["loss_mask"], np.asarray(next_tokens) != 0)
    np.testing.assert_array_equal(next_tokens, [[8, 3, 0], [9, 9, 3]])


def test_the_batch_count_is_the_number_of_batches_an_epoch_yields():
    from data.pipeline import count_batches

    rng = np.random.default_rng(0)
    source, target = rng.integers(4, 50, (300, 20)), rng.integers(4, 50, (300, 21))
    for row, (s, t) in enumerate(zip(rng.integers(1, 21, 300), rng.integers(2, 22, 300))):
        source[row, s:], target[row, t:] = 0, 0
    for batching, max_tokens, drop in [("fixed", 0, False), ("trim", 0, True), ("bucket", 0, False),
                                       ("bucket", 96, False), ("bucket", 96, True)]:
        arguments = dict(batching=batching, max_tokens=max_tokens, drop_remainder=drop)
        yielded = len(list(make_dataset(source, target, 16, seed=0, **arguments)))
        assert count_batches(source, target, 16, **arguments) == yielded, arguments


def test_datasets_run_without_the_autotuning_thread_that_made_dropping_an_iterator_wait():
    source, target = _ids(4, [2, 3, 4, 5], [2, 3, 4, 5])
    for batching in ("fixed", "trim", "bucket"):
        assert not make_dataset(source, target, 2, batching=batching).options().autotune.enabled
