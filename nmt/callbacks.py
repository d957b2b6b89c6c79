"""The Keras callbacks of a training run: timing, a time budget, checkpoint averaging,
validation BLEU, and the per-epoch backup and history.

Example:
>>> budget = TimeBudget(minutes=0.5)
>>> budget.minutes
0.5
"""

import time

import keras
import numpy as np

from data.corpus import group_references
from nmt.runs import save_backup, write_history
from nmt.scoring import book_bleu


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
    time. The epoch cut short still validates. With several workers, `agree` (given by
    `nmt.training`) makes every worker stop at the same batch.
    """

    def __init__(self, minutes, agree=None):
        super().__init__()
        self.minutes = minutes
        # Several workers: `agree(stop)` returns the chief's decision (a collective each batch).
        self.agree = agree

    def on_train_begin(self, logs=None):
        self._deadline = time.perf_counter() + 60 * self.minutes

    def on_test_begin(self, logs=None):
        self._validation_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self._deadline += time.perf_counter() - self._validation_started

    def on_train_batch_end(self, batch, logs=None):
        stop = time.perf_counter() >= self._deadline
        if self.agree is not None:
            stop = self.agree(stop)
        if stop:
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


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, translate `sources` validation sources (greedy) and log `val_bleu`
    and `val_chrf` (book-normalised, against all their references).

    Placed before the loggers and `EarlyStopping(monitor="val_bleu", mode="max")`, it lets
    training stop on, and keep the weights of, the best validation BLEU.

    Args:
        translator: the `Translator` being trained (its model shares the trained weights).
        pairs: list of (English, Spanish) validation pairs.
        sources: int. How many unique English sources (the first ones) to score.
    """

    def __init__(self, translator, pairs, sources):
        super().__init__()
        if sources < 1:
            raise ValueError(f"sources={sources} must be >= 1")
        grouped = group_references(pairs)
        self.translator = translator
        self.sources = list(grouped)[:sources]
        self.references = [grouped[s] for s in self.sources]

    def on_epoch_end(self, epoch, logs=None):
        scores = book_bleu(self.translator.translate(self.sources), self.references)
        if logs is not None:
            logs["val_bleu"], logs["val_chrf"] = scores["bleu"], scores["chrf"]


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: back up the trained model (weights and optimizer state) and write
    history.csv, both crash-safe (`nmt.runs`). An epoch whose training or validation loss is not
    finite is neither backed up nor recorded, and training stops: the last good epoch's backup
    stays (`nan_epoch` says which failed).

    Place it after the callbacks that add to the logs (`EpochTimer`, `ValidationBleu`).

    Args:
        folder: str. The run folder.
        rows: list of dicts. The history so far (from the backup when resuming); extended here.
        config: dict or None. The run's config, kept in the backup (the copy that replaces a
            damaged config.json).
    """

    def __init__(self, folder, rows, config=None):
        super().__init__()
        self.folder = folder
        self.rows = rows
        self.config = config
        self.nan_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if not all(np.isfinite(logs.get(name, 0.0)) for name in ("loss", "val_loss")):
            self.nan_epoch = epoch
            self.model.stop_training = True
            return
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
        save_backup(self.folder, self.model, epoch + 1, self.rows, self.config)
        write_history(self.folder, self.rows)
