# One-line verbs. Every verb sets up the virtualenv it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench up down clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the demo scenario on the embedded stack and print where the report is
	$(BIN)/capacity demo

test: $(STAMP)  ## the whole test suite (starts its own MongoDB-wire server, Redis, uvicorn and nginx)
	@# nginx and redis-server: installed when this machine can, and then required (a missing
	@# one fails the run with one line); where they cannot be had, their tests skip, counted.
	if sh .ci/real-parts; then $(BIN)/python -m pytest --require-real; else $(BIN)/python -m pytest; fi

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(STAMP)  ## side-by-side measurements written up in BENCHMARKS.md
	$(BIN)/python benchmarks/api_costs.py
	$(BIN)/python benchmarks/generator_cost.py --rate 1000 --seconds 15 --pairs 2
	$(BIN)/python benchmarks/target_1k.py
	$(BIN)/python benchmarks/analysis_scale.py --hours 1 --hours 24

up: $(STAMP)
	$(BIN)/capacity up

down: $(STAMP)
	$(BIN)/capacity down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
