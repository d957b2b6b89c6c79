"""nmt/runs.py: run folders are marked, written crash-safe, and written by one training at a time."""

import json
import multiprocessing
import os

import pytest

import nmt.runs
from nmt.runs import (RunError, check_output_folder, clear_run_folder, is_run_folder, load_backup,
                      locked, mark_run_folder, read_history, write_history, write_text)


def test_a_failed_write_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    write_text(str(path), "old\n")

    def crash(temporary, target):
        raise OSError("disk died")

    monkeypatch.setattr(nmt.runs, "_commit", crash)
    with pytest.raises(RunError, match=f"{path}: cannot be written \\(disk died\\)"):
        write_text(str(path), "new\n")
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["config.json"]  # no temporary file left behind


def test_only_a_marked_or_earlier_versions_run_folder_counts_as_a_run(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_text("{}")
    (user / "main.py").write_text("print('mine')")
    assert not is_run_folder(str(user))
    with pytest.raises(RunError, match="not empty and not a run folder"):
        check_output_folder(str(user))
    with pytest.raises(RunError, match="refusing to delete"):
        clear_run_folder(str(user))
    assert sorted(os.listdir(user)) == ["config.json", "main.py"]

    legacy = tmp_path / "legacy"  # a run folder written before the mark existed
    legacy.mkdir()
    for name in ("model.keras", "history.csv", "eval_test.json"):
        (legacy / name).write_text("x")
    (legacy / "config.json").write_text('{"model": "gru"}')
    assert is_run_folder(str(legacy))
    (legacy / "config.json").write_text('{"name": "my app"}')  # not a run's config
    assert not is_run_folder(str(legacy))

    marked = tmp_path / "marked"
    mark_run_folder(str(marked))
    (marked / "history.csv").write_text("x")
    (marked / "notes.txt").write_text("mine")
    assert is_run_folder(str(marked))
    with pytest.raises(RunError, match="holds files that nmt did not write \\(notes.txt\\)"):
        clear_run_folder(str(marked))
    os.remove(marked / "notes.txt")
    clear_run_folder(str(marked))
    assert os.listdir(marked) == []


def test_a_file_is_not_an_output_folder(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(RunError, match="is a file"):
        check_output_folder(str(path))


def _hold_lock(folder, ready, release):
    with locked(folder):
        ready.set()
        release.wait(30)


def test_a_second_writer_of_a_run_folder_fails_at_once_naming_the_first(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunError, match=f"another training \\(process {holder.pid}\\)"):
            with locked(str(tmp_path)):
                pass
    finally:
        release.set()
        holder.join(30)
    with locked(str(tmp_path)):  # free again
        pass


def test_history_rows_round_trip_with_the_epoch_first(tmp_path):
    rows = [{"epoch": 0, "loss": 2.5, "val_loss": 2.0}, {"epoch": 1, "loss": 1.5, "val_loss": 1.25}]
    write_history(str(tmp_path), rows)
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "epoch,loss,val_loss"
    assert read_history(str(tmp_path)) == [{k: float(v) for k, v in row.items()} for row in rows]


def _h5(path):
    """Write a small whole HDF5 file at `path` (what `save_weights` writes, in miniature)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f["weights"] = np.arange(64, dtype="float32")


class _Weights:
    """Stands for a model in `save_backup`: `save_weights` writes a small HDF5 file."""

    def save_weights(self, path):
        _h5(path)


def test_an_earlier_versions_backup_is_read_with_the_history_of_its_epochs(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    _h5(backup / "latest.weights.h5")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    write_history(str(tmp_path), [{"epoch": 0, "loss": 2.0}, {"epoch": 1, "loss": 1.0}])
    found = load_backup(str(tmp_path))
    assert found["epoch"] == 2 and found["weights"].endswith("latest.weights.h5")
    assert found["history"] == [{"epoch": 0, "loss": 2.0}, {"epoch": 1, "loss": 1.0}]


def test_the_backup_keeps_the_previous_epoch_and_falls_back_to_it_when_the_latest_is_damaged(
        tmp_path):
    from nmt.runs import save_backup

    rows = [{"epoch": 0, "loss": 3.0}, {"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]
    for epoch in (1, 2, 3):
        save_backup(str(tmp_path), _Weights(), epoch, rows[:epoch], config={"model": "gru"})
    # Epochs 3 and 2 are kept; epoch 1, replaced twice, is gone.
    assert sorted(os.listdir(tmp_path / "backup")) == ["epoch-0002.weights.h5",
                                                       "epoch-0003.weights.h5", "state.json"]
    problems = []
    assert load_backup(str(tmp_path), problems)["epoch"] == 3 and problems == []
    latest = tmp_path / "backup" / "epoch-0003.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])
    found = load_backup(str(tmp_path), problems)
    assert found["epoch"] == 2 and found["history"] == rows[:2]
    assert found["config"] == {"model": "gru"}
    assert problems == [f"{latest}: damaged (truncated: 100 of its "
                        f"{os.path.getsize(tmp_path / 'backup' / 'epoch-0002.weights.h5'):,} "
                        "bytes are left)"]


def test_a_damaged_backup_state_falls_back_to_the_weights_that_history_csv_covers(tmp_path):
    from nmt.runs import save_backup

    rows = [{"epoch": 0, "loss": 3.0}, {"epoch": 1, "loss": 2.0}]
    for epoch in (1, 2):
        save_backup(str(tmp_path), _Weights(), epoch, rows[:epoch])
    write_history(str(tmp_path), rows)
    state = tmp_path / "backup" / "state.json"
    state.write_text('{"epoch": 2, "weigh')
    problems = []
    found = load_backup(str(tmp_path), problems)
    assert found["epoch"] == 2 and found["history"] == rows
    assert len(problems) == 1 and problems[0].startswith(f"{state}: damaged (not valid JSON")
    write_history(str(tmp_path), rows[:1])  # history.csv holds epoch 0 only: epoch 1's weights
    assert load_backup(str(tmp_path), [])["epoch"] == 1


@pytest.mark.parametrize("text, why", [
    ("epoch,loss\n0,2.5\n1,1.", "cut short: its last line is not whole"),
    ("epoch,loss\n0,2.5\n1\n", "line 3 has 1 fields, the header 2"),
    ("epoch,loss\n0,2.5\n1,x\n", "line 3 holds a value that is not a number"),
    ("epoch,loss\n0,2.5\n2,1.5\n", "line 3 is not epoch 1"),
    ("loss\n2.5\n", "its first line is not the header (epoch, ...)"),
])
def test_a_damaged_history_says_what_is_wrong(tmp_path, text, why):
    from nmt.runs import read_history_checked

    (tmp_path / "history.csv").write_text(text)
    assert read_history_checked(str(tmp_path)) == (None, why)
    (tmp_path / "history.csv").write_bytes(b"\xff\xfe\x00")
    assert read_history_checked(str(tmp_path))[1].startswith("not UTF-8 text")
    (tmp_path / "history.csv").write_text("epoch,loss\n0,2.5\n")
    assert read_history_checked(str(tmp_path)) == ([{"epoch": 0, "loss": 2.5}], None)


def test_file_damage_tells_truncated_from_corrupt_and_checks_unrecorded_files(tmp_path):
    from nmt.runs import file_damage, file_fingerprint

    path = tmp_path / "a.weights.h5"
    _h5(path)
    recorded = file_fingerprint(str(path))
    assert file_damage(str(path), recorded) is None and file_damage(str(path)) is None
    data = path.read_bytes()
    path.write_bytes(bytes(len(data)))  # as many bytes, all zero
    assert file_damage(str(path), recorded) == "corrupt: its bytes differ from those written " \
                                               "(sha256)"
    assert file_damage(str(path)).startswith("not a whole HDF5 file")
    path.write_bytes(data[:10])
    assert file_damage(str(path), recorded) == f"truncated: 10 of its {len(data):,} bytes are left"
    assert file_damage(str(tmp_path / "none.h5")) == "missing"
    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 cut")
    assert file_damage(str(tmp_path / "model.keras")).startswith("not a whole .keras (zip) file")


def test_a_damaged_training_state_is_named(tmp_path):
    from nmt.runs import read_state

    (tmp_path / "train_state.json").write_text('{"completed": tr')
    with pytest.raises(RunError, match="train_state.json: damaged"):
        read_state(str(tmp_path))


def test_a_killed_writers_temporary_files_are_removed_and_a_running_ones_kept(tmp_path):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid that has ended
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / f".nmt-run.tmp-{gone}").write_text("cut")  # a kill during the very first write
    check_output_folder(str(folder))  # not refused: only its own mark's temporary file is there
    mark_run_folder(str(folder))
    (folder / "backup").mkdir()
    for name in (f"config.tmp-{gone}.json", f"backup/epoch-0001.tmp-{gone}.weights.h5",
                 f"history.tmp-{os.getpid()}.csv", "notes.tmp-draft.txt"):
        (folder / name).write_text("x")
    removed = nmt.runs.remove_stray_temporaries(str(folder))
    assert sorted(removed) == sorted([f".nmt-run.tmp-{gone}", f"config.tmp-{gone}.json",
                                      os.path.join("backup", f"epoch-0001.tmp-{gone}.weights.h5")])
    assert sorted(os.listdir(folder)) == [".nmt-run", "backup", f"history.tmp-{os.getpid()}.csv",
                                          "notes.tmp-draft.txt"]
