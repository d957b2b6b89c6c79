"""The one training path for every model: data, vocabularies, fit, resume, save.

`train(config, out_dir)` writes a self-contained run folder:
`config.json`, `english_vocab.txt`, `spanish_vocab.txt` (written first, so a resumed run
uses the same vocabularies), `model.keras`, `history.csv`, `logs/` (TensorBoard),
`backup/` while training (removed at the end) and `train_state.json`.

Re-running the same `train` after an interruption (Ctrl-C, SIGKILL) continues from the last
completed epoch (Keras `BackupAndRestore`).

Example:
>>> translator = train(resolve_config("transformer", "tiny"), "runs/tiny")   # doctest: +SKIP
"""

import dataclasses
import hashlib
import json
import os
import random
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from data.corpus import load_corpus, split_corpus
from data.pipeline import count_target_tokens, make_dataset
from nmt.evaluation import ValidationBleu
from models.metrics import MaskedAccuracy, MaskedCrossEntropy, TokenAccuracy, TokenCrossEntropy
from models.optimizers import make_optimizer
from models.schedules import learning_rate
from models.token_selection import build_training_model
from nmt.translator import RunError, Translator, load_tokenizers, make_tokenizers

STATE_FILE = "train_state.json"
# Bucketed datasets have no known length, so Keras warns at the end of each first pass.
warnings.filterwarnings("ignore", message=".*ran out of data.*")


def get_strategy(name):
    """The tf.distribute strategy for `name`.

    "mirrored": all local GPUs (or the logical devices TensorFlow was given), one replica each;
    "multiworker": several machines described by the TF_CONFIG environment variable;
    "default": one device. The global batch (`batch_size`) is split across replicas.
    """
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in (gpus or (cpus if len(cpus) > 1 else []))] or None
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def use_logical_cpus(count):
    """Split the CPU into `count` logical devices (to run tf.distribute on a machine with no GPU).

    Must run before TensorFlow initializes its devices (before any op).
    """
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    # MirroredStrategy() picks GPUs only; with none, it uses the logical CPUs given here.
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def resolve_jit_compile(config):
    """XLA on or off: "auto" turns it on only with a GPU and no distribution strategy (XLA
    recompiles per batch shape; on this CPU it was measured much slower)."""
    if config.jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU")) and config.strategy == "default"
    return config.jit_compile == "on"


def cpu_has_bfloat16():
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16 flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision):
    """The Keras dtype policy for `precision`; "auto" picks mixed_bfloat16 on hardware that
    computes in bfloat16 (measured here: faster, same accuracy at equal tokens, see
    benchmarks/README.md), mixed_float16 on GPUs without bfloat16, float32 otherwise."""
    if precision != "auto":
        return precision
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"


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


def vectorize_pairs(translator, pairs):
    """Pairs -> (English ids (n, len), Spanish `[start] .. [end]` ids (n, len + 1))."""
    source = translator.source_tokenizer.encode([e for e, _ in pairs])
    target = translator.target_tokenizer.encode([s for _, s in pairs], markers=True)
    return source, target


def compile_model(model, config, token_loss=False, total_steps=None):
    """Compile `model` for training or evaluation with `config`'s optimizer.

    A model from `build_training_model` (input "loss_mask", logits on real tokens only) gets
    `TokenCrossEntropy` / `TokenAccuracy`; a full model ((batch, tgt_len, vocab) logits) gets the
    per-token loss with sample weights (0 on padding) and `MaskedAccuracy`. `token_loss=True`
    (evaluation of a full model) adds the exact per-token loss metric and leaves XLA off
    (evaluation batches vary in shape). `total_steps` (the run's) is needed by a cosine schedule.
    """
    extra = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    # Evaluation takes no optimizer step: a constant rate (a cosine schedule needs the run length).
    rate = config.learning_rate if token_loss else learning_rate(config, total_steps)
    optimizer = make_optimizer(config.optimizer, rate, fused=config.fused_optimizer, **extra)
    if "loss_mask" in model.input:
        model.compile(jit_compile=resolve_jit_compile(config), optimizer=optimizer,
                      loss=TokenCrossEntropy(label_smoothing=config.label_smoothing),
                      metrics=[TokenAccuracy(name="accuracy")])
        return
    model.compile(
        jit_compile=False if token_loss else resolve_jit_compile(config),
        optimizer=optimizer,
        # Logits in, loss averaged over real target tokens (sample weight 0 on padding).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"),
        # Exact per-token averages over all batches (Keras' own average per batch first).
        weighted_metrics=[MaskedAccuracy(name="accuracy")]
        + ([MaskedCrossEntropy(name="token_loss")] if token_loss else []),
    )


def parameter_counts(model):
    """{"total": n, layer name: n, ...} for the top-level layers that have weights."""
    counts = {"total": model.count_params()}
    for layer in model.layers:
        n = layer.count_params() if layer.built else 0
        if n:
            counts[layer.name] = n
    return counts


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (training wall time, validation excluded) and `epoch_steps`
    (batches trained) to each epoch's logs; an epoch cut short by a time budget counts what
    it did."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()
        self._train_seconds = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):  # validation starts: training time ends
        if self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._started

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            seconds = self._train_seconds
            logs["epoch_seconds"] = time.perf_counter() - self._started if seconds is None else seconds
            logs["epoch_steps"] = self._steps


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the batch at which `minutes` of training time have passed.

    Validation does not count (the deadline moves by the time each validation pass takes), so
    runs that validate more or less often, or on slower or faster models, train for the same
    time. The epoch cut short still validates.
    """

    def __init__(self, minutes):
        super().__init__()
        self.minutes = minutes

    def on_train_begin(self, logs=None):
        self._deadline = time.perf_counter() + 60 * self.minutes

    def on_test_begin(self, logs=None):
        self._validation_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self._deadline += time.perf_counter() - self._validation_started

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() >= self._deadline:
            self.model.stop_training = True


class AverageLastEpochs(keras.callbacks.Callback):
    """Keeps the weights of `model` at the end of each of the last `count` epochs.

    `average()` is their element-wise mean (checkpoint averaging: the mean of nearby points of
    a noisy descent usually lies lower on the loss surface than any one of them).

    Args:
        model: keras.Model whose weights are kept (the saved model; a training view shares them).
        count: int >= 2. How many epochs' weights are averaged.
    """

    def __init__(self, model, count):
        super().__init__()
        if count < 2:
            raise ValueError(f"count={count}: averaging needs at least 2 epochs")
        self.target = model
        self.count = count
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots = (self.snapshots + [self.target.get_weights()])[-self.count:]

    def average(self):
        """The mean of the kept weights (a list like `get_weights()`)."""
        return [np.mean(np.stack(values), axis=0).astype(values[0].dtype)
                for values in zip(*self.snapshots)]

    def on_train_end(self, logs=None):
        if 0 < len(self.snapshots) < self.count:
            print(f"checkpoint averaging: {len(self.snapshots)} epochs kept (of "
                  f"{self.count}; a resumed run keeps only the epochs since the resume)")


def _use_best_of_average(model, translator, averager, val_ds, history, say):
    """Replace the final weights by the average of the last epochs' when its val loss is lower.

    Returns a summary for train_state.json.
    """
    last_loss = float(history.history["val_loss"][-1])
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


def _batches_per_epoch(config, train_pairs):
    """Training steps in one epoch (for a cosine schedule's length): `steps_per_epoch`, or the
    number of batches (an estimate with a token budget, whose batch sizes vary by bucket)."""
    if config.steps_per_epoch:
        return config.steps_per_epoch
    batch = config.batch_size
    if config.max_tokens:
        batch = max(1, config.max_tokens // 10)  # about 10 tokens per padded sentence here
    return -(-train_pairs // batch)


def read_state(out_dir):
    """The run folder's train_state.json (completed, timings, counts), or None."""
    path = os.path.join(out_dir, STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _backup_epoch(out_dir):
    """Epochs completed before an interruption (from Keras' BackupAndRestore metadata)."""
    path = os.path.join(out_dir, "backup", "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def _count_history_rows(out_dir):
    """Epochs recorded in history.csv (across resumed sessions)."""
    with open(os.path.join(out_dir, "history.csv")) as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


def _write_state(out_dir, **values):
    with open(os.path.join(out_dir, STATE_FILE), "w") as f:
        json.dump(values, f, indent=2)


def _check_resume(config, out_dir, overwrite):
    """Decide between a new run and a resume; return True when resuming."""
    if overwrite and os.path.isdir(out_dir):
        if os.listdir(out_dir) and not os.path.isfile(os.path.join(out_dir, "config.json")):
            raise RunError(f"{out_dir}: not a run folder (no config.json); refusing to delete it")
        shutil.rmtree(out_dir)
    if not os.path.isfile(os.path.join(out_dir, "config.json")):
        return False
    state = read_state(out_dir) or {}
    if state.get("completed"):
        raise RunError(f"{out_dir}: this run is already trained; pass --overwrite to train it again")
    saved = dataclasses.asdict(Translator.load_config(out_dir))
    # Everything but the number of epochs must match (more epochs = train longer).
    changed = sorted(k for k, v in dataclasses.asdict(config).items()
                     if saved[k] != v and k != "epochs")
    if changed:
        raise RunError(f"{out_dir}: an unfinished run with other settings ({', '.join(changed)}) "
                       "is there; use the same settings to resume, or --overwrite")
    return True


def train(config, out_dir, overwrite=False, verbose=1, splits=None):
    """Train `config` into `out_dir` (resuming an interrupted run there); return the Translator."""
    config.validate()
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    say = print if verbose else (lambda *args, **kwargs: None)
    resuming = _check_resume(config, out_dir, overwrite)
    os.makedirs(out_dir, exist_ok=True)
    say(("resuming" if resuming else "training") + f" {config.model} into {out_dir} with config:")
    say(config.to_json())
    keras.utils.set_random_seed(config.seed)
    # A resumed run continues at this epoch; shuffling and dropout draw from seed + epoch, so
    # the resumed epochs do not replay the first epochs' order.
    resumed_epoch = _backup_epoch(out_dir) if resuming else 0

    splits = splits or prepare_splits(config, verbose=bool(verbose))
    if resuming:
        source_tok, target_tok = load_tokenizers(config, out_dir)
    else:
        source_tok, target_tok = make_tokenizers(config, splits.train)

    strategy = get_strategy(config.strategy)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)  # layers take the policy when built
    try:
        with strategy.scope():
            translator = Translator.create(config, source_tok, target_tok)
            # What fit() trains: the same layers, with the output layer on real tokens only
            # (select_tokens) or on every position of the padded batch.
            model = build_training_model(translator.model) if config.select_tokens \
                else translator.model
            compile_model(model, config, total_steps=config.epochs * _batches_per_epoch(
                config, len(splits.train)))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if strategy.num_replicas_in_sync > 1:
        say(f"{strategy.__class__.__name__}: {strategy.num_replicas_in_sync} replicas, "
              f"{config.batch_size // strategy.num_replicas_in_sync} sentences each per batch")
    translator.save_vocabularies(out_dir)
    _write_state(out_dir, completed=False)
    if resumed_epoch:
        keras.utils.set_random_seed(config.seed + resumed_epoch)
        say(f"continuing after epoch {resumed_epoch}")

    counts = parameter_counts(translator.model)
    say(f"vocabulary: English {source_tok.vocab_size:,}, Spanish {target_tok.vocab_size:,} words")
    say(f"parameters: {counts['total']:,} ("
          + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total") + ")")

    train_src, train_tgt = vectorize_pairs(translator, splits.train)
    val_src, val_tgt = vectorize_pairs(translator, splits.val)
    xla = resolve_jit_compile(config)  # XLA compiles per shape: pad to a few bucket lengths
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
    say(f"real target tokens: train {count_target_tokens(train_tgt):,}, "
          f"val {count_target_tokens(val_tgt):,}")

    callbacks = [
        EpochTimer(),  # first, so the loggers below see epoch_seconds
        # Then val_bleu, so the loggers and early stopping see it.
        *([ValidationBleu(translator, splits.val, config.val_bleu_sources)]
          if config.val_bleu_sources else []),
        keras.callbacks.BackupAndRestore(os.path.join(out_dir, "backup")),
        keras.callbacks.CSVLogger(os.path.join(out_dir, "history.csv"), append=resuming),
        keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
    ]
    if config.budget_minutes:
        callbacks.append(TimeBudget(config.budget_minutes))
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
    started = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                                   steps_per_epoch=steps, callbacks=callbacks, verbose=verbose,
                                   shuffle=False)  # the dataset reshuffles itself each epoch
    seconds = time.time() - started
    if any(not np.isfinite(v) for v in history.history.get("loss", [])):
        raise RuntimeError("training stopped: the loss became NaN")
    extra = {}
    if averager is not None:
        extra["checkpoint_average"] = _use_best_of_average(model, translator, averager, val_ds,
                                                           history, say)
    translator.save(out_dir)
    final = {k: float(v[-1]) for k, v in history.history.items()}
    # Throughput bookkeeping for reports: real target tokens in an average batch, batches in a
    # full epoch (with `steps_per_epoch`, that cap).
    tokens = count_target_tokens(train_tgt)
    _write_state(out_dir, completed=True, train_seconds=round(seconds, 1), final_metrics=final,
                 parameters=counts, epochs_run=_count_history_rows(out_dir),
                 target_tokens_per_batch=round(tokens * config.batch_size / len(train_tgt), 2),
                 batches_per_epoch=steps or -(-len(train_tgt) // config.batch_size),
                 split_sha256=splits_sha256(splits), **extra)
    say(f"trained in {seconds / 60:.1f} min; "
          + ", ".join(f"{k} {v:.4f}" for k, v in sorted(final.items())))
    say(f"saved to {out_dir}")
    return translator
