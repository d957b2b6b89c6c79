"""nmt/evaluation.py: masked accuracy and loss count real target tokens only."""

import pytest

from data.pipeline import make_dataset
from nmt.evaluation import masked_accuracy
from nmt.training import compile_model, prepare_splits, train
from tests.conftest import tiny_run_config


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_loss_and_accuracy_ignore_padding(synthetic_corpus, tmp_path):
    # Same data and weights: fixed padding (to 20) and per-batch padding give the same
    # validation loss and accuracy, because padded positions carry zero weight.
    translator = train(tiny_run_config(synthetic_corpus), str(tmp_path / "f"), verbose=0)
    val = prepare_splits(translator.config, verbose=False).val
    per_batch = masked_accuracy(translator, val)  # bucketed batches, padded per batch
    source, target = translator.vectorize(val)
    compile_model(translator.model, translator.config)  # fit() trained the token-selection view
    results = translator.model.evaluate(
        make_dataset(source, target, 64, batching="fixed", shuffle=False), verbose=0,
        return_dict=True)
    assert abs(results["accuracy"] - per_batch["masked_accuracy"]) < 1e-3
    assert abs(results["loss"] - per_batch["loss"]) < 1e-3
