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


def test_an_earlier_versions_backup_is_read(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_text("x")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    found = load_backup(str(tmp_path))
    assert found["epoch"] == 2 and found["weights"].endswith("latest.weights.h5")
    assert found["history"] is None


def test_a_damaged_training_state_is_named(tmp_path):
    from nmt.runs import read_state

    (tmp_path / "train_state.json").write_text('{"completed": tr')
    with pytest.raises(RunError, match="train_state.json: damaged"):
        read_state(str(tmp_path))
