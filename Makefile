# Set-up is part of every target: the first run creates .venv and installs pel into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DIR ?= var/demo

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## The main job: the ten ASEAN member states' nodes (SQLite each), witnessing each other,
## filled with corridor data, served on loopback until Ctrl-C.
run: $(STAMP)
	$(BIN)/pel demo --dir $(DEMO_DIR) $(DEMO_ARGS)

## The tests (SQLite always; PostgreSQL on 127.0.0.1:5432 when reachable, required in CI).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
