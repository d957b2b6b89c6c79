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

Damage (a full disk, a cut copy, a filesystem that lost unsynced data) is found, not trusted:
the backup records the size and sha256 of every weights file it names, and keeps the previous
epoch's weights beside the latest; `load_backup` and `load_final` skip a damaged file (saying
which and why, `file_damage`) and fall back to the newest whole one; `read_history_checked` and
`read_state_checked` say what is wrong with a damaged history or state instead of raising.

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
import hashlib
import io
import json
import os
import shutil
import zipfile

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
    """Raise `RunError` unless `folder` may receive a run: missing, empty (but for the temporary
    file of a mark that a kill cut short), or a run folder."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"{folder}: is a file, not a folder; give --out a folder")
    entries = {name for name in folder_entries(folder)
               if not name.startswith(MARKER_FILE + ".tmp-")}
    if entries and not is_run_folder(folder):
        raise RunError(f"{folder}: not empty and not a run folder; give --out a new or empty "
                       "folder (nothing there was changed)")


def _writer_is_gone(name):
    """Whether `name` is a temporary file (`write_file`'s NAME.tmp-PID...) of a process that no
    longer runs: what a kill during that write left."""
    pid = name.split(".tmp-", 1)[1].split(".", 1)[0] if ".tmp-" in name else ""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it runs
        return False
    return False


def remove_stray_temporaries(folder, inside=(BACKUP_DIR,)):
    """Delete the temporary files that killed writers left in the marked run `folder` (and in
    its `inside` folders); return their names. A running writer's are left alone."""
    removed = []
    for where in (folder, *(os.path.join(folder, name) for name in inside)):
        if not os.path.isdir(where):
            continue
        for name in sorted(os.listdir(where)):
            if _writer_is_gone(name) and os.path.isfile(os.path.join(where, name)):
                os.remove(os.path.join(where, name))
                removed.append(os.path.relpath(os.path.join(where, name), folder))
    return removed


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


def _read_json(path):
    """(value, None) for a whole JSON file, or (None, what is wrong with it)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), None
    except ValueError as error:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return None, f"not valid JSON: {error}"


def read_state_checked(folder):
    """(train_state.json as a dict, None), ({}, None) when there is none, or ({}, what is
    wrong with it) when it is damaged."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        return {}, None
    state, why = _read_json(path)
    if why is None and not isinstance(state, dict):
        state, why = None, "not a JSON object"
    return (state, None) if why is None else ({}, why)


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


def read_history_checked(folder):
    """(rows, None) for a whole history.csv ([] when there is none), or (None, what is wrong).

    Rows are {name: float} with an int "epoch"; a whole file ends its last line, has as many
    fields on each line as in its header, numbers only, and the epochs 0, 1, 2... in order.
    """
    path = os.path.join(folder, HISTORY_FILE)
    if not os.path.isfile(path):
        return [], None
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 text: {error}"
    if not text.endswith("\n"):
        return None, "cut short: its last line is not whole"
    header, *lines = list(csv.reader(io.StringIO(text)))
    if header[:1] != ["epoch"]:
        return None, "its first line is not the header (epoch, ...)"
    rows = []
    for number, fields in enumerate(lines, start=2):
        if len(fields) != len(header):
            return None, f"line {number} has {len(fields)} fields, the header {len(header)}"
        try:
            row = {name: float(value) for name, value in zip(header, fields) if value != ""}
        except ValueError:
            return None, f"line {number} holds a value that is not a number"
        if row.get("epoch") != len(rows):
            return None, f"line {number} is not epoch {len(rows)}"
        rows.append(dict(row, epoch=len(rows)))
    return rows, None


# Whether a file is the whole file that was written.


def file_sha256(path):
    """The sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path):
    """{"bytes", "sha256"} of a file, recorded when it is written to check it when it is read."""
    return {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}


def text_fingerprint(text):
    """`file_fingerprint` of the UTF-8 file that holds `text`, without writing it."""
    data = text.encode("utf-8")
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def file_damage(path, recorded=None):
    """What is wrong with the file at `path`, or None when it is whole.

    With `recorded` (its `file_fingerprint` when it was written), any difference is damage;
    without, an HDF5 weights file or a .keras (zip) file is opened and read through to check it.
    """
    if not os.path.isfile(path):
        return "missing"
    size = os.path.getsize(path)
    if recorded:
        if size < recorded["bytes"]:
            return f"truncated: {size:,} of its {recorded['bytes']:,} bytes are left"
        if size != recorded["bytes"] or file_sha256(path) != recorded["sha256"]:
            return "corrupt: its bytes differ from those written (sha256)"
        return None
    if path.endswith(".h5"):
        import h5py  # Keras' own dependency, imported only to check a file

        try:
            with h5py.File(path, "r"):
                return None
        except OSError as error:
            return f"not a whole HDF5 file: {str(error).split(' (')[0]}"
    if path.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return None if bad is None else f"corrupt: its member {bad} fails its CRC check"
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f"not a whole .keras (zip) file: {error}"
    return None


# The per-epoch backup: backup/epoch-NNNN.weights.h5 (the training model's weights and optimizer
# state) and backup/state.json naming it, with its size and sha256, the history so far and the
# run's config; "previous" names the previous epoch's weights, kept beside them (the fallback
# when the latest are damaged). A final.weights.h5 and final.json hold the weights chosen at the
# end (averaged, best), before model.keras is written.

BACKUP_STATE = "state.json"
FINAL_WEIGHTS = "final.weights.h5"
FINAL_STATE = "final.json"
_EPOCH_WEIGHTS = "epoch-{:04d}.weights.h5"


def _read_backup_state(path):
    """(backup state, None), (None, None) when there is none, or (None, what is wrong)."""
    if not os.path.isfile(path):
        return None, None
    state, why = _read_json(path)
    if why is None and not (isinstance(state, dict) and isinstance(state.get("epoch"), int)
                            and isinstance(state.get("weights"), str)
                            and isinstance(state.get("history"), list)):
        state, why = None, "not a backup state: epoch, weights or history missing"
    return state, why


def save_backup(folder, model, epoch, rows, config=None):
    """Back up `model` (weights and optimizer) after `epoch` epochs, with the history `rows` and
    the run's `config` (a dict: the copy that replaces a damaged config.json).

    The previous backup's weights stay beside the new ones (named in "previous"); older ones go.
    """
    backup = os.path.join(folder, BACKUP_DIR)
    os.makedirs(backup, exist_ok=True)
    path = os.path.join(backup, BACKUP_STATE)
    previous, _ = _read_backup_state(path)
    name = _EPOCH_WEIGHTS.format(epoch)
    write_file(os.path.join(backup, name), lambda temporary: model.save_weights(temporary))
    state = {"epoch": epoch, "weights": name,
             **file_fingerprint(os.path.join(backup, name)), "history": rows, "config": config,
             "previous": None}
    if previous and previous["epoch"] < epoch:
        state["previous"] = {k: previous.get(k) for k in ("epoch", "weights", "bytes", "sha256")}
    write_text(path, json.dumps(state, indent=1))
    keep = {name, (state["previous"] or {}).get("weights")}
    for entry in os.listdir(backup):  # older epochs' weights, now replaced twice
        if entry.startswith("epoch-") and entry not in keep:
            remove(os.path.join(backup, entry))


def load_backup(folder, problems=None):
    """The latest whole backup: {"epoch", "weights" (a path), "history" (its rows), "config"
    (a dict, or None)}, or None.

    The latest epoch's weights, else the previous epoch's kept beside them; when backup/state.json
    itself is damaged, the newest epoch-NNNN.weights.h5 whose epochs history.csv holds. Each
    damaged file is appended to `problems` as "PATH: damaged (WHY)". A backup of an earlier
    version (Keras' BackupAndRestore) is read too, with history.csv's rows.
    """
    problems = [] if problems is None else problems
    backup = os.path.join(folder, BACKUP_DIR)
    path = os.path.join(backup, BACKUP_STATE)
    state, why = _read_backup_state(path)
    candidates = []  # (entry: epoch, weights, fingerprint or not; history rows; config)
    if state is not None:
        for entry in (state, state.get("previous")):
            if entry:
                candidates.append((entry, state["history"][:entry["epoch"]], state.get("config")))
    elif why is not None:
        problems.append(f"{path}: damaged ({why})")
        history, _ = read_history_checked(folder)  # written after state.json, each epoch
        epochs = sorted((int(entry[6:10]) for entry in os.listdir(backup)
                         if entry.startswith("epoch-") and entry.endswith(".weights.h5")
                         and entry[6:10].isdigit()), reverse=True)
        candidates = [({"epoch": epoch, "weights": _EPOCH_WEIGHTS.format(epoch)},
                       history[:epoch], None) for epoch in epochs
                      if history is not None and len(history) >= epoch]
    else:
        legacy = os.path.join(backup, "training_metadata.json")
        metadata, why = _read_json(legacy) if os.path.isfile(legacy) else (None, None)
        if why is not None:
            problems.append(f"{legacy}: damaged ({why})")
        elif metadata is not None:
            epoch = int(metadata.get("epoch", 0))
            history, _ = read_history_checked(folder)
            if history is not None and len(history) >= epoch:
                candidates.append(({"epoch": epoch, "weights": "latest.weights.h5"},
                                   history[:epoch], None))
            else:
                problems.append(f"{os.path.join(folder, HISTORY_FILE)}: damaged (it does not "
                                f"hold the {epoch} epochs of the backup)")
    for entry, rows, config in candidates:
        weights = os.path.join(backup, entry["weights"])
        recorded = {k: entry[k] for k in ("bytes", "sha256")} if entry.get("sha256") else None
        why = file_damage(weights, recorded)
        if why is None:
            return {"epoch": entry["epoch"], "weights": weights, "history": rows,
                    "config": config}
        problems.append(f"{weights}: damaged ({why})")
    return None


def backup_config(folder):
    """The run's config as backup/state.json keeps it (a dict), or None."""
    state, _ = _read_backup_state(os.path.join(folder, BACKUP_DIR, BACKUP_STATE))
    return (state or {}).get("config")


def save_final(folder, model, summary):
    """Keep the final weights of `model` and a summary until model.keras is written."""
    backup = os.path.join(folder, BACKUP_DIR)
    os.makedirs(backup, exist_ok=True)
    weights = os.path.join(backup, FINAL_WEIGHTS)
    write_file(weights, lambda path: model.save_weights(path))
    write_text(os.path.join(backup, FINAL_STATE),
               json.dumps(dict(summary, weights_file=file_fingerprint(weights)), indent=1))


def load_final(folder, problems=None):
    """(weights path, summary) saved by `save_final`, or None (also when one of them is damaged:
    appended to `problems` as "PATH: damaged (WHY)")."""
    problems = [] if problems is None else problems
    path = os.path.join(folder, BACKUP_DIR, FINAL_STATE)
    if not os.path.isfile(path):
        return None
    summary, why = _read_json(path)
    if why is None and not (isinstance(summary, dict) and isinstance(summary.get("history"),
                                                                     list)):
        why = "not a final summary: its history is missing"
    if why is not None:
        problems.append(f"{path}: damaged ({why})")
        return None
    weights = os.path.join(folder, BACKUP_DIR, FINAL_WEIGHTS)
    why = file_damage(weights, summary.pop("weights_file", None))
    if why is not None:
        problems.append(f"{weights}: damaged ({why})")
        return None
    return weights, summary
