# `make course` runs the whole course headless; `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sidrec-installed
PRESET ?= cpu
DATASET ?= builtin
RUN ?= $(PRESET)

.PHONY: setup course test test-unit lint bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sidrec)"
	touch $(STAMP)

setup: $(STAMP)

course: setup
	$(PY) ci/run_notebooks.py --preset $(PRESET) --dataset $(DATASET) --run $(RUN)

test: setup
	$(PY) -m pytest -ra

test-unit: setup
	$(PY) -m pytest -ra tests/unit

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) benchmarks/bench_rqkmeans.py

clean:
	rm -rf artifacts
