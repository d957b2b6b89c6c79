"""chapters/17: attention heads and scoring functions, in quick mode, with the saved tiny
Transformer of tests/fixtures/saved_runs as the trained translator (`--run`).

The test runs `python chapters/17_heads_and_scoring.py --quick --out TMP --run RUN` in a new
process from the checkout; the lesson needs no corpus (it trains on a synthetic task).
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, assert_sections_and_figures

pytestmark = pytest.mark.slow

LESSON = "17_heads_and_scoring"
RUN = os.path.join("tests", "fixtures", "saved_runs", "transformer-word")  # 2 heads, embed_dim 16
SECTIONS = ["Same width, 1, 2, 4 and 8 heads: the parameters",
            "Same width, more heads: the forward cost",
            "What a head of width key_dim can represent: the rank of its scores",
            "What each head sees: a task that needs two neighbours",
            "Additive and dot-product scoring on the same queries and keys",
            "Additive and dot-product scoring: the cost",
            "The heads of a trained translator"]
FIGURES = ["17_head_cost.png", "17_head_maps.png", "17_scoring_cost.png",
           "17_translator_heads.png"]


def test_heads_lesson_checks_parameters_ranks_trained_heads_and_both_scorings(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, f"chapters/{LESSON}.py", "--quick", "--out", str(tmp_path), "--run", RUN],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    stdout = result.stdout
    assert "CHECK FAILED" not in stdout + result.stderr
    assert_sections_and_figures(stdout, tmp_path, SECTIONS, FIGURES)
    # Quick mode's width is 64: 4 x 64^2 + 4 x 64 = 16,640 parameters for every head count,
    # and the 2nd edition's 8 heads of key_dim 64: 4 x 8 x 64^2 + 3 x 8 x 64 + 64 = 132,672.
    assert "3rd ed.: the same 16,640 parameters for [1, 2, 4, 8] heads" in stdout
    assert "2nd ed., 8 head(s) x 64: 132,672 = 4hD^2 + 3hD + D" in stdout
    # 8 heads of key_dim 8 on 16 tokens: rank <= 8, random and trained (key_dim 4 on 10 tokens).
    assert "8 head(s): every score matrix has rank <= min(L, key_dim) = 8" in stdout
    assert "trained, 8 head(s): rank <= min(L, key_dim) = 4" in stdout
    for heads in (1, 2, 4, 8):
        assert f"{heads} head(s): trained, test accuracy" in stdout
    assert stdout.count("mean Jensen-Shannon distance between its") == 3  # 2, 4 and 8 heads
    assert "the two weight matrices differ" in stdout
    for reference in ("keras.layers.AdditiveAttention(use_scale=True), scale = v",
                      "keras.layers.Attention(use_scale=True), scale = 1/sqrt(8)",
                      "models/luong_attention.py's LuongAttention with W_a = I / sqrt(8)"):
        assert f"by hand == {reference}" in stdout
    assert "measured at L = 128:" in stdout
    assert "transformer-word is a Transformer translator" in stdout
