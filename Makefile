# One-command entry points. `make test` and `make demo` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNS := runs
SAMPLES := "I love AI." "Where is the train station?" "She is reading a book in the garden." "We will go to the beach tomorrow if it does not rain."

.PHONY: setup test test-fast demo demo-rnn notebooks clean

$(VENV)/installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/installed

# The whole suite (unit + end-to-end on a slice of the real corpus), over both cores
# (pytest-xdist; tests that share a module's trained runs stay on one worker: loadgroup). It
# ends with the 10 slowest tests and the suite's time against CI's 90-minute limit.
PYTEST := $(PY) -m pytest -q --durations=10
test: setup
	$(PYTEST) -n 2 --dist loadgroup

# The tests not marked slow (no new processes, no real corpus, no training of more than a few
# seconds: tests/README.md), over both cores too.
test-fast: setup
	$(PYTEST) -n 2 --dist loadgroup -m "not slow"

# The demo: train the small Transformer (once; an interrupted run resumes), translate with beam
# search (4 beams: +3.4 BLEU over greedy on 2,000 test sources, docs/results.md), then say what
# this machine's training budget bought: the epochs trained and the test BLEU of the run, as
# `nmt evaluate` measures it, on the first 1,000 test sources (about 20 s on 2 cores).
DEMO_EVAL_SOURCES := 1000
demo: setup $(RUNS)/small-transformer/model.keras
	$(PY) -m nmt translate --run $(RUNS)/small-transformer --num-beams 4 $(SAMPLES)
	$(PY) -m nmt evaluate --run $(RUNS)/small-transformer --decode beam --num-beams 4 \
		--limit $(DEMO_EVAL_SOURCES)

demo-rnn: setup $(RUNS)/small-rnn/model.keras
	$(PY) -m nmt translate --run $(RUNS)/small-rnn $(SAMPLES)

$(RUNS)/small-%/model.keras: | setup
	$(PY) -m nmt train --model $* --preset small --out $(RUNS)/small-$* --quiet

# The lessons as Jupyter notebooks: notebooks/NN_name.ipynb from chapters/NN_name.py (no outputs).
notebooks: setup
	$(PY) -m chapters.notebooks --out notebooks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
