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


class _Clock:
    """A training clock for `TimeBudget`: each batch takes `seconds_per_batch` seconds."""

    def __init__(self, monkeypatch, seconds_per_batch=0.5):
        import types

        import nmt.callbacks

        self.now, self.seconds_per_batch = 0.0, seconds_per_batch
        monkeypatch.setattr(nmt.callbacks, "time",
                            types.SimpleNamespace(perf_counter=lambda: self.now))

    def batches(self, budget, count, steps=1):
        """`count` calls of `steps` steps each (several: `steps_per_execution`)."""
        for _ in range(count):
            self.now += self.seconds_per_batch * steps
            budget.model.optimizer.iterations += steps
            budget.on_train_batch_end(0)


def _planned_budget(first_step=100, **arguments):
    import types

    from models.budget_cooldown import BudgetCooldown
    from nmt.callbacks import TimeBudget

    schedule = BudgetCooldown(1e-3, planned_steps=1000, cooldown=0.2)
    budget = TimeBudget(minutes=1, schedule=schedule, warm_steps=2, every=4, **arguments)
    budget.set_model(types.SimpleNamespace(
        stop_training=False, optimizer=types.SimpleNamespace(iterations=first_step)))
    budget.on_train_begin()
    return budget, schedule


def test_the_budget_plans_the_cooldown_for_the_step_at_which_its_time_runs_out(monkeypatch):
    clock = _Clock(monkeypatch)
    budget, schedule = _planned_budget()
    clock.batches(budget, 5)
    assert schedule.planned_steps == 1000  # measured from batch 2 on, estimated every 4
    clock.batches(budget, 1)
    # 4 batches in 2 s since the mark: 2 steps/s; 57 s left at step 106.
    assert schedule.planned_steps == 106 + 2 * 57
    budget.on_test_begin()
    clock.now += 20.0  # validation is neither training speed nor budget
    budget.on_test_end()
    clock.batches(budget, 4)
    assert schedule.planned_steps == 110 + 2 * 55
    logs = {}
    budget.on_epoch_end(0, logs)
    assert logs["planned_steps"] == 220
    assert logs["learning_rate"] == pytest.approx(float(schedule(100)))


def test_with_several_steps_a_call_the_budget_plans_from_the_optimizers_steps(monkeypatch):
    clock = _Clock(monkeypatch)
    budget, schedule = _planned_budget()
    clock.batches(budget, 1, steps=4)  # the first call (tracing): the mark, no estimate
    assert schedule.planned_steps == 1000
    clock.batches(budget, 1, steps=4)
    # 4 steps in 2 s since the mark: 2 steps/s; 56 s left at step 108.
    assert schedule.planned_steps == 108 + 2 * 56
    clock.batches(budget, 1, steps=3)  # an epoch's last call, cut short: 3 steps
    assert schedule.planned_steps == 108 + 2 * 56  # 3 steps since the estimate: none yet
    clock.batches(budget, 1, steps=4)
    assert schedule.planned_steps == 115 + 2 * 52.5
    clock.batches(budget, 26, steps=4)  # step 219: 59.5 s of training
    assert not budget.model.stop_training
    clock.batches(budget, 1, steps=4)  # the minute is up within this call: stops after it
    assert budget.model.stop_training


def test_a_resumed_budget_counts_its_spent_epochs_and_the_plan_stops_at_the_last_epoch(
        monkeypatch):
    clock = _Clock(monkeypatch)
    budget, schedule = _planned_budget(spent_seconds=30.0)
    clock.batches(budget, 6)
    assert budget.remaining_seconds == pytest.approx(27.0)
    assert schedule.planned_steps == 106 + 2 * 27
    budget, schedule = _planned_budget(max_steps=150)
    clock.batches(budget, 6)
    assert schedule.planned_steps == 150  # the epochs end before the budget
    clock.batches(budget, 113)
    assert not budget.model.stop_training
    clock.batches(budget, 1)
    assert budget.model.stop_training  # 120 batches, 60 s of training: the minute is up


def test_several_workers_plan_and_stop_as_the_chief_says(monkeypatch):
    clock = _Clock(monkeypatch)
    said = []

    def agree(values):
        said.append(values)
        return [1.0, 500.0] if len(said) == 3 else [0.0, 0.0]  # the chief's decisions

    budget, schedule = _planned_budget(agree=agree)
    clock.batches(budget, 2)
    assert schedule.planned_steps == 1000 and not budget.model.stop_training
    clock.batches(budget, 1)
    assert schedule.planned_steps == 500 and budget.model.stop_training
    assert said[0] == [0.0, 0.0]  # this worker's own: no stop, no estimate yet
