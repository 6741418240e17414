# Kartoteka: the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_CLIENTS ?= 200
INSTANCE := $(CURDIR)/instance
CHROMIUM ?= /usr/bin/chromium

.PHONY: help install run test test-postgres mutate translations bench bench-load bench-details clean

help:
	@echo "make run     install, initialise, load demo data on first run, serve on https://$(HOST):$(PORT) with a job worker"
	@echo "make test    install and run the test suite (SQLite, in-memory limiter)"
	@echo "make test-postgres   the same suite on PostgreSQL and Redis (see .ci/run)"
	@echo "make mutate  mutation testing of the protective code; MUTANTS='crm.privacy.crypto*' narrows it"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The embedded default's secret key: generated once, readable by its owner only.
$(INSTANCE)/secret_key:
	mkdir -p $(INSTANCE)
	umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@

# The embedded default's encryption keys: generated once, mode 0600. Back them up.
$(INSTANCE)/encryption.keys: | install
	$(BIN)/python -m crm.privacy.keys new-file $@

# A self-signed certificate: even the local server speaks only HTTPS.
$(INSTANCE)/tls/cert.pem: | $(INSTANCE)/secret_key $(INSTANCE)/encryption.keys
	$(FLASK) crm tls-cert

run: install $(INSTANCE)/secret_key $(INSTANCE)/encryption.keys $(INSTANCE)/tls/cert.pem
	$(FLASK) crm init
	$(FLASK) crm has-clients || $(FLASK) crm demo --clients $(DEMO_CLIENTS)
	@echo "Kartoteka: https://$(HOST):$(PORT)/  (self-signed certificate: accept it once in the browser)"
	@echo "user: admin  password: printed by the first 'crm init' above (lost it? $(FLASK) crm set-password admin)"
	@# background jobs (imports) run in a worker beside the server; it stops with the server
	$(FLASK) crm worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT) --cert $(INSTANCE)/tls/cert.pem --key $(INSTANCE)/tls/key.pem

# Browser tests drive Debian's Chromium; install it where we may.
$(CHROMIUM):
	@if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser tests." && exit 1; fi

test: install $(CHROMIUM)
	$(BIN)/python -m pytest

# Mutation testing of the code that protects people's data ([tool.mutmut] in pyproject.toml).
# Not part of CI (hours for every module on two cores); MUTANTS names modules or mutants.
MUTANTS ?=
$(VENV)/.mutate: pyproject.toml | $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,mutate]'
	touch $@

# the first session without a mutant keeps its initialised database for the others (tests/init_template.py);
# each mutant's time and the test that caught it go to mutants/notes (tests/mutation_scope.py);
# bytecode is written: each command a test runs would compile the mutated crm again (0.4 s a process)
MUTATE_TEMPLATE = $(CURDIR)/mutants/init-template
mutate: $(VENV)/.mutate
	rm -rf $(MUTATE_TEMPLATE)
	CRM_TEST_INIT_TEMPLATE=$(MUTATE_TEMPLATE) CRM_MUTATION_NOTES=$(CURDIR)/mutants/notes PYTHONDONTWRITEBYTECODE= \
		$(BIN)/mutmut run $(MUTANTS) > mutants.log 2>&1 \
		|| (tail -40 mutants.log; exit 1)
	$(BIN)/mutmut results --all true 2>/dev/null | $(BIN)/python .ci/mutation_score.py mutants/notes/sessions.tsv
	@echo "survivors: $(BIN)/mutmut results; one of them: $(BIN)/mutmut show NAME"

test-postgres: install $(CHROMIUM)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} \
	TEST_RATELIMIT_STORAGE_URI=$${TEST_RATELIMIT_STORAGE_URI:-redis://127.0.0.1:6379/0} \
	$(BIN)/python -m pytest

# Re-extract strings, merge them into the catalogs, compile. Translate what is
# new in translations/pl (and en) before committing: the catalog test checks.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k gettext -k _ -k N_ \
		--no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python translations/english.py
	$(BIN)/pybabel compile -d translations

# Benchmarks (figures, not tests). `make bench`: Kartoteka against a bare FAB app,
# 100,000 clients on SQLite and PostgreSQL, one table each (about 25 minutes).
bench: install
	$(BIN)/python bench/compare.py

# 50 simulated staff on gunicorn, Kartoteka against the bare FAB app (about 12 minutes).
bench-load: install
	$(BIN)/python bench/load.py

# The finer benchmarks, one subject each.
bench-details: install
	$(BIN)/python bench/encryption.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/masking.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/gdpr.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/login_timing.py
	$(BIN)/python bench/public_timing.py
	$(BIN)/python bench/demo_load.py
	$(BIN)/python bench/data_keys.py
	$(BIN)/python bench/read_log.py
