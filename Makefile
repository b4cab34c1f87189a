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

# make bench: every benchmark, then a table of every goal (about 6 minutes on 2 cores).
# BENCH_ARGS go to benchmarks/run.py all; the default includes the 4x10^6 entries goal
# (--big, about 2 minutes of it). A quick look: BENCH_ARGS="--entries 100000 --apps 100,1000 --rounds 2"
BENCH_ARGS ?= --big
bench: $(STAMP)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[bench]'
	$(PY) benchmarks/run.py all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache
