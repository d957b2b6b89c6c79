"""benchmarks/decode_profile.py: a profile of a few sources counts the steps, the op time by
type and the ops of a step, and for beam search times both top-k functions (in process)."""

import importlib.util
import json
import os

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "decode_profile", os.path.join(ROOT, "benchmarks", "decode_profile.py"))
decode_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(decode_profile)


@pytest.mark.slow  # reads the real corpus for the test sources
@pytest.mark.parametrize("decode, fixed", [("greedy", False), ("beam", True)])
def test_a_profile_counts_steps_op_time_and_ops(corpus_path, monkeypatch, capsys, decode, fixed):
    monkeypatch.setenv("SPA_ENG_PATH", corpus_path)
    run = os.path.join(ROOT, "tests", "fixtures", "saved_runs", "transformer-word")
    decode_profile.main(["--run", run, "--sources", "8", "--batch", "4", "--decode", decode]
                        + (["--fixed-shapes"] if fixed else []))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] >= 2 and summary["ops_per_step"] > 20
    assert summary["us_per_step"] > 0 and summary["by_type_us_per_step"]
    assert set(summary["top_k_us"]) == ({"tf.math.top_k", "top_k_by_chunks"} if decode == "beam"
                                        else set())
