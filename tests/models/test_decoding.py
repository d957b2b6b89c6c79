"""models/decoding.py: the decode loop (greedy with the cache equals the full recompute, stopping
and padding, sampling with top-k / top-p, beam search, growing and fixed-shape caches, the
chunked top-k)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.decoding import decode, top_k_by_chunks
from models.registry import MODELS
from nmt.config import resolve_config
from nmt.translator import Translator, build_model
from tests.conftest import (MODEL_NAMES, MODEL_VARIANTS, greedy_by_full_recompute, tiny_batch,
                            tiny_model)


@pytest.mark.parametrize("name", MODEL_NAMES + tuple(MODEL_VARIANTS))
def test_cached_greedy_decode_equals_full_recompute(name):
    config, model = tiny_model(name)
    steps = Translator(config, model, None, None).steps
    source, _ = tiny_batch(1)
    end_id = 3
    expected = greedy_by_full_recompute(model, source, 2, end_id, 8)
    state = steps.encode(tf.constant(source))
    got = decode(steps.next_fn, tf.fill([3], 2), steps.init_cache(state, 8), 8, end_id).numpy()
    np.testing.assert_array_equal(got[:, : expected.shape[1]], expected)
    assert not got[:, expected.shape[1]:].any()


def test_decode_stops_when_all_sentences_end_and_pads_after_end():
    def next_fn(tokens, cache, index):
        # Row 0 says [end] (3) at once; row 1 says 5 then [end].
        ids = tf.where(tf.equal(tf.range(2), 0), 3, tf.where(index == 0, 5, 3))
        return tf.one_hot(ids, 6), cache

    tokens = decode(next_fn, tf.constant([2, 2]), {}, max_length=6, end_id=3).numpy()
    np.testing.assert_array_equal(tokens, [[2, 3, 0, 0, 0, 0, 0], [2, 5, 3, 0, 0, 0, 0]])


def test_sampling_is_reproducible_from_its_seed():
    def next_fn(tokens, cache, index):
        return tf.zeros([4, 50]), cache  # uniform: every token equally likely

    def run(seed):
        return decode(next_fn, tf.fill([4], 2), {}, 10, end_id=-1, strategy="sample",
                      seed=seed).numpy()

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))
    with pytest.raises(ValueError, match="strategy='nucleus'"):
        decode(next_fn, tf.fill([4], 2), {}, 10, end_id=3, strategy="nucleus")


def _normalised_log_prob(model, source, tokens, end_id, alpha=0.6):
    """Length-normalised model log-probability of decoded `tokens` (from [start]), per sentence."""
    from models.decoding import length_penalty

    logits = model({"english": source, "spanish": tokens[:, :-1]}).numpy()
    log_probs = logits - np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1,
                                       keepdims=True)) - logits.max(-1, keepdims=True)
    scores = []
    for row, lp in zip(tokens, log_probs):
        generated = row[1:]
        ends = np.nonzero(generated == end_id)[0]
        length = int(ends[0]) + 1 if len(ends) else len(generated)
        total = sum(lp[t, generated[t]] for t in range(length))
        scores.append(total / float(length_penalty(length, alpha)))
    return np.array(scores)


@pytest.mark.parametrize("name", MODEL_NAMES + tuple(MODEL_VARIANTS))
def test_beam_search_with_one_beam_equals_greedy(name):
    config, model = tiny_model(name)
    steps = Translator(config, model, None, None).steps
    source, _ = tiny_batch(2)
    state = steps.encode(tf.constant(source))
    greedy = decode(steps.next_fn, tf.fill([3], 2), steps.init_cache(state, 8), 8, 3)
    beam = decode(steps.next_fn, tf.fill([3], 2), steps.init_cache(state, 8), 8, 3,
                  strategy="beam", num_beams=1)
    np.testing.assert_array_equal(beam, greedy)


@pytest.mark.parametrize("name", ("transformer", "rnn"))
def test_beam_search_finds_at_least_greedys_normalised_log_probability(name):
    # A random model with a tiny vocabulary, so [end] (id 3) is likely enough to be chosen.
    config = resolve_config(name, "tiny", vocab_size=8)
    model = build_model(config)
    steps = Translator(config, model, None, None).steps
    rng = np.random.default_rng(4)
    source = rng.integers(1, 8, size=(16, 6))
    state = steps.encode(tf.constant(source))
    greedy = decode(steps.next_fn, tf.fill([16], 2), steps.init_cache(state, 10), 10, 3).numpy()
    beam = decode(steps.next_fn, tf.fill([16], 2), steps.init_cache(state, 10), 10, 3,
                  strategy="beam", num_beams=4).numpy()
    greedy_scores = _normalised_log_prob(model, source, greedy, 3)
    beam_scores = _normalised_log_prob(model, source, beam, 3)
    assert beam_scores.mean() >= greedy_scores.mean() - 1e-4
    assert not np.array_equal(beam, greedy)  # the search did change some outputs


def test_top_k_and_top_p_sample_only_from_the_best_tokens():
    # Probabilities 0.5, 0.3, 0.15, 0.05 for tokens 0..3.
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]] * 64))

    def next_fn(tokens, cache, index):
        return logits, cache

    def sampled(**options):
        tokens = decode(next_fn, tf.fill([64], 9), {}, 30, end_id=-1, strategy="sample", seed=3,
                        **options).numpy()
        return set(tokens[:, 1:].ravel().tolist())

    assert sampled() == {0, 1, 2, 3}
    assert sampled(top_k=2) == {0, 1}
    assert sampled(top_p=0.7) == {0, 1}  # 0.5 < 0.7 <= 0.5 + 0.3
    assert sampled(top_p=0.4) == {0}


def test_beam_search_can_return_every_beam_best_first_with_its_score():
    from models.decoding import beam_search

    # Seeded: with weights that depend on which tests ran before (pytest-xdist orders them per
    # worker), the untrained model can choose padding in too many hypotheses to check enough; with
    # this seed it chooses it in none of the 12 here.
    keras.utils.set_random_seed(4)
    config = resolve_config("transformer", "tiny", vocab_size=8)
    model = build_model(config)
    steps = Translator(config, model, None, None).steps
    source = np.random.default_rng(5).integers(1, 8, size=(3, 6))
    state = steps.encode(tf.constant(source))

    def search(**options):
        return beam_search(steps.next_fn, tf.fill([3], 2), steps.init_cache(state, 10), 10, 3,
                           num_beams=4, **options)

    best, best_scores = search()
    every, scores = search(return_all=True)
    assert every.shape == (3, 4, 11) and scores.shape == (3, 4)
    np.testing.assert_array_equal(every[:, 0], best)  # the first is the default's answer
    np.testing.assert_allclose(scores[:, 0], best_scores)
    assert np.all(np.diff(scores.numpy(), axis=1) <= 0)  # best first
    # Each score is the hypothesis' length-normalised log-probability under the model (checked
    # where the untrained model did not choose the padding id 0 before [end]: a full pass reads
    # such a token as padding, so it cannot score it).
    checked = 0
    for beam in range(4):
        tokens = every[:, beam].numpy()
        rescored = _normalised_log_prob(model, source, tokens, 3)
        for row, generated in enumerate(tokens[:, 1:]):
            ends = np.nonzero(generated == 3)[0]
            if not (generated[: ends[0] if len(ends) else None] == 0).any():
                np.testing.assert_allclose(rescored[row], scores[row, beam], atol=1e-4)
                checked += 1
    assert checked >= 3


@pytest.mark.parametrize("name", MODEL_NAMES + tuple(MODEL_VARIANTS))
@pytest.mark.parametrize("options", [dict(strategy="greedy"), dict(strategy="beam", num_beams=3),
                                     dict(strategy="sample", seed=5)])
def test_a_growing_cache_decodes_the_tokens_of_a_fixed_shape_cache(name, options):
    # The fixed-shape cache is what XLA compiles (Translator.jit_compile); the growing one is the
    # graph's default. The RNNs' caches have one shape either way.
    config, model = tiny_model(name)
    source, _ = tiny_batch(3)
    got = []
    for fixed_shapes in (False, True):
        steps = MODELS[config.model].steps(model, fixed_shapes=fixed_shapes)
        state = steps.encode(tf.constant(source))
        got.append(decode(steps.next_fn, tf.fill([3], 2), steps.init_cache(state, 8), 8, 3,
                          **options).numpy())
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("k, width", [(1, 300), (4, 4 * 4 * 64), (4, 7507 * 4), (5, 3001)])
def test_top_k_by_chunks_equals_top_k_values_indices_and_ties(k, width):
    rng = np.random.default_rng(width)
    rows = [rng.normal(size=width),
            np.round(rng.normal(size=width)),  # many ties: the lower index comes first
            np.where(rng.random(width) < 0.995, -1e9, rng.normal(size=width)),  # finished beams
            np.full(width, -1e9)]
    values = tf.constant(np.array(rows, "float32"))
    expected = tf.math.top_k(values, k)
    got_values, got_indices = top_k_by_chunks(values, k, width)
    np.testing.assert_array_equal(got_values, expected.values)
    np.testing.assert_array_equal(got_indices, expected.indices)
