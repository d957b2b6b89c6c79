"""Run folders: what they hold, how their config and training state are read and written.

A run folder holds `config.json`, `english_vocab.txt`, `spanish_vocab.txt`, `model.keras`,
`history.csv`, `logs/` (TensorBoard), `train_state.json`, and `backup/` while training.

Example:
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> write_state(folder, completed=False)
>>> read_state(folder)
{'completed': False}
"""

import json
import os

from data.errors import NmtError
from nmt.config import Config, ConfigError

CONFIG_FILE = "config.json"
STATE_FILE = "train_state.json"
HISTORY_FILE = "history.csv"
SOURCE_VOCAB_FILE = "english_vocab.txt"
TARGET_VOCAB_FILE = "spanish_vocab.txt"
MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"
RUN_FILES = (CONFIG_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, MODEL_FILE)


class RunError(NmtError):
    """A run folder that is missing, incomplete or inconsistent."""


def write_text(path, text):
    """Write `text` to `path` through a temporary file in the same folder, then rename, so a
    kill at any instant leaves either the old file or the new one."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


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
        return Config.from_dict(values)
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
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_state(folder, **values):
    write_text(os.path.join(folder, STATE_FILE), json.dumps(values, indent=2))


def backup_epoch(folder):
    """Epochs completed before an interruption (from Keras' BackupAndRestore metadata)."""
    path = os.path.join(folder, BACKUP_DIR, "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f).get("epoch", 0))


def count_history_rows(folder):
    """Epochs recorded in history.csv (across resumed sessions)."""
    with open(os.path.join(folder, HISTORY_FILE), encoding="utf-8") as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)
