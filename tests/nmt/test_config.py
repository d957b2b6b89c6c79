"""nmt/config.py: one declaration per setting gives the flags, their help, the validation and
what a resume compares; the presets hold the recipes they promise."""

import dataclasses
import json
import math

import pytest

from nmt.config import (GROUPS, PRESET_SUMMARIES, PRESETS, Config, ConfigError,
                        add_config_arguments, check_value, declared_fields, flag, presets_table,
                        resolve_config, resume_differences)
from tests.conftest import run_nmt


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
    ("key_dim", -1, "key_dim=-1 (--key-dim) must be >= 0"),
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
    # A finished run stands in for a config only if it was trained with every one of its settings.
    assert resume_differences(saved, longer, finished=True) == ["budget_minutes", "epochs"]
    assert resume_differences(saved, runtime, finished=True) == []
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
    assert "presets: tiny 32, book 256, book-2nd 256, cpu-best 256" in actions["embed_dim"].help
    assert "presets: book-2nd/transformer 256" in actions["key_dim"].help
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
    (dict(model="gru", key_dim=32), "key_dim=32 is for the Transformer"),
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
    # Batches of similar lengths by a token budget: more tokens per second, same accuracy per
    # token (benchmarks/README.md); the book-small Transformer keeps the book's random batches.
    assert (demo.batching, demo.max_tokens, book.batching) == ("bucket", 576, "trim")
    for model in ("rnn", "gru"):  # `nmt compare --preset small` compares these as they were
        small = dataclasses.asdict(resolve_config(model, "small"))
        assert small == dict(dataclasses.asdict(resolve_config(model, "book-small")),
                             preset="small")


def test_an_explicit_key_dim_lifts_the_divisibility_rule():
    with pytest.raises(ConfigError, match="embed_dim=30 is not divisible by num_heads=4"):
        resolve_config("transformer", "tiny", embed_dim=30, num_heads=4)
    config = resolve_config("transformer", "tiny", embed_dim=30, num_heads=4, key_dim=30)
    assert config.key_dim == 30


def test_book_2nd_preset_is_the_book_preset_with_heads_as_wide_as_the_embeddings():
    for model in ("transformer", "rnn", "gru"):
        book = dataclasses.asdict(resolve_config(model, "book"))
        second = dataclasses.asdict(resolve_config(model, "book-2nd"))
        differences = {name for name in book if book[name] != second[name]}
        # Only the Transformer's attention differs (the RNNs are the same in both editions).
        assert differences == ({"preset", "key_dim"} if model == "transformer" else {"preset"})
    assert resolve_config("transformer", "book-2nd").key_dim == 256
    assert resolve_config("transformer", "book").key_dim == 0  # embed_dim // num_heads


def test_a_config_saved_before_key_dim_existed_is_the_3rd_edition_block():
    saved = json.loads(resolve_config("transformer", "tiny").to_json())
    del saved["key_dim"]
    assert Config.from_dict(saved).validate().key_dim == 0


def test_every_preset_has_a_summary_and_a_row_in_the_table():
    assert set(PRESET_SUMMARIES) == set(PRESETS)
    table = presets_table()
    rows = {line.split()[0] for line in table.splitlines()[2:] if line and not line[0].isspace()}
    assert set(PRESETS) <= rows
    # The book presets' attention: 8 heads of 32 (3rd edition), of 256 (2nd edition).
    assert "8x32 heads" in table and "8x256 heads" in table
    assert max(map(len, table.splitlines())) <= 100


def test_print_config_shows_the_2nd_edition_preset(tmp_path):
    result = run_nmt("train", "--preset", "book-2nd", "--out", str(tmp_path / "run"),
                     "--print-config")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout[result.stdout.index("{"):])
    assert (printed["preset"], printed["key_dim"], printed["embed_dim"]) == ("book-2nd", 256, 256)
