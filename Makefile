# flexmarket: `make demo` and `make test` install whatever is missing, then run.
SHELL := /bin/bash
.DEFAULT_GOAL := demo
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

.PHONY: demo test test-py test-slow lint bench-clear bench-clear-quick bench-clear-full lock clean venv

# Each part of the project adds its own targets in mk/<part>.mk and registers
# what `make test` must also run (TEST_TARGETS) and what it must install first
# (INSTALL_TARGETS). This file keeps the shared skeleton.
TEST_TARGETS :=
INSTALL_TARGETS :=
-include mk/*.mk

# --- installation -----------------------------------------------------------
$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q uv==$(UV_VERSION)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --config-settings editable_mode=compat -e .
	touch $@

venv: $(VENV)/.installed

# Regenerate the lock after editing requirements.in.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile -q --python 3.11 --generate-hashes requirements.in -o requirements.lock

# --- main jobs --------------------------------------------------------------
demo: venv $(INSTALL_TARGETS)
	$(BIN)/flexmarket demo --scenario examples/flech_powermax.json

test: venv $(INSTALL_TARGETS)
	$(MAKE) --no-print-directory test-py $(TEST_TARGETS)

test-py: venv
	$(BIN)/python -m pytest -q

# The long forms of the fuzzing and property runs (marker `slow`).
test-slow: venv $(INSTALL_TARGETS)
	$(BIN)/python -m pytest -q -m slow

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# --- benchmarks (scripts that print figures, never timed tests) -------------
bench-clear: venv  # 6 families x 1,000 / 2,500 bids, engine and plain MILP side by side
	$(BIN)/python bench/bench_clear.py
bench-clear-quick: venv  # 1,000 bids only
	$(BIN)/python bench/bench_clear.py --quick
bench-clear-full: venv  # also 10,000 bids (the plain MILP capped at 900 s a session)
	$(BIN)/python bench/bench_clear.py --full

clean:
	rm -rf $(VENV) build reports .pytest_cache .mypy_cache
