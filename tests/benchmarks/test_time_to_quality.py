"""benchmarks/time_to_quality.py: a quick run trains its budget, scores the run greedy and with 4
beams as `nmt evaluate` does, prints the CPU and one row per run (in process); each recipe's
flags reach the training command."""

import importlib.util
import json
import os

import pytest

from nmt.runs import load_config
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "time_to_quality", os.path.join(ROOT, "benchmarks", "time_to_quality.py"))
time_to_quality = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(time_to_quality)

@pytest.mark.slow  # a tiny training on the real corpus
def test_a_quick_run_trains_each_budget_once_and_scores_it_as_evaluate_does(
        corpus_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPA_ENG_PATH", corpus_path)
    out = str(tmp_path / "ttq")
    arguments = ["--quick", "--budgets", "0.05", "--sources", "10", "--out", out]
    time_to_quality.main(arguments)
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert printed.startswith("CPU: ") and summary["cpu"] in printed
    (row,) = summary["rows"]
    assert (row["recipe"], row["budget_minutes"]) == ("preset", 0.05)
    config = load_config(row["run"])
    assert config.budget_minutes == 0.05 and config.preset == "tiny"
    assert row["sources"] == 10 and row["steps"] > 0 and 0 < row["epochs"]
    for name in ("greedy", "beam4"):
        with open(os.path.join(row["run"], f"eval_test_{name}.json")) as f:
            assert json.load(f)["bleu"] == row[f"bleu_{name}"]  # the evaluate report's number
    # A folder whose run is whole and scored on as many sources is neither trained nor scored
    # again (a second command adds its recipes' rows only); on more sources it is scored again.
    files = [os.path.join(row["run"], name) for name in ("model.keras", "eval_test_greedy.json")]
    before = [os.path.getmtime(path) for path in files]
    time_to_quality.main(arguments)
    assert [os.path.getmtime(path) for path in files] == before
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"] == [row]
    time_to_quality.main([*arguments[:-4], "--sources", "12", *arguments[-2:]])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"][0]["sources"] == 12
    assert os.path.getmtime(files[0]) == before[0]


def test_each_recipe_adds_its_flags_to_the_training_command(monkeypatch, tmp_path):
    trained = []

    def run_nmt(arguments):
        trained.append(arguments)
        raise _Stop  # no training here: the command is what this test checks

    monkeypatch.setattr(time_to_quality, "run_nmt", run_nmt)
    recipes = time_to_quality.parse_recipes(["bucket=--batching bucket --max-tokens 2048"])
    for name, flags in recipes.items():
        try:
            time_to_quality.train_and_score(str(tmp_path / name), 2.5, flags, 10, quick=False)
        except _Stop:
            pass
    preset, bucket = trained
    common = ["train", "--model", "transformer", "--preset", "small", "--budget-minutes", "2.5"]
    assert preset == [*common, "--out", str(tmp_path / "preset"), "--quiet"]
    assert bucket == [*common, "--out", str(tmp_path / "bucket"), "--quiet",
                      "--batching", "bucket", "--max-tokens", "2048"]


class _Stop(Exception):
    pass


def test_a_recipe_without_a_name_or_flags_is_refused(capsys):
    for given in ("nameless", "=--batching bucket", "preset=--batching bucket"):
        with pytest.raises(SystemExit) as stop:
            time_to_quality.main(["--recipe", given])
        assert stop.value.code == 2
        assert "--recipe" in capsys.readouterr().err
