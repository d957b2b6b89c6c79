"""The training path on a small synthetic corpus, in process."""

import os

import numpy as np
import pytest

from data.corpus import write_pairs
from data.pipeline import make_dataset
from nmt.config import ConfigError, resolve_config
from nmt.runs import RunError
from nmt.evaluation import masked_accuracy
from nmt.training import compile_model, prepare_splits, train
from nmt.translator import Translator


@pytest.fixture
def synthetic_corpus(tmp_path):
    words = ["red", "blue", "green", "cat", "dog", "house", "big", "small"]
    spanish = ["rojo", "azul", "verde", "gato", "perro", "casa", "grande", "pequeño"]
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(400):
        idx = rng.integers(0, len(words), size=rng.integers(1, 5))
        pairs.append((" ".join(words[i] for i in idx).capitalize() + ".",
                      " ".join(spanish[i] for i in idx).capitalize() + "."))
    path = tmp_path / "pairs.tsv"
    write_pairs(pairs, path)
    return str(path)


def _config(corpus, **overrides):
    values = dict(corpus=corpus, epochs=1, steps_per_epoch=5, batch_size=16, batching="fixed")
    values.update(overrides)
    return resolve_config("transformer", "tiny", **values)


def test_same_seed_gives_same_vocabulary_and_weights(synthetic_corpus, tmp_path):
    first = train(_config(synthetic_corpus), str(tmp_path / "a"), verbose=0)
    second = train(_config(synthetic_corpus), str(tmp_path / "b"), verbose=0)
    for name in ("english_vocab.txt", "spanish_vocab.txt"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    for w1, w2 in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    other = train(_config(synthetic_corpus, seed=7), str(tmp_path / "c"), verbose=0)
    assert not all(np.array_equal(w1, w2) for w1, w2 in
                   zip(first.model.get_weights(), other.model.get_weights()))


def test_loss_and_accuracy_ignore_padding(synthetic_corpus, tmp_path):
    # Same data and weights: fixed padding (to 20) and per-batch padding give the same
    # validation loss and accuracy, because padded positions carry zero weight.
    translator = train(_config(synthetic_corpus), str(tmp_path / "f"), verbose=0)
    val = prepare_splits(translator.config, verbose=False).val
    per_batch = masked_accuracy(translator, val)  # bucketed batches, padded per batch
    source, target = translator.vectorize(val)
    compile_model(translator.model, translator.config)  # fit() trained the token-selection view
    results = translator.model.evaluate(
        make_dataset(source, target, 64, batching="fixed", shuffle=False), verbose=0,
        return_dict=True)
    assert abs(results["accuracy"] - per_batch["masked_accuracy"]) < 1e-3
    assert abs(results["loss"] - per_batch["loss"]) < 1e-3


def test_resume_refuses_other_settings_and_finished_runs(synthetic_corpus, tmp_path):
    out = str(tmp_path / "run")
    train(_config(synthetic_corpus), out, verbose=0)
    with pytest.raises(RunError, match="already trained"):
        train(_config(synthetic_corpus), out, verbose=0)
    os.remove(os.path.join(out, "train_state.json"))  # as if interrupted
    with pytest.raises(RunError, match="other settings \\(embed_dim\\)"):
        train(_config(synthetic_corpus, embed_dim=16), out, verbose=0)
    assert Translator.load(out).config.embed_dim == 32


def test_wordpiece_run_trains_resumes_its_vocabulary_and_writes_case_and_punctuation(
        synthetic_corpus, tmp_path):
    out = str(tmp_path / "wp")
    config = _config(synthetic_corpus, tokenizer="wordpiece", vocab_size=200, epochs=6,
                     steps_per_epoch=40, learning_rate=3e-3, dropout=0.0,
                     label_smoothing=0.1, lr_schedule="inverse_sqrt", warmup_steps=20)
    translator = train(config, out, verbose=0)
    loaded = Translator.load(out)
    assert type(loaded.target_tokenizer).__name__ == "SubwordTokenizer"
    assert loaded.target_tokenizer.vocabulary == translator.target_tokenizer.vocabulary
    # Capitalised, with the final full stop, like the training targets ("Gato rojo.").
    outputs = loaded.translate(["Red cat.", "Big house."])
    assert all(o[:1].isupper() and o.endswith(".") for o in outputs), outputs


def _tiny_tokenizers():
    from data.vectorize import WordTokenizer, add_markers

    english = WordTokenizer.adapt(["red cat", "blue dog"], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers(["gato rojo", "perro azul"]), 100, 21, "spanish")
    return english, spanish


def test_checkpoint_average_is_the_mean_of_the_last_epochs():
    from nmt.callbacks import AverageLastEpochs

    model = Translator.create(resolve_config("transformer", "tiny"), *_tiny_tokenizers()).model
    averager = AverageLastEpochs(model, count=2)
    weights = model.get_weights()
    for shift in (1.0, 2.0, 4.0):  # the first snapshot falls out of the last two
        model.set_weights([w + shift for w in weights])
        averager.on_epoch_end(0)
    for averaged, original in zip(averager.average(), weights):
        np.testing.assert_allclose(averaged, original + 3.0, atol=1e-5)
    with pytest.raises(ValueError, match="count=1"):
        AverageLastEpochs(model, count=1)


@pytest.mark.parametrize("last_val_loss, expected", [(1e9, "averaged"), (-1.0, "last")])
def test_averaged_weights_are_kept_only_when_their_val_loss_is_lower(
        synthetic_corpus, last_val_loss, expected):
    import types

    from nmt.callbacks import AverageLastEpochs
    from nmt.training import _use_best_of_average

    config = _config(synthetic_corpus)
    splits = prepare_splits(config, verbose=False)
    translator = Translator.create(config, *_tiny_tokenizers())
    compile_model(translator.model, config, token_loss=True)
    val_ds = make_dataset(*translator.vectorize(splits.val), 16, batching="fixed",
                          shuffle=False)
    averager = AverageLastEpochs(translator.model, count=2)
    last = translator.model.get_weights()
    translator.model.set_weights([w + 0.01 for w in last])
    averager.on_epoch_end(0)
    translator.model.set_weights(last)
    averager.on_epoch_end(1)
    history = types.SimpleNamespace(history={"val_loss": [last_val_loss]})
    summary = _use_best_of_average(translator.model, translator, averager, val_ds, history,
                                   lambda *a: None)
    assert summary["used"] == expected and summary["epochs"] == 2
    kept = averager.average() if expected == "averaged" else last
    for got, want in zip(translator.model.get_weights(), kept):
        np.testing.assert_array_equal(got, want)
    # The loss reported for the averaged weights is theirs.
    translator.model.set_weights(averager.average())
    again = translator.model.evaluate(val_ds, verbose=0, return_dict=True)["loss"]
    assert abs(again - summary["val_loss_averaged"]) < 1e-5


def test_a_run_with_averaging_records_what_it_kept(synthetic_corpus, tmp_path):
    from nmt.runs import read_state

    config = _config(synthetic_corpus, tie_embeddings=True, norm_first=True, epochs=3,
                     average_last=3)
    train(config, str(tmp_path / "run"), verbose=0)
    summary = read_state(str(tmp_path / "run"))["checkpoint_average"]
    assert summary["epochs"] == 3 and summary["used"] in ("averaged", "last")


def test_early_stopping_on_bleu_stops_when_validation_bleu_falls(synthetic_corpus, tmp_path,
                                                                  monkeypatch):
    import csv

    import nmt.callbacks

    falling = iter([50.0, 40.0, 30.0, 20.0, 10.0])
    monkeypatch.setattr(nmt.callbacks, "book_bleu",
                        lambda hypotheses, references: {"bleu": next(falling), "chrf": 0.0})
    config = _config(synthetic_corpus, epochs=5, val_bleu_sources=20, early_stopping=1,
                     early_stopping_metric="bleu")
    train(config, str(tmp_path / "run"), verbose=0)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    # Epoch 1 is the best; epoch 2 is worse and patience is 1: training stops after epoch 2.
    assert [float(row["val_bleu"]) for row in rows] == [50.0, 40.0]
    with pytest.raises(ConfigError, match="needs val_bleu_sources"):
        _config(synthetic_corpus, early_stopping=2, early_stopping_metric="bleu")


def test_validation_bleu_is_the_score_of_the_models_own_translations(synthetic_corpus, tmp_path):
    import csv

    from data.corpus import group_references
    from nmt.scoring import book_bleu

    config = _config(synthetic_corpus, epochs=2, val_bleu_sources=20)
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
