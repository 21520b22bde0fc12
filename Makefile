PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
AUTH ?= oidc
export SOCLE_DATA_DIR ?= $(CURDIR)/var

.PHONY: install run test bench lint format clean

$(BIN)/socle: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(BIN)/socle

install: $(BIN)/socle

run: install
	$(BIN)/socle migrate
	$(BIN)/socle demo --if-empty
	$(BIN)/socle serve --host $(HOST) --port $(PORT) --auth $(AUTH)

test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check socle tests bench
	$(BIN)/ruff format --check socle tests bench

format: install
	$(BIN)/ruff format socle tests bench
	$(BIN)/ruff check --fix socle tests bench

clean:
	rm -rf $(VENV) var .pytest_cache
