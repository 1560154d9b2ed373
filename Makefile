# Two commands do everything on a fresh machine (Python 3.11+ with pip and venv):
#   make run    set up .venv from the lock file, then ingest the embedded seeds/ articles
#   make test   set up .venv, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.akhbar-installed

.PHONY: run test install lock clean

run: $(STAMP)
	$(BIN)/akhbar run

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# Re-installs whenever pyproject.toml or the lock file changes.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Refresh requirements.lock from the current .venv (after changing dependencies in pyproject.toml).
# torch is locked without its "+cpu" local label: `torch==2.13.0` then matches the CPU wheel
# where one is provided (as on our CI machines) and PyPI's default build elsewhere.
lock:
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -e '^akhbar' -e '^pip==' \
		| sed -e 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements.lock

clean:
	rm -rf $(VENV) var
