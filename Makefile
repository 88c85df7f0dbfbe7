# Two entry points, each doing its own set-up on a fresh machine:
#   make pipeline   create .venv, install, run the whole DVC pipeline on the synthetic phantom
#   make test       create .venv, install, run the test suite
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup pipeline test bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_PIN)" -e ".[test]"
	touch $(STAMP)

pipeline: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_PIN)" -e ".[test,bench]"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/run_all.py
