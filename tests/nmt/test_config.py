"""nmt/config.py: one declaration per setting gives the flags, their help, the validation and
what a resume compares; the presets hold the recipes they promise."""

import dataclasses
import math

import pytest

from nmt.config import (GROUPS, PRESETS, Config, ConfigError, add_config_arguments, check_value,
                        declared_fields, flag, resolve_config, resume_differences)


def _field(name):
    return next(field for field in dataclasses.fields(Config) if field.name == name)


def test_every_setting_is_declared_with_help_and_a_group():
    for field in declared_fields():
        assert field.metadata["help"], field.name
        assert field.metadata["group"] in GROUPS, field.name
    undeclared = {f.name for f in dataclasses.fields(Config)} - {f.name for f in declared_fields()}
    assert undeclared == {"preset"}  # bookkeeping, chosen with --preset


def test_every_preset_resolves_for_every_model():
    for preset in PRESETS:
        for model in ("transformer", "rnn", "gru"):
            config = resolve_config(model, preset)
            assert (config.model, config.preset) == (model, preset)


@pytest.mark.parametrize("name, value, message", [
    ("embed_dim", 0, "embed_dim=0 (--embed-dim) must be >= 1"),
    ("dropout", 1.0, "dropout=1.0 (--dropout) must be in [0, 1)"),
    ("learning_rate", -1.0, "learning_rate=-1.0 (--learning-rate) must be > 0"),
    ("learning_rate", math.nan, "must be a finite number"),
    ("steps_per_epoch", -3, "steps_per_epoch=-3 (--steps-per-epoch) must be >= 0"),
    ("vocab_size", 3, "vocab_size=3 (--vocab-size) must be >= 5"),
    ("val_fraction", 0.0, "val_fraction=0.0 (--val-fraction) must be in (0, 1)"),
    ("optimizer", "sgd", "optimizer='sgd' (--optimizer) is not one of"),
    ("epochs", 2.5, "must be an integer"),
    ("norm_first", "yes", "must be true or false"),
])
def test_a_bad_value_is_refused_naming_the_field_and_flag(name, value, message):
    with pytest.raises(ConfigError) as error:
        check_value(_field(name), value)
    assert message in str(error.value)
    with pytest.raises(ConfigError):
        resolve_config("transformer", "tiny", **{name: value})


def test_rules_between_fields_are_checked():
    with pytest.raises(ConfigError, match="not divisible by num_heads=3"):
        resolve_config("transformer", "tiny", embed_dim=32, num_heads=3)
    with pytest.raises(ConfigError, match="leave no training data"):
        resolve_config("transformer", "tiny", val_fraction=0.5, test_fraction=0.5)


def test_a_resume_compares_what_is_learned_and_ignores_how_it_runs():
    saved = resolve_config("transformer", "tiny")
    runtime = dataclasses.replace(saved, corpus="/elsewhere/spa.txt", strategy="mirrored",
                                  precision="mixed_bfloat16", jit_compile="on",
                                  fused_optimizer=False)
    assert resume_differences(saved, runtime) == []
    longer = dataclasses.replace(saved, epochs=9, budget_minutes=5.0)
    assert resume_differences(saved, longer) == []
    changed = dataclasses.replace(saved, embed_dim=64, split="book", learning_rate=0.5)
    assert resume_differences(saved, changed) == ["embed_dim", "learning_rate", "split"]


def test_every_declared_field_becomes_a_flag_with_its_default_in_the_help():
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    actions = {action.dest: action for action in parser._actions}
    for field in declared_fields():
        action = actions[field.name]
        assert flag(field.name) in action.option_strings
        assert action.default is None  # not given: the preset's value stays
        assert "(default: " in action.help, field.name
    assert "presets: tiny 32, book 256, cpu-best 256" in actions["embed_dim"].help
    args = parser.parse_args(["--no-positional", "--dropout", "0.25"])
    assert args.positional is False and args.dropout == 0.25 and args.epochs is None


def test_unknown_saved_fields_are_refused_and_missing_ones_take_defaults():
    assert Config.from_dict({"model": "gru"}).rnn_units == Config.rnn_units
    with pytest.raises(ConfigError, match="unknown config fields: \\['colour'\\]"):
        Config.from_dict({"colour": "blue"})


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
