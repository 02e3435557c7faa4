# Shipyard: `make demo` and `make test` set everything up on a fresh machine with only Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
PYTEST_ARGS ?=

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall only when the declared dependencies change. torch goes first, on its own: alone,
# pip takes the CPU build from the machine's wheel folder; inside a large resolve it may pick
# PyPI's CUDA build of the same version (gigabytes).
# The echo flavor is a separate package, installed so that tests see a real entry-point plugin.
PLUGIN := tests/plugins/shipyard-flavor-echo
$(DEPS): pyproject.toml constraints.txt $(wildcard $(PLUGIN)/*.toml $(PLUGIN)/*/*.py) | $(PY)
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m pip install -q --no-deps ./$(PLUGIN)
	touch $@

# The closed loop: train, gate, serve, drift, retrain, promote, swap (shipyard quickstart).
demo: $(DEPS)
	$(VENV)/bin/shipyard quickstart --dir shipyard-quickstart

test: $(DEPS)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(DEPS)
	$(PY) benchmarks/tracking.py
	$(PY) benchmarks/registry.py
	$(PY) benchmarks/pipelines.py
	$(PY) benchmarks/serving.py
	$(PY) benchmarks/drift.py
	$(PY) benchmarks/ui.py

lint: $(DEPS)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) shipyard-quickstart .pytest_cache .mypy_cache .ruff_cache benchmarks/.peers benchmarks/.work
