# Two set-up commands for a fresh machine: `make serve` and `make test`.
# Both create (or refresh, when pyproject.toml changed) the virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
.PHONY: venv test test-fast lint serve bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# ruff (lint and format), mypy over every product module, the import contracts of pyproject.toml
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# Everything (what CI runs): the checks, then every test.
test: lint
	$(BIN)/python -m pytest -q

# The inner loop: the tests not marked slow (no training, msrun, browser, docker install, bench
# runs); `make lint` runs the checks.
test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

serve: venv
	$(BIN)/simplepose serve $(SERVE_ARGS)

bench: venv
	$(BIN)/python bench/codec_fidelity.py --data ../shared/data/coco-mini

# The images install a lock (docker/install.sh), so `docker build` next month gets what CI tested
# today. Re-run after changing [project] dependencies or extras; tests/core/test_lock.py checks.
# Universal: one lock per image for linux/amd64 and linux/arm64 (markers where they differ);
# wheels only. requirements.lock: the Ascend image (MindSpore: train, export, serve MindIR and
# ONNX). requirements-cpu.lock: the CPU image, which serves exported ONNX models without MindSpore.
LOCK_PYTHON := 3.11
LOCK_EXTRAS := mindspore serve video eval train
CPU_LOCK_EXTRAS := serve video openvino
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version $(LOCK_PYTHON) \
	--only-binary :all: --custom-compile-command "make lock" --quiet
lock: venv
	$(UV_COMPILE) $(addprefix --extra ,$(LOCK_EXTRAS)) --output-file requirements.lock
	$(UV_COMPILE) $(addprefix --extra ,$(CPU_LOCK_EXTRAS)) --output-file requirements-cpu.lock

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
