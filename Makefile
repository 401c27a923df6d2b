# The README's commands. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WEIGHTS ?= torchvision
DEMO_OUT ?= runs/demo-$(notdir $(basename $(WEIGHTS)))

.PHONY: setup test lint format demo bench docs wheel-check clean

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

# The documentation site, into build/site: its CLI and preset-key references are generated from
# the typer app and the pydantic schema (docs/docgen.py), and the build fails on a command, option
# or preset key without a description, as on any broken link (--strict).
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -e '.[docs]'
	touch $@

# The wheel as users get it: built with the sdist, installed into a fresh environment outside the
# checkout, then --help, presets list and a tiny render of the shipped examples from another folder.
wheel-check: setup
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python .ci/wheel-check

clean:
	rm -rf $(VENV) runs build dist .pytest_cache
