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


def optimizer_steps(model):
    """The optimizer steps `model` has taken (its `optimizer.iterations`), as an int."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds` (training wall time, validation excluded) and `epoch_steps`
    (batches trained) to each epoch's logs; an epoch cut short by a time budget counts what
    it did. The steps are the optimizer's, so they are exact when `fit` runs several steps per
    call (`steps_per_execution`) and the epoch's last call runs fewer."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()
        self._train_seconds = None
        self._first_step = optimizer_steps(self.model)

    def on_test_begin(self, logs=None):  # validation starts: training time ends
        if self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._started

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            seconds = self._train_seconds
            logs["epoch_seconds"] = time.perf_counter() - self._started if seconds is None else seconds
            logs["epoch_steps"] = optimizer_steps(self.model) - self._first_step


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the batch at which `minutes` of training time have passed, and plans
    the end of a `BudgetCooldown` learning rate for that moment. With several steps per call
    (`steps_per_execution`), it looks after each call: the steps it counts are the optimizer's.

    Validation does not count (the deadline moves by the time each validation pass takes), so
    runs that validate more or less often, or on slower or faster models, train for the same
    time. The epoch cut short still validates. A resumed run has the `spent_seconds` of its
    finished epochs less to go.

    With a `schedule`, the step at which the time will run out is estimated from the steps
    trained per second of training time (after the first `warm_steps` batches, which include
    TensorFlow's tracing), every `every` batches or more, capped at `max_steps` (the run's
    epochs), and the schedule's cooldown is moved to end there. Each epoch's logs get
    `planned_steps` and `learning_rate` (the rate at its end), so history.csv, and a resume,
    know the plan.

    Args:
        minutes: float > 0. The training time allowed.
        spent_seconds: float. Training time of the epochs a resumed run already has.
        schedule: `models.budget_cooldown.BudgetCooldown` or None. The rate to plan; the model's
            optimizer steps it.
        max_steps: int or None. The last step the run's epochs allow (the plan's cap).
        agree: callable or None. Several workers: `agree(values)` returns the chief's `values`
            (a collective each batch: every worker stops, and plans, as the chief does).
        warm_steps: int >= 1. Batches trained before the speed is measured.
        every: int >= 1. Batches between two estimates.
    """

    def __init__(self, minutes, spent_seconds=0.0, schedule=None, max_steps=None, agree=None,
                 warm_steps=10, every=20):
        super().__init__()
        if minutes <= 0:
            raise ValueError(f"minutes={minutes} must be > 0")
        if warm_steps < 1 or every < 1:
            raise ValueError(f"warm_steps={warm_steps} and every={every} must be >= 1")
        self.minutes = minutes
        self.spent_seconds = float(spent_seconds)
        self.schedule = schedule
        self.max_steps = max_steps
        self.agree = agree
        self.warm_steps = warm_steps
        self.every = every

    @property
    def remaining_seconds(self):
        """Training time left before the deadline (negative when it has passed)."""
        return self._deadline - time.perf_counter()

    def on_train_begin(self, logs=None):
        now = time.perf_counter()
        self._deadline = now + 60 * self.minutes - self.spent_seconds
        self._validation = 0.0  # seconds of validation since on_train_begin
        self._begin, self._batches, self._mark, self._estimated = now, 0, None, None
        self._first_step = optimizer_steps(self.model) if self.schedule is not None else 0

    def on_test_begin(self, logs=None):
        self._validation_started = time.perf_counter()

    def on_test_end(self, logs=None):
        seconds = time.perf_counter() - self._validation_started
        self._deadline += seconds
        self._validation += seconds

    def _estimate(self):
        """The step at which the deadline falls at the speed measured since the mark, or None
        while there is no measure yet (or not at this batch)."""
        trained = time.perf_counter() - self._begin - self._validation  # training time
        if self._mark is None:
            if self._batches >= self.warm_steps:
                self._mark = self._estimated = (self._batches, trained)
            return None
        if self._batches - self._estimated[0] < self.every or trained <= self._mark[1]:
            return None
        self._estimated = (self._batches, trained)
        rate = (self._batches - self._mark[0]) / (trained - self._mark[1])  # steps per second
        step = self._first_step + self._batches
        planned = step + max(0.0, self.remaining_seconds) * rate
        return min(planned, self.max_steps) if self.max_steps else planned

    def on_train_batch_end(self, batch, logs=None):
        # Steps since on_train_begin (the planning needs them exact; the deadline alone does not).
        self._batches = (optimizer_steps(self.model) - self._first_step
                         if self.schedule is not None else self._batches + 1)
        stop = self.remaining_seconds <= 0
        planned = self._estimate() if self.schedule is not None else None
        if self.agree is not None:
            stop, planned = self.agree([float(stop), planned or 0.0])
            stop, planned = bool(stop), planned or None
        if planned:
            self.schedule.plan(round(planned))
        if stop:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.schedule is not None and logs is not None:
            logs["planned_steps"] = self.schedule.planned_steps
            logs["learning_rate"] = float(self.schedule(self.model.optimizer.iterations))


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
