# make lab   — install everything and open the lessons in JupyterLab
# make test  — install everything and run the tests (fast mode), notebooks included
PYTHON ?= python3
PIP_INSTALL = $(PYTHON) -m pip install -q -r requirements.txt

.PHONY: install lab test lint bench clean-notebooks precompute

install:
	$(PIP_INSTALL)

lab: install
	$(PYTHON) -m jupyter lab notebooks/00_introduction.ipynb

test: install
	STLIB_FAST=1 $(PYTHON) -m pytest --nbval-lax tests notebooks

lint: install
	$(PYTHON) -m ruff check .
	PYTHONPATH=. $(PYTHON) tools/nbclean.py --check notebooks/*.ipynb

bench:
	$(PYTHON) benchmarks/bench_step.py

clean-notebooks:
	$(PYTHON) tools/nbclean.py notebooks/*.ipynb

precompute:
	$(PYTHON) -m stlib precompute
