"""nmt/training.py: training on a small synthetic corpus, in process (reproducible, resumable,
WordPiece runs, checkpoint averaging kept only when it helps), and compiling a model with the
configured recipe."""

import csv
import dataclasses
import os

import numpy as np
import pytest

from data.pipeline import make_dataset
from nmt.config import resolve_config
from nmt.runs import RunError
from nmt.training import compile_model, prepare_splits, train
from nmt.translator import Translator, build_model
from tests.conftest import tiny_run_config, tiny_word_tokenizers


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_same_seed_gives_same_vocabulary_and_weights(killed_runs, tmp_path):
    config, _, folders = killed_runs  # its whole run is the first of the two
    first = os.path.join(os.path.dirname(folders[0]), "run")
    second = train(config, str(tmp_path / "b"), verbose=0)
    for name in ("english_vocab.txt", "spanish_vocab.txt"):
        assert open(os.path.join(first, name)).read() == (tmp_path / "b" / name).read_text()
    first_weights = Translator.load(first).model.get_weights()
    for w1, w2 in zip(first_weights, second.model.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    other = train(dataclasses.replace(config, seed=7), str(tmp_path / "c"), verbose=0)
    assert not all(np.array_equal(w1, w2) for w1, w2 in
                   zip(first_weights, other.model.get_weights()))


def test_resume_refuses_other_settings_and_finished_runs(synthetic_corpus, tmp_path):
    out = str(tmp_path / "run")
    train(tiny_run_config(synthetic_corpus), out, verbose=0)
    with pytest.raises(RunError, match="already trained"):
        train(tiny_run_config(synthetic_corpus), out, verbose=0)
    os.remove(os.path.join(out, "train_state.json"))  # as if interrupted
    with pytest.raises(RunError, match="other settings \\(embed_dim\\)"):
        train(tiny_run_config(synthetic_corpus, embed_dim=16), out, verbose=0)
    assert Translator.load(out).config.embed_dim == 32


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
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
    summary = _use_best_of_average(translator.model, translator, averager, val_ds,
                                   last_val_loss, lambda *a: None)
    assert summary["used"] == expected and summary["epochs"] == 2
    kept = averager.average() if expected == "averaged" else last
    for got, want in zip(translator.model.get_weights(), kept):
        np.testing.assert_array_equal(got, want)
    # The loss reported for the averaged weights is theirs.
    translator.model.set_weights(averager.average())
    again = translator.model.evaluate(val_ds, verbose=0, return_dict=True)["loss"]
    assert abs(again - summary["val_loss_averaged"]) < 1e-5


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
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


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
@pytest.mark.parametrize("model_name", ["transformer", "rnn", "gru"])
def test_several_steps_a_call_train_the_same_weights_and_count_every_step(model_name):
    """10 batches, 4 steps a call (4 + 4 + 2): the weights and metrics of one step a call, and
    the epoch's 10 steps in its history."""
    import keras

    from models.token_selection import build_training_model
    from nmt.callbacks import EpochTimer

    rng = np.random.default_rng(0)
    source, target = rng.integers(4, 30, (40, 6)), rng.integers(4, 30, (40, 7))
    for row, (s, t) in enumerate(zip(rng.integers(2, 7, 40), rng.integers(3, 8, 40))):
        source[row, s:], target[row, t:] = 0, 0
    results = []
    for execution in (1, 4):
        config = resolve_config(model_name, "tiny", vocab_size=30, steps_per_execution=execution)
        keras.utils.set_random_seed(0)
        model = build_training_model(build_model(config, 30, 30))
        compile_model(model, config)
        dataset = make_dataset(source, target, 4, batching="trim", seed=0, loss_mask=True)
        history = model.fit(dataset, epochs=2, verbose=0, shuffle=False,
                            callbacks=[EpochTimer()]).history
        results.append((model.get_weights(), history))
    (weights_1, history_1), (weights_4, history_4) = results
    assert history_4["epoch_steps"] == history_1["epoch_steps"] == [10, 10]
    assert history_4["loss"] == history_1["loss"]
    for w1, w4 in zip(weights_1, weights_4):
        np.testing.assert_array_equal(w1, w4)


def test_an_epoch_of_fixed_steps_runs_whole_calls_of_steps():
    from nmt.training import steps_per_execution

    assert steps_per_execution(resolve_config("transformer", "tiny")) == 16
    assert steps_per_execution(resolve_config("transformer", "tiny", steps_per_epoch=40)) == 8
    assert steps_per_execution(resolve_config("transformer", "tiny", steps_per_epoch=15)) == 1
    for strategy in ("mirrored", "multiworker"):  # Keras' loop of steps fails under them
        assert steps_per_execution(resolve_config("transformer", "tiny", strategy=strategy)) == 1


def test_a_cosine_run_can_be_compiled_for_evaluation_without_its_length():
    config = resolve_config("transformer", "tiny", lr_schedule="cosine", warmup_steps=5)
    model = build_model(config)
    compile_model(model, config, token_loss=True)  # evaluation: no schedule needed
    assert float(model.optimizer.learning_rate) == pytest.approx(config.learning_rate)


# Crash safety: a failure injected at each write point of a run, then the same call again.


def _crash_config(corpus, **overrides):
    """A run of 2 epochs of 2 tiny steps, averaging its last two epochs."""
    values = dict(epochs=2, average_last=2, steps_per_epoch=2, embed_dim=8, dense_dim=8,
                  fused_optimizer=False)
    return tiny_run_config(corpus, **{**values, **overrides})


# The files a whole run writes, in order: the mark, vocabularies, config and state; per epoch
# the weights, the backup's state and the history; the final weights and their summary; the
# model and the finished state.
WRITE_POINTS = [".nmt-run", "english_vocab.txt", "spanish_vocab.txt", "config.json",
                "train_state.json"] + ["epoch-0001.weights.h5", "state.json", "history.csv",
                                       "epoch-0002.weights.h5", "state.json", "history.csv"
                                       ] + ["final.weights.h5", "final.json", "model.keras",
                                            "train_state.json"]


@pytest.fixture(scope="module")
def killed_runs(tmp_path_factory):
    """(config, names, {n: folder}): the files one whole run of `_crash_config` writes, in order
    (each write ends in `nmt.runs._commit`), and for the n-th write a copy of the run folder as a
    kill just before its rename leaves it: the n-1 writes before it in place, its temporary file
    written beside its place (named by the killed process' pid), nothing after it."""
    import shutil
    import subprocess
    import sys

    import nmt.runs
    from data.corpus import write_pairs
    from tests.conftest import synthetic_pairs

    root = tmp_path_factory.mktemp("killed")
    write_pairs(synthetic_pairs(), root / "pairs.tsv")
    config = _crash_config(str(root / "pairs.tsv"))
    out, commit, names, folders = root / "run", nmt.runs._commit, [], {}

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid that has ended

    def copy_then_commit(temporary, path):
        folder = folders[len(names)] = str(root / f"killed-at-{len(names)}")
        shutil.copytree(out, folder)  # the temporary file too, named by a process that has gone
        killed = os.path.join(folder, os.path.relpath(temporary, out))
        os.rename(killed, killed.replace(f".tmp-{os.getpid()}", f".tmp-{gone}"))
        names.append(os.path.basename(path))
        commit(temporary, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nmt.runs, "_commit", copy_then_commit)
        train(config, str(out), verbose=0)
    return config, names, folders


def test_a_run_writes_its_files_through_these_write_points_in_this_order(killed_runs):
    _, names, _ = killed_runs
    assert names == WRITE_POINTS


@pytest.mark.slow  # a tiny training per write point (the module's killed runs: one worker)
@pytest.mark.parametrize("crash_at, name", list(enumerate(WRITE_POINTS)))
def test_a_crash_at_any_write_point_then_the_same_command_finishes_the_run(
        crash_at, name, killed_runs):
    import csv

    import nmt.runs

    config, names, folders = killed_runs
    assert names[crash_at] == name  # the write point this test is about
    out = folders[crash_at]
    assert any(".tmp-" in f for _, _, files in os.walk(out) for f in files)  # killed mid-write
    train(config, out, verbose=0)  # the same command again
    with open(os.path.join(out, "history.csv")) as f:
        epochs = [row["epoch"] for row in csv.DictReader(f)]
    assert epochs == ["0", "1"], (crash_at, name, epochs)
    state = nmt.runs.read_state(out)
    assert state["completed"] and state["epochs_run"] == 2, (crash_at, name)
    assert not os.path.exists(os.path.join(out, "backup")), (crash_at, name)
    assert not [f for _, _, files in os.walk(out) for f in files if ".tmp-" in f], (crash_at, name)
    assert len(Translator.load(out).translate(["red cat"])) == 1


# Damage: one file of an interrupted (or finished) run cut short or overwritten with noise, then
# the same call again. Three folders of one tiny 3-epoch run are copied as a kill would have left
# them; each case damages one file of a copy and resumes it in process.

# The moments the copies are taken: just before each of these writes is renamed into place
# (the n-th write of that name).
SNAPSHOTS = {"epoch 1": ("epoch-0002.weights.h5", 1),  # backup: epoch 1 only
             "epoch 2": ("epoch-0003.weights.h5", 1),  # backup: epochs 2 and 1 (the previous)
             "trained": ("train_state.json", 2)}  # final weights and model.keras written
EPOCHS_TRAINED = {"epoch 1": 1, "epoch 2": 2, "trained": 3}


@pytest.fixture(scope="module")
def interrupted_runs(tmp_path_factory):
    """(config, {name: folder}): the copies of SNAPSHOTS and "finished", the whole run, of one
    training of `_crash_config(epochs=3)` on the synthetic corpus."""
    import shutil

    import nmt.runs
    from data.corpus import write_pairs
    from tests.conftest import synthetic_pairs

    root = tmp_path_factory.mktemp("interrupted")
    write_pairs(synthetic_pairs(), root / "pairs.tsv")
    config = _crash_config(str(root / "pairs.tsv"), epochs=3)
    out, commit, seen, folders = root / "run", nmt.runs._commit, [], {}

    def copy_at_snapshots(temporary, path):
        seen.append(os.path.basename(path))
        for name, (point, count) in SNAPSHOTS.items():
            if seen[-1] == point and seen.count(point) == count:  # as a kill here leaves it
                folders[name] = str(root / name.replace(" ", "-"))
                shutil.copytree(out, folders[name], ignore=shutil.ignore_patterns("*.tmp-*"))
        commit(temporary, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nmt.runs, "_commit", copy_at_snapshots)
        train(config, str(out), verbose=0)
    folders["finished"] = str(out)
    assert sorted(folders) == sorted([*SNAPSHOTS, "finished"])
    return config, folders


def _damage(path, how):
    """Cut the file at `path` to half its bytes ("truncated"), or overwrite it with as many
    bytes of noise ("garbage")."""
    with open(path, "rb") as f:
        size = len(f.read())
    data = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    with open(path, "rb+") as f:
        if how == "truncated":
            f.truncate(size // 2)
        else:
            f.write(data)


def _history_epochs(folder):
    import csv

    with open(os.path.join(folder, "history.csv")) as f:
        return [row["epoch"] for row in csv.DictReader(f)]


# The damaged file's problem as the warning names it: cut short, or noise. A weights or vocabulary
# file is checked against the size and sha256 recorded when it was written; JSON and CSV files are
# parsed.
_WHOLE_FILE = r"damaged \((truncated: [\d,]+ of its [\d,]+ bytes are left|corrupt: its bytes " \
              r"differ from those written \(sha256\))\)"
_PARSED = r"damaged \((not valid JSON|cut short|not UTF-8 text).*\)"
_CONFIG = r"not a valid run config \(.*\)"
_RESUMED = "; resuming from the backup of epoch {}, the last whole one"

# (folder, damaged file, the warning after "warning: PATH: ", the epoch training goes on after).
DAMAGE_CASES = [
    ("epoch 2", "backup/epoch-0002.weights.h5", _WHOLE_FILE + _RESUMED.format(1), 1),
    ("epoch 1", "backup/epoch-0001.weights.h5",
     _WHOLE_FILE + "; no whole backup is left: training from the start", 0),
    ("epoch 2", "backup/state.json", _PARSED + _RESUMED.format(2), 2),
    ("epoch 2", "train_state.json", _PARSED + "; written again \\(this resume cannot check that "
     "the corpus gives the same split\\)", 2),
    ("epoch 2", "history.csv", _PARSED + "; written again from the backup's history", 2),
    ("epoch 2", "config.json", _CONFIG + "; restored from the copy in backup/state.json", 2),
    ("epoch 2", "english_vocab.txt", _WHOLE_FILE + "; learned again from the training split "
     "\\(the same vocabulary\\)", 2),
    ("epoch 2", "spanish_vocab.txt", _WHOLE_FILE + "; learned again from the training split "
     "\\(the same vocabulary\\)", 2),
    ("trained", "backup/final.weights.h5", _WHOLE_FILE + _RESUMED.format(3), 3),
    ("trained", "backup/final.json", _PARSED + _RESUMED.format(3), 3),
    ("trained", "model.keras", None, 3),  # not read by a resume: written again, nothing to say
]


# Every kind of file truncated; noise where it is found another way than a cut file (a weights
# file's checksum, a JSON or CSV parser, the config's check): the other files' noise is found by
# the same checksum as the epoch-2 weights', so those cases would train again for nothing.
GARBAGE_TOO = {"backup/epoch-0002.weights.h5", "backup/state.json", "train_state.json",
               "history.csv", "config.json"}


@pytest.mark.slow  # a tiny training resumed per case (the module's interrupted runs are shared)
@pytest.mark.parametrize("snapshot, name, warning, resumed_after, how", [
    pytest.param(*case, how, id=f"{case[0]}-{case[1]}-{how}") for case in DAMAGE_CASES
    for how in ("truncated", "garbage") if how == "truncated" or case[1] in GARBAGE_TOO])
def test_a_damaged_file_is_named_and_the_run_resumes_from_the_last_whole_epoch(
        interrupted_runs, snapshot, name, warning, resumed_after, how, tmp_path, capsys):
    """The warning names the file and what is wrong with it, and where the run goes on from;
    the run then ends with each of its 3 epochs once in history.csv, and a whole model."""
    import re
    import shutil

    import keras

    import nmt.runs

    config, folders = interrupted_runs
    out = str(tmp_path / "run")
    shutil.copytree(folders[snapshot], out)
    _damage(os.path.join(out, name), how)
    epochs_fitted = []

    class CountEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_fitted.append(epoch)

    fit = keras.Model.fit

    def counting_fit(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[CountEpochs(), *callbacks], **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "fit", counting_fit)
        capsys.readouterr()
        train(config, out, verbose=0)  # the same command again
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("warning:")]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1, warnings
        path = re.escape(os.path.join(out, name))
        assert re.fullmatch(f"warning: {path}: {warning}", warnings[0]), warnings[0]
    # Trained on from the last whole epoch, each epoch once.
    assert epochs_fitted == list(range(resumed_after, 3))
    assert _history_epochs(out) == ["0", "1", "2"]
    state = nmt.runs.read_state(out)
    assert state["completed"] and state["epochs_run"] == 3
    assert not os.path.exists(os.path.join(out, "backup"))
    assert nmt.runs.file_damage(os.path.join(out, "model.keras")) is None
    # A vocabulary is learned again as it was; config.json comes back with the run's settings.
    for kept in ("english_vocab.txt", "spanish_vocab.txt"):
        with open(os.path.join(out, kept), "rb") as f, \
                open(os.path.join(folders[snapshot], kept), "rb") as g:
            assert f.read() == g.read()
    assert nmt.runs.load_config(out) == nmt.runs.load_config(folders[snapshot])


@pytest.mark.slow  # the module's interrupted runs: a 3-epoch tiny training
@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("name, error", [
    ("model.keras", "model.keras: damaged \\(not a whole .keras \\(zip\\) file: .*\\); the run "
                    "had finished and its backup is gone: train it again with --overwrite"),
    ("train_state.json", "train_state.json: damaged \\(.*\\); the run had finished \\(its "
                         "model.keras is whole\\): pass --overwrite to train it again"),
])
def test_a_damaged_finished_run_is_refused_in_one_line_naming_the_file(
        interrupted_runs, name, error, how, tmp_path):
    """A finished run has no backup left to resume from: the user decides (--overwrite)."""
    import shutil

    config, folders = interrupted_runs
    out = str(tmp_path / "run")
    shutil.copytree(folders["finished"], out)
    _damage(os.path.join(out, name), how)
    with pytest.raises(RunError, match=error) as raised:
        train(config, out, verbose=0)
    assert "\n" not in str(raised.value)
    assert _history_epochs(out) == ["0", "1", "2"]  # nothing was changed


# A time budget plans the end of the learning rate. The clock of nmt.callbacks is one second a
# batch, so the plan is exact: 4 epochs of 15 steps allow 60, the budget of 45 s allows 45.
BUDGET_EPOCHS = dict(epochs=4, steps_per_epoch=15, budget_minutes=0.75, budget_cooldown=0.2,
                     embed_dim=8, dense_dim=8, rnn_units=8, fused_optimizer=False)
# Per epoch: its steps; the plan at its end (the epochs' 60 until the speed is measured, from
# batch 10 to batch 30: 20 steps in 20 s, then 15 s left at step 30: 45); the learning rate (the
# base until the cooldown, the last 9 of the 45 steps, then 0 at step 45, where the time is up).
BUDGET_HISTORY = {"epoch_steps": [15, 15, 15], "planned_steps": [60, 45, 45],
                  "learning_rate": [1e-3, 1e-3, 0.0]}


def _a_second_a_batch(monkeypatch):
    """Training time, as the budget and the epoch timer measure it, is one second a batch."""
    import types

    import nmt.callbacks

    clock = [0.0]
    monkeypatch.setattr(nmt.callbacks, "time",
                        types.SimpleNamespace(perf_counter=lambda: clock[0]))
    on_batch_end = nmt.callbacks.EpochTimer.on_train_batch_end

    def a_second(self, batch, logs=None):
        clock[0] += 1.0
        on_batch_end(self, batch, logs)

    monkeypatch.setattr(nmt.callbacks.EpochTimer, "on_train_batch_end", a_second)


def _assert_planned_history(folder):
    from nmt.runs import read_history

    rows = read_history(folder)
    for name, expected in BUDGET_HISTORY.items():
        assert [row[name] for row in rows] == pytest.approx(expected, abs=1e-7), name


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
@pytest.mark.parametrize("model", ["rnn", "gru"])  # the Transformer: the resume tests below
def test_a_budget_run_ends_its_learning_rate_at_zero_when_its_time_is_up(
        model, synthetic_corpus, tmp_path, monkeypatch):
    _a_second_a_batch(monkeypatch)
    config = resolve_config(model, "tiny", corpus=synthetic_corpus, **BUDGET_EPOCHS)
    train(config, str(tmp_path / model), verbose=0)
    _assert_planned_history(str(tmp_path / model))


@pytest.mark.slow  # trains for more than a few seconds (tests/README.md)
def test_a_resumed_budget_run_keeps_its_plan_and_the_time_its_epochs_spent(
        synthetic_corpus, tmp_path, monkeypatch):
    """A kill after epoch 2 (the third epoch's backup not yet written): the same command goes on
    with 15 s of its 45 and the plan of step 45. A kill after the budget ran out (the final
    weights not yet written): it trains no more. Either way the history is the uninterrupted
    run's. (The folders a kill leaves are copied as one training writes them.)"""
    import shutil

    import nmt.callbacks
    import nmt.runs

    _a_second_a_batch(monkeypatch)
    config = tiny_run_config(synthetic_corpus, **BUDGET_EPOCHS)
    out, commit, killed = str(tmp_path / "run"), nmt.runs._commit, {}

    def copy_before(temporary, path):
        name = os.path.basename(path)
        if name in ("epoch-0003.weights.h5", "final.weights.h5"):
            killed[name] = str(tmp_path / name)
            shutil.copytree(out, killed[name], ignore=shutil.ignore_patterns("*.tmp-*"))
        commit(temporary, path)

    monkeypatch.setattr(nmt.runs, "_commit", copy_before)
    train(config, out, verbose=0)
    monkeypatch.setattr(nmt.runs, "_commit", commit)
    _assert_planned_history(out)
    on_train_begin = nmt.callbacks.TimeBudget.on_train_begin
    for name, resumed_with in (("epoch-0003.weights.h5", [(45, 30.0, 30)]),
                               ("final.weights.h5", [])):
        resumed = []

        def seen(budget, logs=None):
            on_train_begin(budget, logs)
            resumed.append((budget.schedule.planned_steps, budget.spent_seconds,
                            budget._first_step))

        monkeypatch.setattr(nmt.callbacks.TimeBudget, "on_train_begin", seen)
        train(config, killed[name], verbose=0)
        assert resumed == resumed_with, name
        _assert_planned_history(killed[name])
        assert nmt.runs.read_state(killed[name])["completed"], name


def test_a_precision_the_cpu_cannot_compute_in_fails_before_the_run_folder_is_made(
        tmp_path, monkeypatch):
    from nmt import hardware

    monkeypatch.setattr(hardware.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # TensorFlow's bfloat16 matmul would abort
    config = resolve_config("transformer", "tiny", precision="mixed_bfloat16")
    with pytest.raises(hardware.PrecisionError, match="ONEDNN_MAX_CPU_ISA=AVX2"):
        train(config, str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("batching", ["trim", "bucket"])
def test_the_progress_bar_counts_an_epochs_batches_from_the_first_epoch(
        tmp_path, synthetic_corpus, capsys, batching):
    # 16 steps a call; an epoch's batches are not a multiple of 16, and the dataset's own count
    # is unknown to tf.data: the bar's total comes from `count_batches`.
    config = tiny_run_config(synthetic_corpus, steps_per_epoch=0, batching=batching, epochs=1)
    train(config, str(tmp_path / "run"), verbose=1)
    bar = capsys.readouterr().out.replace("\r", "\n")
    with open(tmp_path / "run" / "history.csv") as f:
        steps = int(float(next(csv.DictReader(f))["epoch_steps"]))
    assert steps % 16 and "Unknown" not in bar and f"{steps}/{steps}" in bar
