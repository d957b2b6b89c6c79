"""benchmarks/serve_load.py: a short run against a real `nmt serve` process answers every
request, and its percentiles mean what they say."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "serve_load", os.path.join(ROOT, "benchmarks", "serve_load.py"))
serve_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve_load)


def test_percentiles_are_nearest_rank():
    values = [0.1 * i for i in range(1, 21)]  # 0.1 .. 2.0
    assert serve_load.percentile(values, 50) == pytest.approx(1.0)
    assert serve_load.percentile(values, 95) == pytest.approx(1.9)
    assert serve_load.percentile([3.0], 95) == 3.0
    assert serve_load.percentile([], 50) is None


@pytest.mark.slow
def test_a_short_load_check_answers_every_request():
    result = subprocess.run(
        [sys.executable, "benchmarks/serve_load.py", "--requests", "5", "--clients", "3",
         "--seconds", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["single"] == {**summary["single"], "requests": 5, "errors": 0}
    concurrent = summary["concurrent"]
    assert concurrent["clients"] == 3 and concurrent["errors"] == 0
    assert concurrent["requests"] >= 3 and concurrent["requests_per_s"] > 0
    assert concurrent["p50_ms"] <= concurrent["p95_ms"]
    assert summary["server_alive"]
    assert "1 client, one at a time" in result.stdout and "3 clients, 2 s" in result.stdout
