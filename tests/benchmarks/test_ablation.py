"""benchmarks/ablation.py: its settings mean what its documentation says (nothing is trained)."""

import importlib.util
import os

import pytest

from nmt.cli import build_parser, train_config
from nmt.config import resolve_config
from tests.conftest import ROOT


def _load(name):
    path = os.path.join(ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ablation = _load("ablation")


def _variant_config(variant):
    flags = ablation.train_flags(variant, minutes=5, chunk_steps=500, seed=1337)
    return train_config(build_parser().parse_args(["train", *flags, "--out", "unused"]))


def test_every_ablation_variant_is_a_valid_time_bounded_small_transformer():
    for variant in ablation.VARIANTS:
        config = _variant_config(variant)
        assert (config.model, config.embed_dim, config.dense_dim, config.num_heads) == \
            ("transformer", 128, 512, 4), variant
        assert config.budget_minutes == 5 and config.steps_per_epoch == 500
        assert config.precision == "float32"


@pytest.mark.parametrize("variant, field, removed_value", [
    ("-wordpiece", "tokenizer", "word"),
    ("-label_smoothing", "label_smoothing", 0.0),
    ("-schedule", "lr_schedule", "constant"),
    ("-adamw", "optimizer", "adam"),
    ("-dropout", "dropout", 0.5),
    ("-tied", "tie_embeddings", False),
    ("-averaging", "average_last", 0),
    ("+pre_ln", "norm_first", True),
    ("+2_layers", "num_layers", 2),
])
def test_each_ablation_variant_changes_its_element_and_nothing_else(variant, field, removed_value):
    recipe, changed = _variant_config("recipe"), _variant_config(variant)
    assert getattr(changed, field) == removed_value != getattr(recipe, field)
    # Fields that move together with the element (its own sub-settings).
    companions = {"tokenizer": {"vocab_size", "sequence_length"}, "lr_schedule": {"warmup_steps"},
                  "optimizer": {"weight_decay"}, "dropout": {"block_dropout"}}
    allowed = {field} | companions.get(field, set())
    differences = {name for name in vars(recipe) if getattr(recipe, name) != getattr(changed, name)}
    assert differences <= allowed, (variant, differences - allowed)


def test_ablation_book_variant_is_the_books_recipe_at_small_size():
    book = _variant_config("book")
    small = resolve_config("transformer", "book-small")
    assert (book.tokenizer, book.optimizer, book.lr_schedule, book.dropout) == \
        (small.tokenizer, small.optimizer, small.lr_schedule, small.dropout) == \
        ("word", "adam", "constant", 0.5)
    assert not book.tie_embeddings and book.label_smoothing == 0.0 and book.average_last == 0
