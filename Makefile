# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
STAMP := $(VENV)/.installed

.PHONY: run test install node lint audit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

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

test: install node
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

audit: install
	$(BIN)/pip install --quiet pip-audit && $(BIN)/pip-audit -r requirements.txt

clean:
	rm -rf $(VENV) tests/node/node_modules tests/browser/node_modules db.sqlite3 db.sqlite3-*
