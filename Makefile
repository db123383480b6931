# The whole set-up: `make demo` runs the main job on the embedded demo stack,
# `make test` runs lint and the tests. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint bench fuzz clean

$(BIN)/synctools: pyproject.toml setup.py synctools/protocol/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/synctools

demo: install
	$(BIN)/synctools demo

lint: install
	$(BIN)/ruff check synctools tests benchmarks data
	$(BIN)/ruff format --check synctools tests benchmarks data
	$(BIN)/mypy synctools

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install  ## every benchmark; each prints its ratios against a baseline measured in the same run
	$(BIN)/python benchmarks/decrypt.py
	$(BIN)/python benchmarks/frames.py --n 100000
	$(BIN)/python benchmarks/userpath.py --n 100000
	$(BIN)/python benchmarks/server.py
	$(BIN)/python benchmarks/storage.py
	$(BIN)/python benchmarks/device.py

fuzz: install  ## the fuzz suites at length (CI runs them briefly, inside `make test`)
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q -m fuzz tests/fuzz $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
