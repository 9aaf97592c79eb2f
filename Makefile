# The two commands a new machine needs: `make run` and `make test`.
# Both create the virtual environment and install what is missing first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint messages format bench bench-quick bench-audit clean-venv help

help:
	@echo "make run    - start the portal on http://127.0.0.1:$(PORT)/ with the built-in BCC sandbox"
	@echo "make test   - run the test suite (browser tests need /usr/bin/chromium)"
	@echo "make lint   - ruff check + format check + Django's system checks"
	@echo "make bench  - benchmarks against the official SDK, through gunicorn, My key pairs, the inventory sync, the bind page, every page beside the floor (~16 min; docs/benchmarks.md)"
	@echo "make bench-audit - the audit log at 10k, 100k and 1M rows, its review and its shipping, SQLite and PostgreSQL (~15 min, ~8 once seeded)"
	@echo "make bench-quick - every benchmark once, small (a smoke run, ~2 min)"

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

# Benchmark-only tools (the official bce-python-sdk, profilers) on top of the dev tools.
$(VENV)/.bench-installed: requirements.txt requirements-dev.txt requirements-bench.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	touch $@ $(VENV)/.dev-installed $(VENV)/.runtime-installed

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

# After changing a user-facing string: extract every marked string into the Chinese catalogues,
# translate the new entries (docs/glossary-zh.md), then run it again to compile them. Needs GNU
# gettext (apt-get install gettext). The compiled .mo files are committed, so make run and
# make test need no gettext; tests/i18n/test_catalogues.py fails when they are not current.
MESSAGES_IGNORE = -i ".venv/*" -i "staticfiles/*" -i "tests/*" -i "bench/*" -i "var/*"
messages: $(VENV)/.dev-installed
	DEBUG=true $(BIN)/python manage.py makemessages -l zh_Hans -d django --no-location --no-obsolete $(MESSAGES_IGNORE)
	DEBUG=true $(BIN)/python manage.py makemessages -l zh_Hans -d djangojs --no-location --no-obsolete $(MESSAGES_IGNORE)
	DEBUG=true $(BIN)/python manage.py compilemessages -l zh_Hans --ignore ".venv/*"

clean-venv:
	rm -rf $(VENV)

# Benchmarks, not tests: they print figures and write var/bench/*.json; nothing here fails
# on a missed target. PostgreSQL parts run when BENCH_POSTGRES_SERVER (default
# postgres://postgres@127.0.0.1:5432) answers, and are skipped with a note otherwise.
BENCH_PG = $(BIN)/python -c "from bench.django_env import postgres_available as up; raise SystemExit(not up())"

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.signing
	$(BIN)/python -m bench.bcc_client
	$(BIN)/python -m bench.portal --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.portal --database postgres; \
	else echo "PostgreSQL not reachable: portal benchmark on PostgreSQL skipped"; fi
	$(BIN)/python -m bench.keypair_list --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.keypair_list --database postgres; \
	else echo "PostgreSQL not reachable: My key pairs benchmark on PostgreSQL skipped"; fi
	$(BIN)/python -m bench.inventory_sync --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.inventory_sync --database postgres; \
	else echo "PostgreSQL not reachable: inventory sync benchmark on PostgreSQL skipped"; fi
	$(BIN)/python -m bench.bind_page --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.bind_page --database postgres --profile-views 0; \
	else echo "PostgreSQL not reachable: bind page benchmark on PostgreSQL skipped"; fi
	$(BIN)/python -m bench.pages --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.pages --database postgres; \
	else echo "PostgreSQL not reachable: every page beside the floor on PostgreSQL skipped"; fi
	$(BIN)/python -m bench.pages --table

bench-audit: $(VENV)/.bench-installed
	$(BIN)/python -m bench.growth --database sqlite
	$(BIN)/python -m bench.audit_review --database sqlite
	$(BIN)/python -m bench.audit_shipping --database sqlite
	@if $(BENCH_PG); then $(BIN)/python -m bench.growth --database postgres \
		&& $(BIN)/python -m bench.audit_review --database postgres \
		&& $(BIN)/python -m bench.audit_shipping --database postgres; \
	else echo "PostgreSQL not reachable: audit benchmarks on PostgreSQL skipped"; fi

bench-quick: $(VENV)/.bench-installed
	$(BIN)/python -m bench.signing --runs 3 --requests 1000
	$(BIN)/python -m bench.bcc_client --runs 2 --round-trips 40 --generating-runs 1 --generating-round-trips 10
	$(BIN)/python -m bench.portal --users 4 --cycles 5 --runs 1 --alone-cycles 10
	$(BIN)/python -m bench.growth --sizes 1000,10000 --rounds 2 --pages 2 --creates 5
	$(BIN)/python -m bench.audit_review --rows 10000 --runs 3 --export-runs 0
	$(BIN)/python -m bench.audit_shipping --events 2000 --batch-sizes 500 --command-runs 1
	$(BIN)/python -m bench.keypair_list --keypairs 30 --rounds 3
	$(BIN)/python -m bench.inventory_sync --keypairs 300 --drift 12
	$(BIN)/python -m bench.bind_page --instances 300 --rounds 2 --profile-views 1
	$(BIN)/python -m bench.pages --rounds 5 --grow 10
	$(BIN)/python -m bench.pages --table
