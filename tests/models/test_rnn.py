"""models/rnn.py: the GRU and GRU-with-attention builders (the book's parameter count), their
cached steps, padding, and .keras round trips."""

import pytest

from nmt.config import resolve_config
from nmt.translator import build_model
from tests.conftest import (check_cached_steps_equal_one_full_pass,
                            check_extra_source_padding_does_not_change_outputs,
                            check_model_survives_keras_save_and_load)


def test_book_gru_has_the_books_parameter_count():
    assert build_model(resolve_config("gru", "book")).count_params() == 34_869_912


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_extra_source_padding_does_not_change_outputs(name):
    check_extra_source_padding_does_not_change_outputs(name)


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_cached_steps_equal_one_full_pass(name):
    check_cached_steps_equal_one_full_pass(name)


@pytest.mark.parametrize("name", ("rnn", "gru"))
def test_models_survive_keras_save_and_load(name, tmp_path):
    check_model_survives_keras_save_and_load(name, tmp_path)