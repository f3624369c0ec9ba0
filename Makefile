# Two commands: `make run` and `make test`. Each (re)creates .venv when it is missing
# or pyproject.toml changed, installs the project with its test extra, then acts.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: venv run test test-long bench clean system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: Tamaq Ledger needs Python >= 3.11 (found: $$($(PYTHON) --version))" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tamaq serve --announce --demo-if-empty

# Two workers: the suite is mostly waiting on fsync and subprocesses, and CI has 2 cores.
test: $(STAMP) system-deps
	$(PY) -m pytest -n 2

# Chromium and LibreOffice for the browser and spreadsheet tests, where apt can install them.
system-deps:
	@bash .ci/system-deps

test-long: $(STAMP)
	TAMAQ_LONG=1 $(PY) -m pytest -m slow

bench: $(STAMP)
	$(PY) -m bench

# Removes build and test leftovers only; ./var (your data and token secret) stays.
clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
