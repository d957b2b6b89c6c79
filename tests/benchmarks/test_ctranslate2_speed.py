"""benchmarks/ctranslate2_speed.py: a quick run on a tiny saved run times every engine, decoding
and batch size, compares the outputs with TF's and scores them (in process); --isa avx2 starts
again with every library limited to AVX2."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "ctranslate2_speed", os.path.join(ROOT, "benchmarks", "ctranslate2_speed.py"))
ctranslate2_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ctranslate2_speed)


def test_a_quick_run_times_every_engine_and_agrees_with_tf(corpus_path, monkeypatch, capsys):
    monkeypatch.setenv("SPA_ENG_PATH", corpus_path)
    run = os.path.join(ROOT, "tests", "fixtures", "saved_runs", "transformer-word")
    # Without tf-xla, whose compilations take most of a quick run's time.
    ctranslate2_speed.main(["--run", run, "--quick", "--engines", "tf,ct2-float32,ct2-int8"])
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert out.startswith("CPU: ") and summary["sources"] == 8
    cells = {(r["engine"], r["decoding"], r["batch"]) for r in summary["rows"]}
    assert cells == {(engine, decoding, batch) for engine in ("tf", "ct2-float32", "ct2-int8")
                     for decoding in ctranslate2_speed.DECODINGS for batch in (1, 32)}
    for row in summary["rows"]:
        assert row["sentences_per_s"] > 0 and row["tokens_per_s"] > 0
        if row["engine"] == "ct2-float32":  # float32: the TF decoder's outputs
            assert row["identical_to_tf"] == 1.0, row
    assert set(summary["int8_minus_float32_bleu"]) == {"greedy", "beam4"}


@pytest.mark.slow  # a new process: --isa sets the kernels' limits before TensorFlow loads
def test_isa_avx2_starts_again_with_every_library_limited_to_avx2(corpus_path, tmp_path):
    run = os.path.join(ROOT, "tests", "fixtures", "saved_runs", "transformer-word")
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA",
                                                             "CT2_FORCE_CPU_ISA")}
    env.update(SPA_ENG_PATH=corpus_path, CT2_VERBOSE="1")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "ctranslate2_speed.py"), "--run", run,
         "--quick", "--engines", "tf,ct2-float32", "--isa", "avx2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].endswith("kernels limited to AVX2 (--isa)")
    assert json.loads(lines[-1])["isa"] == "avx2"
    assert "Selected ISA: AVX2" in done.stdout + done.stderr  # CTranslate2's own report
