"""Run folders: what they hold, how every file in them is written, and who may write them.

A run folder holds `.nmt-run` (the mark that the project created it), `config.json`,
`english_vocab.txt`, `spanish_vocab.txt`, `model.keras`, `history.csv`, `logs/` (TensorBoard),
`train_state.json`, `.lock` (held by the one training that writes the folder), and `backup/`
while training.

Crash safety: every file is written under a temporary name in its folder, flushed to disk, then
renamed into place (`write_file`), so a kill at any instant leaves the old file or the new one,
never a part. The per-epoch backup keeps the previous epoch's weights until the new epoch's are
complete, and is removed only after the final model and the completed state are written. Only a
folder marked as a run (or a run folder of an earlier version, which holds nothing but run
files) is ever emptied by `--overwrite`.

Example:
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> write_state(folder, completed=False)
>>> read_state(folder)
{'completed': False}
"""

import contextlib
import csv
import fcntl
import io
import json
import os
import shutil

from data.errors import NmtError
from nmt.config import Config, ConfigError

CONFIG_FILE = "config.json"
STATE_FILE = "train_state.json"
HISTORY_FILE = "history.csv"
SOURCE_VOCAB_FILE = "english_vocab.txt"
TARGET_VOCAB_FILE = "spanish_vocab.txt"
MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"
MARKER_FILE = ".nmt-run"
LOCK_FILE = ".lock"
RUN_FILES = (CONFIG_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, MODEL_FILE)
# What a run folder of an earlier version (before the mark) may hold; `evaluate` adds eval_*.json.
_LEGACY_ENTRIES = set(RUN_FILES) | {HISTORY_FILE, STATE_FILE, BACKUP_DIR, "logs", LOCK_FILE}


class RunError(NmtError):
    """A run folder that is missing, incomplete or inconsistent."""


def _commit(temporary, path):
    """Rename a complete temporary file into place (atomic on POSIX). The one place every write
    of a run folder ends; tests inject failures here."""
    os.replace(temporary, path)


def _sync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_file(path, write):
    """Write `path` by calling `write(temporary_path)`, then flush and rename it into place.

    The temporary name keeps the extension (Keras checks it) and names the process, so a kill
    leaves at most a stray temporary file that the next write ignores.
    """
    stem, extension = os.path.splitext(path)
    if extension == ".h5" and stem.endswith(".weights"):
        stem, extension = stem[: -len(".weights")], ".weights.h5"
    temporary = f"{stem}.tmp-{os.getpid()}{extension}"
    try:
        write(temporary)
        _sync(temporary)
        _commit(temporary, path)
    except OSError as error:  # name the file asked for, not the temporary one
        raise RunError(f"{path}: cannot be written ({error.strerror or error})") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text):
    """Write `text` (UTF-8, "\\n" line ends) to `path` with `write_file`."""
    def write(temporary):
        with open(temporary, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    write_file(path, write)


def remove(path):
    """Delete a file or folder the project wrote (a missing one is fine)."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


# Which folders are runs, and who writes them.


def folder_entries(folder):
    """What `folder` holds besides the lock (empty when it does not exist)."""
    return set(os.listdir(folder)) - {LOCK_FILE} if os.path.isdir(folder) else set()


def _is_run_entry(name):
    """Whether `name` is a file or folder that training or evaluation writes in a run folder."""
    return (name in _LEGACY_ENTRIES or name == MARKER_FILE or ".tmp-" in name
            or (name.startswith("eval_") and name.endswith(".json")))


def foreign_entries(folder):
    """What `folder` holds that this project does not write there."""
    return sorted(name for name in folder_entries(folder) if not _is_run_entry(name))


def is_run_folder(folder):
    """True when `folder` is marked as a run, or is a run of an earlier version (which had no
    mark): a valid config.json and a model or training state, and nothing but run files."""
    if os.path.isfile(os.path.join(folder, MARKER_FILE)):
        return True
    entries = folder_entries(folder)
    if CONFIG_FILE not in entries or not entries & {MODEL_FILE, STATE_FILE} or \
            foreign_entries(folder):
        return False
    try:
        load_config(folder)
    except RunError:
        return False
    return True


def check_output_folder(folder):
    """Raise `RunError` unless `folder` may receive a run: missing, empty, or a run folder."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"{folder}: is a file, not a folder; give --out a folder")
    if folder_entries(folder) and not is_run_folder(folder):
        raise RunError(f"{folder}: not empty and not a run folder; give --out a new or empty "
                       "folder (nothing there was changed)")


def mark_run_folder(folder):
    """Create `folder` if needed and mark it as a run (before anything else is written)."""
    os.makedirs(folder, exist_ok=True)
    if not os.path.isfile(os.path.join(folder, MARKER_FILE)):
        write_text(os.path.join(folder, MARKER_FILE),
                   "A run folder of nmt train: nmt train --overwrite may delete what it holds.\n")


def clear_run_folder(folder):
    """Delete the run files of a run folder (not its lock); refuses a folder that is not a run
    or that holds files the project did not write (they are named)."""
    if not is_run_folder(folder):
        raise RunError(f"{folder}: not a run folder; refusing to delete anything in it")
    foreign = foreign_entries(folder)
    if foreign:
        raise RunError(f"{folder}: holds files that nmt did not write ({', '.join(foreign[:5])}); "
                       "move them out first (nothing was deleted)")
    for entry in folder_entries(folder):
        remove(os.path.join(folder, entry))


@contextlib.contextmanager
def locked(folder):
    """Hold the run folder's lock: a second training on the same folder fails at once."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, LOCK_FILE), "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunError(f"{folder}: another training ({holder}) is writing this run folder; "
                           "wait for it to finish or give another --out") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def save_config(folder, config):
    write_text(os.path.join(folder, CONFIG_FILE), config.to_json() + "\n")


def load_config(folder):
    """The `Config` saved in a run folder."""
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(path):
        raise RunError(f"{folder}: not a run folder (no {CONFIG_FILE})")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
        return Config.from_dict(values).validate()
    except (ValueError, TypeError, ConfigError) as error:
        raise RunError(f"{path}: not a valid run config ({error})") from None


def check_run_files(folder):
    """Raise `RunError` unless `folder` holds a finished run's files."""
    if not os.path.isdir(folder):
        raise RunError(f"{folder}: run folder not found")
    missing = [name for name in RUN_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise RunError(f"{folder}: incomplete run folder, missing {', '.join(missing)}"
                       " (was training finished?)")


def read_state(folder):
    """The run folder's train_state.json (completed, timings, counts), or None."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:
        raise RunError(f"{path}: damaged ({error}); delete it to let training resume, or train "
                       "the run again with --overwrite") from None


def write_state(folder, **values):
    write_text(os.path.join(folder, STATE_FILE), json.dumps(values, indent=2))


def write_history(folder, rows):
    """Write history.csv from the per-epoch rows (epoch first, then the metrics by name)."""
    names = sorted({name for row in rows for name in row} - {"epoch"})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for row in rows:
        writer.writerow([row["epoch"], *(row.get(name, "") for name in names)])
    write_text(os.path.join(folder, HISTORY_FILE), text.getvalue())


def read_history(folder):
    """history.csv as a list of {name: float} rows ([] when there is none)."""
    path = os.path.join(folder, HISTORY_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]


# The per-epoch backup: backup/epoch-NNNN.weights.h5 (the training model's weights and optimizer
# state) and backup/state.json naming it, with the history so far. A final.weights.h5 and
# final.json hold the weights chosen at the end (averaged, best), before model.keras is written.

BACKUP_STATE = "state.json"
FINAL_WEIGHTS = "final.weights.h5"
FINAL_STATE = "final.json"


def save_backup(folder, model, epoch, rows):
    """Back up `model` (weights and optimizer) after `epoch` epochs, with the history `rows`."""
    backup = os.path.join(folder, BACKUP_DIR)
    os.makedirs(backup, exist_ok=True)
    name = f"epoch-{epoch:04d}.weights.h5"
    write_file(os.path.join(backup, name), lambda path: model.save_weights(path))
    write_text(os.path.join(backup, BACKUP_STATE),
               json.dumps({"epoch": epoch, "weights": name, "history": rows}, indent=1))
    for entry in os.listdir(backup):  # the previous epoch's weights, now replaced
        if entry.startswith("epoch-") and entry != name:
            remove(os.path.join(backup, entry))


def load_backup(folder):
    """The latest complete backup: {"epoch", "weights" (a path), "history" (rows or None)}, or
    None. A backup of an earlier version (Keras' BackupAndRestore) is read too."""
    backup = os.path.join(folder, BACKUP_DIR)
    path = os.path.join(backup, BACKUP_STATE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        return dict(state, weights=os.path.join(backup, state["weights"]))
    legacy = os.path.join(backup, "training_metadata.json")
    weights = os.path.join(backup, "latest.weights.h5")
    if os.path.isfile(legacy) and os.path.isfile(weights):
        with open(legacy, encoding="utf-8") as f:
            return {"epoch": int(json.load(f).get("epoch", 0)), "weights": weights,
                    "history": None}
    return None


def save_final(folder, model, summary):
    """Keep the final weights of `model` and a summary until model.keras is written."""
    backup = os.path.join(folder, BACKUP_DIR)
    os.makedirs(backup, exist_ok=True)
    write_file(os.path.join(backup, FINAL_WEIGHTS), lambda path: model.save_weights(path))
    write_text(os.path.join(backup, FINAL_STATE), json.dumps(summary, indent=1))


def load_final(folder):
    """(weights path, summary) saved by `save_final`, or None."""
    path = os.path.join(folder, BACKUP_DIR, FINAL_STATE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return os.path.join(folder, BACKUP_DIR, FINAL_WEIGHTS), json.load(f)
