# Two commands do all the setup on a fresh clone:
#   make demo   the main job: salt-call --local state.apply on the examples
#   make test   the whole test suite (what .ci/run calls)
#   make docs   the manual, from docs/ (warnings are errors)
PYTHON ?= python3
VENV ?= .venv
PILLAR ?= pillar
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench clean

$(STAMP): setup.py pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[tests]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py --pillar $(PILLAR)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs build/docs
	@echo "The manual: build/docs/index.html"

bench: $(STAMP)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[bench]'
	$(PY) benchmarks/run.py scale
	$(PY) benchmarks/run.py api
	$(PY) benchmarks/run.py lint

clean:
	rm -rf $(VENV) build .pytest_cache
