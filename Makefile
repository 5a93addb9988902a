# The two commands: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ELICIT_ENV ?= development

.PHONY: run test lint bench install browser clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: a ready demo study on SQLite, served on http://127.0.0.1:5000
run: $(STAMP)
	$(BIN)/elicit init
	$(BIN)/elicit demo --instrument instruments/defence-diplomacy/1.1.0.yaml
	$(BIN)/elicit serve --host 127.0.0.1 --port 5000

## browser: Debian's Chromium and axe-core for the browser tests (never a downloaded browser), and Debian's R,
## which runs the export's data.R loader in the tests
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null; \
	  else echo "make: /usr/bin/chromium is missing; install Debian's chromium package" >&2; exit 1; fi; fi
	@if [ ! -x /usr/bin/Rscript ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends r-base-core >/dev/null; \
	  else echo "make: /usr/bin/Rscript is missing; install Debian's r-base-core package" >&2; exit 1; fi; fi
	@if [ ! -f .cache/node_modules/axe-core/axe.min.js ]; then \
	  mkdir -p .cache && npm install --silent --no-audit --no-fund --prefix .cache axe-core@4 >/dev/null; fi

lint: $(STAMP)
	$(BIN)/ruff check src migrations tests $(wildcard bench analysis scripts)
	$(BIN)/ruff format --check src migrations tests $(wildcard bench analysis scripts)
	$(BIN)/mypy src/elicit migrations
	$(BIN)/bandit -q -c pyproject.toml -r src/elicit migrations

## make test: the whole suite on SQLite and PostgreSQL, browser tests included
test: $(STAMP) browser lint
	$(BIN)/pytest -n 2 --dist loadfile

## make bench [QUICK=1]: benchmarks with ratios against floors measured in the same run
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .cache .pytest_cache instance
