# transferlab: `make book` builds the book, `make test` runs the tests. Both set up the
# environment from this repository's own files on first use (a virtualenv in .venv, unless one
# is active or VENV= names another).
PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV ?= $(VIRTUAL_ENV)
else
VENV ?= .venv
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.transferlab-installed
PRESET ?= default
PYTEST_ARGS ?=

export TRANSFERLAB_STORE ?= $(CURDIR)/.transferlab/store

.PHONY: env book test lint bench stability ledger clean help

help:
	@echo "make book    execute every chapter (preset $(PRESET)) and build the HTML book"
	@echo "make test    lint, unit tests, every notebook on the smoke preset, book build, browser check"
	@echo "make lint    ruff check and ruff format --check (make format rewrites)"
	@echo "make bench   benchmarks (ratios measured side by side)"
	@echo "make stability  every chapter (preset $(PRESET)) under the fast and the plain numeric path: do the verdicts agree?"
	@echo "make ledger  write the built book's claims into the results ledger (results/ledger.json; commit it)"
	@echo "make clean   remove built book, executed notebooks and test artifacts (keeps .venv, store)"

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[dev,dask]'
	@touch $(STAMP)

book: env
	$(BIN)/transferlab book --preset $(PRESET)

test: env lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: env
	$(BIN)/ruff check lib tests bench notebooks
	$(BIN)/ruff format --check lib tests bench notebooks

format: env
	$(BIN)/ruff check --fix lib tests bench notebooks
	$(BIN)/ruff format lib tests bench notebooks

bench: env
	@for b in bench/bench_*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

stability: env
	$(BIN)/transferlab stability --preset $(PRESET) --out stability

ledger: env
	$(BIN)/transferlab ledger update

clean:
	rm -rf book/_build book/chapters runs test-artifacts stability
