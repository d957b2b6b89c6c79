"""Shared fixtures and helpers: tiny layer inputs, tiny models and configs, the real corpus slice,
a synthetic training corpus, the command-line runners, and save/load round-trip helpers."""

import os
import subprocess
import sys
import time

# Under pytest-xdist (make test: -n 2), each worker and the processes it starts get an equal
# share of the cores for TensorFlow's and oneDNN's intra-op threads, before TensorFlow starts: two
# workers with a pool of a thread per core each would oversubscribe the cores (measured on 2 cores
# over test_training.py and the model lessons: 198 s -> 184 s).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, _share)

import keras  # noqa: E402  (after the thread settings above)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The suite's time budget: `make test` on the 2-core machine, and CI's limit.
BUDGET_MINUTES, CI_LIMIT_MINUTES = 15, 90


# Running over both cores (pytest-xdist, `make test`: -n 2 --dist loadgroup).

@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Tests that use a module-scoped fixture of their module (a run trained once for the
    module, a server, a browser) are one xdist group, so the fixture is built once, on one
    worker; every other test goes to whichever worker is free.

    The modules that hold slow tests (processes, trainings, lessons) come first, each module's
    tests kept together and in their order (a module fixture is built once): the workers take
    the long work first and even out their ends with the short tests.

    After the other hooks (pytest-xdist's marks each grouped test with a `@group` suffix on its
    node id, in each worker under --dist loadgroup), the run stops if a grouped test has none:
    with pytest 9.2.0 and pytest-xdist 3.8.0 the suffix is silently lost (pytest-xdist issue
    #1386), and each module fixture is then built on both workers, some several times."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        for defs in (info.name2fixturedefs.values() if info else ()):
            if defs and defs[-1].scope == "module":
                item.add_marker(pytest.mark.xdist_group(item.module.__name__))
                break
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)  # stable
    yield
    if hasattr(config, "workerinput") and config.getvalue("loadgroup"):
        lost = [item.nodeid for item in items
                if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if lost:
            raise pytest.UsageError(
                f"pytest-xdist did not group {len(lost)} tests (the first: {lost[0]}): its "
                "--dist loadgroup does not work with this pytest; install the versions that "
                "requirements.txt pins")


def pytest_sessionstart(session):
    session.config._nmt_started = time.monotonic()


def pytest_terminal_summary(terminalreporter, config):
    """The suite's wall time against its budget and CI's limit, after every run."""
    started = getattr(config, "_nmt_started", None)
    if started is None or hasattr(config, "workerinput"):  # an xdist worker: the controller says it
        return
    seconds = time.monotonic() - started
    terminalreporter.write_line(
        f"test-time budget: {seconds / 60:.1f} min wall ({seconds:.0f} s) = "
        f"{100 * seconds / (CI_LIMIT_MINUTES * 60):.0f}% of CI's {CI_LIMIT_MINUTES}-minute limit; "
        f"make test's budget is {BUDGET_MINUTES} min on 2 cores")


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


def nmt_here(*args):
    """`nmt ARGS` run in this process (`nmt.cli.main`, from the current folder), returned as
    `run_nmt`'s CompletedProcess: for tests of what a command does, not of its process (a real
    process is for exit codes and streams at the OS level, kill -9, locks, several devices)."""
    import contextlib
    import io

    from nmt.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as stop:  # argparse: -h, or a bad flag
            code = stop.code
    return subprocess.CompletedProcess(["nmt", *args], code, out.getvalue(), err.getvalue())


def run_chapter(name, out, corpus_path=None, extra=(), timeout=600):
    """Run `python chapters/NAME.py --quick --out OUT [EXTRA...]` from the checkout; assert it
    exits 0 and that its checks ran and held; return its stdout. `corpus_path` sets
    $SPA_ENG_PATH. `timeout` (seconds) is generous: a lesson takes under a minute alone, several
    on a loaded 2-core machine."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if corpus_path:
        env["SPA_ENG_PATH"] = corpus_path
    result = subprocess.run(
        [sys.executable, f"chapters/{name}.py", "--quick", "--out", str(out), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
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


# Tiny layer inputs (tests/models/test_<layer>.py).
BATCH, SRC, TGT, DIM, HEADS = 2, 5, 4, 8, 2


def random_floats(*shape, seed=0):
    """Standard-normal float32 values of `shape`, from `seed`."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def source_mask():
    """(BATCH, SRC) padding mask: the first sentence has 3 real tokens, the second SRC."""
    mask = np.ones((BATCH, SRC), bool)
    mask[0, 3:] = False  # first sentence: 3 real tokens, 2 padding
    return mask


# Tiny models of every kind (tests/models/test_transformer.py, test_rnn.py, test_decoding.py).
MODEL_NAMES = ("transformer", "rnn", "gru")
# Model variants whose decoding and saving are checked like the models': name -> (model, settings).
MODEL_VARIANTS = {
    "transformer_prenorm_tied": ("transformer", dict(norm_first=True, tie_embeddings=True,
                                                     block_dropout=0.1)),
}
TINY_VOCAB = 40


def tiny_model(name, **overrides):
    """(config, model): model `name` (or a MODEL_VARIANTS name) at the tiny preset, TINY_VOCAB."""
    from nmt.config import resolve_config
    from nmt.translator import build_model

    # Seeded: an untrained model's logits are close together, and with unseeded weights (which
    # depend on what ran before) a near-tie can let float rounding flip a greedy choice.
    keras.utils.set_random_seed(0)
    model_name, settings = MODEL_VARIANTS.get(name, (name, {}))
    config = resolve_config(model_name, "tiny", vocab_size=TINY_VOCAB, **{**settings, **overrides})
    return config, build_model(config)


def tiny_batch(seed=0):
    """(source, target) ids for tiny_model: 3 sentences, sources padded, targets from [start]."""
    rng = np.random.default_rng(seed)
    source = rng.integers(1, TINY_VOCAB, size=(3, 7))
    source[0, 4:] = 0
    source[1, 6:] = 0
    target = rng.integers(4, TINY_VOCAB, size=(3, 6))
    target[:, 0] = 2
    return source, target


def greedy_by_full_recompute(model, source, start_id, end_id, max_length):
    """The book's loop, batched: re-run the whole model on the whole prefix for every token."""
    tokens = np.full((len(source), 1), start_id)
    done = np.zeros(len(source), bool)
    for _ in range(max_length):
        logits = model({"english": source, "spanish": tokens}).numpy()[:, -1]
        next_ids = np.where(done, 0, logits.argmax(-1))
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        done |= next_ids == end_id
        if done.all():
            break
    return tokens


def tiny_word_tokenizers():
    """(English, Spanish) word tokenizers learned on two tiny sentences."""
    from data.vectorize import WordTokenizer, add_markers

    english = WordTokenizer.adapt(["red cat", "blue dog"], 100, 20, "english")
    spanish = WordTokenizer.adapt(add_markers(["gato rojo", "perro azul"]), 100, 21, "spanish")
    return english, spanish


# Training on a small synthetic corpus, in process (tests/nmt/test_training.py and others).
@pytest.fixture
def synthetic_corpus(tmp_path):
    """Path of a 400-pair corpus of colour/animal/size phrases and their word-by-word Spanish."""
    from data.corpus import write_pairs

    path = tmp_path / "pairs.tsv"
    write_pairs(synthetic_pairs(), path)
    return str(path)


def synthetic_pairs():
    """400 pairs of colour/animal/size phrases and their word-by-word Spanish."""
    words = ["red", "blue", "green", "cat", "dog", "house", "big", "small"]
    spanish = ["rojo", "azul", "verde", "gato", "perro", "casa", "grande", "pequeño"]
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(400):
        idx = rng.integers(0, len(words), size=rng.integers(1, 5))
        pairs.append((" ".join(words[i] for i in idx).capitalize() + ".",
                      " ".join(spanish[i] for i in idx).capitalize() + "."))
    return pairs


def tiny_run_config(corpus, **overrides):
    """A tiny Transformer config on `corpus`: 1 epoch of 5 fixed batches of 16, unless
    `overrides` say otherwise."""
    from nmt.config import resolve_config

    values = dict(corpus=corpus, epochs=1, steps_per_epoch=5, batch_size=16, batching="fixed")
    values.update(overrides)
    return resolve_config("transformer", "tiny", **values)


# A small parallel corpus for the WordPiece tests (tests/data/test_subword.py,
# tests/nmt/test_translator.py): it holds every character the tests encode.
ROUND_TRIP_ENGLISH = ["Tom isn't here.", 'I said "no".', "It's 5:30 p.m."]
ROUND_TRIP_SPANISH = ["¿Qué hora es?", "¡Hola, María!", "Me gusta el café (mucho).",
                      "¿Dónde está la estación?"]

WORDPIECE_ENGLISH = ROUND_TRIP_ENGLISH + [
    "I love you.", "Where is the station?", "Tom is here.", "Mary isn't here.", "Go.",
    "I said yes.", "It's late.", "We're happy.", "I don't know.", "Is it far?",
    "Tom likes coffee.", "Mary likes tea.", "The train leaves at 6:15 a.m.", "Call me, please.",
    "Where are you?", "I'm hungry.", "They're students.", "Is this your book?",
    "Open the door.", "She reads a lot.", "We live in Madrid.", "He's my friend.",
    "That's a good idea!", "Who is that man?", "I want to sleep.", "The dog is black.",
    "Ask Tom.",
]
WORDPIECE_SPANISH = ROUND_TRIP_SPANISH + [
    "Te quiero.", "Tom está aquí.", "María no está aquí.", "Ve.", "Dije que sí.",
    "Es tarde.", "Estamos contentos.", "No lo sé.", "¿Está lejos?", "A Tom le gusta el café.",
    "A María le gusta el té.", "El tren sale a las 6:15.", "Llámame, por favor.",
    "¿Dónde estás?", "Tengo hambre.", "Son estudiantes.", "¿Es tu libro?", "Abre la puerta.",
    "Ella lee mucho.", "Vivimos en Madrid.", "Él es mi amigo.", "¡Qué buena idea!",
    "¿Quién es ese hombre?", "Quiero dormir.", "El perro es negro.", "¡Cuidado!",
    "¿Y tú?", "Mañana es lunes.",
]


# Checks every translator must pass (tests/models/test_transformer.py, tests/models/test_rnn.py).


def check_extra_source_padding_does_not_change_outputs(name):
    _, model = tiny_model(name)
    source, target = tiny_batch()
    padded = np.concatenate([source, np.zeros((3, 5), source.dtype)], axis=1)
    np.testing.assert_allclose(model({"english": padded, "spanish": target}),
                               model({"english": source, "spanish": target}), atol=1e-5)


def check_cached_steps_equal_one_full_pass(name):
    import tensorflow as tf

    from nmt.translator import Translator

    config, model = tiny_model(name, num_layers=2)
    translator_steps = Translator(config, model, None, None).steps
    source, target = tiny_batch()
    full = model({"english": source, "spanish": target})
    cache = translator_steps.init_cache(translator_steps.encode(tf.constant(source)), 6)
    for t in range(6):
        logits, cache = translator_steps.next_fn(tf.constant(target), cache, t)
        np.testing.assert_allclose(logits, full[:, t], atol=1e-4)


def check_model_survives_keras_save_and_load(name, tmp_path):
    _, model = tiny_model(name)
    source, target = tiny_batch()
    assert_saved_model_round_trip(model, {"english": source, "spanish": target}, tmp_path)
