# The README's commands. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WEIGHTS ?= torchvision
DEMO_OUT ?= runs/demo-$(notdir $(basename $(WEIGHTS)))

.PHONY: setup test lint format demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -e '.[test,ray]'
	touch $@

test: setup
	$(BIN)/python -m pytest -n 2 tests

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup
	$(BIN)/timelapse-nst render examples/tubingen.jpg examples/starry_night.jpg \
	    --preset demo --weights $(WEIGHTS) --out $(DEMO_OUT)

bench: setup
	$(BIN)/timelapse-nst bench --weights random --plot docs/bench-reach.png

clean:
	rm -rf $(VENV) runs build dist .pytest_cache
