"""Shared fixtures: tiny configs, the real corpus slice, and save/load round-trip helpers."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def find_corpus():
    """The real corpus: $SPA_ENG_PATH, else the shared copy beside the checkout."""
    for path in (os.environ.get("SPA_ENG_PATH"),
                 os.path.join(ROOT, "..", "shared", "data", "spa-eng.zip")):
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    return None


@pytest.fixture(scope="session")
def corpus_path():
    path = find_corpus()
    if path is None:
        pytest.skip("real corpus not found: set SPA_ENG_PATH to spa-eng.zip")
    return path


@pytest.fixture
def tiny_pairs():
    """A synthetic corpus: 3 English sources, one with two translations."""
    return [("I love AI.", "Me encanta la IA."), ("Where is the station?", "¿Dónde está la estación?"),
            ("Where is the station?", "¿Dónde queda la estación?"), ("Go.", "Ve.")]


def run_nmt(*args, env=None, input_text=None, timeout=300):
    """Run `python -m nmt ARGS` in a new process from the checkout; return CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run([sys.executable, "-m", "nmt", *args], cwd=ROOT, env=full_env,
                          input=input_text, capture_output=True, text=True, timeout=timeout)


def run_chapter(name, out, corpus_path=None):
    """Run `python chapters/NAME.py --quick --out OUT` from the checkout; assert it exits 0 and
    that its checks ran and held; return its stdout. `corpus_path` sets $SPA_ENG_PATH."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if corpus_path:
        env["SPA_ENG_PATH"] = corpus_path
    result = subprocess.run(
        [sys.executable, f"chapters/{name}.py", "--quick", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, (
        f"{name} exited {result.returncode}:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    assert "[check]" in result.stdout
    assert "CHECK FAILED" not in result.stdout + result.stderr
    return result.stdout


def assert_sections_and_figures(stdout, out, sections, figures):
    """Every `## section` title was printed and every figure was written (non-trivially)."""
    for title in sections:
        assert f"## {title}" in stdout, f"section {title!r} missing"
    for figure in figures:
        path = out / figure
        assert path.is_file() and path.stat().st_size > 1000, f"{figure} missing or empty"


def assert_config_round_trip(layer, *args, **kwargs):
    """A layer rebuilt from `get_config()` with the same weights gives the same outputs."""
    expected = keras.tree.flatten(layer(*args, **kwargs))
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    clone(*args, **kwargs)  # builds the clone
    clone.set_weights(layer.get_weights())
    for got, want in zip(keras.tree.flatten(clone(*args, **kwargs)), expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def assert_saved_model_round_trip(model, inputs, tmp_path):
    """`model.save(.keras)` then `keras.saving.load_model` gives the same outputs."""
    expected = keras.tree.flatten(model(inputs))
    path = str(tmp_path / "round_trip.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(keras.tree.flatten(restored(inputs)), expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)
