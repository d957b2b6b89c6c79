"""The one training path for every model: data, vocabularies, fit, resume, save.

`train(config, out_dir)` writes a self-contained run folder (`nmt.runs`): `config.json`,
`english_vocab.txt`, `spanish_vocab.txt` (written first, so a resumed run uses the same
vocabularies), `model.keras`, `history.csv`, `logs/` (TensorBoard), `backup/` while training
(removed at the end) and `train_state.json`.

Re-running the same `train` after an interruption (Ctrl-C, SIGKILL, at any instant) continues
from the last completed epoch (the per-epoch backup of `nmt.callbacks.EpochCheckpoint`). A file of
the run folder found damaged (a full disk, a cut copy) is named in a one-line warning on stderr,
and the run goes on from the last epoch whose files are whole: the previous epoch's backup, a
vocabulary rebuilt from the training split, config.json from the backup's copy; from the start
when nothing trained is left (it says so). What only the user can decide is a `RunError`.

With `strategy="multiworker"` every worker of the cluster in TF_CONFIG runs this same program
(Keras' multi-worker rule: all of them execute every step, saves included); the chief alone writes
`out_dir`, the others write to a temporary folder of their own that they remove at the end. The
chief's decisions (resume epoch, weights, stopping) reach the others through collectives, so a
cluster restarted with the same command resumes from the chief's last backup (docs/multiworker.md).

Example:
>>> from data.corpus import Splits
>>> pairs = [(f"I see {n} cats.", f"Veo {n} gatos.") for n in range(40)]
>>> splits = Splits(train=pairs[:30], val=pairs[30:35], test=pairs[35:])
>>> config = resolve_config("transformer", "tiny", epochs=1, vocab_size=60)
>>> import tempfile, contextlib, io
>>> with contextlib.redirect_stdout(io.StringIO()):
...     translator = train(config, tempfile.mkdtemp(), verbose=0, splits=splits)
>>> translator.model.name
'transformer'
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import warnings

import keras
import tensorflow as tf
from keras import ops

from data.corpus import CorpusError, load_corpus, split_corpus
from data.errors import NmtError
from data.pipeline import count_batches, count_target_tokens, make_dataset
from models.budget_cooldown import BudgetCooldown
from models.metrics import MaskedAccuracy, MaskedCrossEntropy, TokenAccuracy, TokenCrossEntropy
from models.optimizers import make_optimizer
from models.registry import parameter_parts
from models.schedules import learning_rate
from models.token_selection import build_training_model
from nmt.callbacks import (AverageLastEpochs, EpochCheckpoint, EpochTimer, TimeBudget,
                           ValidationBleu)
from nmt.config import Config, ConfigError, resolve_config, resume_differences  # noqa: F401
from nmt.hardware import (ClusterError, broadcast_variables, build_precision, fingerprint,
                          get_strategy, resolve_jit_compile, resolve_precision, shard_by_data,
                          sum_across_workers, weights_sha256, worker_errors, worker_role)
from nmt.runs import (BACKUP_DIR, BACKUP_STATE, CONFIG_FILE, FINAL_STATE, FINAL_WEIGHTS,
                      HISTORY_FILE, MODEL_FILE, SOURCE_VOCAB_FILE, STATE_FILE, TARGET_VOCAB_FILE,
                      RunError, backup_config, check_output_folder, clear_run_folder,
                      file_damage, file_fingerprint, folder_entries, is_run_folder, load_backup,
                      load_config, load_final, locked, mark_run_folder, read_history_checked,
                      read_state_checked, remove, remove_stray_temporaries, save_config,
                      save_final, write_file, write_history, write_state)
from nmt.translator import Translator, make_tokenizers, read_tokenizers

# Bucketed datasets have no known length, so Keras warns at the end of each first pass.
warnings.filterwarnings("ignore", message=".*ran out of data.*")


def prepare_splits(config, verbose=True):
    """Load the corpus named by `config` and split it as `config` says."""
    corpus = load_corpus(config.corpus or None, skip_bad_lines=config.skip_bad_lines,
                         verbose=verbose)
    pairs = corpus.pairs
    if config.max_pairs and config.max_pairs < len(pairs):
        # A seeded random sample, in corpus order (the file is sorted by length, so its
        # first N pairs would be the shortest sentences only).
        keep = sorted(random.Random(config.seed).sample(range(len(pairs)), config.max_pairs))
        pairs = [pairs[i] for i in keep]
    splits = split_corpus(pairs, seed=config.seed, mode=config.split,
                          val_fraction=config.val_fraction, test_fraction=config.test_fraction)
    if verbose:
        sizes = splits.sizes()
        print(f"split '{config.split}' (seed {config.seed}): "
              + ", ".join(f"{name} {n:,}" for name, n in sizes.items()) + " pairs")
    return splits


def splits_sha256(splits):
    """A fingerprint of the exact train/val/test pairs (to check two runs share a split)."""
    digest = hashlib.sha256()
    for name in ("train", "val", "test"):
        for english, spanish in getattr(splits, name):
            digest.update(f"{name}\t{english}\t{spanish}\n".encode())
    return digest.hexdigest()


def check_splits(splits, config):
    """Raise `CorpusError` when a split is empty: the corpus is too small for this split."""
    empty = [name for name in ("train", "val", "test") if not getattr(splits, name)]
    if not empty:
        return
    unit = "English sentences" if config.split == "source" else "pairs"
    # int(fraction * n) must be >= 1 for validation and test.
    needed = max(math.ceil(1 / fraction - 1e-9)
                 for fraction in (config.val_fraction, config.test_fraction))
    raise CorpusError(f"the corpus is too small: its {', '.join(empty)} split is empty (sizes "
                      + ", ".join(f"{name} {n:,}" for name, n in splits.sizes().items())
                      + f" pairs); with --val-fraction {config.val_fraction:g} and "
                      f"--test-fraction {config.test_fraction:g} at least {needed} {unit} are "
                      "needed")


def steps_per_execution(config):
    """The steps `model.fit` runs in one call into TensorFlow: `config.steps_per_execution`, or
    with `config.steps_per_epoch` the largest count that divides both (Keras runs whole
    executions, so an epoch of N steps takes N only when the count divides it). Under a
    distribution strategy, one: Keras' loop of several steps fails there ("You must feed a
    value for placeholder tensor ... while/cond", TensorFlow 2.21, Keras 3.15, with the mirrored
    and the multi-worker strategy)."""
    if config.strategy != "default":
        return 1
    if config.steps_per_epoch:
        return math.gcd(config.steps_per_execution, config.steps_per_epoch)
    return config.steps_per_execution


def compile_model(model, config, token_loss=False, total_steps=None):
    """Compile `model` for training or evaluation with `config`'s optimizer.

    `model.fit` runs `steps_per_execution(config)` steps per call into TensorFlow.
    A model from `build_training_model` (input "loss_mask", logits on real tokens only) gets
    `TokenCrossEntropy` / `TokenAccuracy`; a full model ((batch, tgt_len, vocab) logits) gets the
    per-token loss with sample weights (0 on padding) and `MaskedAccuracy`. `token_loss=True`
    (evaluation of a full model) adds the exact per-token loss metric and leaves XLA off
    (evaluation batches vary in shape). `total_steps` (the run's) is needed by a cosine schedule.
    With `config.budget_minutes`, `config.budget_cooldown` and `total_steps`, the rate is a
    `BudgetCooldown` whose end `nmt.callbacks.TimeBudget` plans.

    Returns the optimizer's learning rate (a float or a schedule).
    """
    extra = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    # Evaluation takes no optimizer step: a constant rate (a cosine schedule needs the run length).
    rate = config.learning_rate if token_loss else learning_rate(
        config.lr_schedule, config.learning_rate, config.warmup_steps, total_steps)
    if config.budget_minutes and config.budget_cooldown and total_steps and not token_loss:
        # Ends with the time budget: planned at the end of the epochs until the run's speed is
        # measured (`nmt.callbacks.TimeBudget`).
        rate = BudgetCooldown(rate, total_steps, config.budget_cooldown)
    optimizer = make_optimizer(config.optimizer, rate, fused=config.fused_optimizer, **extra)
    xla = resolve_jit_compile(config.jit_compile, config.strategy)
    execution = steps_per_execution(config)
    if "loss_mask" in model.input:
        model.compile(jit_compile=xla, optimizer=optimizer, steps_per_execution=execution,
                      loss=TokenCrossEntropy(label_smoothing=config.label_smoothing),
                      metrics=[TokenAccuracy(name="accuracy")])
        return rate
    model.compile(
        jit_compile=False if token_loss else xla,
        optimizer=optimizer,
        steps_per_execution=execution,
        # Logits in, loss averaged over real target tokens (sample weight 0 on padding).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"),
        # Exact per-token averages over all batches (Keras' own average per batch first).
        weighted_metrics=[MaskedAccuracy(name="accuracy")]
        + ([MaskedCrossEntropy(name="token_loss")] if token_loss else []),
    )
    return rate


def _use_best_of_average(model, translator, averager, val_ds, last_loss, say):
    """Replace the final weights by the average of the last epochs' when its val loss is lower
    than `last_loss` (the last epoch's).

    Returns a summary for train_state.json.
    """
    last_loss = float(last_loss)
    if len(averager.snapshots) < 2:
        return {"epochs": len(averager.snapshots), "used": "last", "val_loss_last": last_loss}
    final = translator.model.get_weights()
    translator.model.set_weights(averager.average())
    averaged = model.evaluate(val_ds, verbose=0, return_dict=True)
    summary = {"epochs": len(averager.snapshots), "val_loss_last": last_loss,
               "val_loss_averaged": float(averaged["loss"]),
               "val_accuracy_averaged": float(averaged["accuracy"])}
    if averaged["loss"] < last_loss:
        summary["used"] = "averaged"
    else:
        translator.model.set_weights(final)
        summary["used"] = "last"
    say(f"average of the last {summary['epochs']} epochs: val loss {averaged['loss']:.4f} "
        f"(last epoch {last_loss:.4f}), accuracy {averaged['accuracy']:.4f}; "
        f"keeping the {summary['used']} weights")
    return summary


def _warn(message):
    """One warning line on stderr, even when `verbose=0` (a damaged file is the user's to know)."""
    print(f"warning: {message}", file=sys.stderr)


def _check_resume(config, out_dir, overwrite):
    """Prepare the (locked) run folder; return (resuming, state, backup, final): whether an
    unfinished run resumes there, its train_state.json ({} when missing or damaged), its last
    whole epoch backup (`load_backup`) and its final weights (`load_final`; then no backup).

    `train` has checked that the folder is missing, empty or a run folder; `overwrite` empties a
    run folder first. A finished run is not retrained without `overwrite`; an unfinished one resumes
    when its settings are those of `config` (`resume_differences`). A damaged file is named in a
    warning, with where the run goes on from.
    """
    if overwrite and folder_entries(out_dir):
        clear_run_folder(out_dir)
    mark_run_folder(out_dir)
    remove_stray_temporaries(out_dir)  # of writes a kill cut short (this run holds the lock)
    if not os.path.isfile(os.path.join(out_dir, CONFIG_FILE)):
        return False, {}, None, None
    state, state_damage = read_state_checked(out_dir)
    backup_dir = os.path.join(out_dir, BACKUP_DIR)
    # model.keras without backup/: the run finished (the backup goes after its last state).
    if state.get("completed") or (state_damage and not os.path.isdir(backup_dir)
                                  and os.path.isfile(os.path.join(out_dir, MODEL_FILE))):
        _refuse_finished(out_dir, state_damage)
    if state_damage:
        _warn(f"{os.path.join(out_dir, STATE_FILE)}: damaged ({state_damage}); written again "
              "(this resume cannot check that the corpus gives the same split)")

    problems = []
    final = load_final(out_dir, problems)
    if problems:  # written again at the end
        for name in (FINAL_STATE, FINAL_WEIGHTS):
            remove(os.path.join(backup_dir, name))
    backup = None if final else load_backup(out_dir, problems)
    if problems:
        outcome = (f"resuming from the backup of epoch {backup['epoch']}, the last whole one"
                   if backup else "no whole backup is left: training from the start")
        for problem in problems[:-1]:
            _warn(problem)
        _warn(f"{problems[-1]}; {outcome}")
        if backup is None:
            remove(backup_dir)

    try:
        saved = load_config(out_dir)
    except RunError as error:
        copy = backup_config(out_dir) if backup or final else None
        if copy is None and (backup or final):
            raise RunError(f"{error}; the backup holds no copy of it (a run of an earlier "
                           "version): put the run's config.json back, or train again with "
                           "--overwrite") from None
        if copy is None:  # nothing trained yet: nothing is lost
            _warn(f"{error}; no epoch had finished: training from the start")
            for name in (BACKUP_DIR, HISTORY_FILE):
                remove(os.path.join(out_dir, name))
            return False, {}, None, None
        saved = Config.from_dict(copy).validate()
        save_config(out_dir, saved)
        _warn(f"{error}; restored from the copy in {os.path.join(BACKUP_DIR, BACKUP_STATE)}")
    changed = resume_differences(saved, config)
    if changed:
        raise RunError(f"{out_dir}: an unfinished run with other settings ({', '.join(changed)}) "
                       "is there; use the same settings to resume, or --overwrite")

    _, history_damage = read_history_checked(out_dir)
    if history_damage:
        _warn(f"{os.path.join(out_dir, HISTORY_FILE)}: damaged ({history_damage}); written "
              + ("again from the backup's history" if backup or final else
                 "again from the first epoch"))
    return True, state, backup, final


def _refuse_finished(out_dir, state_damage):
    """Raise the `RunError` that a finished run gets from `train` without `overwrite`."""
    model = os.path.join(out_dir, MODEL_FILE)
    why = file_damage(model)
    if why:
        raise RunError(f"{model}: damaged ({why}); the run had finished and its backup is gone: "
                       "train it again with --overwrite")
    if state_damage:
        raise RunError(f"{os.path.join(out_dir, STATE_FILE)}: damaged ({state_damage}); the run "
                       f"had finished (its {MODEL_FILE} is whole): pass --overwrite to train it "
                       "again")
    raise RunError(f"{out_dir}: this run is already trained; pass --overwrite to train it again")


def _learn_tokenizers(config, splits):
    """The vocabularies learned on the training split, as a new run makes them."""
    try:
        return make_tokenizers(config, splits.train)
    except ValueError as error:  # e.g. a vocabulary too small for the text's characters
        raise ConfigError(f"{config.tokenizer} vocabulary (--vocab-size "
                          f"{config.vocab_size}): {error}") from None


def _vocabulary_fingerprints(out_dir):
    """The vocabulary files' `file_fingerprint`s, for train_state.json."""
    return {name: file_fingerprint(os.path.join(out_dir, name))
            for name in (SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE)}


def _resume_vocabularies(config, out_dir, splits, state):
    """(English, Spanish) tokenizers of the run being resumed, and whether they are its own.

    A vocabulary file that differs from its fingerprint in train_state.json is damaged: it is
    learned again from the training split (as it was made) and written again. When what is
    learned is not the vocabulary the run started with (False), the run starts again with it.
    """
    recorded = state.get("vocabulary") or {}
    damaged = {name: file_damage(os.path.join(out_dir, name), recorded[name])
               for name in (SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE) if recorded.get(name)}
    damaged = {name: why for name, why in damaged.items() if why}
    if not damaged:
        return read_tokenizers(config, out_dir), True
    tokenizers = _learn_tokenizers(config, splits)
    same = True
    for name, tokenizer in zip((SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE), tokenizers):
        if name in damaged:
            path = os.path.join(out_dir, name)
            write_file(path, tokenizer.save)
            same = same and file_fingerprint(path) == recorded[name]
    for name, why in damaged.items():
        _warn(f"{os.path.join(out_dir, name)}: damaged ({why}); learned again from the training "
              + ("split (the same vocabulary)" if same else
                 "split, but it is not the vocabulary this run started with: training from the "
                 "start"))
    return (read_tokenizers(config, out_dir) if same else tokenizers), same


def train(config, out_dir, overwrite=False, verbose=1, splits=None):
    """Train `config` into `out_dir` (resuming an interrupted run there); return the Translator.

    One training at a time writes a run folder (a second one fails at once), and a kill at any
    instant, followed by the same call, ends with the requested epochs, each once in history.csv.
    """
    config.validate()
    # First, before TensorFlow runs an op: a multi-worker strategy sets up collectives at startup.
    strategy = get_strategy(config.strategy, config.cluster_timeout)
    role = worker_role(strategy)
    # A precision this machine cannot compute in fails here, before the run folder is made.
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    with worker_errors(role), contextlib.ExitStack() as stack:
        with _stop_together(strategy, role):
            if role.chief:
                check_output_folder(out_dir)
                stack.enter_context(locked(out_dir))
            else:  # its own folder, removed at the end; it never reads or writes `out_dir`
                out_dir = _worker_folder(out_dir, role)
                stack.callback(shutil.rmtree, out_dir, ignore_errors=True)
                overwrite = False
        return _train(config, out_dir, overwrite, verbose, splits, strategy, role)


@contextlib.contextmanager
def _stop_together(strategy, role):
    """A user error raised inside is first told to the other workers (`_agree`), which stop too
    instead of waiting for this one at their next collective."""
    try:
        yield
    except NmtError:
        _agree(strategy, role, failed=True)
        raise


def _worker_folder(out_dir, role):
    """A new folder for a worker that is not the chief, named after `out_dir` and the worker, so
    that the folder a killed worker left behind is found and replaced when it restarts."""
    name = f"nmt-worker-{role.index}-{fingerprint(os.path.abspath(out_dir)):08x}"
    folder = os.path.join(tempfile.gettempdir(), name)
    if os.path.isdir(folder) and is_run_folder(folder):  # marked: nmt wrote it
        remove(folder)
    if os.path.exists(folder):  # not ours: leave it
        return tempfile.mkdtemp(prefix=name + "-")
    os.makedirs(folder)
    return folder


AGREE_SLOTS = 8  # one shape for every call of `_agree`, a failing worker's included


def _agree(strategy, role, failed=False, values=(), own=()):
    """Where every worker stops to agree (a collective, so each calls it at the same point).

    Returns the chief's `values`. Raises `ClusterError` when another worker `failed` (this one
    re-raises its own error), or when a worker's `own` checksums differ from the chief's (workers
    started with other settings or data).
    """
    if role.workers == 1:
        return list(values)
    values, own = [float(v) for v in values], [float(v) for v in own]
    sent = values + own if role.chief else [0.0] * (len(values) + len(own))
    total = sum_across_workers(strategy, [float(failed)] + sent
                               + [0.0] * (AGREE_SLOTS - 1 - len(sent)))
    if failed:
        return []
    if total[0] > 0:
        raise ClusterError("another worker of the cluster stopped with an error (see its output); "
                           "this one stops too")
    chief = list(total[1:1 + len(values)])
    chief_own = list(total[1 + len(values):1 + len(values) + len(own)])
    differ = sum_across_workers(strategy, [float(chief_own != own)])[0]
    if differ > 0:
        raise ClusterError("the workers were not started with the same settings and corpus; "
                           "start every worker with the same command and corpus file")
    return chief


class ClusterTrainingModel(keras.Model):
    """The training model as several workers fit it (the same layers and weights).

    Two things Keras 3's `fit` does not do on `MultiWorkerMirroredStrategy` with one device per
    worker, done here: made outside the strategy's scope, it is not built by averaging a first
    batch of data across the workers (a collective TensorFlow refuses there; `fit` runs inside
    the scope); and its step returns each log as a 1-element vector, which Keras reduces across
    workers along axis 0 (a scalar has no axis 0).
    """

    def train_step(self, data):
        return {k: ops.reshape(v, (1,)) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        return {k: ops.reshape(v, (1,)) for k, v in super().test_step(data).items()}


def _restore(model, path):
    """Load a backup's weights (and optimizer state) into the compiled training `model` (a file
    that does not load is a `RunError` naming it)."""
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except (OSError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunError(f"{path}: cannot be loaded into this run's model ({reason}); delete "
                       f"{os.path.dirname(path)} to train the run from the start") from None


def _prepare(config, out_dir, overwrite, verbose, splits, say):
    """Everything before the model: the resume decision, the backup, the split and the
    vocabularies. Touches no TensorFlow collective (a worker that fails here tells the others)."""
    resuming, state, backup, final = _check_resume(config, out_dir, overwrite)
    say(("resuming" if resuming else "training") + f" {config.model} into {out_dir} with config:")
    say(config.to_json())
    splits = splits or prepare_splits(config, verbose=bool(verbose))
    check_splits(splits, config)
    split_sha256 = splits_sha256(splits)
    if resuming:
        if state.get("split_sha256", split_sha256) != split_sha256:
            raise RunError(f"{out_dir}: the corpus now gives another split than the one this run "
                           "started on; resume with the same corpus file, or --overwrite")
        (source_tok, target_tok), own = _resume_vocabularies(config, out_dir, splits, state)
        if not own:  # the backup was trained on other vocabularies
            resuming, state, backup, final = False, {}, None, None
            for name in (BACKUP_DIR, HISTORY_FILE):
                remove(os.path.join(out_dir, name))
    else:
        source_tok, target_tok = _learn_tokenizers(config, splits)
    return resuming, state, backup, final, splits, split_sha256, source_tok, target_tok


def _train(config, out_dir, overwrite, verbose, splits, strategy, role):
    if config.corpus:  # found again from any working directory
        config = dataclasses.replace(config, corpus=os.path.abspath(config.corpus))
    say = print if verbose else (lambda *args, **kwargs: None)
    keras.utils.set_random_seed(config.seed)
    with _stop_together(strategy, role):
        resuming, state, backup, final, splits, split_sha256, source_tok, target_tok = _prepare(
            config, out_dir, overwrite, verbose, splits, say)
    # The chief's resume point reaches every worker; the settings (the corpus' place aside, it
    # may differ between machines), the split and the vocabularies must be the same everywhere.
    settings = json.dumps({k: v for k, v in dataclasses.asdict(config).items()
                           if k not in ("corpus", "cluster_timeout")}, sort_keys=True)
    vocabularies = "\n".join(source_tok.vocabulary + ["\t"] + target_tok.vocabulary)
    # A resumed run continues at this epoch; shuffling and dropout draw from seed + epoch, so
    # the resumed epochs do not replay the first epochs' order.
    resumed_epoch, finished = (int(v) for v in _agree(
        strategy, role, values=[backup["epoch"] if backup else 0, final is not None],
        own=[fingerprint(settings), fingerprint(split_sha256), fingerprint(vocabularies)]))

    with build_precision(config.precision):
        with strategy.scope():
            translator = Translator.create(config, source_tok, target_tok)
        train_src, train_tgt = translator.vectorize(splits.train)
        # The batches `_fit`'s training dataset yields in a whole epoch.
        full_epoch = count_batches(train_src, train_tgt, config.batch_size,
                                   batching=config.batching, max_tokens=config.max_tokens)
        # What fit() trains: the same layers, with the output layer on real tokens only
        # (select_tokens) or on every position of the padded batch. Several workers train it as
        # a `ClusterTrainingModel`, made outside the strategy's scope (its docstring says why).
        with contextlib.nullcontext() if role.workers > 1 else strategy.scope():
            model = build_training_model(translator.model) if config.select_tokens \
                else translator.model
            if role.workers > 1:
                model = ClusterTrainingModel(model.input, model.output, name=model.name)
        with strategy.scope():
            # A cosine schedule's length, a budget plan's cap.
            total_steps = config.epochs * (config.steps_per_epoch or full_epoch)
            rate = compile_model(model, config, total_steps=total_steps)
            # Its variables now, on every worker: made inside the first traced step instead,
            # they would make TensorFlow trace the whole training step a second time (seconds
            # of every run's start).
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
    if strategy.num_replicas_in_sync > 1:
        say(f"{strategy.__class__.__name__}: {strategy.num_replicas_in_sync} replicas"
            + (f" on {role.workers} workers" if role.workers > 1 else "")
            + f", {config.batch_size // strategy.num_replicas_in_sync} sentences each per batch")
    if not resuming:
        translator.save_vocabularies(out_dir)
    elif load_config(out_dir) != config:  # runtime settings changed: record what runs now
        save_config(out_dir, config)
    # The fingerprints of the vocabularies find a damaged one when the run resumes.
    started = dict(completed=False, split_sha256=split_sha256,
                   vocabulary=_vocabulary_fingerprints(out_dir))
    if not resuming or state != started:  # new, or written again (damaged, or older)
        write_state(out_dir, **started)

    counts = parameter_parts(translator.model)
    unit = "words" if config.tokenizer == "word" else "tokens"
    say(f"vocabulary: English {source_tok.vocab_size:,}, Spanish {target_tok.vocab_size:,} {unit}")
    say(f"parameters: {counts['total']:,} ("
        + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total") + ")")
    rows = list(backup["history"]) if backup else []
    extra = {}
    if finished:  # killed after training, before model.keras was written
        if final is not None:  # the chief's; the other workers take its weights below
            weights, extra = final
            _restore(translator.model, weights)
            rows = extra.pop("history")
            write_history(out_dir, rows)  # whole again, if it was damaged
        broadcast_variables(strategy, role, translator.model.weights)
        say("training had finished; saving its final model")
    else:
        if backup:
            _restore(model, backup["weights"])
        if resuming:  # drop rows of epochs after the backup (or a damaged file)
            write_history(out_dir, rows)
        # Every worker starts from the chief's weights and optimizer state.
        broadcast_variables(strategy, role, model.weights + model.optimizer.variables)
        if resumed_epoch:
            keras.utils.set_random_seed(config.seed + resumed_epoch)
            say(f"continuing after epoch {resumed_epoch}")
        plan = (rate, total_steps) if isinstance(rate, BudgetCooldown) else (None, None)
        extra = _fit(config, out_dir, translator, model, splits, train_src, train_tgt,
                     rows, resumed_epoch, verbose, say, strategy, role, plan, full_epoch)
        save_final(out_dir, translator.model, dict(extra, history=rows))
    write_file(os.path.join(out_dir, MODEL_FILE), translator.model.save)
    if role.workers > 1:  # the same on every worker: they trained in step
        say(f"worker {role.index}: final weights sha256 {weights_sha256(translator.model)}")
    final_metrics = _last_metrics(rows)
    seconds = sum(row.get("epoch_seconds", 0.0) for row in rows)
    steps = config.steps_per_epoch or None
    # Throughput bookkeeping for reports: real target tokens in an average batch, batches in a
    # full epoch (with `steps_per_epoch`, that cap); bucket batches by tokens vary in sentences.
    tokens = count_target_tokens(train_tgt)
    write_state(out_dir, completed=True, train_seconds=round(seconds, 1),
                final_metrics=final_metrics, parameters=counts, epochs_run=len(rows),
                target_tokens_per_batch=round(tokens / full_epoch, 2),
                batches_per_epoch=steps or full_epoch,
                split_sha256=split_sha256,
                **({"workers": role.workers} if role.workers > 1 else {}), **extra)
    remove(os.path.join(out_dir, BACKUP_DIR))
    say(f"trained in {seconds / 60:.1f} min (training time, validation excluded); "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(final_metrics.items())))
    say(f"saved to {out_dir}")
    return translator


def _last_metrics(rows):
    """The last epoch's metrics from the history rows (none: a worker that trained no epoch)."""
    return {k: v for k, v in rows[-1].items() if k != "epoch"} if rows else {}


def _fit(config, out_dir, translator, model, splits, train_src, train_tgt, rows, resumed_epoch,
         verbose, say, strategy, role, plan, epoch_batches):
    """Run `model.fit` from `resumed_epoch`; leave the final weights in `translator.model` and
    return what train_state.json records about how they were chosen. `plan` is the
    (`BudgetCooldown`, the epochs' steps) of a run with a budget and a cooldown;
    `epoch_batches` the batches of a whole epoch (`count_batches`)."""
    val_src, val_tgt = translator.vectorize(splits.val)
    xla = resolve_jit_compile(config.jit_compile, config.strategy)  # XLA compiles per shape
    train_ds = make_dataset(train_src, train_tgt, config.batch_size, batching=config.batching,
                            shuffle=True, seed=config.seed + resumed_epoch,
                            pad_to_bucket_boundary=xla, loss_mask=config.select_tokens,
                            max_tokens=config.max_tokens)
    val_ds = make_dataset(val_src, val_tgt, config.batch_size, batching=config.batching,
                          shuffle=False, pad_to_bucket_boundary=xla,
                          loss_mask=config.select_tokens, max_tokens=config.max_tokens)
    steps = config.steps_per_epoch or None
    if steps:
        train_ds = train_ds.repeat()
    elif role.workers == 1:
        # Keras then knows an epoch's length from the first epoch on: the progress bar's total
        # is exact (not "Unknown", then rounded up to a multiple of steps_per_execution).
        train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(epoch_batches))
    if role.workers > 1:
        train_ds, val_ds = shard_by_data(train_ds), shard_by_data(val_ds)
    say(f"real target tokens: train {count_target_tokens(train_tgt):,}, "
        f"val {count_target_tokens(val_tgt):,}")

    checkpoint = EpochCheckpoint(out_dir, rows, config=dataclasses.asdict(config))
    budget, spent = [], sum(row.get("epoch_seconds", 0.0) for row in rows)
    if config.budget_minutes:
        schedule, max_steps = plan
        if schedule is not None and rows and rows[-1].get("planned_steps"):
            schedule.plan(rows[-1]["planned_steps"])  # where the resumed run's plan was
        # The chief's clock decides for the whole cluster.
        agree = None if role.workers == 1 else (
            lambda values: _agree(strategy, role, values=values))
        budget = [TimeBudget(config.budget_minutes, spent_seconds=spent, schedule=schedule,
                             max_steps=max_steps, agree=agree)]
    callbacks = [
        EpochTimer(),  # first, so the callbacks below see epoch_seconds
        # Then val_bleu and the budget's plan, so the checkpoint's history and early stopping
        # see them.
        *([ValidationBleu(translator, splits.val, config.val_bleu_sources)]
          if config.val_bleu_sources else []),
        *budget,
        checkpoint,
        keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
    ]
    averager = None
    if config.average_last > 1:
        averager = AverageLastEpochs(translator.model, config.average_last)
        callbacks.append(averager)
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=f"val_{config.early_stopping_metric}",
            mode="max" if config.early_stopping_metric == "bleu" else "min",
            patience=config.early_stopping, restore_best_weights=True,
            verbose=1 if verbose else 0))
    spent_all = config.budget_minutes and spent >= 60 * config.budget_minutes
    if spent_all and resumed_epoch < config.epochs:
        say(f"its {config.budget_minutes:g}-minute budget was spent in the epochs trained")
    if resumed_epoch < config.epochs and not spent_all:
        with strategy.scope():
            model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                      initial_epoch=resumed_epoch, steps_per_epoch=steps, callbacks=callbacks,
                      verbose=verbose, shuffle=False)  # the dataset reshuffles itself each epoch
    if checkpoint.nan_epoch is not None:
        _stop_on_nan(out_dir, translator, model, checkpoint.nan_epoch, rows)
    if averager is not None:
        with strategy.scope():
            return {"checkpoint_average": _use_best_of_average(
                model, translator, averager, val_ds, rows[-1]["val_loss"], say)}
    return {}


def _stop_on_nan(out_dir, translator, model, nan_epoch, rows):
    """The loss became NaN in epoch `nan_epoch` (0-based): keep the last good epoch's weights as
    the run's model, or nothing when no epoch finished; either way, say so as a `RunError`."""
    backup = load_backup(out_dir)
    if backup is None:
        raise RunError(f"{out_dir}: the loss became NaN in epoch 1, before any epoch finished; "
                       "nothing was saved (try a lower --learning-rate)")
    _restore(model, backup["weights"])
    write_file(os.path.join(out_dir, MODEL_FILE), translator.model.save)
    write_state(out_dir, completed=True, epochs_run=len(rows),
                stopped=f"the loss became NaN in epoch {nan_epoch + 1}",
                final_metrics=_last_metrics(rows))
    remove(os.path.join(out_dir, BACKUP_DIR))
    raise RunError(f"{out_dir}: the loss became NaN in epoch {nan_epoch + 1}; training stopped "
                   f"and the model of epoch {backup['epoch']} was saved (try a lower "
                   "--learning-rate)")
