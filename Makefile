# The two commands a fresh clone needs: `make run` starts the whole stack, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run stop status lint protos protos-check protos-release test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'

node_modules/.bin/buf: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(BIN)/wio-dev up

stop:
	$(BIN)/wio-dev down

status:
	$(BIN)/wio-dev status

protos: install
	$(BIN)/python scripts/gen_protos.py
	$(BIN)/python scripts/gen_event_docs.py

# The API as released: `buf breaking` compares the protos with it. Refresh it only when a change that
# breaks clients is accepted on purpose (`make protos-release`, committed with that change).
RELEASED_API := protos/released.binpb

protos-check: install node_modules/.bin/buf
	node_modules/.bin/buf lint
	node_modules/.bin/buf breaking --against $(RELEASED_API)
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/python scripts/gen_event_docs.py --check

protos-release: node_modules/.bin/buf
	node_modules/.bin/buf build -o $(RELEASED_API)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: install protos-check lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.cli_and_whoami
