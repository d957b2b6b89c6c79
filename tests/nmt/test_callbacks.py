"""nmt/callbacks.py: checkpoint averaging, validation BLEU (and early stopping on it), the
training-time budget."""

import numpy as np
import pytest

from nmt.config import ConfigError, resolve_config
from nmt.training import prepare_splits, train
from nmt.translator import Translator
from tests.conftest import tiny_run_config, tiny_word_tokenizers


def test_checkpoint_average_is_the_mean_of_the_last_epochs():
    from nmt.callbacks import AverageLastEpochs

    model = Translator.create(resolve_config("transformer", "tiny"), *tiny_word_tokenizers()).model
    averager = AverageLastEpochs(model, count=2)
    weights = model.get_weights()
    for shift in (1.0, 2.0, 4.0):  # the first snapshot falls out of the last two
        model.set_weights([w + shift for w in weights])
        averager.on_epoch_end(0)
    for averaged, original in zip(averager.average(), weights):
        np.testing.assert_allclose(averaged, original + 3.0, atol=1e-5)
    with pytest.raises(ValueError, match="count=1"):
        AverageLastEpochs(model, count=1)


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_early_stopping_on_bleu_stops_when_validation_bleu_falls(synthetic_corpus, tmp_path,
                                                                  monkeypatch):
    import csv

    import nmt.callbacks

    falling = iter([50.0, 40.0, 30.0, 20.0, 10.0])
    monkeypatch.setattr(nmt.callbacks, "book_bleu",
                        lambda hypotheses, references: {"bleu": next(falling), "chrf": 0.0})
    config = tiny_run_config(synthetic_corpus, epochs=5, val_bleu_sources=20, early_stopping=1,
                     early_stopping_metric="bleu")
    train(config, str(tmp_path / "run"), verbose=0)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # Epoch 1 is the best; epoch 2 is worse and patience is 1: training stops after epoch 2.
    assert [float(row["val_bleu"]) for row in rows] == [50.0, 40.0]
    with pytest.raises(ConfigError, match="needs val_bleu_sources"):
        tiny_run_config(synthetic_corpus, early_stopping=2, early_stopping_metric="bleu")


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_validation_bleu_is_the_score_of_the_models_own_translations(synthetic_corpus, tmp_path):
    import csv

    from data.corpus import group_references
    from nmt.scoring import book_bleu

    config = tiny_run_config(synthetic_corpus, epochs=2, val_bleu_sources=20)
    translator = train(config, str(tmp_path / "run"), verbose=0)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    # The last epoch's val_bleu is the final model's BLEU on the first 20 validation sources.
    grouped = group_references(prepare_splits(config, verbose=False).val)
    sources = list(grouped)[:20]
    expected = book_bleu(translator.translate(sources), [grouped[s] for s in sources])
    assert float(rows[-1]["val_bleu"]) == pytest.approx(expected["bleu"])
    assert float(rows[-1]["val_chrf"]) == pytest.approx(expected["chrf"])


def test_time_budget_counts_training_time_only(monkeypatch):
    import types

    import nmt.callbacks

    clock = [0.0]
    monkeypatch.setattr(nmt.callbacks.time, "perf_counter", lambda: clock[0])
    budget = nmt.callbacks.TimeBudget(minutes=1)
    budget.set_model(types.SimpleNamespace(stop_training=False))
    budget.on_train_begin()

    def batch_at(seconds):
        clock[0] = seconds
        budget.on_train_batch_end(0)
        return budget.model.stop_training

    assert not batch_at(30.0)
    clock[0] = 30.0
    budget.on_test_begin()
    clock[0] = 60.0  # 30 s of validation: the deadline moves from 60 s to 90 s
    budget.on_test_end()
    assert not batch_at(85.0)
    assert batch_at(91.0)
