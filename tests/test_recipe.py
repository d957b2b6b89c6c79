"""Training-recipe options: learning-rate schedules, weight decay, label smoothing, validation."""

import dataclasses

import numpy as np
import pytest

from nmt.config import ConfigError, resolve_config
from models.schedules import WarmupInverseSqrt, learning_rate
from nmt.training import compile_model
from nmt.translator import build_model


def test_inverse_sqrt_warms_up_linearly_then_decays_as_one_over_sqrt_step():
    schedule = WarmupInverseSqrt(peak=1e-3, warmup_steps=100)
    values = [float(schedule(step)) for step in (0, 49, 99, 399, 9999)]
    # Steps count from 1: 1/100, 50/100, 100/100 of the peak, then sqrt(100 / 400) = 1/2, 1/10.
    np.testing.assert_allclose(values, [1e-5, 5e-4, 1e-3, 5e-4, 1e-4], rtol=1e-5)
    clone = WarmupInverseSqrt.from_config(schedule.get_config())
    assert float(clone(399)) == pytest.approx(values[3])
    with pytest.raises(ValueError, match="warmup_steps=0"):
        WarmupInverseSqrt(1e-3, 0)


def test_cosine_schedule_peaks_after_warmup_and_ends_at_zero():
    config = resolve_config("transformer", "tiny", lr_schedule="cosine", warmup_steps=10,
                            learning_rate=2e-3)
    schedule = learning_rate(config.lr_schedule, config.learning_rate, config.warmup_steps,
                             total_steps=110)
    assert float(schedule(0)) < 1e-3
    assert float(schedule(10)) == pytest.approx(2e-3, rel=1e-4)
    assert float(schedule(60)) == pytest.approx(1e-3, rel=1e-3)  # half-way down the cosine
    assert float(schedule(110)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="total number of steps"):
        learning_rate(config.lr_schedule, config.learning_rate, config.warmup_steps)


def test_constant_schedule_is_the_plain_learning_rate():
    assert learning_rate("constant", 5e-4) == 5e-4


def test_compile_uses_the_configured_optimizer_decay_and_smoothing():
    config = resolve_config("transformer", "tiny", optimizer="adamw", weight_decay=0.01,
                            label_smoothing=0.1, lr_schedule="inverse_sqrt", warmup_steps=5)
    from models.token_selection import build_training_model

    model = build_training_model(build_model(config))
    compile_model(model, config)
    assert type(model.optimizer).__name__ == "FusedAdamW"
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    assert model.loss.label_smoothing == pytest.approx(0.1)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3 / 5)  # step 1 of 5


@pytest.mark.parametrize("overrides, message", [
    (dict(lr_schedule="linear"), "lr_schedule='linear'"),
    (dict(label_smoothing=1.0), "label_smoothing=1.0"),
    (dict(label_smoothing=0.1, select_tokens=False), "needs select_tokens"),
    (dict(warmup_steps=-1), "warmup_steps=-1"),
    (dict(lr_schedule="inverse_sqrt"), "needs a warmup"),
    (dict(batching="trim", max_tokens=500), "max_tokens=500"),
    (dict(average_last=1), "average_last=1"),
    (dict(average_last=3, early_stopping=2), "average_last=3 and early_stopping=2"),
    (dict(block_dropout=1.0), "block_dropout=1.0"),
    (dict(model="rnn", tie_embeddings=True), "tie_embeddings=True is for the Transformer"),
])
def test_bad_recipe_settings_raise_with_the_value(overrides, message):
    overrides = dict(overrides)
    model = overrides.pop("model", "transformer")
    with pytest.raises(ConfigError, match=message):
        resolve_config(model, "tiny", **overrides)


def test_cpu_best_preset_is_the_recipe_with_three_tied_blocks_for_the_transformer():
    config = resolve_config("transformer", "cpu-best")
    assert (config.tokenizer, config.num_layers, config.tie_embeddings) == ("wordpiece", 3, True)
    assert config.label_smoothing == 0.1 and config.optimizer == "adamw"
    assert config.lr_schedule == "inverse_sqrt" and config.average_last == 5
    assert 0 < config.budget_minutes <= 120  # the preset's promise: <= 2 hours of training
    # The RNN gets the recipe but no Transformer-only settings.
    rnn = resolve_config("rnn", "cpu-best")
    assert rnn.tokenizer == "wordpiece" and not rnn.tie_embeddings and rnn.num_layers == 1


def test_book_small_preset_is_the_books_recipe_at_small_sizes_for_every_model():
    for model in ("transformer", "rnn", "gru"):
        config = resolve_config(model, "book-small")
        assert (config.embed_dim, config.dense_dim, config.rnn_units) == (128, 512, 256)
        assert (config.tokenizer, config.vocab_size, config.sequence_length) == ("word", 15000, 20)
        assert (config.optimizer, config.lr_schedule, config.dropout) == ("adam", "constant", 0.5)
        assert config.label_smoothing == config.block_dropout == config.average_last == 0
        assert not config.tie_embeddings and config.num_layers == 1


def test_small_preset_gives_the_demo_transformer_subwords_and_keeps_the_rnns_book_recipe():
    demo = resolve_config("transformer", "small")
    book = resolve_config("transformer", "book-small")
    # The ablation's finding for short runs: the book's recipe, plus WordPiece and smoothing.
    assert (demo.tokenizer, demo.label_smoothing) == ("wordpiece", 0.1)
    assert (demo.optimizer, demo.lr_schedule, demo.batch_size, demo.dropout) == \
        (book.optimizer, book.lr_schedule, book.batch_size, book.dropout)
    assert 0 < demo.budget_minutes <= 12  # the demo's promise: <= 15 minutes in all
    for model in ("rnn", "gru"):  # `nmt compare --preset small` compares these as they were
        small = dataclasses.asdict(resolve_config(model, "small"))
        assert small == dict(dataclasses.asdict(resolve_config(model, "book-small")),
                             preset="small")


def test_a_cosine_run_can_be_compiled_for_evaluation_without_its_length():
    config = resolve_config("transformer", "tiny", lr_schedule="cosine", warmup_steps=5)
    model = build_model(config)
    compile_model(model, config, token_loss=True)  # evaluation: no schedule needed
    assert float(model.optimizer.learning_rate) == pytest.approx(config.learning_rate)
