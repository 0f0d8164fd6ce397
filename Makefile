# The two commands in the README are `make demo` and `make test`; both install what
# they need into .venv (pip's own cache is reused between runs).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export AUDITSTREAM_CACHE_DIR ?= $(CURDIR)/.cache
INSTALLED := $(VENV)/.installed

.PHONY: help install debian browser lint typecheck test unit bench demo proto vectors clean

help:
	@echo "make test    install, lint, type-check and run the whole test suite"
	@echo "make demo    run the pipeline end to end on local services"
	@echo "make bench   run every bench/*.py and write bench/results.json"
	@echo "make proto   regenerate auditstream/proto from proto/"

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all,test,dev]'
	touch $@

install: $(INSTALLED) debian

# Debian packages for PDF evidence packs (pango, fonts, poppler-utils); a no-op when present.
debian:
	bash scripts/install_debian.sh

browser:
	bash scripts/install_chromium.sh

lint: install
	$(PY) -m ruff check auditstream tests bench scripts
	$(PY) -m ruff format --check auditstream tests bench scripts

typecheck: install
	$(PY) -m mypy

test: lint typecheck browser
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

bench: install
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) scripts/run_bench.py
	$(PY) scripts/capacity.py

demo: install
	$(PY) -m auditstream demo

proto: install
	$(PY) scripts/gen_proto.py

vectors: install
	$(PY) scripts/gen_vectors.py

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
