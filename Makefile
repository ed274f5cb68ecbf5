# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install node lint audit bench clean lock cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs come from the lock (every package of the tree, exact versions and hashes);
# requirements.txt / requirements-dev.txt are its inputs: edit them, then `make lock`.
$(STAMP): $(BIN)/python requirements-dev.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip check
	touch $(STAMP)

UV_VERSION := 0.13.9
UV_COMPILE = $(VENV)/tools/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11

# Regenerate the locks from the inputs (`make lock`), or move every package to its newest
# release allowed by the inputs (`make lock UPGRADE=1`; one: `make lock UPGRADE_PACKAGE=redis`).
lock: $(BIN)/python
	test -x $(VENV)/tools/bin/uv || ($(PYTHON) -m venv $(VENV)/tools && $(VENV)/tools/bin/pip install --quiet uv==$(UV_VERSION))
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) $(if $(UPGRADE_PACKAGE),--upgrade-package $(UPGRADE_PACKAGE)) \
		requirements.txt -o requirements.lock
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) $(if $(UPGRADE_PACKAGE),--upgrade-package $(UPGRADE_PACKAGE)) \
		requirements-dev.txt -c requirements.lock -o requirements-dev.lock

install: $(STAMP)

tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

node: tests/node/node_modules/.package-lock.json tests/browser/node_modules/.package-lock.json

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Web front    http://localhost:$(PORT)/"
	@echo "  API          http://localhost:$(PORT)/api/"
	@echo "  API docs     http://localhost:$(PORT)/api/docs/"
	@echo "  Admin        http://localhost:$(PORT)/admin/"
	@echo "  Socket.IO    http://localhost:$(PORT)/socket.io/"
	@echo "  Logins (password demo1234): admin@demo.fr (SUPERADMIN), secretariat@demo.fr (ADMINCABINET),"
	@echo "    dr.martin@demo.fr, dr.bernard@demo.fr (MEDECIN), alice@demo.fr, bob@demo.fr, chloe@demo.fr (PATIENT)"
	@echo ""
	$(BIN)/daphne -b 0.0.0.0 -p $(PORT) medical_booking.asgi:application

# The production topology locally: nginx (Debian package) in front of two daphne on
# PostgreSQL + Redis (DATABASE_URL, REDIS_URL, SECRET_KEY required). deploy/ holds the files.
CLUSTER_PORT ?= 8080
cluster: install
	PORT=$(CLUSTER_PORT) $(BIN)/python -m devtools.cluster

test: install node
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast lane: every test that starts no process (no daphne, manage.py, node, chromium).
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

audit: install
	$(BIN)/pip install --quiet pip-audit && $(BIN)/pip-audit --require-hashes -r requirements.lock

clean:
	rm -rf $(VENV) tests/node/node_modules tests/browser/node_modules db.sqlite3 db.sqlite3-*
