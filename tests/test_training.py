"""The training path on a small synthetic corpus, in process."""

import os

import numpy as np
import pytest

from data.corpus import write_pairs
from data.pipeline import make_dataset
from models.config import RunError, resolve_config
from models.evaluation import masked_accuracy
from models.training import compile_model, prepare_splits, train, vectorize_pairs
from models.translator import Translator


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
    source, target = vectorize_pairs(translator, val)
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


def test_checkpoint_average_is_the_mean_of_the_last_epochs_and_kept_only_if_better(
        synthetic_corpus, tmp_path):
    from models.training import AverageLastEpochs, read_state

    # The callback: the element-wise mean of the last `count` snapshots.
    model = Translator.create(_config(synthetic_corpus), *_tiny_tokenizers()).model
    averager = AverageLastEpochs(model, count=2)
    weights = model.get_weights()
    for shift in (1.0, 2.0, 4.0):
        model.set_weights([w + shift for w in weights])
        averager.on_epoch_end(0)
    np.testing.assert_allclose(averager.average()[0], weights[0] + 3.0, atol=1e-6)

    # In a run: the state says which weights were kept, and the saved model has them.
    config = _config(synthetic_corpus, tie_embeddings=True, norm_first=True, epochs=3,
                     average_last=3)
    translator = train(config, str(tmp_path / "run"), verbose=0)
    summary = read_state(str(tmp_path / "run"))["checkpoint_average"]
    assert summary["epochs"] == 3 and summary["used"] in ("averaged", "last")
    if summary["used"] == "averaged":
        assert summary["val_loss_averaged"] < summary["val_loss_last"]
    saved = Translator.load(str(tmp_path / "run"))
    for a, b in zip(saved.model.get_weights(), translator.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _tiny_tokenizers():
    from data.vectorize import WordTokenizer, add_markers

    english = WordTokenizer.adapt(["red cat", "blue dog"], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers(["gato rojo", "perro azul"]), 100, 21, "spanish")
    return english, spanish


def test_validation_bleu_is_logged_each_epoch_and_early_stopping_can_watch_it(
        synthetic_corpus, tmp_path):
    import csv

    config = _config(synthetic_corpus, epochs=3, val_bleu_sources=20, early_stopping=5,
                     early_stopping_metric="bleu")
    train(config, str(tmp_path / "run"), verbose=0)
    with open(tmp_path / "run" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for row in rows:
        assert 0.0 <= float(row["val_bleu"]) <= 100.0 and 0.0 <= float(row["val_chrf"]) <= 100.0
    with pytest.raises(ValueError, match="needs val_bleu_sources"):
        _config(synthetic_corpus, early_stopping=2, early_stopping_metric="bleu")
