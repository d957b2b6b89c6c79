"""Model builders (parameter counts), incremental decoding, the decode loop, Translator save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from data.vectorize import WordTokenizer, add_markers
from nmt.config import resolve_config
from models.decoding import decode
from models.transformer_decoder import TransformerDecoder
from models.transformer_encoder import TransformerEncoder
from nmt.translator import Translator, build_model
from tests.conftest import assert_saved_model_round_trip

MODELS = ("transformer", "rnn", "gru")
# Model variants whose decoding and saving are checked like the models': name -> (model, settings).
VARIANTS = {
    "transformer_prenorm_tied": ("transformer", dict(norm_first=True, tie_embeddings=True,
                                                     block_dropout=0.1)),
}
VOCAB = 40


def _tiny_model(name, **overrides):
    # Seeded: an untrained model's logits are close together, and with unseeded weights (which
    # depend on what ran before) a near-tie can let float rounding flip a greedy choice.
    keras.utils.set_random_seed(0)
    model_name, settings = VARIANTS.get(name, (name, {}))
    config = resolve_config(model_name, "tiny", vocab_size=VOCAB, **{**settings, **overrides})
    return config, build_model(config)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, VOCAB, size=(3, 7))
    source[0, 4:] = 0
    source[1, 6:] = 0
    target = rng.integers(4, VOCAB, size=(3, 6))
    target[:, 0] = 2
    return source, target


def test_book_transformer_without_positions_has_the_books_parameter_count():
    model = build_model(resolve_config("transformer", "book", positional=False))
    assert model.count_params() == 14_428_824


def test_tied_embeddings_replace_the_output_layer_by_the_target_embedding():
    config, model = _tiny_model("transformer")
    _, tied = _tiny_model("transformer", tie_embeddings=True)
    names = {layer.name for layer in tied.layers}
    assert "output" not in names
    # The Dense output layer's kernel is gone; its bias stays, as the embedding's output_bias.
    assert model.count_params() - tied.count_params() == config.embed_dim * VOCAB
    source, target = _batch()
    logits = tied({"english": source, "spanish": target})
    assert logits.shape == (3, 6, VOCAB) and logits.dtype == "float32"


def test_pre_norm_model_normalises_each_stack_once_at_the_end():
    _, model = _tiny_model("transformer", norm_first=True, num_layers=2)
    names = [layer.name for layer in model.layers]
    assert "encoder_norm" in names and "decoder_norm" in names
    blocks = [layer for layer in model.layers
              if isinstance(layer, (TransformerEncoder, TransformerDecoder))]
    assert len(blocks) == 4 and all(block.norm_first for block in blocks)


def test_book_gru_has_the_books_parameter_count():
    assert build_model(resolve_config("gru", "book")).count_params() == 34_869_912


@pytest.mark.parametrize("name", MODELS + tuple(VARIANTS))
def test_extra_source_padding_does_not_change_outputs(name):
    _, model = _tiny_model(name)
    source, target = _batch()
    padded = np.concatenate([source, np.zeros((3, 5), source.dtype)], axis=1)
    np.testing.assert_allclose(model({"english": padded, "spanish": target}),
                               model({"english": source, "spanish": target}), atol=1e-5)


@pytest.mark.parametrize("name", MODELS + tuple(VARIANTS))
def test_cached_steps_equal_one_full_pass(name):
    config, model = _tiny_model(name, num_layers=2)
    translator_steps = Translator(config, model, None, None).steps
    source, target = _batch()
    full = model({"english": source, "spanish": target})
    cache = translator_steps.init_cache(translator_steps.encode(tf.constant(source)), 6)
    for t in range(6):
        logits, cache = translator_steps.next_fn(tf.constant(target), cache, t)
        np.testing.assert_allclose(logits, full[:, t], atol=1e-4)


def _greedy_by_full_recompute(model, source, start_id, end_id, max_length):
    """The book's loop, batched: re-run the whole model on the whole prefix for every token."""
    tokens = np.full((len(source), 1), start_id)
    done = np.zeros(len(source), bool)
    for _ in range(max_length):
        logits = model({"english": source, "spanish": tokens}).numpy()[:, -1]
        next_ids = np.where(done, 0, logits.argmax(-1))
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        done |= next_ids == end_id
        if done.all():
            break
    return tokens


@pytest.mark.parametrize("name", MODELS + tuple(VARIANTS))
def test_cached_greedy_decode_equals_full_recompute(name):
    config, model = _tiny_model(name)
    steps = Translator(config, model, None, None).steps
    source, _ = _batch(1)
    end_id = 3
    expected = _greedy_by_full_recompute(model, source, 2, end_id, 8)
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


@pytest.mark.parametrize("name", MODELS + tuple(VARIANTS))
def test_models_survive_keras_save_and_load(name, tmp_path):
    _, model = _tiny_model(name)
    source, target = _batch()
    assert_saved_model_round_trip(model, {"english": source, "spanish": target}, tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_translator_save_load_translates_the_same(name, tmp_path, tiny_pairs):
    config = resolve_config(name, "tiny")
    english = WordTokenizer.adapt([e for e, _ in tiny_pairs], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers([s for _, s in tiny_pairs]), 100, 21, "spanish")
    translator = Translator.create(config, english, spanish)
    sentences = ["Where is the station?", "", "I love AI."]
    before = translator.translate(sentences)
    translator.save(tmp_path / "run")
    after = Translator.load(str(tmp_path / "run")).translate(sentences)
    assert after == before and after[1] == "" and len(after) == 3


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


@pytest.mark.parametrize("name", MODELS + tuple(VARIANTS))
def test_beam_search_with_one_beam_equals_greedy(name):
    config, model = _tiny_model(name)
    steps = Translator(config, model, None, None).steps
    source, _ = _batch(2)
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


def test_export_round_trip_matches_translator(tmp_path, tiny_pairs):
    from nmt.export import export_saved_model

    config = resolve_config("transformer", "tiny")
    english = WordTokenizer.adapt([e for e, _ in tiny_pairs], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers([s for _, s in tiny_pairs]), 100, 21, "spanish")
    translator = Translator.create(config, english, spanish)
    sentences = ["Where is the station?", "", "I love AI."]
    export_saved_model(translator, str(tmp_path / "exported"))
    restored = tf.saved_model.load(str(tmp_path / "exported"))
    got = [s.decode() for s in restored.translate(tf.constant(sentences)).numpy()]
    assert got == translator.translate(sentences)


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
