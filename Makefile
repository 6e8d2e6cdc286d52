# The two commands of the quick start are `make serve` and `make test`; the rest are helpers.
VENV   ?= .venv
# As root, jobs run as unprivileged tenant users, who must be able to run the interpreter the
# virtual environment is built on: a Python under /root (pyenv, say) is closed to them, the
# system's /usr/bin/python3 is not.
PYTHON ?= $(shell if [ "$$(id -u)" = 0 ] && [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi)
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)-$(shell echo '$(PYTHON)' | cksum | cut -d' ' -f1)
DATA   ?= .opcenter

.PHONY: serve test lint format bench bench-peers docs clean chromium screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A virtual environment built on another interpreter than $(PYTHON) is built again.
$(STAMP): pyproject.toml | $(BIN)/python
	@if [ "$$($(BIN)/python -c 'import sys; print(sys.base_prefix)')" != \
	      "$$($(PYTHON) -c 'import sys; print(sys.base_prefix)')" ]; then \
	    echo "Rebuilding $(VENV) on $(PYTHON)"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

## serve: set up, then run opcenter on SQLite under ./.opcenter with the example workspace
serve: $(STAMP)
	$(BIN)/opcenter serve --data-dir $(DATA) --example examples/sales_daily.yaml

## test: set up, then run ruff and the whole test suite
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The page's browser tests drive Debian's Chromium (Playwright from PyPI downloads no browser).
# Installed here when missing and this is root with apt-get (as in CI); otherwise the browser
# tests skip, or fail under CI=true.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; fi

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## bench: every benchmark (not tests): parameters, engine, isolation, API load, CLI start, page
bench: $(STAMP)
	$(BIN)/python bench/run.py

## bench-peers: opcenter side by side with Luigi, Dagster, Prefect and Airflow
bench-peers: $(STAMP)
	$(BIN)/python bench/run_peers.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .ruff_cache

## screenshots: photograph the page's main views again for docs/console.md (a CJK font is
## installed first when missing, so the Chinese view is legible)
screenshots: $(STAMP) chromium
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! fc-list :lang=zh | grep -q .; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei >/dev/null; fi
	OPCENTER_SCREENSHOTS=docs/images/console $(BIN)/pytest -q -p no:cacheprovider tests/console/test_screenshots.py

## docs: regenerate the CLI reference from --help
docs: $(STAMP)
	$(BIN)/python -m opcenter.cli.reference > docs/cli.md
