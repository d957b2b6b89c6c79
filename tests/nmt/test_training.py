"""nmt/training.py: training on a small synthetic corpus, in process (reproducible, resumable,
WordPiece runs, checkpoint averaging kept only when it helps), and compiling a model with the
configured recipe."""

import os

import numpy as np
import pytest

from data.pipeline import make_dataset
from nmt.config import resolve_config
from nmt.runs import RunError
from nmt.training import compile_model, prepare_splits, train
from nmt.translator import Translator, build_model
from tests.conftest import tiny_run_config, tiny_word_tokenizers


def test_same_seed_gives_same_vocabulary_and_weights(synthetic_corpus, tmp_path):
    first = train(tiny_run_config(synthetic_corpus), str(tmp_path / "a"), verbose=0)
    second = train(tiny_run_config(synthetic_corpus), str(tmp_path / "b"), verbose=0)
    for name in ("english_vocab.txt", "spanish_vocab.txt"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    for w1, w2 in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    other = train(tiny_run_config(synthetic_corpus, seed=7), str(tmp_path / "c"), verbose=0)
    assert not all(np.array_equal(w1, w2) for w1, w2 in
                   zip(first.model.get_weights(), other.model.get_weights()))


def test_resume_refuses_other_settings_and_finished_runs(synthetic_corpus, tmp_path):
    out = str(tmp_path / "run")
    train(tiny_run_config(synthetic_corpus), out, verbose=0)
    with pytest.raises(RunError, match="already trained"):
        train(tiny_run_config(synthetic_corpus), out, verbose=0)
    os.remove(os.path.join(out, "train_state.json"))  # as if interrupted
    with pytest.raises(RunError, match="other settings \\(embed_dim\\)"):
        train(tiny_run_config(synthetic_corpus, embed_dim=16), out, verbose=0)
    assert Translator.load(out).config.embed_dim == 32


def test_wordpiece_run_trains_resumes_its_vocabulary_and_writes_case_and_punctuation(
        synthetic_corpus, tmp_path):
    out = str(tmp_path / "wp")
    config = tiny_run_config(synthetic_corpus, tokenizer="wordpiece", vocab_size=200, epochs=6,
                     steps_per_epoch=40, learning_rate=3e-3, dropout=0.0,
                     label_smoothing=0.1, lr_schedule="inverse_sqrt", warmup_steps=20)
    translator = train(config, out, verbose=0)
    loaded = Translator.load(out)
    assert type(loaded.target_tokenizer).__name__ == "SubwordTokenizer"
    assert loaded.target_tokenizer.vocabulary == translator.target_tokenizer.vocabulary
    # Capitalised, with the final full stop, like the training targets ("Gato rojo.").
    outputs = loaded.translate(["Red cat.", "Big house."])
    assert all(o[:1].isupper() and o.endswith(".") for o in outputs), outputs


@pytest.mark.parametrize("last_val_loss, expected", [(1e9, "averaged"), (-1.0, "last")])
def test_averaged_weights_are_kept_only_when_their_val_loss_is_lower(
        synthetic_corpus, last_val_loss, expected):
    import types

    from nmt.callbacks import AverageLastEpochs
    from nmt.training import _use_best_of_average

    config = tiny_run_config(synthetic_corpus)
    splits = prepare_splits(config, verbose=False)
    translator = Translator.create(config, *tiny_word_tokenizers())
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

    config = tiny_run_config(synthetic_corpus, tie_embeddings=True, norm_first=True, epochs=3,
                     average_last=3)
    train(config, str(tmp_path / "run"), verbose=0)
    summary = read_state(str(tmp_path / "run"))["checkpoint_average"]
    assert summary["epochs"] == 3 and summary["used"] in ("averaged", "last")


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


def test_a_cosine_run_can_be_compiled_for_evaluation_without_its_length():
    config = resolve_config("transformer", "tiny", lr_schedule="cosine", warmup_steps=5)
    model = build_model(config)
    compile_model(model, config, token_loss=True)  # evaluation: no schedule needed
    assert float(model.optimizer.learning_rate) == pytest.approx(config.learning_rate)
