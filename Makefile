# Set-up is part of every target: the first run creates .venv and installs pel into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DIR ?= var/demo
# The browser tests drive the system Chromium; never fetch a browser build.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install run test lint bench docs clean chromium

# pip shows what it fetches and installs: the first run takes a minute or so, not in silence.
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): installing pel and its dependencies (about a minute, once)"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --progress-bar on pip
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)
	@echo "installed: call pel as $(BIN)/pel, or run 'source $(BIN)/activate' and then pel"

install: $(STAMP)

## The main job: the ten ASEAN member states' nodes (SQLite each), witnessing each other,
## filled with corridor data, served on loopback until Ctrl-C.
run: $(STAMP)
	@echo "pel is $(BIN)/pel (or 'source $(BIN)/activate', then pel); starting the demo"
	$(BIN)/pel demo --dir $(DEMO_DIR) $(DEMO_ARGS)

## The tests (SQLite always; PostgreSQL on 127.0.0.1:5432 when reachable, required in CI).
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/pytest -q

## Debian's Chromium for the browser tests: installed when missing and we are root with apt-get
## (a no-op when present; elsewhere the tests skip, or fail when CI=true).
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

## The documentation site (MkDocs, Material theme), built strictly into site/: any warning fails.
docs: $(STAMP)
	$(BIN)/python -c 'import mkdocs, material' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[dev,docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site var .pytest_cache .ruff_cache .hypothesis
