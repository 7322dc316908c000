# The everyday verbs. Each sets up what it needs first, so each works on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast bench lint fmt

setup:
	scripts/setup.sh test

demo:
	scripts/setup.sh
	$(PY) -m hazardwatch demo

test:
	scripts/setup.sh test
	$(PY) -m ruff check .
	$(PY) -m pytest -q

test-fast:
	$(PY) -m pytest -q -m "not e2e"

bench:
	scripts/setup.sh test
	$(PY) benchmarks/bench_detector.py
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_checkpoint.py
	$(PY) benchmarks/bench_end_to_end.py

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .
