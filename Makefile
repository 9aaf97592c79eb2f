# The two commands a new machine needs: `make run` and `make test`.
# Both create the virtual environment and install what is missing first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format bench clean-venv help

help:
	@echo "make run    - start the portal on http://127.0.0.1:$(PORT)/ with the built-in BCC sandbox"
	@echo "make test   - run the test suite (browser tests need /usr/bin/chromium)"
	@echo "make lint   - ruff check + format check + Django's system checks"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per requirements file: editing a file reinstalls, nothing else does.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput -v 0
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py collectstatic --noinput -v 0
	@DEBUG=$${DEBUG:-true} $(BIN)/python manage.py ensure_local_user
	DEBUG=$${DEBUG:-true} PORT=$(PORT) $(BIN)/gunicorn -c portal/gunicorn.conf.py portal.wsgi

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/python manage.py check
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

clean-venv:
	rm -rf $(VENV)
